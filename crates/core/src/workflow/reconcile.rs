//! The reconciler: looks at a service's lock and makes the world right when the execution that
//! holds it is no longer running. A deployment left mid-way is taken over, returned to 100 %
//! stable, recorded and released; a lock whose deployment ended is released; a lock without a
//! record (Validate stopped between taking the lock and writing the record) is released and
//! noted in the service's state item. Idempotent: run it again, or concurrently with the
//! emergency path, and it ends the same way. The same core serves `sluice unlock`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::emergency::{Takeover, TakeoverOutcome};
use super::error::{ErrorName, WorkflowError};
use super::queue::after_end;
use super::verify::assert_stable;
use crate::deployment::{Controller, Deployment, Status};
use crate::ports::{
    Clock, Deployments, ExecutionStatus, Notifier, Orchestrator, OrchestratorError, ServiceLock,
    ServiceLocks, ServiceStates, TrafficRouter,
};
use crate::service_state::ReleasedLock;

/// What reconciling one service found and did.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ReconcileOutcome {
    /// Nothing holds the service's lock.
    #[serde(rename_all = "camelCase")]
    Free { service: String },
    /// The execution holding the lock runs: it is left alone.
    #[serde(rename_all = "camelCase")]
    Live {
        service: String,
        deployment: String,
        execution: String,
    },
    /// Taken over, 100 % stable, recorded and released.
    #[serde(rename_all = "camelCase")]
    RolledBack {
        service: String,
        deployment: String,
        reason: String,
    },
    /// The deployment had ended already (its end step stopped before releasing the lock, or a
    /// takeover finished first); the lock was released.
    #[serde(rename_all = "camelCase")]
    AlreadyEnded {
        service: String,
        deployment: String,
        status: Status,
    },
    /// A lock without a deployment record, released and noted in the service's state item.
    #[serde(rename_all = "camelCase")]
    OrphanReleased {
        service: String,
        deployment: String,
        reason: String,
    },
    /// Another takeover that is not a rollback (an operator's forced promotion) holds the
    /// deployment: finishing it is that takeover's job, and writing stable now would race it.
    #[serde(rename_all = "camelCase")]
    HeldByTakeover {
        service: String,
        deployment: String,
        by: String,
        status: Status,
    },
    /// Reconciling this service failed; the sweep went on with the others.
    #[serde(rename_all = "camelCase")]
    Failed { service: String, error: String },
}

/// Who settles the lock, and how hard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settler {
    /// The reconciler: leaves a running execution alone.
    Reconciler,
    /// An operator (`sluice unlock`): refused while the execution runs, unless `force`.
    Operator {
        who: String,
        reason: String,
        force: bool,
    },
}

impl Settler {
    fn controller(&self) -> Controller {
        match self {
            Settler::Reconciler => Controller::Reconciler,
            Settler::Operator { who, .. } => Controller::Operator { who: who.clone() },
        }
    }

    fn name(&self) -> String {
        match self {
            Settler::Reconciler => "reconciler".into(),
            Settler::Operator { who, .. } => format!("operator {who}"),
        }
    }

    fn overrides_a_running_execution(&self) -> bool {
        matches!(self, Settler::Operator { force: true, .. })
    }

    /// Why the lock is settled: the execution's end, and the operator's words.
    fn reason(&self, execution: &str) -> String {
        match self {
            Settler::Reconciler => format!("reconciled: {execution}"),
            Settler::Operator { who, reason, .. } => {
                format!("unlocked by {who}: {reason} ({execution})")
            }
        }
    }
}

/// A Step Functions "Execution Status Change" event, as EventBridge delivers it: which
/// execution ended, how, and its input (which names the service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionEnded {
    pub execution_arn: String,
    pub status: ExecutionStatus,
    /// The execution's input as JSON text; `None` when EventBridge left it out (too large).
    #[serde(default)]
    pub input: Option<String>,
}

impl ExecutionEnded {
    /// The service the execution deployed, from its input's `service`.
    pub fn service(&self) -> Option<String> {
        let input: Value = serde_json::from_str(self.input.as_deref()?).ok()?;
        input.get("service")?.as_str().map(str::to_string)
    }
}

/// Everything the reconciler needs (the emergency path's ports).
pub struct Reconciler<'a, S, R, O, N, C> {
    pub store: &'a S,
    pub router: &'a R,
    pub orchestrator: &'a O,
    pub notifier: &'a N,
    pub clock: &'a C,
}

impl<S, R, O, N, C> Reconciler<'_, S, R, O, N, C>
where
    S: Deployments + ServiceLocks + ServiceStates,
    R: TrafficRouter,
    O: Orchestrator,
    N: Notifier,
    C: Clock,
{
    /// An execution ended: the service it deployed is reconciled; when its input does not
    /// name one, every held lock is.
    pub async fn on_execution_end(
        &self,
        ended: &ExecutionEnded,
    ) -> Result<Vec<ReconcileOutcome>, WorkflowError> {
        if ended.status.is_running() || ended.status == ExecutionStatus::Succeeded {
            tracing::info!(execution = %ended.execution_arn, status = ended.status.name(), "execution did not fail; nothing to reconcile");
            return Ok(Vec::new());
        }
        match ended.service() {
            Some(service) => Ok(vec![self.settle(&service, &Settler::Reconciler).await?]),
            None => {
                tracing::warn!(execution = %ended.execution_arn, "the execution's input names no service; sweeping every lock");
                self.sweep().await
            }
        }
    }

    /// Every service holding a lock, reconciled one by one; a failure is reported in its
    /// outcome and the sweep goes on.
    pub async fn sweep(&self) -> Result<Vec<ReconcileOutcome>, WorkflowError> {
        let mut outcomes = Vec::new();
        for service in self.store.locked_services().await? {
            match self.settle(&service, &Settler::Reconciler).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(error) => {
                    tracing::error!(%service, %error, "service not reconciled");
                    outcomes.push(ReconcileOutcome::Failed {
                        service,
                        error: error.to_string(),
                    });
                }
            }
        }
        Ok(outcomes)
    }

    /// Looks at the service's lock and, unless its execution runs (and `settler` does not
    /// override that), ends what holds it: a live deployment is rolled back to stable, an
    /// ended one's lock is released, an orphan lock is released and noted.
    pub async fn settle(
        &self,
        service: &str,
        settler: &Settler,
    ) -> Result<ReconcileOutcome, WorkflowError> {
        let Some(lock) = self.store.lock(service).await? else {
            return Ok(ReconcileOutcome::Free {
                service: service.into(),
            });
        };
        let id = lock.deployment.id.to_string();
        let record = self.store.get(&lock.deployment).await?;
        let arn = record
            .as_ref()
            .and_then(|d| d.execution_arn.clone())
            .or_else(|| self.orchestrator.execution_arn(&id));
        let execution = self.execution_state(arn.as_deref()).await?;
        if execution.running && !settler.overrides_a_running_execution() {
            tracing::info!(%service, deployment = %id, execution = %execution.describe, "the execution holding the lock runs; left alone");
            return Ok(ReconcileOutcome::Live {
                service: service.into(),
                deployment: id,
                execution: execution.describe,
            });
        }
        let reason = settler.reason(&execution.describe);
        match record {
            None => self.release_orphan(&lock, arn, settler, reason).await,
            Some(deployment) if deployment.status.is_terminal() => {
                self.finish(&lock).await?;
                Ok(ReconcileOutcome::AlreadyEnded {
                    service: service.into(),
                    deployment: id,
                    status: deployment.status,
                })
            }
            // A forced promotion stops the execution before it records its end.
            Some(deployment)
                if deployment.controller != Controller::StateMachine
                    && deployment.status != Status::RollingBack =>
            {
                tracing::warn!(%service, deployment = %id, by = %deployment.controller.describe(), status = %deployment.status, "taken over by another controller; left to it");
                Ok(ReconcileOutcome::HeldByTakeover {
                    service: service.into(),
                    deployment: id,
                    by: deployment.controller.describe(),
                    status: deployment.status,
                })
            }
            Some(deployment) => self.roll_back(deployment, settler, reason).await,
        }
    }

    /// What an execution is doing: running or not, and in words.
    async fn execution_state(&self, arn: Option<&str>) -> Result<ExecutionState, WorkflowError> {
        let Some(arn) = arn else {
            return Ok(ExecutionState {
                running: false,
                describe: "no execution is known for it".into(),
            });
        };
        let status = match self.orchestrator.execution_status(arn).await {
            Ok(status) => status,
            Err(OrchestratorError::ExecutionNotFound { .. }) => {
                return Ok(ExecutionState {
                    running: false,
                    describe: format!("execution {arn} does not exist"),
                });
            }
            Err(other) => return Err(other.into()),
        };
        if status.is_running() {
            return Ok(ExecutionState {
                running: true,
                describe: format!("execution {arn} is {}", status.name()),
            });
        }
        let explanation = self
            .orchestrator
            .execution_outcome(arn)
            .await?
            .map(|outcome| outcome.explanation())
            .filter(|text| !text.is_empty())
            .map(|text| format!(" ({text})"))
            .unwrap_or_default();
        Ok(ExecutionState {
            running: false,
            describe: format!("execution {arn} ended {}{explanation}", status.name()),
        })
    }

    async fn roll_back(
        &self,
        deployment: Deployment,
        settler: &Settler,
        reason: String,
    ) -> Result<ReconcileOutcome, WorkflowError> {
        let key = crate::ports::DeploymentKey::of(&deployment);
        let takeover = Takeover {
            store: self.store,
            router: self.router,
            orchestrator: self.orchestrator,
            notifier: self.notifier,
            clock: self.clock,
        };
        tracing::warn!(service = %key.service, deployment = %key.id, %reason, "taking over a deployment its execution left");
        let outcome = takeover
            .take_over(&key, settler.controller(), &reason, None)
            .await?;
        let (service, id) = (key.service.clone(), key.id.to_string());
        match outcome {
            TakeoverOutcome::RolledBack { .. } | TakeoverOutcome::AlreadyRolledBack { .. } => {
                // A late state-machine write may have split traffic again after the takeover.
                assert_stable(self.router, self.notifier, self.clock, &deployment).await?;
                Ok(ReconcileOutcome::RolledBack {
                    service,
                    deployment: id,
                    reason,
                })
            }
            TakeoverOutcome::AlreadyEnded { status, .. } => Ok(ReconcileOutcome::AlreadyEnded {
                service,
                deployment: id,
                status,
            }),
            TakeoverOutcome::Promoted { .. } => Ok(ReconcileOutcome::AlreadyEnded {
                service,
                deployment: id,
                status: Status::Promoted,
            }),
            other @ (TakeoverOutcome::Ignored { .. }
            | TakeoverOutcome::NothingActive { .. }
            | TakeoverOutcome::Refused { .. }) => Err(WorkflowError::Internal {
                id,
                message: format!("the takeover answered {other:?} for one deployment"),
            }),
        }
    }

    async fn release_orphan(
        &self,
        lock: &ServiceLock,
        arn: Option<String>,
        settler: &Settler,
        reason: String,
    ) -> Result<ReconcileOutcome, WorkflowError> {
        let service = lock.deployment.service.clone();
        let id = lock.deployment.id.clone();
        // Forced while the execution runs: stop it first, or its Validate takes the lock again.
        if let Some(arn) = &arn
            && settler.overrides_a_running_execution()
            && let Err(error) = self
                .orchestrator
                .stop_execution(arn, ErrorName::TakenOver.as_str(), &reason)
                .await
        {
            tracing::error!(%service, deployment = %id, %error, "execution not stopped");
        }
        let released = ReleasedLock {
            deployment: id.clone(),
            released_by: settler.name(),
            reason: format!("no deployment record; {reason}"),
            released_at: self.clock.now(),
        };
        self.store
            .update_service_state(&service, |state| {
                state.record_released_lock(released.clone())
            })
            .await?;
        self.finish(lock).await?;
        tracing::warn!(%service, deployment = %id, %reason, "orphan lock released");
        Ok(ReconcileOutcome::OrphanReleased {
            service,
            deployment: id.to_string(),
            reason: released.reason,
        })
    }

    /// The lock released and the queued release started.
    async fn finish(&self, lock: &ServiceLock) -> Result<(), WorkflowError> {
        after_end(
            self.store,
            self.orchestrator,
            self.clock,
            &lock.deployment.service,
            &lock.deployment.id,
        )
        .await
        .map(|_| ())
    }
}

struct ExecutionState {
    running: bool,
    describe: String,
}
