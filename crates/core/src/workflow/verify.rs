//! Verified traffic. A compensating write (a late step putting back what a takeover wants) and
//! the end of every takeover read Route 53 back and re-assert the wanted weights until they are
//! there: a write that failed (PriorRequestNotComplete right after another change) or one that
//! landed after ours (a late state-machine change) is corrected. Bounded; then the operators are
//! paged through the notifications topic and the caller gets an error.

use std::time::Duration;

use super::error::WorkflowError;
use super::record::{load, notify, save_driven};
use crate::deployment::{Deployment, HistoryEvent};
use crate::plan::WeightPair;
use crate::ports::{
    Clock, DeploymentKey, Deployments, Notifier, RecordSet, ServiceLocks, TrafficRouter,
    WeightedRecords,
};

/// How many times the wanted weights are re-asserted before the operators are paged.
pub const REASSERT_ATTEMPTS: u32 = 4;

/// The wait after the first re-assert, doubled after each: 1 + 2 + 4 + 8 s at most in all, so a
/// verification fits a function's timeout next to its SDK calls.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest a verification takes when each Route 53 call may take up to `call_timeout`
/// (the SDK's operation timeout): every read and re-assert, and the waits between them. A
/// function that verifies needs this much of its timeout on top of its own calls.
pub fn verify_budget(call_timeout: Duration) -> Duration {
    let calls = 2 * REASSERT_ATTEMPTS + 1;
    let waits: Duration = (0..REASSERT_ATTEMPTS)
        .map(|i| FIRST_BACKOFF * 2u32.pow(i))
        .sum();
    call_timeout * calls + waits
}

/// Re-reads the deployment's records and re-asserts 100 % stable until Route 53 carries it.
pub async fn assert_stable(
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    clock: &impl Clock,
    deployment: &Deployment,
) -> Result<(), WorkflowError> {
    assert_weights(router, notifier, clock, deployment, WeightPair::ALL_STABLE).await
}

/// Re-reads the deployment's records and re-asserts `wanted` (in the deployment's roles) until
/// Route 53 carries that split: at most [`REASSERT_ATTEMPTS`] writes, with backoff on `clock`.
/// When it still does not, pages the operators and fails with `NotVerified`.
pub async fn assert_weights(
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    clock: &impl Clock,
    deployment: &Deployment,
    wanted: WeightPair,
) -> Result<(), WorkflowError> {
    let records = RecordSet::of(deployment);
    let mut found = String::new();
    let mut backoff = FIRST_BACKOFF;
    for attempt in 0..=REASSERT_ATTEMPTS {
        match router.read_weights(&records).await {
            Ok(live) if live.weights().is_some_and(|w| same_split(w, wanted)) => {
                if attempt > 0 {
                    tracing::info!(deployment_id = %deployment.id, %wanted, attempt, "Route 53 carries the wanted weights again");
                }
                return Ok(());
            }
            Ok(live) => found = describe(&live),
            Err(error) => found = format!("weights that could not be read ({error})"),
        }
        if attempt == REASSERT_ATTEMPTS {
            break;
        }
        tracing::warn!(deployment_id = %deployment.id, %wanted, %found, attempt, "Route 53 does not carry what the record says; re-asserting");
        if let Err(error) = router.set_weights(&records, wanted).await {
            tracing::warn!(deployment_id = %deployment.id, %error, "re-assert failed");
        }
        clock.sleep(backoff).await;
        backoff *= 2;
    }
    let error = WorkflowError::NotVerified {
        id: deployment.id.clone(),
        records: records.describe(),
        wanted: wanted.to_string(),
        found,
        attempts: REASSERT_ATTEMPTS,
    };
    tracing::error!(deployment_id = %deployment.id, %error, "paging: traffic not where the record says");
    notify(
        notifier,
        deployment,
        format!("PAGE: traffic is not where the record says, act by hand: {error}"),
    )
    .await;
    Err(error)
}

/// What a step that found itself fenced after its own Route 53 write does: reads the record
/// again and makes Route 53 carry what it says (stable 100 % unless promoted), verified. A
/// takeover still moving traffic (a forced promotion that has fenced but not yet written) is
/// left alone: it writes and verifies its own target, and stable must not be put back under it;
/// so is a record set the service's next deployment already holds the lock for.
pub async fn restore_recorded(
    store: &(impl Deployments + ServiceLocks),
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    clock: &impl Clock,
    key: &DeploymentKey,
) -> Result<(), WorkflowError> {
    let current = load(store, key).await?;
    if let Some(holder) = store.lock(&current.service).await?
        && holder.deployment.id != current.id
    {
        // Ended, and the service's next deployment drives the same records now.
        tracing::warn!(deployment_id = %current.id, holder = %holder.deployment.id, "fenced after our write, but another deployment holds the service; its controller owns the records");
        return Ok(());
    }
    match current.settled_weights() {
        Some(wanted) => {
            tracing::warn!(deployment_id = %current.id, status = %current.status, by = %current.controller.describe(), %wanted, "fenced after our write; restoring what the record says");
            assert_weights(router, notifier, clock, &current, wanted).await
        }
        None => {
            tracing::warn!(deployment_id = %current.id, by = %current.controller.describe(), "fenced after our write by a takeover still moving traffic; it verifies its own write");
            Ok(())
        }
    }
}

/// Records what a step did after its own Route 53 write. When a takeover fenced the step in
/// between, that write may have landed after the takeover's: Route 53 is made to carry what the
/// record now says ([`restore_recorded`]) and the answer stays `Fenced`.
pub(super) async fn save_after_write(
    store: &(impl Deployments + ServiceLocks),
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    clock: &impl Clock,
    deployment: &Deployment,
    event: &HistoryEvent,
    doing: &str,
) -> Result<(), WorkflowError> {
    match save_driven(store, deployment, event).await {
        Err(WorkflowError::Fenced { id, status, by }) => {
            tracing::warn!(deployment_id = %id, %by, "taken over while {doing}");
            restore_recorded(
                store,
                router,
                notifier,
                clock,
                &DeploymentKey::of(deployment),
            )
            .await?;
            Err(WorkflowError::Fenced { id, status, by })
        }
        other => other,
    }
}

/// Whether two pairs split traffic alike (`1/0` and `255/0` are both all stable).
fn same_split(a: WeightPair, b: WeightPair) -> bool {
    u32::from(a.stable()) * u32::from(b.canary()) == u32::from(a.canary()) * u32::from(b.stable())
}

fn describe(live: &WeightedRecords) -> String {
    let weight = |r: &Option<crate::ports::WeightedRecord>| {
        r.as_ref()
            .map_or_else(|| "missing".to_string(), |r| r.weight.to_string())
    };
    format!(
        "stable {} / canary {}",
        weight(&live.stable),
        weight(&live.canary)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_every_call_and_wait() {
        // 9 calls of 10 s, and 1 + 2 + 4 + 8 s of backoff.
        assert_eq!(
            verify_budget(Duration::from_secs(10)),
            Duration::from_secs(105)
        );
    }

    #[test]
    fn splits_compare_by_ratio_not_by_numbers() {
        let pair = |s, c| WeightPair::new(s, c).unwrap();
        assert!(same_split(pair(255, 0), WeightPair::ALL_STABLE));
        assert!(same_split(pair(0, 7), WeightPair::ALL_CANARY));
        assert!(same_split(pair(18, 2), pair(9, 1)));
        assert!(!same_split(pair(9, 1), WeightPair::ALL_STABLE));
        assert!(!same_split(WeightPair::ALL_CANARY, WeightPair::ALL_STABLE));
    }
}
