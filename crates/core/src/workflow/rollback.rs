use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::queue::after_end;
use super::record::{fenced, load, notify, save_driven};
use crate::deployment::{Controller, Deployment, EventKind, Outcome, Status};
use crate::plan::WeightPair;
use crate::ports::{
    ChangeId, Clock, Deployments, Notifier, Orchestrator, RecordSet, ServiceLocks, ServiceStates,
    TrafficRouter,
};

/// What Rollback receives: the cursor and, when a step failed, the error the state machine
/// caught.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRequest {
    #[serde(flatten)]
    pub cursor: Cursor,
    pub error: Option<CaughtError>,
}

/// A task failure as a state machine `Catch` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl RollbackRequest {
    /// Why the deployment is rolled back: the decision's reason, or the caught error.
    pub fn reason(&self) -> String {
        match (&self.error, &self.cursor.reason) {
            (Some(caught), _) => {
                let cause = caught_cause(&caught.cause);
                format!("step failed with {}: {cause}", caught.error)
            }
            (None, Some(reason)) => reason.clone(),
            (None, None) => "rollback requested".into(),
        }
    }
}

/// Lambda failures arrive as a JSON cause `{"errorType", "errorMessage"}`; the message is what
/// a person wants to read.
fn caught_cause(cause: &str) -> String {
    serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string())
}

/// How long a rollback waits for Route 53 to be in sync.
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);

/// Returns all traffic to the stable slot (through the spec's ramp-down steps, if any), marks the
/// deployment rolled back with its reason, releases the lock and notifies. Running it again
/// on a rolled-back deployment changes nothing but finishing what its end left undone (the
/// lock, the queued release). Last, the service's queued release starts.
pub async fn roll_back(
    store: &(impl Deployments + ServiceLocks + ServiceStates),
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    orchestrator: &impl Orchestrator,
    clock: &impl Clock,
    request: RollbackRequest,
) -> Result<Cursor, WorkflowError> {
    let reason = request.reason();
    let cursor = request.cursor;
    let mut deployment = load(store, &cursor.deployment).await?;
    if deployment.status == Status::RolledBack {
        after_end(
            store,
            orchestrator,
            clock,
            &deployment.service,
            &deployment.id,
        )
        .await?;
        return Ok(Cursor {
            reason: Some(reason),
            ..cursor
        });
    }
    if deployment.status.is_terminal() {
        // Ended otherwise (a promotion whose step failed after saving it): finish that end.
        after_end(
            store,
            orchestrator,
            clock,
            &deployment.service,
            &deployment.id,
        )
        .await?;
        return Err(fenced(&deployment));
    }
    if deployment.controller != Controller::StateMachine {
        return Err(fenced(&deployment));
    }
    if deployment.status != Status::RollingBack {
        let event = deployment
            .transition(
                Status::RollingBack,
                clock.now(),
                EventKind::RollbackStarted {
                    reason: reason.clone(),
                    controller: Controller::StateMachine,
                },
            )
            .map_err(|_| fenced(&deployment))?;
        save_driven(store, &deployment, &event).await?;
    }
    let change = return_to_stable(router, clock, &deployment).await?;
    complete_rollback(
        store,
        notifier,
        clock,
        &mut deployment,
        &reason,
        change,
        None,
    )
    .await?;
    after_end(
        store,
        orchestrator,
        clock,
        &deployment.service,
        &deployment.id,
    )
    .await?;
    Ok(Cursor {
        reason: Some(reason),
        ..cursor
    })
}

/// Walks the canary down through the spec's ramp-down percents to 0, each change in sync before
/// the next; returns the final change.
async fn return_to_stable(
    router: &impl TrafficRouter,
    clock: &impl Clock,
    deployment: &Deployment,
) -> Result<ChangeId, WorkflowError> {
    let records = RecordSet::of(deployment);
    let current = deployment.current_canary_share();
    let percents: Vec<f64> = deployment
        .spec
        .rollback
        .percents()
        .into_iter()
        .filter(|p| *p == 0.0 || *p < current)
        .collect();
    let mut last = None;
    for (i, percent) in percents.iter().enumerate() {
        let change = router
            .set_weights(&records, WeightPair::for_percent(*percent))
            .await?;
        router.wait_for_sync(&change, SYNC_TIMEOUT).await?;
        if i + 1 < percents.len() {
            clock
                .sleep(Duration::from_secs(u64::from(
                    deployment.spec.rollback.step_seconds,
                )))
                .await;
        }
        last = Some(change);
    }
    last.ok_or_else(|| WorkflowError::Internal {
        id: deployment.id.to_string(),
        message: "rollback had no step to 0%".into(),
    })
}

/// Records the end of a rollback, releases the service's lock and notifies. Shared by the
/// state machine's rollback and the emergency path.
pub(crate) async fn complete_rollback(
    store: &(impl Deployments + ServiceLocks),
    notifier: &impl Notifier,
    clock: &impl Clock,
    deployment: &mut Deployment,
    reason: &str,
    change: ChangeId,
    alarm_to_traffic_ms: Option<i64>,
) -> Result<(), WorkflowError> {
    let now = clock.now();
    if let Some(traffic) = deployment.traffic.as_mut() {
        traffic.weights = WeightPair::ALL_STABLE;
        traffic.canary_share = 0.0;
        traffic.asked_percent = 0.0;
        traffic.change_id = change.0.clone();
        traffic.changed_at = now;
    }
    deployment.outcome = Some(Outcome {
        reason: reason.to_string(),
        at: now,
    });
    deployment.task_token = None;
    let event = deployment
        .transition(
            Status::RolledBack,
            now,
            EventKind::RolledBack {
                reason: reason.to_string(),
                weights: WeightPair::ALL_STABLE,
                change_id: change.0,
                alarm_to_traffic_ms,
            },
        )
        .map_err(|_| fenced(deployment))?;
    store.save(deployment, &event).await?;
    store
        .release_lock(&deployment.service, &deployment.id)
        .await?;
    tracing::info!(deployment_id = %deployment.id, %reason, stable = %deployment.roles.stable, "rolled back: stable 100%");
    notify(
        notifier,
        deployment,
        format!(
            "rolled back to stable {} 100%: {reason}",
            deployment.roles.stable
        ),
    )
    .await;
    Ok(())
}
