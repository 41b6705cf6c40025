//! The controllers other than the state machine, each doing what its entry point does: the
//! emergency-rollback function on an alarm (redelivered by Lambda's async retries after a
//! failure or a crash, three tries in all), and the operator's `sluice abort`, `promote
//! --force`, `reject` and `approve` (a command that fails or dies is not run again), and the
//! reconciler: on the EventBridge event of the execution's end (FAILED, TIMED_OUT, ABORTED;
//! redelivered as an alarm is) and on its schedule (a sweep of every held lock; a failed sweep
//! is made good by the next one, which the drain runs).

use std::task::Poll;

use serde_json::Value;
use sluice_core::deployment::{Controller, DeploymentId, Status};
use sluice_core::ports::{DeploymentKey, Deployments, ExecutionStatus, Orchestrator};
use sluice_core::workflow::{
    AlarmNotification, ExecutionEnded, Reconciler, Takeover, WorkflowError, approve,
};
use sluice_testkit::memory::{
    ManualClock, MemoryNotifier, MemoryOrchestrator, MemoryRouter, MemoryStore,
};

use super::world::{ALARM, Call, EXECUTION, World, poll_once};

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The alarm's notification reaches emergency-rollback.
    Alarm,
    /// `sluice abort`.
    Abort,
    /// `sluice promote --force`.
    ForcePromote,
    /// `sluice reject`.
    Reject,
    /// `sluice approve`.
    Approve,
    /// The reconciler's scheduled sweep.
    Reconcile,
    /// The execution ended with this status: EventBridge invokes the reconciler.
    ExecutionEnded(ExecutionStatus),
}

/// How many times Lambda runs an asynchronously invoked function for one event.
const ALARM_TRIES: u32 = 3;

pub struct Actor {
    pub kind: Kind,
    pub id: usize,
    call: Option<Call>,
    tries: u32,
    /// Whether one of its calls answered a waiting task with success.
    pub answered_success: bool,
}

/// What one poll of an actor did.
pub enum Step {
    /// It made a port call and goes on.
    Moved,
    /// It finished its try: its result.
    Finished(Result<Value, WorkflowError>),
}

impl Actor {
    pub fn new(kind: Kind, id: usize) -> Actor {
        Actor {
            kind,
            id,
            call: None,
            tries: 0,
            answered_success: false,
        }
    }

    pub fn name(&self) -> String {
        format!("{:?}#{}", self.kind, self.id)
    }

    /// Whether another try will come (Lambda's retries of an alarm's delivery).
    pub fn will_retry(&self) -> bool {
        matches!(self.kind, Kind::Alarm | Kind::ExecutionEnded(_))
            && self.call.is_none()
            && self.tries < ALARM_TRIES
    }

    pub fn is_running(&self) -> bool {
        self.call.is_some()
    }

    /// Makes its next port call (starting a try if none runs).
    pub fn poll(&mut self, world: &World) -> Step {
        let answers = world.orchestrator.task_answers().len();
        let step = self.poll_call(world);
        let answered = world.orchestrator.task_answers();
        self.answered_success |= answered[answers..].iter().any(|(_, a)| a.is_ok());
        step
    }

    fn poll_call(&mut self, world: &World) -> Step {
        if self.call.is_none() {
            self.tries += 1;
            let mut call = self.invoke(world);
            if let Poll::Ready(result) = poll_once(&mut call) {
                return Step::Finished(result);
            }
            self.call = Some(call);
        }
        match poll_once(self.call.as_mut().unwrap()) {
            Poll::Ready(result) => {
                self.call = None;
                Step::Finished(result)
            }
            Poll::Pending => Step::Moved,
        }
    }

    /// The running try dies between two port calls.
    pub fn crash(&mut self) -> bool {
        self.call.take().is_some()
    }

    fn invoke(&self, world: &World) -> Call {
        let w = world.clone();
        let kind = self.kind;
        Box::pin(async move {
            let takeover = Takeover {
                store: &w.store,
                router: &w.router,
                orchestrator: &w.orchestrator,
                notifier: &w.notifier,
                clock: &w.clock,
            };
            let operator = Controller::Operator { who: "ops".into() };
            match kind {
                Kind::Alarm => {
                    let alarm = AlarmNotification {
                        alarm_name: ALARM.into(),
                        new_state: "ALARM".into(),
                        reason: "5xx above threshold".into(),
                        state_change_time: w.now(),
                    };
                    takeover.on_alarm(&alarm).await?;
                }
                Kind::Abort => {
                    let key = find(&w).await?;
                    let now = Some(w.now());
                    takeover
                        .take_over(&key, operator, "aborted by ops", now)
                        .await?;
                }
                Kind::ForcePromote => {
                    let key = find(&w).await?;
                    takeover.promote_now(&key, "ops").await?;
                }
                Kind::Reject => {
                    // As `sluice reject`: only a deployment waiting for approval.
                    let key = find(&w).await?;
                    let current = w.store.get(&key).await?;
                    if current.as_ref().map(|d| d.status) != Some(Status::AwaitingApproval) {
                        return Err(WorkflowError::BadInput {
                            what: "deployment".into(),
                            message: "not waiting for approval".into(),
                        });
                    }
                    let now = Some(w.now());
                    takeover
                        .take_over(&key, operator, "rejected by ops", now)
                        .await?;
                }
                Kind::Reconcile => {
                    reconciler(&w).sweep().await?;
                }
                Kind::ExecutionEnded(status) => {
                    let ended = ExecutionEnded {
                        execution_arn: w.orchestrator.execution_arn(EXECUTION).unwrap(),
                        status,
                        input: Some(w.request().to_string()),
                    };
                    reconciler(&w).on_execution_end(&ended).await?;
                }
                Kind::Approve => {
                    let key = find(&w).await?;
                    approve(
                        &w.store,
                        &w.orchestrator,
                        &w.notifier,
                        &w.clock,
                        &key,
                        "ops",
                        None,
                    )
                    .await?;
                }
            }
            Ok(Value::Null)
        })
    }
}

type MemoryReconciler<'a> =
    Reconciler<'a, MemoryStore, MemoryRouter, MemoryOrchestrator, MemoryNotifier, ManualClock>;

fn reconciler(w: &World) -> MemoryReconciler<'_> {
    Reconciler {
        store: &w.store,
        router: &w.router,
        orchestrator: &w.orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    }
}

/// The deployment an operator names, found by its id as the CLI does.
async fn find(world: &World) -> Result<DeploymentKey, WorkflowError> {
    let id = DeploymentId::parse(EXECUTION).unwrap();
    world
        .store
        .find(&id)
        .await?
        .map(|d| DeploymentKey::of(&d))
        .ok_or_else(|| WorkflowError::NotFound(EXECUTION.into()))
}
