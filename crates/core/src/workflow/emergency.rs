use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::rollback::complete_rollback;
use super::{WorkflowError, load};
use crate::deployment::{Controller, EventKind, Status};
use crate::plan::WeightPair;
use crate::ports::{
    Clock, DeploymentKey, DeploymentStore, Notifier, Orchestrator, RecordSet, StoreError,
    TrafficRouter,
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
        /// the change to 100 % blue.
        #[serde(skip_serializing_if = "Option::is_none")]
        to_traffic_ms: Option<i64>,
    },
    /// Another delivery (or another alarm) already rolled it back.
    #[serde(rename_all = "camelCase")]
    AlreadyRolledBack { deployment: String },
    /// The deployment had already ended otherwise (promoted, failed).
    #[serde(rename_all = "camelCase")]
    AlreadyEnded { deployment: String, status: Status },
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
    S: DeploymentStore,
    R: TrafficRouter,
    O: Orchestrator,
    N: Notifier,
    C: Clock,
{
    /// The alarm-driven emergency rollback: every active deployment whose spec names the alarm
    /// is taken over and returned to 100 % blue. Repeated deliveries and simultaneous alarms
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
            if !deployment.spec.alarms.contains(&alarm.alarm_name) {
                continue;
            }
            let reason = format!("alarm {} went to ALARM: {}", alarm.alarm_name, alarm.reason);
            let controller = Controller::Alarm {
                alarm: alarm.alarm_name.clone(),
            };
            outcomes.push(
                self.take_over(
                    &lock.deployment,
                    controller,
                    &reason,
                    Some(alarm.state_change_time),
                )
                .await?,
            );
        }
        if outcomes.is_empty() {
            tracing::info!(alarm = %alarm.alarm_name, "no active deployment names this alarm; nothing to roll back");
            outcomes.push(TakeoverOutcome::NothingActive {
                alarm: alarm.alarm_name.clone(),
            });
        }
        Ok(outcomes)
    }

    /// Takes a deployment away from the state machine and returns all traffic to blue, in
    /// this order: a conditional write that bumps the revision (every later state-machine step
    /// is fenced off), 100 % blue in one Route 53 change, the execution stopped (and a waiting
    /// approval failed), the rollback recorded with its reason and timing, the lock released,
    /// a notification. Safe to run again, and concurrently.
    pub async fn take_over(
        &self,
        key: &DeploymentKey,
        controller: Controller,
        reason: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<TakeoverOutcome, WorkflowError> {
        let id = key.id.to_string();
        let mut deployment = load(self.store, key).await?;
        let mut waiting_token = None;
        for attempt in 0.. {
            match deployment.status {
                Status::RolledBack => {
                    return Ok(TakeoverOutcome::AlreadyRolledBack { deployment: id });
                }
                status if status.is_terminal() => {
                    return Ok(TakeoverOutcome::AlreadyEnded {
                        deployment: id,
                        status,
                    });
                }
                _ => {}
            }
            if deployment.controller != Controller::StateMachine {
                // Taken over already (another delivery, another alarm): finish the same job.
                break;
            }
            waiting_token = deployment.task_token.take();
            deployment.controller = controller.clone();
            let event = deployment
                .transition(
                    Status::RollingBack,
                    self.clock.now(),
                    EventKind::RollbackStarted {
                        reason: reason.to_string(),
                        controller: controller.clone(),
                    },
                )
                .map_err(|e| WorkflowError::Internal {
                    id: id.clone(),
                    message: e.to_string(),
                })?;
            match self.store.save(&deployment, &event).await {
                Ok(()) => break,
                Err(StoreError::RevisionConflict { .. }) if attempt + 1 < TAKEOVER_ATTEMPTS => {
                    deployment = load(self.store, key).await?;
                }
                Err(other) => return Err(other.into()),
            }
        }

        let records = RecordSet::from_spec(&deployment.spec);
        let change = self
            .router
            .set_weights(&records, WeightPair::ALL_BLUE)
            .await?;
        let to_traffic_ms = since.map(|t| (self.clock.now() - t).num_milliseconds());
        tracing::warn!(deployment_id = %id, %reason, ?to_traffic_ms, "emergency rollback: 100% blue");

        let cause = format!("{reason} (taken over by {})", controller.describe());
        if let Some(arn) = &deployment.execution_arn
            && let Err(error) = self
                .orchestrator
                .stop_execution(arn, "Sluice.EmergencyRollback", &cause)
                .await
        {
            // Traffic is already safe and every later step is fenced off.
            tracing::error!(deployment_id = %id, %error, "execution not stopped");
        }
        if let Some(token) = waiting_token
            && let Err(error) = self
                .orchestrator
                .send_task_failure(&token, "Sluice.Aborted", &cause)
                .await
        {
            tracing::warn!(deployment_id = %id, %error, "waiting approval not answered");
        }

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
            Ok(()) => Ok(TakeoverOutcome::RolledBack {
                deployment: id,
                to_traffic_ms,
            }),
            Err(WorkflowError::Store(StoreError::RevisionConflict { .. }))
            | Err(WorkflowError::Fenced { .. }) => {
                // A concurrent run of the same takeover recorded it first.
                let current = load(self.store, key).await?;
                if current.status == Status::RolledBack {
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
}
