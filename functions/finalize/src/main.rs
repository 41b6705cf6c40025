//! finalize: every step passed. Puts 100 % on green (blue's record stays, at weight 0, so a
//! revert is one weight change), marks the deployment promoted, releases the lock and notifies.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::Value;
use sluice_core::workflow::{Cursor, finalize};
use sluice_handler::{HandlerError, Ports, deployment_span, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Cursor, HandlerError> {
    let cursor: Cursor = parse_event(event)?;
    let span = deployment_span(&cursor.deployment.id);
    Ok(finalize(
        ports.store(),
        ports.router(),
        ports.alarms(),
        ports.notifier(),
        ports.orchestrator(),
        ports.clock(),
        cursor,
    )
    .instrument(span)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::ports::{Deployments, RecordSet, ServiceLocks, TrafficRouter};
    use sluice_core::workflow::ErrorName;
    use sluice_core::{Status, WeightPair};
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{sample_event, sample_world};
    use sluice_testkit::steps::{live_at, shifted, synced, until_due, validated};

    #[tokio::test]
    async fn the_sample_event_is_refused_before_the_last_step_passed() {
        let (ports, _) = sample_world().await;
        let error = handle(&ports, sample_event("finalize")).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        let deployment = ports.store.only_deployment();
        assert_eq!(
            ports.router.weights(&RecordSet::of(&deployment)),
            WeightPair::ALL_STABLE
        );
    }

    #[tokio::test]
    async fn on_moto_a_passed_deployment_goes_all_green_and_keeps_blue_at_zero() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let mut request = world.request.clone();
        request["strategy"] = json!({"kind": "blue-green", "bakeSeconds": 1});
        let cursor = validated(p, &request, "moto-finalize").await;
        let cursor = shifted(p, cursor).await;
        let cursor = synced(p, cursor).await;
        let live_at = live_at(p, &cursor).await;
        world.put_green_traffic(live_at, 1, 20.0, 0.0).await;
        until_due(&cursor).await;
        let cursor = sluice_core::workflow::analyze_step(
            p.store(),
            p.metrics(),
            p.alarms(),
            p.clock(),
            cursor,
        )
        .await
        .unwrap();
        assert_eq!(
            cursor.decision.map(|d| d.as_str()),
            Some("promote"),
            "{:?}",
            cursor.reason
        );
        handle(p, serde_json::to_value(&cursor).unwrap())
            .await
            .unwrap();
        let records = p.router().read_weights(&world.records).await.unwrap();
        assert_eq!(
            records.stable.as_ref().map(|r| r.weight),
            Some(0),
            "blue's record stays, at weight 0"
        );
        assert_eq!(records.weights(), Some(WeightPair::ALL_CANARY));
        let stored = p.store().get(&cursor.deployment).await.unwrap().unwrap();
        assert_eq!(stored.status, Status::Promoted);
        assert!(p.store().lock(&world.service).await.unwrap().is_none());
    }
}
