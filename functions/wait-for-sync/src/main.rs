//! wait-for-sync: one look at the step's Route 53 change. Pending, the state machine waits and
//! asks again (up to a bound, then `Sluice.SyncTimeout`); in sync, the step goes live one record
//! TTL later, which starts its analysis window, and is due for analysis a bake after that.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::Value;
use sluice_core::workflow::{Cursor, check_sync};
use sluice_handler::{Configured, HandlerError, deployment_span, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Configured, event: Value) -> Result<Cursor, HandlerError> {
    let cursor: Cursor = parse_event(event)?;
    let span = deployment_span(&cursor.deployment.id);
    let limits = ports.config().sync;
    Ok(
        check_sync(ports.store(), ports.router(), ports.clock(), limits, cursor)
            .instrument(span)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;
    use sluice_core::Status;
    use sluice_core::ports::{Clock, Deployments};
    use sluice_core::workflow::ErrorName;
    use sluice_handler::Ports;
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{sample_event, sample_world};
    use sluice_testkit::steps::{shifted, validated};

    async fn shifted_sample() -> (sluice_testkit::memory::MemoryPorts, Value) {
        let (ports, cursor) = sample_world().await;
        let shifted = shifted(&ports, cursor).await;
        let mut event = sample_event("wait-for-sync");
        event["changeId"] = json!(shifted.change_id);
        (ports, event)
    }

    #[tokio::test]
    async fn the_sample_event_polls_pending_then_in_sync() {
        let (ports, event) = shifted_sample().await;
        ports.router.stay_pending_for(1);
        let pending = handle(&ports, event).await.unwrap();
        assert_eq!(
            (pending.in_sync, pending.sync_polls, pending.poll_seconds),
            (false, 1, 5)
        );
        let now = ports.clock.now();
        let live = handle(&ports, serde_json::to_value(&pending).unwrap())
            .await
            .unwrap();
        assert!(live.in_sync);
        // TTL 60 s, bake 300 s.
        assert_eq!(live.analyze_at, Some(now + Duration::seconds(360)));
        assert_eq!(ports.store.only_deployment().status, Status::Baking);
    }

    #[tokio::test]
    async fn past_the_poll_bound_it_fails_with_sync_timeout() {
        let (mut ports, event) = shifted_sample().await;
        ports.config.sync.max_polls = 2;
        ports.router.stay_pending_for(10);
        let mut event = event;
        for _ in 0..2 {
            event = serde_json::to_value(handle(&ports, event).await.unwrap()).unwrap();
        }
        assert_eq!(
            handle(&ports, event).await.unwrap_err().error_name(),
            ErrorName::SyncTimeout
        );
    }

    #[tokio::test]
    async fn on_moto_an_in_sync_change_makes_the_step_live() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let cursor = validated(p, &world.request, "moto-sync").await;
        let cursor = shifted(p, cursor).await;
        let before = chrono::Utc::now();
        let live = handle(p, serde_json::to_value(&cursor).unwrap())
            .await
            .unwrap();
        assert!(live.in_sync, "moto reports every change INSYNC");
        let stored = p.store().get(&cursor.deployment).await.unwrap().unwrap();
        assert_eq!(stored.status, Status::Baking);
        let live_at = stored.traffic.unwrap().live_at.unwrap();
        assert!(
            live_at >= before + Duration::seconds(1),
            "live a TTL (1 s) after sync"
        );
        assert_eq!(live.analyze_at, Some(live_at + Duration::seconds(2)));
        assert_eq!(
            world.weights().await,
            sluice_core::WeightPair::new(9, 1).unwrap()
        );
    }
}
