use serde::{Deserialize, Serialize};

use super::cursor::{Cursor, RampChange};
use super::error::WorkflowError;
use super::lease::renew_lease_if_held;
use super::queue::after_end;
use super::record::{fenced, load, notify, save_driven};
use super::sync::SyncLimits;
use super::verify::save_after_write;
use crate::deployment::{Controller, Deployment, EventKind, Outcome, Status, TrafficState};
use crate::plan::WeightPair;
use crate::ports::{
    ChangeId, ChangeStatus, Clock, Deployments, Notifier, Orchestrator, RecordSet, ServiceLocks,
    ServiceStates, TrafficRouter,
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

/// One Rollback invocation: a step of the return to stable. The first claims the deployment
/// (rolling back); each writes the next lower canary share of the spec's ramp-down (fenced:
/// conditional on the revision it read, stable restored if a takeover came in between), or
/// looks at its last change, and hands the state machine how long to wait
/// (`rampWaitSeconds`) before the next: the sync poll after a write, the ramp's hold once in
/// sync. At 0 % and in sync it marks the deployment rolled back with its reason, releases the
/// lock and notifies; then `rampWaitSeconds` is absent. Running it again on a rolled-back
/// deployment changes nothing but finishing what its end left undone (the lock, the queued
/// release). A retry goes on from what the record and Route 53 show: the canary's share
/// never goes back up.
pub async fn roll_back(
    store: &(impl Deployments + ServiceLocks + ServiceStates),
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    orchestrator: &impl Orchestrator,
    clock: &impl Clock,
    limits: SyncLimits,
    request: RollbackRequest,
) -> Result<Cursor, WorkflowError> {
    let reason = request.reason();
    let cursor = request.cursor;
    let mut deployment = load(store, &cursor.deployment).await?;
    if deployment.status.is_terminal() {
        // Finish what the end left undone; an end other than a rollback (a promotion whose
        // step failed after saving it) is not ours.
        after_end(
            store,
            orchestrator,
            clock,
            &deployment.service,
            &deployment.id,
        )
        .await?;
        return if deployment.status == Status::RolledBack {
            Ok(ended(cursor, reason))
        } else {
            Err(fenced(&deployment))
        };
    }
    if deployment.controller != Controller::StateMachine {
        return Err(fenced(&deployment));
    }
    let now = clock.now();
    let longest_wait = limits
        .poll_seconds
        .max(deployment.spec.rollback.step_seconds);
    renew_lease_if_held(
        store,
        &deployment,
        now,
        chrono::Duration::seconds(i64::from(longest_wait)),
    )
    .await?;
    if deployment.status != Status::RollingBack {
        let event = deployment
            .transition(
                Status::RollingBack,
                now,
                EventKind::RollbackStarted {
                    reason: reason.clone(),
                    controller: Controller::StateMachine,
                },
            )
            .map_err(|_| fenced(&deployment))?;
        save_driven(store, &deployment, &event).await?;
    }

    // The ramp's own last change, which the record still names: wait for it, then hold.
    let last = cursor.ramp.clone().filter(|ramp| {
        deployment
            .traffic
            .as_ref()
            .is_some_and(|t| t.change_id == ramp.change_id)
    });
    if let Some(ramp) = last {
        let at_stable = deployment.current_canary_share() == 0.0;
        if !ramp.in_sync {
            let change = ChangeId(ramp.change_id.clone());
            if router.change_status(&change).await? == ChangeStatus::Pending {
                if ramp.polls < limits.max_polls {
                    let polls = ramp.polls + 1;
                    let ramp = RampChange { polls, ..ramp };
                    return Ok(waiting(cursor, reason, ramp, limits.poll_seconds));
                }
                // Going on is safe: each later change gives the canary less.
                tracing::warn!(deployment_id = %deployment.id, change_id = %change, polls = ramp.polls, "ramp-down change not in sync; going on");
            }
            if !at_stable {
                let hold = deployment.spec.rollback.step_seconds;
                let ramp = RampChange {
                    in_sync: true,
                    ..ramp
                };
                return Ok(waiting(cursor, reason, ramp, hold));
            }
        }
        if at_stable {
            let change = ChangeId(ramp.change_id);
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
            return Ok(ended(cursor, reason));
        }
    }

    let change = ramp_down(store, router, notifier, clock, &mut deployment).await?;
    let ramp = RampChange {
        change_id: change.0,
        in_sync: false,
        polls: 0,
    };
    Ok(waiting(cursor, reason, ramp, limits.poll_seconds))
}

/// Writes the next lower canary share of the ramp (0 % last) below what the record and
/// Route 53 both show, and records it; returns the change.
async fn ramp_down(
    store: &(impl Deployments + ServiceLocks),
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    clock: &impl Clock,
    deployment: &mut Deployment,
) -> Result<ChangeId, WorkflowError> {
    let records = RecordSet::of(deployment);
    // A write whose record was lost (a crash, a conflict) has lowered Route 53 already.
    let live = router
        .read_weights(&records)
        .await?
        .weights()
        .map_or(100.0, |w| w.canary_percent());
    let current = deployment.current_canary_share().min(live);
    let percent = next_ramp_percent(&deployment.spec.rollback.percents(), current);
    let weights = WeightPair::for_percent(percent);
    let change = router.set_weights(&records, weights).await?;
    let now = clock.now();
    deployment.traffic = Some(TrafficState {
        asked_percent: percent,
        weights,
        canary_share: weights.canary_percent(),
        change_id: change.0.clone(),
        changed_at: now,
        live_at: None,
    });
    let event = deployment
        .transition(
            Status::RollingBack,
            now,
            EventKind::RampedDown {
                asked_percent: percent,
                weights,
                canary_share: weights.canary_percent(),
                change_id: change.0.clone(),
            },
        )
        .map_err(|_| fenced(deployment))?;
    save_after_write(
        store,
        router,
        notifier,
        clock,
        deployment,
        &event,
        "ramping down",
    )
    .await?;
    tracing::info!(deployment_id = %deployment.id, percent, change_id = %change, "ramping down");
    Ok(change)
}

/// The largest ramp percent whose weights give the canary less than `current` (0 % when none
/// does): the ramp only ever goes down.
fn next_ramp_percent(percents: &[f64], current: f64) -> f64 {
    percents
        .iter()
        .copied()
        .find(|p| *p == 0.0 || WeightPair::for_percent(*p).canary_percent() < current)
        .unwrap_or(0.0)
}

/// The cursor of a rollback that goes on after a wait of `seconds`.
fn waiting(cursor: Cursor, reason: String, ramp: RampChange, seconds: u32) -> Cursor {
    Cursor {
        reason: Some(reason),
        ramp: Some(ramp),
        ramp_wait_seconds: Some(seconds),
        ..cursor
    }
}

/// The cursor of a rollback that is complete.
fn ended(cursor: Cursor, reason: String) -> Cursor {
    Cursor {
        reason: Some(reason),
        ramp: None,
        ramp_wait_seconds: None,
        ..cursor
    }
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
