//! The service's lock is leased step by step: each step moves the lease past the longest wait
//! before the state machine's next step, plus a margin for that step's retries. A live
//! execution so never loses its lock, and a dead one's lock expires within that margin.

use chrono::{DateTime, Duration, Utc};

use super::error::WorkflowError;
use crate::deployment::Deployment;
use crate::ports::{LockError, ServiceLocks};
use crate::spec::LEASE_MARGIN_SECONDS;

/// When the lease taken or renewed at `now` ends, `wait` being the longest the state machine
/// waits before its next step.
pub(super) fn lease_until(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    now + wait + Duration::seconds(LEASE_MARGIN_SECONDS as i64)
}

/// The longest a hook of the deployment runs (0 without hooks): a hook runs between two steps.
pub(super) fn hook_wait(deployment: &Deployment) -> Duration {
    let seconds = deployment
        .spec
        .hooks
        .as_ref()
        .map_or(0, |hooks| hooks.timeout_seconds);
    Duration::seconds(i64::from(seconds))
}

/// Extends the deployment's lease so it covers `wait` and the margin from `now`.
pub(super) async fn renew_lease(
    store: &impl ServiceLocks,
    deployment: &Deployment,
    now: DateTime<Utc>,
    wait: Duration,
) -> Result<(), WorkflowError> {
    store
        .renew_lock(&deployment.service, &deployment.id, lease_until(now, wait))
        .await?;
    Ok(())
}

/// As [`renew_lease`], for a step that must go on without the lock (a rollback returning
/// traffic to stable): a lock no longer held is logged, not an error.
pub(super) async fn renew_lease_if_held(
    store: &impl ServiceLocks,
    deployment: &Deployment,
    now: DateTime<Utc>,
    wait: Duration,
) -> Result<(), WorkflowError> {
    match renew_lease(store, deployment, now, wait).await {
        Err(WorkflowError::Locks(error @ LockError::NotHeld { .. })) => {
            tracing::warn!(deployment_id = %deployment.id, %error, "rolling back without the lock");
            Ok(())
        }
        other => other,
    }
}
