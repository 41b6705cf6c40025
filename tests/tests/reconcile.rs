//! End to end, through the local runner: the reconciler. moto executes the real state machine
//! with the real binaries; the runner delivers the executions that end FAILED, TIMED_OUT or
//! ABORTED to the real `reconcile` binary, as EventBridge's rule does in AWS.
//!
//! - an execution stopped mid-ramp (10 % canary) leaves its deployment to the reconciler: 100 %
//!   stable read back from Route 53, the record rolled back by the reconciler with its history,
//!   the lock free;
//! - a lock without a deployment record (Validate stopped after taking it) is released once its
//!   execution has failed, and noted in the service's state;
//! - `sluice unlock` is refused while the execution runs, and with `--force` takes it over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use sluice_cli::backend::{AwsPorts, Settings};
use sluice_core::deployment::EventKind;
use sluice_core::ports::{DeploymentKey, ServiceLock, ServiceLocks, ServiceStates};
use sluice_core::{Controller, Deployment, DeploymentId, Status, WeightPair};
use sluice_local::{InvocationOutcome, LocalRunner, RunnerOptions, TrafficProfile};
use sluice_testkit::eventually;

mod common;
use common::{runner_with, short_request, wait_to_end};

/// How long a test waits for one thing the state machine or the reconciler does next.
const STEP_TIMEOUT: Duration = Duration::from_secs(90);

async fn runner(name: &str) -> LocalRunner {
    runner_with(
        RunnerOptions::new(&format!("e2e-reconcile-{name}")).traffic(TrafficProfile::healthy()),
    )
    .await
}

/// Starts a deployment whose first step (10 %) bakes for a minute, and waits until it bakes.
async fn baking(runner: &LocalRunner, id: &str) -> String {
    let request = short_request("v5.0.0")
        .bake_seconds(60)
        .to_json(runner.environment());
    let arn = runner.start_deployment(id, &request).await.unwrap();
    eventually(STEP_TIMEOUT, || async {
        let execution = runner.execution(&arn).await.unwrap();
        if execution.states_entered().contains(&"Bake") {
            Ok(())
        } else {
            Err(execution.states_entered().join(" → "))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{id} never baked: {e}"));
    let canary = runner.weights().await.unwrap().canary_percent();
    assert!((canary - 10.0).abs() < 1.0, "canary at {canary} %");
    arn
}

async fn until_status(runner: &LocalRunner, id: &str, status: Status) -> Deployment {
    eventually(STEP_TIMEOUT, || async {
        match runner.deployment(id).await.unwrap() {
            Some(deployment) if deployment.status == status => Ok(deployment),
            other => Err(other.map(|d| (d.status, d.controller))),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("deployment {id} not {status}: {e}"))
}

async fn until_unlocked(runner: &LocalRunner) {
    eventually(STEP_TIMEOUT, || async {
        match runner.lock().await.unwrap() {
            None => Ok(()),
            Some(lock) => Err(lock.deployment.id.to_string()),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("the lock was not released: {e}"));
}

#[tokio::test]
async fn an_execution_stopped_mid_ramp_is_reconciled_to_stable_recorded_and_released() {
    let runner = runner("stopped").await;
    let id = "reconcile-stopped";
    let arn = baking(&runner, id).await;

    // Killed from outside, as a Lambda timeout or an operator in the console would end it: no
    // step of the state machine runs again.
    runner
        .sfn()
        .stop_execution()
        .execution_arn(&arn)
        .error("Lambda.Unknown")
        .cause("killed by the test mid-ramp")
        .send()
        .await
        .unwrap();
    let execution = wait_to_end(&runner, "stopped", &arn).await;
    assert_eq!(execution.status, "ABORTED", "{execution:#?}");

    let deployment = until_status(&runner, id, Status::RolledBack).await;
    assert_eq!(deployment.controller, Controller::Reconciler);
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    until_unlocked(&runner).await;
    let history = runner.deployment_history(id).await.unwrap();
    let kinds: Vec<&EventKind> = history.iter().map(|e| &e.kind).collect();
    assert!(
        matches!(kinds.first(), Some(EventKind::Started { .. })),
        "{kinds:#?}"
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::TrafficShifted { .. })),
        "{kinds:#?}"
    );
    assert!(
        kinds.iter().any(|k| matches!(k, EventKind::RollbackStarted { controller: Controller::Reconciler, reason }
            if reason.starts_with("reconciled: execution") && reason.contains("ended ABORTED"))),
        "{kinds:#?}"
    );
    assert!(
        matches!(kinds.last(), Some(EventKind::RolledBack { weights, .. }) if *weights == WeightPair::ALL_STABLE),
        "{kinds:#?}"
    );
    // Delivered by the runner, once, and reconcile answered.
    let deliveries: Vec<_> = runner
        .execution_event_deliveries()
        .into_iter()
        .filter(|d| d.execution_arn == arn)
        .collect();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    assert_eq!(deliveries[0].status, "ABORTED");
    assert!(
        matches!(&deliveries[0].outcome, InvocationOutcome::Succeeded { output }
            if output["outcomes"][0]["outcome"] == "rolled-back"),
        "{deliveries:#?}"
    );
    runner.shutdown().await;
}

#[tokio::test]
async fn an_orphan_lock_is_released_once_its_execution_failed() {
    let runner = runner("orphan").await;
    let env = runner.environment().clone();
    let id = "reconcile-orphan";
    // Validate took the lock, then died before writing the record; each retry dies too.
    let now = chrono::Utc::now();
    runner
        .store()
        .acquire_lock(
            &ServiceLock {
                deployment: DeploymentKey {
                    service: env.service().to_string(),
                    started_at: now,
                    id: DeploymentId::parse(id).unwrap(),
                },
                lease_until: now + chrono::Duration::hours(5),
                alarms: vec![env.alarm().to_string()],
            },
            now,
        )
        .await
        .unwrap();
    runner.fail_next("validate", 20, "Lambda.Unknown").unwrap();
    let arn = runner
        .start_deployment(id, &short_request("v5.1.0").to_json(&env))
        .await
        .unwrap();
    let execution = wait_to_end(&runner, "orphan", &arn).await;
    assert_eq!(execution.status, "FAILED", "{execution:#?}");

    until_unlocked(&runner).await;
    assert!(runner.deployment(id).await.unwrap().is_none());
    let state = runner
        .store()
        .service_state(env.service())
        .await
        .unwrap()
        .expect("the release of the lock is noted in the service's state");
    assert_eq!(state.released_locks.len(), 1, "{state:#?}");
    assert_eq!(state.released_locks[0].deployment.as_str(), id);
    assert_eq!(state.released_locks[0].released_by, "reconciler");
    assert!(
        state.released_locks[0].reason.contains("ended FAILED"),
        "{state:#?}"
    );
    runner.shutdown().await;
}

/// The CLI's ports on the runner's moto.
fn cli(runner: &LocalRunner) -> (AwsPorts, String) {
    let environment = runner.environment();
    let settings = Settings {
        table: environment.names.table.clone(),
        state_machine_arn: Some(environment.state_machine_arn.clone()),
        notifications_topic_arn: Some(environment.notifications_topic_arn.clone()),
        history_ttl: None,
    };
    (
        AwsPorts::new(runner.sdk_config(), &settings),
        settings.table,
    )
}

/// Runs `sluice <args>` as the operator `oncall`; its exit code and what it printed (an error
/// as `error: …`).
async fn sluice(runner: &LocalRunner, args: &[&str]) -> (u8, String) {
    let (ports, table) = cli(runner);
    let mut line = vec!["sluice", "--table", table.as_str(), "--who", "oncall"];
    line.extend_from_slice(args);
    let cli = sluice_cli::args::Cli::try_parse_from(line).unwrap();
    let mut out = Vec::new();
    let code = match sluice_cli::dispatch(&ports, &cli, &mut out).await {
        Ok(code) => code,
        Err(error) => {
            out.extend_from_slice(format!("error: {error}").as_bytes());
            error.exit_code()
        }
    };
    (code, String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn unlock_is_refused_while_the_execution_runs_and_forced_takes_it_over() {
    let runner = runner("unlock").await;
    let service = runner.environment().service().to_string();
    let id = "reconcile-unlock";
    let arn = baking(&runner, id).await;

    let (code, text) = sluice(&runner, &["unlock", &service, "--reason", "stuck?"]).await;
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("not unlocked") && text.contains("--force"),
        "{text}"
    );
    assert!(runner.execution(&arn).await.unwrap().is_running());
    assert!(runner.lock().await.unwrap().is_some());
    assert_ne!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);

    let (code, text) = sluice(
        &runner,
        &[
            "unlock",
            &service,
            "--reason",
            "pipeline cancelled",
            "--force",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["result"], "rolled-back", "{text}");
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_STABLE);
    assert!(runner.lock().await.unwrap().is_none());
    let deployment = runner.deployment(id).await.unwrap().unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(
        deployment.controller,
        Controller::Operator {
            who: "oncall".into()
        }
    );
    assert!(
        deployment.outcome.as_ref().is_some_and(|o| o
            .reason
            .starts_with("unlocked by oncall: pipeline cancelled")),
        "{deployment:#?}"
    );
    let execution = wait_to_end(&runner, "unlock", &arn).await;
    assert!(
        execution.status == "ABORTED" || execution.status == "FAILED",
        "{execution:#?}"
    );
    // The execution's end reaches reconcile too, which finds nothing left to do.
    eventually(STEP_TIMEOUT, || async {
        let delivered = runner
            .execution_event_deliveries()
            .into_iter()
            .find(|d| d.execution_arn == arn);
        match delivered {
            Some(d) => Ok(d),
            None => Err("not delivered yet"),
        }
    })
    .await
    .map(|d| {
        assert!(
            matches!(&d.outcome, InvocationOutcome::Succeeded { output } if output["outcomes"][0]["outcome"] == "free"),
            "{d:#?}"
        )
    })
    .unwrap();
    assert_eq!(
        runner.deployment(id).await.unwrap().unwrap().revision,
        deployment.revision
    );

    // Unlocking a free service says so.
    let (code, text) = sluice(&runner, &["unlock", &service, "--reason", "again"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("is not locked"), "{text}");
    runner.shutdown().await;
}
