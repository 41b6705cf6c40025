//! End to end, through the local runner: the release queue. Release tags go to the real
//! `release-trigger` binary while moto executes the real state machine; a tag that arrives
//! while its service deploys is queued in the service's state item, and the end step of the
//! running deployment starts it. Latest wins: v2 and v3 tagged while v1 runs, v3 runs after v1
//! and v2 is recorded as superseded, read back from DynamoDB and Step Functions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_core::Status;
use sluice_core::ports::ServiceStates;
use sluice_core::release::execution_name;
use sluice_local::demo::{RELEASE_TRIGGER_FUNCTION, codecommit_tag_event};
use sluice_local::{InvocationOutcome, LocalRunner, RunnerOptions, TrafficProfile, VersionProfile};
use sluice_testkit::eventually;

mod common;
use common::{runner_with, short_request, wait_to_end};

const SERVICE: &str = "checkout-api";

async fn tag(runner: &LocalRunner, version: &str, event_id: &str) -> serde_json::Value {
    let event = codecommit_tag_event(SERVICE, version, event_id);
    match runner.invoke(RELEASE_TRIGGER_FUNCTION, &event).await {
        InvocationOutcome::Succeeded { output } => output["outcomes"][0].clone(),
        other => panic!("release-trigger answered {other:?}"),
    }
}

#[tokio::test]
async fn releases_tagged_while_one_runs_start_after_it_ends_and_the_latest_wins() {
    // Green fails a tenth of its requests: every deployment rolls back at its first step, so
    // blue stays stable and each release can start on the same records.
    let bad_green = TrafficProfile {
        blue: VersionProfile::healthy(),
        green: VersionProfile::healthy().with_errors(10.0),
    };
    let runner = runner_with(RunnerOptions::new("e2e-queue-latest").traffic(bad_green)).await;
    let env = runner.environment().clone();
    let request = short_request("v1.0.0").bake_seconds(4);
    runner
        .put_service_config(&request.service_config(&env, &[SERVICE]))
        .await
        .unwrap();

    let first = tag(&runner, "v1.0.0", "tag-v1").await;
    assert_eq!(first["outcome"], "started", "{first}");
    let v1_arn = first["executionArn"].as_str().unwrap().to_string();
    let v1 = execution_name(SERVICE, "v1.0.0");
    // v1 holds the service once its Validate has run.
    eventually(Duration::from_secs(30), || async {
        match runner.lock().await.unwrap() {
            Some(lock) if lock.deployment.id.as_str() == v1 => Ok(()),
            other => Err(other),
        }
    })
    .await
    .unwrap();

    let second = tag(&runner, "v2.0.0", "tag-v2").await;
    assert_eq!(second["outcome"], "queued", "{second}");
    let third = tag(&runner, "v3.0.0", "tag-v3").await;
    assert_eq!(third["outcome"], "queued", "{third}");
    assert_eq!(third["superseded"], "v2.0.0", "{third}");
    let names: Vec<String> = runner
        .executions()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        std::slice::from_ref(&v1),
        "nothing else starts while v1 runs"
    );

    let ended = wait_to_end(&runner, "v1", &v1_arn).await;
    assert_eq!(ended.status, "FAILED", "rolled back: {ended:#?}");

    // v1's Rollback step started the queued v3.
    let v3 = execution_name(SERVICE, "v3.0.0");
    let v3_arn = eventually(Duration::from_secs(30), || async {
        let executions = runner.executions().await.unwrap();
        match executions.iter().find(|(name, _)| *name == v3) {
            Some(_) => Ok(format!(
                "{}:{v3}",
                env.names
                    .state_machine_arn()
                    .replacen(":stateMachine:", ":execution:", 1)
            )),
            None => Err(executions),
        }
    })
    .await
    .unwrap();
    let ended = wait_to_end(&runner, "v3", &v3_arn).await;
    assert_eq!(ended.status, "FAILED", "rolled back too: {ended:#?}");

    let mut executions = runner.executions().await.unwrap();
    executions.sort();
    let mut expected = vec![
        (v1.clone(), "FAILED".to_string()),
        (v3.clone(), "FAILED".to_string()),
    ];
    expected.sort();
    assert_eq!(executions, expected, "v2 never started");

    let state = runner
        .store()
        .service_state(SERVICE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.queued, None, "v3 started, so nothing is queued");
    assert_eq!(state.superseded.len(), 1, "{state:#?}");
    assert_eq!(state.superseded[0].version, "v2.0.0");
    assert_eq!(state.superseded[0].superseded_by, "v3.0.0");
    let last = state.last_deployment.as_ref().unwrap();
    assert_eq!(
        (last.id.as_str(), last.status),
        (v3.as_str(), Status::RolledBack)
    );
    assert_eq!(state.stable_slot.as_deref(), Some("blue"));
    assert_eq!(
        state
            .slot_versions
            .get(&last.canary_slot)
            .map(String::as_str),
        Some("v3.0.0")
    );
    assert!(runner.lock().await.unwrap().is_none());
    runner.shutdown().await;
}
