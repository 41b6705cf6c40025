//! End to end, through the local runner: slots and roles release after release. The real
//! state machine on moto decides the roles at Validate from the live weights; a promotion makes
//! the canary the next deployment's stable slot, a rollback keeps the roles, and every outcome
//! is read back from Route 53 (by set identifier) and the service's state item. A live record
//! that no longer matches the service's slots is refused before any traffic moves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_core::ports::{ServiceStates, TrafficRouter, WeightedRecord};
use sluice_core::slots::SlotRoles;
use sluice_core::{Deployment, Status, WeightPair};
use sluice_local::traffic::Slot;
use sluice_local::{LocalRunner, RunnerOptions, VersionProfile};

mod common;
use common::{runner_with, short_request, wait_to_end};

/// Starts `version` (the short request) and waits for it to end; its record.
async fn deploy(runner: &LocalRunner, version: &str) -> (Deployment, String) {
    let env = runner.environment().clone();
    let name = format!("slots-{}", version.replace('.', "-"));
    let arn = runner
        .start_deployment(&name, &short_request(version).to_json(&env))
        .await
        .unwrap();
    let execution = wait_to_end(runner, version, &arn).await;
    let deployment = runner.deployment(&name).await.unwrap().unwrap();
    (deployment, execution.status)
}

/// Blue's and green's live weights, found by set identifier.
async fn blue_green(runner: &LocalRunner) -> (u8, u8) {
    let records = runner.records().await.unwrap();
    let weight = |r: Option<WeightedRecord>| r.map(|r| r.weight).unwrap();
    // The runner's record set keeps the first roles: stable is blue, canary is green.
    (weight(records.stable), weight(records.canary))
}

#[tokio::test]
async fn consecutive_promotions_alternate_the_slots_and_a_rollback_keeps_them() {
    let runner = runner_with(RunnerOptions::new("e2e-slots-alternate")).await;
    let service = runner.environment().service().to_string();
    let healthy = VersionProfile::new(1000.0, 0.3, 130.0);

    // v1 on green, the idle slot: promoted, green carries everything and becomes stable.
    runner.deploy(Slot::Green, "v1.0.0", healthy);
    let (v1, status) = deploy(&runner, "v1.0.0").await;
    assert_eq!(
        (v1.status, status.as_str()),
        (Status::Promoted, "SUCCEEDED")
    );
    assert_eq!(v1.roles, SlotRoles::new("blue", "green"));
    assert_eq!(blue_green(&runner).await, (0, 1));

    // v2 on blue, now idle, fails a tenth of its requests: rolled back to green, roles kept.
    runner.deploy(
        Slot::Blue,
        "v2.0.0",
        VersionProfile::healthy().with_errors(10.0),
    );
    let (v2, status) = deploy(&runner, "v2.0.0").await;
    assert_eq!((v2.status, status.as_str()), (Status::RolledBack, "FAILED"));
    assert_eq!(v2.roles, SlotRoles::new("green", "blue"));
    assert_eq!(
        blue_green(&runner).await,
        (0, 1),
        "all traffic back on green"
    );
    let state = runner
        .store()
        .service_state(&service)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.stable_slot.as_deref(), Some("green"));

    // v3 on blue again (a rollback kept the roles): promoted, blue is stable now.
    runner.deploy(Slot::Blue, "v3.0.0", healthy);
    let (v3, status) = deploy(&runner, "v3.0.0").await;
    assert_eq!(
        (v3.status, status.as_str()),
        (Status::Promoted, "SUCCEEDED")
    );
    assert_eq!(v3.roles, SlotRoles::new("green", "blue"));
    assert_eq!(blue_green(&runner).await, (1, 0));

    let state = runner
        .store()
        .service_state(&service)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.stable_slot.as_deref(), Some("blue"));
    assert_eq!(
        state.slot_versions.get("green").map(String::as_str),
        Some("v1.0.0")
    );
    assert_eq!(
        state.slot_versions.get("blue").map(String::as_str),
        Some("v3.0.0")
    );
    assert_eq!(
        state.last_deployment.map(|d| (d.id.to_string(), d.status)),
        Some((v3.id.to_string(), Status::Promoted))
    );
    assert!(runner.lock().await.unwrap().is_none());
    runner.shutdown().await;
}

#[tokio::test]
async fn a_live_record_pointing_elsewhere_is_refused_at_validate_and_nothing_moves() {
    let runner = runner_with(RunnerOptions::new("e2e-slots-stale-target")).await;
    let env = runner.environment().clone();
    // Someone re-pointed green's record by hand; the service's slots still name the old target.
    let mut stale = env.records.clone();
    stale.canary.target = "green-replaced.internal.example.net".into();
    runner
        .route53()
        .set_weights(&stale, WeightPair::ALL_STABLE)
        .await
        .unwrap();

    let arn = runner
        .start_deployment("slots-stale", &short_request("v1.0.0").to_json(&env))
        .await
        .unwrap();
    let execution = wait_to_end(&runner, "stale target", &arn).await;
    assert_eq!(execution.status, "FAILED");
    assert_eq!(execution.error.as_deref(), Some("Sluice.Invalid"));
    let cause = execution.cause.clone().unwrap_or_default();
    assert!(
        cause.contains("slots.green.target")
            && cause.contains("green-replaced.internal.example.net"),
        "{cause}"
    );
    assert!(runner.deployment("slots-stale").await.unwrap().is_none());
    assert!(runner.lock().await.unwrap().is_none());
    let records = runner.records().await.unwrap();
    assert_eq!(
        (
            records.stable.map(|r| r.weight),
            records.canary.map(|r| (r.weight, r.target))
        ),
        (
            Some(1),
            Some((0, "green-replaced.internal.example.net".to_string()))
        ),
        "Route 53 as it was"
    );
    runner.shutdown().await;
}
