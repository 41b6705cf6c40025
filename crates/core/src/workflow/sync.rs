use chrono::Duration;

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::lease::renew_lease;
use super::record::{ensure_driven, fenced, load, save_driven, step_of};
use crate::deployment::{EventKind, Status};
use crate::ports::{ChangeId, ChangeStatus, Clock, Deployments, ServiceLocks, TrafficRouter};
use crate::spec::{SYNC_MAX_POLLS, SYNC_POLL_SECONDS};

/// How the state machine's sync loop is paced and bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncLimits {
    /// Seconds between two polls.
    pub poll_seconds: u32,
    /// Polls after which a change still pending fails the step.
    pub max_polls: u32,
}

impl Default for SyncLimits {
    fn default() -> Self {
        SyncLimits {
            poll_seconds: SYNC_POLL_SECONDS,
            max_polls: SYNC_MAX_POLLS,
        }
    }
}

/// One look at the step's Route 53 change. Pending: the cursor counts the poll (and the step
/// fails with `SyncTimeout` past the bound). In sync: the step goes live one record TTL later,
/// which is when its analysis window starts, and it is due for analysis a bake after that.
/// The lock's lease is extended past the longest wait before the next step (a poll, or the
/// TTL and the bake).
pub async fn check_sync(
    store: &(impl Deployments + ServiceLocks),
    router: &impl TrafficRouter,
    clock: &impl Clock,
    limits: SyncLimits,
    cursor: Cursor,
) -> Result<Cursor, WorkflowError> {
    let mut deployment = load(store, &cursor.deployment).await?;
    ensure_driven(&deployment)?;
    let step = step_of(&deployment, cursor.step)?;
    let bake = Duration::seconds(i64::from(step.bake_seconds));
    let longest_wait = Duration::seconds(i64::from(
        limits.poll_seconds.max(deployment.spec.ttl_seconds),
    )) + bake;
    renew_lease(store, &deployment, clock.now(), longest_wait).await?;

    // An earlier try already saw it in sync.
    if deployment.status == Status::Baking
        && deployment.step == Some(step.index)
        && let Some(live_at) = deployment.traffic.as_ref().and_then(|t| t.live_at)
    {
        return Ok(Cursor {
            in_sync: true,
            analyze_at: Some(live_at + bake),
            poll_seconds: limits.poll_seconds,
            ..cursor
        });
    }
    let change = match (&cursor.change_id, &deployment.traffic) {
        (Some(change), _) => ChangeId(change.clone()),
        (None, Some(traffic)) => ChangeId(traffic.change_id.clone()),
        (None, None) => {
            return Err(WorkflowError::BadInput {
                what: "changeId".into(),
                message: format!(
                    "deployment {} has no traffic change to wait for",
                    deployment.id
                ),
            });
        }
    };

    match router.change_status(&change).await? {
        ChangeStatus::Pending => {
            let polls = cursor.sync_polls + 1;
            if polls > limits.max_polls {
                return Err(WorkflowError::SyncTimeout {
                    id: deployment.id.clone(),
                    change: change.0,
                    polls: cursor.sync_polls,
                });
            }
            Ok(Cursor {
                in_sync: false,
                sync_polls: polls,
                poll_seconds: limits.poll_seconds,
                change_id: Some(change.0),
                ..cursor
            })
        }
        ChangeStatus::InSync => {
            let now = clock.now();
            let live_at = now + Duration::seconds(i64::from(deployment.spec.ttl_seconds));
            if let Some(traffic) = deployment.traffic.as_mut() {
                traffic.live_at = Some(live_at);
            }
            let event = deployment
                .transition(
                    Status::Baking,
                    now,
                    EventKind::StepLive {
                        step: step.index,
                        live_at,
                    },
                )
                .map_err(|_| fenced(&deployment))?;
            save_driven(store, &deployment, &event).await?;
            Ok(Cursor {
                in_sync: true,
                poll_seconds: limits.poll_seconds,
                change_id: Some(change.0),
                analyze_at: Some(live_at + bake),
                ..cursor
            })
        }
    }
}
