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
