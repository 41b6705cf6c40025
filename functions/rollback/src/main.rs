//! rollback: one step of the return to stable, as the state machine's loop runs it (Rollback →
//! wait `rampWaitSeconds` → Rollback): the next lower canary share of the spec's ramp-down
//! (0 % last), or a look at its Route 53 change; once at 0 % and in sync, marks the deployment
//! rolled back with its reason (the analysis that failed, or the error the state machine
//! caught), releases the lock and notifies. Nothing sleeps here; safe to run again.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::Value;
use sluice_core::workflow::{Cursor, RollbackRequest, roll_back};
use sluice_handler::{Configured, HandlerError, deployment_span, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Configured, event: Value) -> Result<Cursor, HandlerError> {
    let request: RollbackRequest = parse_event(event)?;
    let span = deployment_span(&request.cursor.deployment.id);
    Ok(roll_back(
        ports.store(),
        ports.router(),
        ports.notifier(),
        ports.orchestrator(),
        ports.clock(),
        ports.config().sync,
        request,
    )
    .instrument(span)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::ports::{Deployments, RecordSet, ServiceLocks};
    use sluice_core::{Status, WeightPair};
    use sluice_handler::Ports;
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{sample_event, sample_world};
    use sluice_testkit::steps::{shifted, validated};

    /// The state machine's loop: Rollback until it hands back no wait (the waits are skipped).
    async fn rolled_back(ports: &impl Configured, event: Value) -> Cursor {
        let mut event = event;
        for _ in 0..50 {
            let cursor = handle(ports, event).await.unwrap();
            if cursor.ramp_wait_seconds.is_none() {
                return cursor;
            }
            event = serde_json::to_value(&cursor).unwrap();
        }
        panic!("the rollback did not end in 50 invocations")
    }

    #[tokio::test]
    async fn the_sample_event_rolls_back_with_the_caught_error_as_reason() {
        let (ports, cursor) = sample_world().await;
        shifted(&ports, cursor).await;
        let done = rolled_back(&ports, sample_event("rollback")).await;
        let deployment = ports.store.only_deployment();
        assert_eq!(deployment.status, Status::RolledBack);
        assert_eq!(
            ports.router.weights(&RecordSet::of(&deployment)),
            WeightPair::ALL_STABLE
        );
        let reason = deployment.outcome.unwrap().reason;
        assert!(
            reason
                .starts_with("step failed with Sluice.SyncTimeout: Route 53 change C2682N5HXP0BZ4"),
            "{reason}"
        );
        assert_eq!(done.reason, Some(reason));
        assert!(ports.store.lock_of("checkout-api").is_none());
        // Twice is safe: nothing more changes.
        let changes = ports.router.changes().len();
        rolled_back(&ports, sample_event("rollback")).await;
        assert_eq!(ports.router.changes().len(), changes);
    }

    #[tokio::test]
    async fn on_moto_traffic_returns_to_blue_and_the_record_says_why() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let cursor = validated(p, &world.request, "moto-rollback").await;
        let cursor = shifted(p, cursor).await;
        assert_eq!(world.weights().await, WeightPair::new(9, 1).unwrap());
        let mut event = serde_json::to_value(&cursor).unwrap();
        event["reason"] = json!("error-rate: 5.0000 percent is above max 1");
        rolled_back(p, event).await;
        assert_eq!(world.weights().await, WeightPair::ALL_STABLE);
        let stored = p.store().get(&cursor.deployment).await.unwrap().unwrap();
        assert_eq!(stored.status, Status::RolledBack);
        assert_eq!(
            stored.outcome.unwrap().reason,
            "error-rate: 5.0000 percent is above max 1"
        );
        assert!(p.store().lock(&world.service).await.unwrap().is_none());
    }
}
