//! End to end, through the local runner: the triggers. Release events go to the real
//! `release-trigger` binary, alarms go from the runner's alarm evaluator through moto's SNS to
//! the real `emergency-rollback` binary, while moto executes the real state machine.
//!
//! - the same release event delivered 20 times starts one execution and one deployment;
//! - an alarm in each phase of a step (shifting, waiting for sync, baking, analyzing) ends
//!   with 100 % blue, the execution ABORTED, the record rolled back by the alarm, and no later
//!   step changing the weights: the task the alarm interrupted answers `Sluice.Fenced`;
//! - an OK-state alarm notification changes nothing;
//! - a webhook with a wrong signature is refused with 401 and writes nothing.
//!
//! To put the alarm inside a task the router holds that task's next invocation before it runs
//! (`hold_next`): the state machine has entered the task, the function has not acted yet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_core::deployment::EventKind;
use sluice_core::ports::AlarmState;
use sluice_core::{Controller, Deployment, HistoryEvent, Status, WeightPair};
use sluice_local::demo::{RELEASE_TRIGGER_FUNCTION, codecommit_tag_event, started_execution};
use sluice_local::{
    EMERGENCY_ROLLBACK_FUNCTION, Execution, InvocationOutcome, InvocationSource, LocalRunner,
    RunnerOptions, TrafficProfile,
};
use sluice_testkit::eventually;

mod common;
use common::{runner_with, short_request, wait_to_end};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a test waits for one thing the state machine or the alarm path does next.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The secret `events/release-trigger-github.json` is signed with.
const SAMPLE_WEBHOOK_SECRET: &str = "sample-webhook-secret";

async fn runner(name: &str) -> LocalRunner {
    runner_with(RunnerOptions::new(&format!("e2e-{name}")).traffic(TrafficProfile::healthy())).await
}

fn sample_event(name: &str) -> Value {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Polls until the execution has entered `state` `times` times (it is in it, or past it).
async fn wait_until_entered(
    runner: &LocalRunner,
    arn: &str,
    state: &str,
    times: usize,
) -> Execution {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let execution = runner.execution(arn).await.unwrap();
        let entered = execution
            .states_entered()
            .iter()
            .filter(|s| **s == state)
            .count();
        if entered >= times {
            return execution;
        }
        assert!(
            execution.is_running(),
            "the execution ended before entering {state} {times} times: {execution:#?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{state} not entered {times} times within {STEP_TIMEOUT:?}: {:?}",
            execution.states_entered()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the deployment record until it has `status`.
async fn wait_for_status(runner: &LocalRunner, id: &str, status: Status) -> Deployment {
    eventually(STEP_TIMEOUT, || async {
        let deployment = runner.deployment(id).await.unwrap();
        match deployment {
            Some(deployment) if deployment.status == status => Ok(deployment),
            other => Err(other),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("deployment {id} not {status}: {e}"))
}

fn trigger_keys(keys: &[(String, String)]) -> Vec<&str> {
    keys.iter()
        .map(|(pk, _)| pk.as_str())
        .filter(|pk| pk.starts_with("TRIGGER#"))
        .collect()
}

#[tokio::test]
async fn the_same_release_event_delivered_twenty_times_starts_one_execution_and_one_deployment() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("release-twenty").await;
    let env = runner.environment().clone();
    let request = short_request("v3.1.0").steps(&[50.0, 100.0]);
    runner
        .put_service_config(&request.service_config(&env, &["checkout-api"]))
        .await
        .unwrap();
    let event = codecommit_tag_event("checkout-api", "v3.1.0", "tag-event-twenty");

    // EventBridge delivers at least once, and repeats may overlap: all 20 at once.
    let runner = Arc::new(runner);
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (runner, event) = (runner.clone(), event.clone());
        deliveries.spawn(async move { runner.invoke(RELEASE_TRIGGER_FUNCTION, &event).await });
    }
    let answers: Vec<InvocationOutcome> = deliveries.join_all().await;
    let runner = Arc::into_inner(runner).expect("every delivery is done");

    let started: Vec<(String, String)> = answers
        .iter()
        .map(|a| started_execution(a).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(
        started.iter().all(|s| *s == started[0]),
        "every delivery names the same execution: {started:#?}"
    );
    let (name, arn) = started[0].clone();
    assert!(name.starts_with("checkout-api-v3-1-0-"), "{name}");
    let kinds: Vec<&str> = answers
        .iter()
        .filter_map(|a| match a {
            InvocationOutcome::Succeeded { output } => output["outcomes"][0]["outcome"].as_str(),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "started").count(),
        1,
        "one delivery started it, the others found it started: {kinds:?}"
    );
    assert_eq!(kinds.len(), 20, "{answers:#?}");

    let execution = wait_to_end(&runner, &name, &arn).await;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");

    assert_eq!(
        runner.executions().await.unwrap(),
        [(name.clone(), "SUCCEEDED".to_string())],
        "exactly one execution"
    );
    let deployments = runner.deployments().await.unwrap();
    assert_eq!(
        deployments
            .iter()
            .map(|d| (d.id.to_string(), d.spec.version.clone(), d.status))
            .collect::<Vec<_>>(),
        [(name.clone(), "v3.1.0".to_string(), Status::Promoted)],
        "exactly one deployment record"
    );
    let keys = runner.table_keys().await.unwrap();
    assert_eq!(
        trigger_keys(&keys),
        ["TRIGGER#codecommit#tag-event-twenty#checkout-api"],
        "one idempotency key: {keys:#?}"
    );
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_CANARY);
    runner.shutdown().await;
}

/// Where in a step the alarm lands. Always in step 2 (50 %), so that green has real traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// ShiftTraffic entered, shift-traffic not yet acting (held).
    Shifting,
    /// WaitForSync entered, wait-for-sync not yet acting (held).
    WaitingForSync,
    /// In the Bake wait state after the step went live.
    Baking,
    /// Analyze entered, analyze not yet acting (held).
    Analyzing,
}

impl Phase {
    /// The state the execution is in when the alarm fires.
    fn state(self) -> &'static str {
        match self {
            Phase::Shifting => "ShiftTraffic",
            Phase::WaitingForSync => "WaitForSync",
            Phase::Baking => "Bake",
            Phase::Analyzing => "Analyze",
        }
    }

    /// The function whose invocation is held while the alarm fires.
    fn held_function(self) -> Option<&'static str> {
        match self {
            Phase::Shifting => Some("shift-traffic"),
            Phase::WaitingForSync => Some("wait-for-sync"),
            Phase::Baking => None,
            Phase::Analyzing => Some("analyze"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Shifting => "shifting",
            Phase::WaitingForSync => "waiting-for-sync",
            Phase::Baking => "baking",
            Phase::Analyzing => "analyzing",
        }
    }
}

/// The functions the state machine invokes (the ones that can change weights or the record).
const STATE_MACHINE_FUNCTIONS: [&str; 5] = [
    "shift-traffic",
    "wait-for-sync",
    "analyze",
    "rollback",
    "finalize",
];

async fn alarm_during(phase: Phase) {
    let runner = runner(&format!("alarm-{}", phase.name())).await;
    let env = runner.environment().clone();
    let alarm = env.alarm().to_string();
    // Baking has no hold: the bake must outlast the alarm's way to emergency-rollback.
    let bake_seconds = if phase == Phase::Baking { 4 } else { 2 };
    let request = short_request("v4.0.0")
        .bake_seconds(bake_seconds)
        .to_json(&env);
    let id = format!("alarm-while-{}", phase.name());
    let arn = runner.start_deployment(&id, &request).await.unwrap();

    // Step 1 baking: its shift and sync are over, so the next invocations of those functions
    // are step 2's. Analyze is held from step 2's bake on, for the same reason.
    let (arm_at, arm_times) = match phase {
        Phase::Shifting | Phase::WaitingForSync => ("Bake", 1),
        Phase::Baking | Phase::Analyzing => ("Bake", 2),
    };
    wait_until_entered(&runner, &arn, arm_at, arm_times).await;
    let mut hold = phase
        .held_function()
        .map(|function| runner.hold_next(function).unwrap());
    if let Some(hold) = hold.as_mut() {
        let cursor = hold.arrived(STEP_TIMEOUT).await.unwrap();
        assert_eq!(cursor["step"], 1, "{phase:?}: held {cursor}");
    }
    let before = runner.execution(&arn).await.unwrap();
    assert_eq!(
        before.states_entered().last(),
        Some(&phase.state()),
        "{phase:?}: the alarm fires in {}",
        phase.state()
    );
    let green_before = runner.weights().await.unwrap().canary_percent();
    let expected_green = if phase == Phase::Shifting { 10.0 } else { 50.0 };
    assert!(
        (green_before - expected_green).abs() < 0.01,
        "{phase:?}: green has {green_before} % when the alarm fires"
    );

    let reason = format!(
        "Threshold Crossed: forced by the test while {}",
        phase.name()
    );
    runner.force_alarm(&alarm, &reason).await.unwrap();
    let rolled_back = wait_for_status(&runner, &id, Status::RolledBack).await;
    // Blue already, while the interrupted task has not acted yet.
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    if let Some(hold) = hold {
        hold.release();
    }
    let execution = wait_to_end(&runner, &format!("{phase:?}"), &arn).await;

    // The execution was stopped where the alarm found it.
    assert_eq!(execution.status, "ABORTED", "{phase:?}: {execution:#?}");
    let states = execution.states_entered();
    assert_eq!(states.last(), Some(&phase.state()), "{phase:?}: {states:?}");
    assert_eq!(
        states.iter().filter(|s| **s == "ShiftTraffic").count(),
        2,
        "{phase:?}: {states:?}"
    );
    for state in ["Rollback", "Finalize", "TakenOver", "Promoted"] {
        assert!(!states.contains(&state), "{phase:?}: {states:?}");
    }

    // The interrupted task found the deployment fenced and did nothing; nothing else of the
    // state machine ran after the takeover.
    let takeover_at = runner
        .deployment_history(&id)
        .await
        .unwrap()
        .iter()
        .find(|e| matches!(e.kind, EventKind::RollbackStarted { .. }))
        .map(|e| e.at)
        .expect("the takeover is in the history");
    if let Some(function) = phase.held_function() {
        let held = runner.invocations(function).pop().unwrap();
        assert_eq!(
            held.outcome.error_type(),
            Some("Sluice.Fenced"),
            "{phase:?}: {held:#?}"
        );
        assert!(
            matches!(&held.outcome, InvocationOutcome::FunctionError { injected: false, error_message, .. }
                if error_message.contains(&format!("taken over by alarm {alarm}"))),
            "{phase:?}: {held:#?}"
        );
    }
    for function in STATE_MACHINE_FUNCTIONS {
        let late: Vec<_> = runner
            .invocations(function)
            .into_iter()
            .filter(|i| i.at > takeover_at)
            .collect();
        assert!(
            late.is_empty(),
            "{phase:?}: {function} ran after the takeover: {late:#?}"
        );
    }
    assert!(runner.invocations("rollback").is_empty(), "{phase:?}");
    let analyses = runner.invocations("analyze").len();
    let expected_analyses = if phase == Phase::Analyzing { 2 } else { 1 };
    assert_eq!(analyses, expected_analyses, "{phase:?}");

    // The record: rolled back by the alarm, saying why and how fast; nothing written since.
    let deployment = runner.deployment(&id).await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(
        deployment.controller,
        Controller::Alarm {
            alarm: alarm.clone()
        }
    );
    assert_eq!(
        deployment.revision, rolled_back.revision,
        "{phase:?}: nothing wrote to the record after the rollback"
    );
    let outcome = deployment.outcome.clone().unwrap().reason;
    assert!(
        outcome.contains(&format!("alarm {alarm} went to ALARM")) && outcome.contains(&reason),
        "{phase:?}: {outcome}"
    );
    let history = runner.deployment_history(&id).await.unwrap();
    let after_takeover: Vec<&HistoryEvent> = history
        .iter()
        .skip_while(|e| !matches!(e.kind, EventKind::RollbackStarted { .. }))
        .collect();
    assert!(
        matches!(&after_takeover[0].kind, EventKind::RollbackStarted { controller, reason: why }
            if *controller == deployment.controller && why.contains(&reason)),
        "{phase:?}: {after_takeover:#?}"
    );
    let [_, last] = after_takeover.as_slice() else {
        panic!("{phase:?}: only the rollback after the takeover: {after_takeover:#?}");
    };
    let EventKind::RolledBack {
        weights,
        alarm_to_traffic_ms: Some(ms),
        ..
    } = &last.kind
    else {
        panic!("{phase:?}: {last:#?}");
    };
    assert_eq!(*weights, WeightPair::ALL_STABLE);
    assert!(
        (0..30_000).contains(ms),
        "{phase:?}: alarm to traffic {ms} ms"
    );
    assert!(
        runner.lock().await.unwrap().is_none(),
        "the lock is released"
    );

    // Traffic stays on blue after the execution ended.
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);

    // One alarm, one rollback: the function answered the one delivery with it.
    let answers = runner.invocations(EMERGENCY_ROLLBACK_FUNCTION);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_eq!(
        answers[0].source,
        InvocationSource::Sns {
            topic_arn: env.alarm_topic_arn.clone()
        }
    );
    let InvocationOutcome::Succeeded { output } = &answers[0].outcome else {
        panic!("{:#?}", answers[0]);
    };
    assert_eq!(output[0]["outcome"], "rolled-back", "{output}");
    assert_eq!(output[0]["deployment"], id.as_str());
    runner.shutdown().await;
}

#[tokio::test]
async fn an_alarm_while_shifting_returns_all_traffic_to_blue_and_fences_the_shift() {
    let _serial = ONE_AT_A_TIME.lock().await;
    alarm_during(Phase::Shifting).await;
}

#[tokio::test]
async fn an_alarm_while_waiting_for_sync_returns_all_traffic_to_blue_and_fences_the_poll() {
    let _serial = ONE_AT_A_TIME.lock().await;
    alarm_during(Phase::WaitingForSync).await;
}

#[tokio::test]
async fn an_alarm_while_baking_returns_all_traffic_to_blue_and_stops_before_the_analysis() {
    let _serial = ONE_AT_A_TIME.lock().await;
    alarm_during(Phase::Baking).await;
}

#[tokio::test]
async fn an_alarm_while_analyzing_returns_all_traffic_to_blue_and_fences_the_analysis() {
    let _serial = ONE_AT_A_TIME.lock().await;
    alarm_during(Phase::Analyzing).await;
}

#[tokio::test]
async fn an_ok_alarm_notification_changes_nothing_and_the_deployment_is_promoted() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("alarm-ok").await;
    let env = runner.environment().clone();
    let alarm = env.alarm().to_string();
    let request = short_request("v4.1.0").to_json(&env);
    let id = "ok-alarm-v4";
    let arn = runner.start_deployment(id, &request).await.unwrap();
    wait_until_entered(&runner, &arn, "Bake", 1).await;

    // A real OK notification: the alarm leaves INSUFFICIENT_DATA for OK on green's data, and
    // the evaluator notifies its OK action (the alarm topic) as CloudWatch does.
    runner
        .alarms()
        .force(&alarm, AlarmState::InsufficientData, "test: no data")
        .await
        .unwrap();
    runner.alarms().release(&alarm);
    let reached = eventually(STEP_TIMEOUT, || async {
        if runner.invocations(EMERGENCY_ROLLBACK_FUNCTION).is_empty() {
            Err(runner.alarm_transitions())
        } else {
            Ok(())
        }
    })
    .await;
    if let Err(e) = reached {
        panic!("no OK notification reached {EMERGENCY_ROLLBACK_FUNCTION}: {e}");
    }
    let answers = runner.invocations(EMERGENCY_ROLLBACK_FUNCTION);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    let message: Value = serde_json::from_str(
        answers[0].input["Records"][0]["Sns"]["Message"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&message["AlarmName"], &message["NewStateValue"]),
        (&json!(alarm), &json!("OK"))
    );
    let InvocationOutcome::Succeeded { output } = &answers[0].outcome else {
        panic!("{:#?}", answers[0]);
    };
    assert_eq!(
        output,
        &json!([{"outcome": "ignored", "alarm": alarm, "state": "OK"}])
    );

    let execution = wait_to_end(&runner, id, &arn).await;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    assert!(
        execution.stopped_at.unwrap() > answers[0].at,
        "the notification arrived during the deployment"
    );
    let deployment = runner.deployment(id).await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::Promoted);
    assert_eq!(deployment.controller, Controller::StateMachine);
    let history = runner.deployment_history(id).await.unwrap();
    assert!(
        !history.iter().any(|e| matches!(
            e.kind,
            EventKind::RollbackStarted { .. } | EventKind::RolledBack { .. }
        )),
        "{history:#?}"
    );
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_CANARY);
    runner.shutdown().await;
}

#[tokio::test]
async fn a_webhook_with_a_wrong_signature_is_refused_with_401_and_writes_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner_with(
        RunnerOptions::new("e2e-webhook-signature")
            .function_env("SLUICE_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET),
    )
    .await;
    let env = runner.environment().clone();
    // The sample webhook is a tag v2.4.0 of acme/checkout-api.
    runner
        .put_service_config(&short_request("v2.4.0").service_config(&env, &["checkout-api"]))
        .await
        .unwrap();
    let keys_before = runner.table_keys().await.unwrap();
    // The config, and the repository index item written with it.
    assert_eq!(
        keys_before,
        [
            (
                "REPO#checkout-api".to_string(),
                "SERVICE#checkout-api".to_string()
            ),
            ("SERVICE#checkout-api".to_string(), "CONFIG".to_string())
        ]
    );

    let signed = sample_event("release-trigger-github");
    let mut wrong = signed.clone();
    wrong["headers"]["x-hub-signature-256"] = json!(format!("sha256={}", "0".repeat(64)));
    let mut missing = signed.clone();
    missing["headers"]
        .as_object_mut()
        .unwrap()
        .remove("x-hub-signature-256");
    // The signature of another body: a tag changed in transit.
    let mut tampered = signed.clone();
    tampered["body"] = json!(signed["body"].as_str().unwrap().replace("v2.4.0", "v9.9.9"));
    let mut other_algorithm = signed.clone();
    other_algorithm["headers"]["x-hub-signature-256"] = json!(
        signed["headers"]["x-hub-signature-256"]
            .as_str()
            .unwrap()
            .replace("sha256=", "sha1=")
    );
    for (case, event) in [
        ("wrong signature", wrong),
        ("no signature", missing),
        ("body changed after signing", tampered),
        ("not sha256", other_algorithm),
    ] {
        let answer = runner.invoke(RELEASE_TRIGGER_FUNCTION, &event).await;
        let InvocationOutcome::Succeeded { output } = &answer else {
            panic!("{case}: {answer:#?}");
        };
        assert_eq!(output["statusCode"], 401, "{case}: {output}");
        let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("X-Hub-Signature-256"),
            "{case}: {body}"
        );
    }
    assert_eq!(
        runner.table_keys().await.unwrap(),
        keys_before,
        "no trigger key, no lock, no deployment"
    );
    assert!(
        runner.executions().await.unwrap().is_empty(),
        "no execution"
    );

    // The same delivery as GitHub signed it is accepted: the 401s were the signatures' doing.
    let answer = runner.invoke(RELEASE_TRIGGER_FUNCTION, &signed).await;
    let InvocationOutcome::Succeeded { output } = &answer else {
        panic!("{answer:#?}");
    };
    assert_eq!(output["statusCode"], 202, "{output}");
    let executions = runner.executions().await.unwrap();
    assert_eq!(executions.len(), 1, "{executions:#?}");
    assert!(executions[0].0.starts_with("checkout-api-v2-4-0-"));
    assert_eq!(
        trigger_keys(&runner.table_keys().await.unwrap()),
        ["TRIGGER#github#72d3162e-cc78-11e3-81ab-4c9367dc0958#checkout-api"]
    );
    runner.shutdown().await;
}
