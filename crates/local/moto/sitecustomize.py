"""sluice-local's fix to moto's Step Functions interpreter, loaded into the local runner's moto
process only: the runner starts moto with PYTHONPATH=<the directory it writes this file to>,
and Python imports `sitecustomize` from the path at startup.

StopExecution while an execution is inside a Task: AWS ends the execution ABORTED at once,
whatever the task answers later. moto 5.2.5 marks the program stopped, but when the task then
fails (an emergency rollback stops the execution, and the interrupted step answers
Sluice.Fenced), nothing more is evaluated on the stopped program, so the state's Catch is
skipped; the failure, now uncaught, calls Environment.set_error, which overwrites the stopped
state: the execution ends FAILED with the task's error instead of ABORTED. Here an execution
that was stopped stays stopped (its history still shows the task's failure, then
ExecutionAborted).
"""

import sys

try:
    from moto.stepfunctions.parser.asl.eval import environment as _environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
except ImportError as error:  # another moto layout: say so in moto's log, start unpatched
    print(f"sluice-local: moto NOT patched (stopped executions may end FAILED): {error}", file=sys.stderr)
else:
    _original_set_error = _environment.Environment.set_error

    def _set_error_unless_stopped(self, error):
        if isinstance(self._program_state, ProgramStopped):
            return
        _original_set_error(self, error)

    _environment.Environment.set_error = _set_error_unless_stopped
    print("sluice-local: moto patched: a stopped execution stays ABORTED", file=sys.stderr)

# DynamoDB writes racing a failed transaction. moto 5.2.5's TransactWriteItems deep-copies each
# table it touches before it starts and, when a condition fails, puts those copies back: any
# write another request thread made to the table in between is silently undone. A step's
# conditional save racing an operator's (`sluice pause` while WaitForSync saves) then loses the
# step's committed write, which DynamoDB itself never does. Here every DynamoDB write runs
# under one lock, so a transaction's backup and restore cannot span another write.
import threading

try:
    from moto.dynamodb.models import DynamoDBBackend as _DynamoDBBackend
except ImportError as error:
    print(f"sluice-local: moto NOT patched (DynamoDB writes may race transactions): {error}", file=sys.stderr)
else:
    _dynamodb_write_lock = threading.RLock()

    def _serialised(method):
        def write(self, *args, **kwargs):
            with _dynamodb_write_lock:
                return method(self, *args, **kwargs)

        write.__name__ = f"serialised_{method.__name__}"
        return write

    for _name in ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item"):
        if hasattr(_DynamoDBBackend, _name):
            setattr(_DynamoDBBackend, _name, _serialised(getattr(_DynamoDBBackend, _name)))
    print("sluice-local: moto patched: DynamoDB writes are serialised", file=sys.stderr)
