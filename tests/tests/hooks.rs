//! End to end: pre- and post-traffic hooks through the real state machine on moto. The hook is
//! the runner's sample hook (`crates/local/src/bin/sample-hook.rs`), served like the functions
//! under its Lambda ARN: it passes only when the canary slot serves the deployment's version,
//! which each test sets on the runner.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sluice_core::deployment::EventKind;
use sluice_core::spec::HookKind;
use sluice_core::{HistoryEvent, Status, WeightPair};
use sluice_local::function_names::function_arn;
use sluice_local::{LocalRunner, RunnerOptions, SAMPLE_HOOK_FUNCTION};

mod common;
use common::{runner_with, short_request, wait_to_end};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn runner(name: &str) -> LocalRunner {
    runner_with(RunnerOptions::new(&format!("e2e-hooks-{name}"))).await
}

/// The short request with `hooks`.
fn request_with_hooks(runner: &LocalRunner, version: &str, hooks: Value) -> Value {
    let mut request = short_request(version).to_json(runner.environment());
    request["hooks"] = hooks;
    request
}

/// Every hook event of a history: (hook, passed, message or problem).
fn hook_events(history: &[HistoryEvent]) -> Vec<(HookKind, bool, String)> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::HookPassed {
                hook,
                function_arn,
                message,
            } => {
                assert_eq!(function_arn, &function_arn_of_sample());
                Some((*hook, true, message.clone().unwrap_or_default()))
            }
            EventKind::HookFailed {
                hook,
                function_arn,
                problem,
                ..
            } => {
                assert_eq!(function_arn, &function_arn_of_sample());
                Some((*hook, false, problem.clone()))
            }
            _ => None,
        })
        .collect()
}

fn function_arn_of_sample() -> String {
    function_arn(SAMPLE_HOOK_FUNCTION)
}

fn shifts(history: &[HistoryEvent]) -> usize {
    history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TrafficShifted { .. }))
        .count()
}

#[tokio::test]
async fn a_failing_pre_traffic_hook_ends_the_deployment_before_any_traffic_moves() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("pre-fails").await;
    // The canary slot still serves the old version: the version check fails.
    runner.set_slot_version("green", "v1.9.0");
    let hook = function_arn_of_sample();
    let request = request_with_hooks(&runner, "v2.0.0", json!({"preTraffic": hook}));

    let arn = runner
        .start_deployment("pre-fails", &request)
        .await
        .unwrap();
    let execution = wait_to_end(&runner, "pre-fails", &arn).await;

    let reason = format!(
        "pre-traffic hook {hook} failed: it reported Failed: canary slot green serves v1.9.0, not v2.0.0"
    );
    assert_eq!(execution.status, "FAILED", "{execution:#?}");
    assert_eq!(execution.error.as_deref(), Some("Sluice.RolledBack"));
    assert_eq!(execution.cause.as_deref(), Some(reason.as_str()));
    let states = execution.states_entered();
    assert!(states.contains(&"PreTrafficHook"), "{states:?}");
    assert!(
        !states.contains(&"ShiftTraffic"),
        "no step started: {states:?}"
    );

    // Traffic never left the stable slot: the weights read back, and the simulated requests.
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    assert_eq!(runner.traffic().totals().green_requests, 0.0);
    let deployment = runner.deployment("pre-fails").await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(deployment.outcome.unwrap().reason, reason);
    assert!(runner.lock().await.unwrap().is_none(), "the lock is free");
    let history = runner.deployment_history("pre-fails").await.unwrap();
    assert_eq!(shifts(&history), 0, "{history:#?}");
    assert_eq!(
        hook_events(&history),
        [(
            HookKind::PreTraffic,
            false,
            "it reported Failed: canary slot green serves v1.9.0, not v2.0.0".to_string()
        )]
    );
    // The hook got the deployment as the contract says.
    let invoked = runner.invocations(SAMPLE_HOOK_FUNCTION);
    assert_eq!(invoked.len(), 1, "{invoked:#?}");
    assert_eq!(
        invoked[0].input,
        json!({
            "hook": "pre-traffic", "deploymentId": "pre-fails", "service": runner.environment().service(),
            "version": "v2.0.0", "canarySlot": "green",
            "canaryTarget": request["slots"]["green"]["target"]
        })
    );
    runner.shutdown().await;
}

#[tokio::test]
async fn a_failing_post_traffic_hook_rolls_back_after_the_last_analysis() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("post-fails").await;
    runner.set_slot_version("green", "v1.9.0");
    let hook = function_arn_of_sample();
    let request = request_with_hooks(&runner, "v2.0.0", json!({"postTraffic": hook}));

    let arn = runner
        .start_deployment("post-fails", &request)
        .await
        .unwrap();
    let execution = wait_to_end(&runner, "post-fails", &arn).await;

    let reason = format!(
        "post-traffic hook {hook} failed: it reported Failed: canary slot green serves v1.9.0, not v2.0.0"
    );
    assert_eq!(execution.status, "FAILED", "{execution:#?}");
    assert_eq!(execution.error.as_deref(), Some("Sluice.RolledBack"));
    assert_eq!(execution.cause.as_deref(), Some(reason.as_str()));
    let states = execution.states_entered();
    assert!(!states.contains(&"PreTrafficHook"), "{states:?}");
    assert_eq!(states.iter().filter(|s| **s == "Analyze").count(), 3);
    let post = states.iter().position(|s| *s == "PostTrafficHook").unwrap();
    let last_analysis = states.iter().rposition(|s| *s == "Analyze").unwrap();
    assert!(post > last_analysis, "{states:?}");
    assert!(!states.contains(&"Finalize"), "{states:?}");

    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    let deployment = runner.deployment("post-fails").await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(deployment.outcome.unwrap().reason, reason);
    assert!(runner.lock().await.unwrap().is_none(), "the lock is free");
    let history = runner.deployment_history("post-fails").await.unwrap();
    assert_eq!(shifts(&history), 3, "every step ran before the hook");
    assert_eq!(
        hook_events(&history),
        [(
            HookKind::PostTraffic,
            false,
            "it reported Failed: canary slot green serves v1.9.0, not v2.0.0".to_string()
        )]
    );
    runner.shutdown().await;
}

#[tokio::test]
async fn passing_hooks_let_the_deployment_promote() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("pass").await;
    runner.set_slot_version("green", "v2.0.0");
    let hook = function_arn_of_sample();
    let request = request_with_hooks(
        &runner,
        "v2.0.0",
        json!({"preTraffic": hook, "postTraffic": hook, "timeoutSeconds": 30}),
    );

    let arn = runner
        .start_deployment("hooks-pass", &request)
        .await
        .unwrap();
    let execution = wait_to_end(&runner, "hooks-pass", &arn).await;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    let states = execution.states_entered();
    let at = |name: &str| states.iter().position(|s| *s == name).unwrap();
    assert!(at("Validate") < at("PreTrafficHook"), "{states:?}");
    assert!(at("PreTrafficHook") < at("ShiftTraffic"), "{states:?}");
    assert!(at("PostTrafficHook") < at("Finalize"), "{states:?}");
    assert_eq!(states.last(), Some(&"Promoted"));
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_CANARY);
    let deployment = runner.deployment("hooks-pass").await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::Promoted);
    let history = runner.deployment_history("hooks-pass").await.unwrap();
    let serves = "canary slot green serves v2.0.0".to_string();
    assert_eq!(
        hook_events(&history),
        [
            (HookKind::PreTraffic, true, serves.clone()),
            (HookKind::PostTraffic, true, serves)
        ]
    );
    let kinds: Vec<Value> = runner
        .invocations(SAMPLE_HOOK_FUNCTION)
        .iter()
        .map(|i| i.input["hook"].clone())
        .collect();
    assert_eq!(kinds, [json!("pre-traffic"), json!("post-traffic")]);
    runner.shutdown().await;
}
