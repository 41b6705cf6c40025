//! End to end: moto executes the real state machine definition, which invokes the real
//! function binaries through the local runner, on simulated traffic. Each test has its own
//! runner (moto's `MOTO_PORT` is per process); they run one at a time, so that the few
//! seconds of simulated traffic each analysis judges are not starved on a two-core machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use sluice_core::analysis::Verdict;
use sluice_core::deployment::EventKind;
use sluice_core::ports::AlarmState;
use sluice_core::{HistoryEvent, Status, WeightPair};
use sluice_local::{
    Execution, InvocationOutcome, InvocationSource, LocalRunner, RunnerOptions, Subscription,
    Topic, TrafficProfile, VersionProfile,
};
use sluice_testkit::eventually;
use sluice_testkit::provision::{Provisioner, StatisticSet};

mod common;
use common::{EXECUTION_TIMEOUT, runner_with, short_request, wait_to_end};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn runner(name: &str, traffic: TrafficProfile) -> LocalRunner {
    runner_with(RunnerOptions::new(&format!("e2e-{name}")).traffic(traffic)).await
}

async fn run_to_end(runner: &LocalRunner, name: &str, request: &Value) -> Execution {
    let arn = runner.start_deployment(name, request).await.unwrap();
    wait_to_end(runner, name, &arn).await
}

fn analyses(history: &[HistoryEvent]) -> Vec<(usize, Verdict, &[sluice_core::MetricResult])> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Analyzed {
                step,
                verdict,
                metrics,
                ..
            } => Some((*step, *verdict, metrics.as_slice())),
            _ => None,
        })
        .collect()
}

fn shifted_percents(history: &[HistoryEvent]) -> Vec<f64> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TrafficShifted { asked_percent, .. } => Some(*asked_percent),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_healthy_green_is_promoted_step_by_step() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let traffic = TrafficProfile {
        blue: VersionProfile::healthy(),
        green: VersionProfile::new(1000.0, 0.3, 130.0),
    };
    let runner = runner_with(
        RunnerOptions::new("e2e-healthy")
            .traffic(traffic)
            .subscribe(Subscription::recorder(Topic::Notifications)),
    )
    .await;
    let request = short_request("v2.0.0").to_json(runner.environment());

    let execution = run_to_end(&runner, "healthy-v2", &request).await;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    let states = execution.states_entered();
    assert_eq!(states.first(), Some(&"Validate"));
    assert_eq!(states.iter().filter(|s| **s == "ShiftTraffic").count(), 3);
    assert_eq!(states.iter().filter(|s| **s == "Analyze").count(), 3);
    assert_eq!(states.last(), Some(&"Promoted"));
    assert!(!states.contains(&"Rollback"), "{states:?}");

    let deployment = runner.deployment("healthy-v2").await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::Promoted);
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_CANARY);
    assert!(
        runner.lock().await.unwrap().is_none(),
        "the lock is released"
    );

    let history = runner.deployment_history("healthy-v2").await.unwrap();
    assert_eq!(shifted_percents(&history), [10.0, 50.0, 100.0]);
    let judged = analyses(&history);
    assert_eq!(
        judged.iter().map(|(step, ..)| *step).collect::<Vec<_>>(),
        [0, 1, 2],
        "one analysis per step"
    );
    for (step, verdict, metrics) in &judged {
        assert_eq!(*verdict, Verdict::Pass, "step {step}: {metrics:#?}");
        let error_rate = metrics.iter().find(|m| m.name == "error-rate").unwrap();
        assert!(
            (error_rate.value.unwrap() - 0.3).abs() < 0.05,
            "{error_rate:?}"
        );
        assert!(error_rate.samples >= 20, "{error_rate:?}");
    }
    assert!(
        matches!(
            history.last().map(|e| &e.kind),
            Some(EventKind::Promoted { .. })
        ),
        "{history:#?}"
    );

    // Every state change was published to the notifications topic, the last one the promotion.
    let statuses = eventually(Duration::from_secs(10), || async {
        let statuses: Vec<String> = runner
            .sns_deliveries()
            .iter()
            .filter(|d| d.topic_arn == runner.environment().notifications_topic_arn)
            .filter_map(|d| serde_json::from_str::<Value>(&d.message).ok())
            .filter_map(|m| m["status"].as_str().map(str::to_string))
            .collect();
        if statuses.last().map(String::as_str) == Some("promoted") {
            Ok(statuses)
        } else {
            Err(statuses)
        }
    })
    .await;
    assert!(statuses.is_ok(), "{statuses:?}");
    runner.shutdown().await;
}

#[tokio::test]
async fn a_bad_canary_is_rolled_back_at_its_first_step() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let traffic = TrafficProfile {
        blue: VersionProfile::healthy(),
        green: VersionProfile::healthy().with_errors(10.0),
    };
    let runner = runner("bad-canary", traffic).await;
    let request = short_request("v2.0.1").to_json(runner.environment());

    let execution = run_to_end(&runner, "bad-canary-v2", &request).await;

    assert_eq!(execution.status, "FAILED", "{execution:#?}");
    assert_eq!(execution.error.as_deref(), Some("Sluice.RolledBack"));
    let cause = execution.cause.clone().unwrap_or_default();
    assert!(cause.contains("error-rate"), "{cause}");
    let states = execution.states_entered();
    assert_eq!(states.iter().filter(|s| **s == "ShiftTraffic").count(), 1);
    assert!(states.contains(&"Rollback"), "{states:?}");
    assert_eq!(states.last(), Some(&"RolledBack"));

    let deployment = runner.deployment("bad-canary-v2").await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert!(deployment.outcome.unwrap().reason.contains("error-rate"));
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    assert!(
        runner.lock().await.unwrap().is_none(),
        "the lock is released"
    );

    let history = runner.deployment_history("bad-canary-v2").await.unwrap();
    let judged = analyses(&history);
    assert_eq!(judged.len(), 1, "{judged:#?}");
    let (step, verdict, metrics) = judged[0];
    assert_eq!((step, verdict), (0, Verdict::Fail));
    let error_rate = metrics.iter().find(|m| m.name == "error-rate").unwrap();
    assert_eq!(error_rate.verdict, Verdict::Fail);
    assert!(
        (error_rate.value.unwrap() - 10.0).abs() < 0.5,
        "{error_rate:?}"
    );
    assert_eq!(error_rate.max, Some(2.0));
    assert!(error_rate.samples >= 20, "{error_rate:?}");
    let blue = error_rate.baseline.unwrap().value.unwrap();
    assert!((blue - 0.2).abs() < 0.05, "blue's error rate {blue}");
    let latency = metrics.iter().find(|m| m.name == "latency").unwrap();
    assert_eq!(
        (latency.value, latency.verdict),
        (Some(120.0), Verdict::Pass)
    );
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.kind, EventKind::RolledBack { weights, .. } if *weights == WeightPair::ALL_STABLE)),
        "{history:#?}"
    );
    runner.shutdown().await;
}

#[tokio::test]
async fn a_gradual_rollback_ramps_down_in_the_state_machine_holding_each_step() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let traffic = TrafficProfile {
        blue: VersionProfile::healthy(),
        green: VersionProfile::healthy().with_errors(10.0),
    };
    let runner = runner("ramp-down", traffic).await;
    let mut request = short_request("v2.0.2").to_json(runner.environment());
    request["strategy"]["steps"] = json!([50, 100]);
    request["rollback"] = json!({"steps": [25, 5], "stepSeconds": 2});
    // Without an armed alarm: green's errors would fire it, and the emergency path would take
    // the ramp over (its own test below); here the state machine's analysis fails the step.
    request.as_object_mut().unwrap().remove("alarms");

    let execution = run_to_end(&runner, "ramp-down-v2", &request).await;

    assert_eq!(execution.status, "FAILED", "{execution:#?}");
    assert_eq!(execution.error.as_deref(), Some("Sluice.RolledBack"));
    let states = execution.states_entered();
    let rollbacks = states.iter().filter(|s| **s == "Rollback").count();
    let waits = states.iter().filter(|s| **s == "RampDownWait").count();
    // Three changes (25 %, 5 %, 0 %), each looked at once it synced; a hold after the first two.
    assert!(rollbacks >= 4, "{states:?}");
    assert!(waits >= 3, "{states:?}");
    assert_eq!(states.last(), Some(&"RolledBack"));

    let history = runner.deployment_history("ramp-down-v2").await.unwrap();
    let ramp: Vec<(f64, chrono::DateTime<chrono::Utc>)> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RampedDown { asked_percent, .. } => Some((*asked_percent, e.at)),
            _ => None,
        })
        .collect();
    let percents: Vec<f64> = ramp.iter().map(|(p, _)| *p).collect();
    assert_eq!(percents, vec![25.0, 5.0, 0.0], "{history:#?}");
    for pair in ramp.windows(2) {
        let held = pair[1].1 - pair[0].1;
        assert!(
            held >= chrono::Duration::seconds(2),
            "{}% held only {held} before {}%",
            pair[0].0,
            pair[1].0
        );
    }
    let deployment = runner.deployment("ramp-down-v2").await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    assert!(
        runner.lock().await.unwrap().is_none(),
        "the lock is released"
    );
    runner.shutdown().await;
}

#[tokio::test]
async fn an_analysis_that_fails_twice_with_a_retryable_error_is_retried() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("retry", TrafficProfile::healthy()).await;
    runner.fail_next("analyze", 2, "Sluice.Retryable").unwrap();
    let request = short_request("v2.0.2")
        .steps(&[50.0, 100.0])
        .to_json(runner.environment());

    let execution = run_to_end(&runner, "retry-v2", &request).await;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    let failures = execution.failures("LambdaFunctionFailed");
    assert_eq!(failures.len(), 2, "{failures:#?}");
    for failure in failures {
        assert_eq!(failure.error.as_deref(), Some("Sluice.Retryable"));
    }
    let analyze = runner.invocations("analyze");
    let outcomes: Vec<Option<&str>> = analyze.iter().map(|i| i.outcome.error_type()).collect();
    assert_eq!(
        outcomes,
        [
            Some("Sluice.Retryable"),
            Some("Sluice.Retryable"),
            None,
            None
        ],
        "two injected failures, then one real analysis per step"
    );
    assert!(matches!(
        analyze[0].outcome,
        InvocationOutcome::FunctionError { injected: true, .. }
    ));
    assert_eq!(
        runner.deployment("retry-v2").await.unwrap().unwrap().status,
        Status::Promoted
    );
    let history = runner.deployment_history("retry-v2").await.unwrap();
    assert_eq!(analyses(&history).len(), 2);
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_CANARY);
    runner.shutdown().await;
}

#[tokio::test]
async fn bad_requests_fail_at_validate_naming_the_field_and_write_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("bad-input", TrafficProfile::healthy()).await;
    let records_before = runner.records().await.unwrap();
    let base = short_request("v2.0.3");
    let cases = [
        (
            "missing-service",
            base.clone().with_field("service", Value::Null),
            "service: is required",
        ),
        (
            "steps-not-increasing",
            base.clone().steps(&[50.0, 10.0, 100.0]),
            "strategy.steps[1]: steps must increase (10 after 50)",
        ),
        (
            "unknown-zone",
            base.clone()
                .with_field("hostedZoneId", json!("ZNOSUCHZONE0000")),
            "hostedZoneId: hosted zone ZNOSUCHZONE0000 does not exist",
        ),
    ];
    for (name, request, expected) in cases {
        let execution = run_to_end(&runner, name, &request.to_json(runner.environment())).await;
        assert_eq!(execution.status, "FAILED", "{name}: {execution:#?}");
        assert_eq!(execution.error.as_deref(), Some("Sluice.Invalid"), "{name}");
        let cause = execution.cause.clone().unwrap_or_default();
        assert!(cause.contains(expected), "{name}: {cause}");
        assert_eq!(
            execution.states_entered(),
            [
                "Validate",
                "ExplainValidationFailure",
                "ReadValidationError",
                "InvalidRequest"
            ],
            "{name}"
        );
        assert!(runner.deployment(name).await.unwrap().is_none(), "{name}");
    }
    assert_eq!(
        runner.table_keys().await.unwrap(),
        Vec::<(String, String)>::new(),
        "nothing in DynamoDB"
    );
    assert_eq!(
        runner.records().await.unwrap(),
        records_before,
        "Route 53 unchanged"
    );
    assert!(
        runner.invocations("shift-traffic").is_empty(),
        "no traffic step ran"
    );
    runner.shutdown().await;
}

#[tokio::test]
async fn two_deployments_of_one_service_started_together_run_one_at_a_time() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner("conflict", TrafficProfile::healthy()).await;
    let request = short_request("v2.0.4")
        .steps(&[50.0, 100.0])
        .to_json(runner.environment());

    let (first, second) = tokio::join!(
        runner.start_deployment("together-a", &request),
        runner.start_deployment("together-b", &request),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    let (first, second) = tokio::join!(
        runner.wait_for_execution(&first, EXECUTION_TIMEOUT),
        runner.wait_for_execution(&second, EXECUTION_TIMEOUT),
    );
    let executions = [first.unwrap(), second.unwrap()];

    let succeeded: Vec<&Execution> = executions
        .iter()
        .filter(|e| e.status == "SUCCEEDED")
        .collect();
    let conflicted: Vec<&Execution> = executions
        .iter()
        .filter(|e| e.status == "FAILED" && e.error.as_deref() == Some("Sluice.Conflict"))
        .collect();
    assert_eq!(
        (succeeded.len(), conflicted.len()),
        (1, 1),
        "{executions:#?}"
    );
    let (winner, loser) = (succeeded[0], conflicted[0]);
    let cause = loser.cause.clone().unwrap_or_default();
    assert!(
        cause.contains(&format!(
            "already has a deployment in progress: {}",
            winner.name
        )),
        "{cause}"
    );
    assert!(!loser.states_entered().contains(&"ShiftTraffic"));

    let deployments = runner.deployments().await.unwrap();
    assert_eq!(
        deployments
            .iter()
            .map(|d| d.id.to_string())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&winner.name),
        "only the winner has a deployment record"
    );
    assert_eq!(deployments[0].status, Status::Promoted);
    assert!(runner.lock().await.unwrap().is_none());
    runner.shutdown().await;
}

#[tokio::test]
async fn an_alarm_on_green_errors_fires_through_sns_into_the_emergency_function() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let runner = runner_with(
        RunnerOptions::new("e2e-alarm").subscribe(Subscription::recorder(Topic::Alarms)),
    )
    .await;
    let env = runner.environment().clone();
    // 300 errors on green in the last second: above the alarm's 200 in 10 s.
    let errors = runner.traffic().metric(
        sluice_local::traffic::ERRORS_METRIC,
        sluice_local::traffic::Slot::Green,
    );
    let aws = Provisioner::new(runner.sdk_config());
    aws.statistic_sets(&errors, &[StatisticSet::count(chrono::Utc::now(), 300.0)])
        .await
        .unwrap();

    let transitions = eventually(Duration::from_secs(15), || async {
        let transitions = runner.alarm_transitions();
        if transitions.is_empty() {
            Err(transitions)
        } else {
            Ok(transitions)
        }
    })
    .await
    .unwrap_or_else(|e| e.last);
    assert_eq!(transitions.len(), 1, "{transitions:#?}");
    let fired = &transitions[0];
    assert_eq!(
        (fired.alarm.as_str(), fired.from, fired.to),
        (env.alarm(), AlarmState::Ok, AlarmState::Alarm)
    );
    assert!(fired.reason.contains("[300]"), "{}", fired.reason);
    assert_eq!(fired.notified, std::slice::from_ref(&env.alarm_topic_arn));

    // The notification is CloudWatch's, as the topic's subscribers receive it.
    let delivered = eventually(Duration::from_secs(10), || async {
        let deliveries = runner.sns_deliveries();
        match deliveries
            .iter()
            .find(|d| d.topic_arn == env.alarm_topic_arn)
        {
            Some(delivered) => Ok(delivered.clone()),
            None => Err(deliveries),
        }
    })
    .await
    .expect("the alarm topic delivered the notification");
    let payload: aws_lambda_events::sns::CloudWatchAlarmPayload =
        serde_json::from_str(&delivered.message).unwrap();
    assert_eq!(payload.alarm_name, env.alarm());
    assert_eq!(payload.new_state_value, "ALARM");
    assert_eq!(payload.trigger.metric_name.as_deref(), Some("Errors"));
    assert_eq!(payload.trigger.threshold, 200.0);

    // moto holds the new state, where validate reads it.
    let state = aws
        .cloudwatch()
        .describe_alarms()
        .alarm_names(env.alarm())
        .send()
        .await
        .unwrap();
    assert_eq!(
        state.metric_alarms()[0].state_value().map(|s| s.as_str()),
        Some("ALARM")
    );

    // The alarm topic's function got the SNS event (with no deployment running, it does nothing).
    if runner
        .functions()
        .iter()
        .any(|f| f == sluice_local::EMERGENCY_ROLLBACK_FUNCTION)
    {
        let invoked = runner.invocations(sluice_local::EMERGENCY_ROLLBACK_FUNCTION);
        assert_eq!(invoked.len(), 1, "{invoked:#?}");
        assert_eq!(
            invoked[0].source,
            InvocationSource::Sns {
                topic_arn: env.alarm_topic_arn.clone()
            }
        );
        let record = &invoked[0].input["Records"][0];
        assert_eq!(record["EventSource"], "aws:sns");
        assert_eq!(record["Sns"]["TopicArn"], env.alarm_topic_arn.as_str());
        assert_eq!(record["Sns"]["Message"], delivered.message.as_str());
    }
    runner.shutdown().await;
}
