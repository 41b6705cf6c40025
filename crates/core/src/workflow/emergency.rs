use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::{ErrorName, WorkflowError};
use super::queue::after_end;
use super::record::{load, notify};
use super::rollback::complete_rollback;
use super::verify::assert_weights;
use crate::deployment::{
    Controller, Deployment, EventKind, Outcome, Status, TakeoverTarget, TrafficState,
};
use crate::plan::WeightPair;
use crate::ports::{
    Clock, DeploymentKey, Deployments, DeploymentsError, Notifier, Orchestrator, RecordSet,
    ServiceLocks, ServiceStates, TrafficRouter,
};

/// A CloudWatch alarm's state change, as its SNS notification carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmNotification {
    #[serde(rename = "AlarmName")]
    pub alarm_name: String,
    #[serde(rename = "NewStateValue")]
    pub new_state: String,
    #[serde(rename = "NewStateReason", default)]
    pub reason: String,
    #[serde(rename = "StateChangeTime", deserialize_with = "cloudwatch_time")]
    pub state_change_time: DateTime<Utc>,
}

/// CloudWatch writes `2026-11-25T23:40:17.302+0000`, which is not RFC 3339 (no colon in the
/// offset); accept both.
fn cloudwatch_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .or_else(|_| DateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| serde::de::Error::custom(format!("StateChangeTime {text:?}: {e}")))
}

/// What the emergency path did for one deployment (or why it did nothing).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum TakeoverOutcome {
    /// Only a transition to ALARM acts.
    #[serde(rename_all = "camelCase")]
    Ignored { alarm: String, state: String },
    #[serde(rename_all = "camelCase")]
    NothingActive { alarm: String },
    #[serde(rename_all = "camelCase")]
    RolledBack {
        deployment: String,
        /// From the alarm's state change (or the operator's request) to Route 53 accepting
        /// the change to 100 % stable.
        to_traffic_ms: Option<i64>,
    },
    /// Another delivery (or another alarm) already rolled it back.
    #[serde(rename_all = "camelCase")]
    AlreadyRolledBack { deployment: String },
    /// An operator's forced promotion put all traffic on the canary.
    #[serde(rename_all = "camelCase")]
    Promoted { deployment: String },
    /// The deployment had already ended otherwise (promoted, failed).
    #[serde(rename_all = "camelCase")]
    AlreadyEnded { deployment: String, status: Status },
    /// Another takeover with another target drives the deployment (an operator's forced
    /// promotion): this one was refused and changed nothing.
    #[serde(rename_all = "camelCase")]
    Refused { deployment: String, reason: String },
}

/// Everything the emergency path needs.
pub struct Takeover<'a, S, R, O, N, C> {
    pub store: &'a S,
    pub router: &'a R,
    pub orchestrator: &'a O,
    pub notifier: &'a N,
    pub clock: &'a C,
}

/// How often a takeover re-reads a record that changed underneath before giving up.
const TAKEOVER_ATTEMPTS: usize = 10;

impl<S, R, O, N, C> Takeover<'_, S, R, O, N, C>
where
    S: Deployments + ServiceLocks + ServiceStates,
    R: TrafficRouter,
    O: Orchestrator,
    N: Notifier,
    C: Clock,
{
    /// The alarm-driven emergency rollback: every active deployment whose spec names the alarm
    /// is taken over and returned to 100 % stable. Repeated deliveries and simultaneous alarms
    /// end in one rollback each.
    pub async fn on_alarm(
        &self,
        alarm: &AlarmNotification,
    ) -> Result<Vec<TakeoverOutcome>, WorkflowError> {
        if alarm.new_state != "ALARM" {
            tracing::info!(alarm = %alarm.alarm_name, state = %alarm.new_state, "alarm left ALARM or is not in it; nothing to do");
            return Ok(vec![TakeoverOutcome::Ignored {
                alarm: alarm.alarm_name.clone(),
                state: alarm.new_state.clone(),
            }]);
        }
        let mut outcomes = Vec::new();
        for lock in self.store.locks_for_alarm(&alarm.alarm_name).await? {
            let Some(deployment) = self.store.get(&lock.deployment).await? else {
                continue;
            };
            // Only an alarm that arms this deployment's brake: a slot's own alarm only while
            // that slot is the canary.
            let armed = deployment.spec.brake_alarms(&deployment.roles);
            if !armed.iter().any(|(_, name)| *name == alarm.alarm_name) {
                continue;
            }
            let reason = format!("alarm {} went to ALARM: {}", alarm.alarm_name, alarm.reason);
            let controller = Controller::Alarm {
                alarm: alarm.alarm_name.clone(),
            };
            match self
                .take_over(
                    &lock.deployment,
                    controller,
                    &reason,
                    Some(alarm.state_change_time),
                )
                .await
            {
                Ok(outcome) => outcomes.push(outcome),
                Err(refused @ WorkflowError::TakeoverRefused { .. }) => {
                    tracing::warn!(deployment_id = %lock.deployment.id, error = %refused, "alarm takeover refused");
                    outcomes.push(TakeoverOutcome::Refused {
                        deployment: lock.deployment.id.to_string(),
                        reason: refused.to_string(),
                    });
                }
                Err(other) => return Err(other),
            }
        }
        if outcomes.is_empty() {
            tracing::info!(alarm = %alarm.alarm_name, "no active deployment names this alarm; nothing to roll back");
            outcomes.push(TakeoverOutcome::NothingActive {
                alarm: alarm.alarm_name.clone(),
            });
        }
        Ok(outcomes)
    }

    /// Takes a deployment away from the state machine and returns all traffic to stable, in
    /// this order: a conditional write that bumps the revision (every later state-machine step
    /// is fenced off), 100 % stable in one Route 53 change, the execution stopped (and a waiting
    /// approval failed), the weights read back and stable re-asserted until Route 53 carries it
    /// (a state-machine write in flight may land after ours), the rollback recorded with its
    /// reason and timing, the lock released, a notification. Safe to run again, and
    /// concurrently; refused, before any write, when a forced promotion drives the deployment.
    pub async fn take_over(
        &self,
        key: &DeploymentKey,
        controller: Controller,
        reason: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<TakeoverOutcome, WorkflowError> {
        let id = key.id.to_string();
        let event = EventKind::RollbackStarted {
            reason: reason.to_string(),
            controller: controller.clone(),
        };
        let (mut deployment, waiting_token) = match self
            .fence(key, &controller, TakeoverTarget::Stable, event)
            .await?
        {
            Fence::Held(deployment, token) => (*deployment, token),
            Fence::Ended(outcome) => return self.finish_ended(key, outcome).await,
        };

        let records = RecordSet::of(&deployment);
        let change = self
            .router
            .set_weights(&records, WeightPair::ALL_STABLE)
            .await?;
        let to_traffic_ms = since.map(|t| (self.clock.now() - t).num_milliseconds());
        tracing::warn!(deployment_id = %id, %reason, ?to_traffic_ms, "taken over: 100% stable");
        self.stop_execution(
            &deployment,
            waiting_token,
            &format!("{reason} (taken over by {})", controller.describe()),
        )
        .await;
        self.verify(&deployment, TakeoverTarget::Stable).await?;

        match complete_rollback(
            self.store,
            self.notifier,
            self.clock,
            &mut deployment,
            reason,
            change,
            to_traffic_ms,
        )
        .await
        {
            Ok(()) => {
                self.after_end(key).await?;
                Ok(TakeoverOutcome::RolledBack {
                    deployment: id,
                    to_traffic_ms,
                })
            }
            Err(WorkflowError::Deployments(DeploymentsError::RevisionConflict { .. }))
            | Err(WorkflowError::Fenced { .. }) => {
                // A concurrent run of the same takeover recorded it first.
                let current = load(self.store, key).await?;
                if current.status == Status::RolledBack {
                    self.after_end(key).await?;
                    Ok(TakeoverOutcome::AlreadyRolledBack { deployment: id })
                } else {
                    Err(WorkflowError::Internal {
                        id,
                        message: format!(
                            "rollback not recorded: the record changed underneath (now {})",
                            current.status
                        ),
                    })
                }
            }
            Err(other) => Err(other),
        }
    }

    /// An operator's forced promotion: the same fenced takeover, but to 100 % canary, skipping
    /// the remaining steps and any analysis in progress, verified like a rollback. Recorded with
    /// who asked. Refused, before any write, while a rollback (an alarm's, an operator's, the
    /// state machine's) is under way.
    pub async fn promote_now(
        &self,
        key: &DeploymentKey,
        who: &str,
    ) -> Result<TakeoverOutcome, WorkflowError> {
        let id = key.id.to_string();
        let controller = Controller::Operator {
            who: who.to_string(),
        };
        let event = EventKind::OperatorRequested {
            by: who.to_string(),
            request: "forced promotion".into(),
        };
        let (mut deployment, waiting_token) = match self
            .fence(key, &controller, TakeoverTarget::Canary, event)
            .await?
        {
            Fence::Held(deployment, token) => (*deployment, token),
            Fence::Ended(outcome) => return self.finish_ended(key, outcome).await,
        };
        let records = RecordSet::of(&deployment);
        let change = self
            .router
            .set_weights(&records, WeightPair::ALL_CANARY)
            .await?;
        let reason =
            format!("promoted by {who}, skipping the remaining steps and analysis (forced)");
        self.stop_execution(&deployment, waiting_token, &reason)
            .await;
        self.verify(&deployment, TakeoverTarget::Canary).await?;
        let now = self.clock.now();
        deployment.traffic = Some(TrafficState::all_canary(change.0.clone(), now));
        deployment.outcome = Some(Outcome {
            reason: reason.clone(),
            at: now,
        });
        let event = deployment
            .transition(
                Status::Promoted,
                now,
                EventKind::Promoted {
                    weights: WeightPair::ALL_CANARY,
                    change_id: change.0,
                },
            )
            .map_err(|e| WorkflowError::Internal {
                id: id.clone(),
                message: e.to_string(),
            })?;
        self.store.save(&deployment, &event).await?;
        self.store
            .release_lock(&deployment.service, &deployment.id)
            .await?;
        notify(self.notifier, &deployment, reason).await;
        self.after_end(key).await?;
        Ok(TakeoverOutcome::Promoted { deployment: id })
    }

    /// The fence: a conditional write that hands the deployment to `controller`, re-read and
    /// retried when the state machine wrote in between. A deployment already taken over for the
    /// same target is returned as it is, so the takeover can be finished; one taken over for
    /// another target, or that cannot reach the target from its status, is refused before
    /// anything is written; one that has ended is reported.
    async fn fence(
        &self,
        key: &DeploymentKey,
        controller: &Controller,
        target: TakeoverTarget,
        event: EventKind,
    ) -> Result<Fence, WorkflowError> {
        let id = key.id.to_string();
        let mut deployment = load(self.store, key).await?;
        for attempt in 0.. {
            match deployment.status {
                Status::RolledBack => {
                    return Ok(Fence::Ended(TakeoverOutcome::AlreadyRolledBack {
                        deployment: id,
                    }));
                }
                status if status.is_terminal() => {
                    return Ok(Fence::Ended(TakeoverOutcome::AlreadyEnded {
                        deployment: id,
                        status,
                    }));
                }
                _ => {}
            }
            match deployment.takeover_target() {
                // Taken over already (another delivery, another alarm): finish the same job.
                Some(current) if current == target => {
                    return Ok(Fence::Held(Box::new(deployment), None));
                }
                Some(current) => {
                    let reason = format!(
                        "{} took it over first for {} (status {}); one takeover never undoes another's",
                        deployment.controller.describe(),
                        current.describe(),
                        deployment.status
                    );
                    return Err(refused(&deployment, controller, target, reason));
                }
                None => {}
            }
            let next = target.next_status();
            if !deployment.status.can_become(next) {
                let reason = format!(
                    "the state machine has it {} and it cannot become {next} from there",
                    deployment.status
                );
                return Err(refused(&deployment, controller, target, reason));
            }
            let waiting_token = deployment.task_token.take().or_else(|| {
                // An approval recorded but perhaps not yet answered: the state machine may
                // still wait on its token.
                (deployment.status == Status::Analyzing)
                    .then(|| deployment.approved_token.take())
                    .flatten()
            });
            deployment.controller = controller.clone();
            // The write that fences keeps the status; reaching the target is recorded after the
            // traffic change, except for a rollback, which is in progress from here on.
            let fenced_status = match target {
                TakeoverTarget::Stable => Status::RollingBack,
                TakeoverTarget::Canary => deployment.status,
            };
            let written = deployment
                .transition(fenced_status, self.clock.now(), event.clone())
                .map_err(|e| WorkflowError::Internal {
                    id: id.clone(),
                    message: e.to_string(),
                })?;
            match self.store.save(&deployment, &written).await {
                Ok(()) => return Ok(Fence::Held(Box::new(deployment), waiting_token)),
                Err(DeploymentsError::RevisionConflict { .. })
                    if attempt + 1 < TAKEOVER_ATTEMPTS =>
                {
                    deployment = load(self.store, key).await?;
                }
                Err(other) => return Err(other.into()),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Route 53 read back after the takeover's write, and its target re-asserted until it
    /// carries it (a state-machine write in flight before the fence may land after ours).
    async fn verify(
        &self,
        deployment: &Deployment,
        target: TakeoverTarget,
    ) -> Result<(), WorkflowError> {
        assert_weights(
            self.router,
            self.notifier,
            self.clock,
            deployment,
            target.weights(),
        )
        .await
    }

    /// Stops the execution and fails the approval it may wait on; failures are logged, since
    /// traffic is already safe and every later step is fenced off.
    async fn stop_execution(
        &self,
        deployment: &Deployment,
        waiting_token: Option<String>,
        cause: &str,
    ) {
        let id = &deployment.id;
        if let Some(arn) = &deployment.execution_arn
            && let Err(error) = self
                .orchestrator
                .stop_execution(arn, ErrorName::TakenOver.as_str(), cause)
                .await
        {
            tracing::error!(deployment_id = %id, %error, "execution not stopped");
        }
        // moto (and a paused execution in general) waits on the token until it is answered.
        if let Some(token) = waiting_token
            && let Err(error) = self
                .orchestrator
                .send_task_failure(&token, ErrorName::Aborted.as_str(), cause)
                .await
        {
            tracing::warn!(deployment_id = %id, %error, "waiting approval not answered");
        }
    }
}

impl<S, R, O, N, C> Takeover<'_, S, R, O, N, C>
where
    S: Deployments + ServiceLocks + ServiceStates,
    O: Orchestrator,
    C: Clock,
{
    /// The lock released and the queued release started, after this takeover ended the
    /// deployment or found it ended (a repeated delivery finishes what a crash left undone).
    async fn after_end(&self, key: &DeploymentKey) -> Result<(), WorkflowError> {
        after_end(
            self.store,
            self.orchestrator,
            self.clock,
            &key.service,
            &key.id,
        )
        .await
        .map(|_| ())
    }

    async fn finish_ended(
        &self,
        key: &DeploymentKey,
        outcome: TakeoverOutcome,
    ) -> Result<TakeoverOutcome, WorkflowError> {
        self.after_end(key).await?;
        Ok(outcome)
    }
}

/// Whether the fence is held, or the deployment had already ended.
enum Fence {
    Held(Box<Deployment>, Option<String>),
    Ended(TakeoverOutcome),
}

/// The error for a takeover that may not happen: names the deployment, the takeover refused and
/// why (the controller that holds it, or the status it cannot leave for the target).
fn refused(
    deployment: &Deployment,
    controller: &Controller,
    target: TakeoverTarget,
    reason: String,
) -> WorkflowError {
    WorkflowError::TakeoverRefused {
        id: deployment.id.clone(),
        refused: format!("{} by {}", target.describe(), controller.describe()),
        reason,
    }
}
