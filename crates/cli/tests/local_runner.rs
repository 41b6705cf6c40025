//! The CLI end to end through the local runner: moto executes the real state machine, which
//! calls the real function binaries, on simulated traffic. `sluice start` starts what a person
//! would start, `sluice watch` follows it, and the operator commands act on it while it runs;
//! the outcome is read from Route 53, DynamoDB and Step Functions.
//!
//! Each test starts its own runner (its own moto); they take turns, since each runner builds
//! and runs every function binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::sluice;
use serde_json::{Value, json};
use sluice_cli::backend::{AwsPorts, Settings};
use sluice_core::ports::{Deployments, TrafficRouter};
use sluice_core::{Controller, Deployment, DeploymentId, Status, WeightPair};
use sluice_local::{DeploymentRequest, LocalRunner, RunnerOptions, VersionProfile};
use sluice_testkit::eventually;

/// One runner at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Local {
    runner: LocalRunner,
    cli: AwsPorts,
    table: String,
}

async fn local(name: &str) -> Local {
    let runner = LocalRunner::start(RunnerOptions::new(name)).await.unwrap();
    let environment = runner.environment();
    let settings = Settings {
        table: environment.names.table.clone(),
        state_machine_arn: Some(environment.state_machine_arn.clone()),
        notifications_topic_arn: Some(environment.notifications_topic_arn.clone()),
        history_ttl: None,
    };
    let cli = AwsPorts::new(runner.sdk_config(), &settings);
    Local {
        table: settings.table,
        runner,
        cli,
    }
}

impl Local {
    /// `sluice start` with the runner's request for `request`, as a spec file; the id.
    async fn start(&self, request: DeploymentRequest) -> String {
        let spec = request.to_json(self.runner.environment());
        let file = std::env::temp_dir().join(format!(
            "sluice-cli-e2e-{}-{}.json",
            std::process::id(),
            request.version
        ));
        std::fs::write(&file, spec.to_string()).unwrap();
        let service = self.runner.environment().service().to_string();
        let (code, text) = self
            .sluice(&[
                "start",
                "--service",
                &service,
                "--version",
                &request.version,
                "--spec",
                file.to_str().unwrap(),
                "-o",
                "json",
            ])
            .await;
        std::fs::remove_file(&file).unwrap();
        assert_eq!(code, 0, "{text}");
        let started: Value = serde_json::from_str(&text).unwrap();
        started["deploymentId"].as_str().unwrap().to_string()
    }

    async fn sluice(&self, args: &[&str]) -> (u8, String) {
        let mut all = vec!["--table", self.table.as_str(), "--who", "oncall"];
        all.extend_from_slice(args);
        sluice(&self.cli, &all).await
    }

    async fn deployment(&self, id: &str) -> Option<Deployment> {
        self.runner
            .store()
            .find(&DeploymentId::parse(id).unwrap())
            .await
            .unwrap()
    }

    /// Waits until the deployment satisfies `ready`.
    async fn until(&self, id: &str, what: &str, ready: impl Fn(&Deployment) -> bool) -> Deployment {
        eventually(Duration::from_secs(120), || async {
            let deployment = self.deployment(id).await;
            match deployment {
                Some(deployment) if ready(&deployment) => Ok(deployment),
                other => Err(other.map(|d| (d.status, d.step))),
            }
        })
        .await
        .unwrap_or_else(|e| panic!("deployment {id} never got {what}: {e}"))
    }

    async fn weights(&self) -> WeightPair {
        self.runner.weights().await.unwrap()
    }

    async fn execution_status(&self, id: &str) -> String {
        let arn = self.runner.environment().names.execution_arn(id);
        let execution = self
            .runner
            .wait_for_execution(&arn, Duration::from_secs(60))
            .await
            .unwrap();
        let described = self
            .runner
            .sfn()
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        let _ = execution;
        described.status().as_str().to_string()
    }
}

/// Keeps what a person would look at (the watch output, the report) for the docs.
fn keep(name: &str, text: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test]
async fn start_then_watch_sees_the_deployment_promoted() {
    let _turn = TURN.lock().await;
    let local = local("cli-promote").await;
    let id = local.start(DeploymentRequest::new("v2.4.0")).await;
    let (code, text) = local.sluice(&["watch", &id]).await;
    keep("watch-promoted.txt", &text);
    assert_eq!(code, 0, "promoted is exit 0:\n{text}");
    for expected in [
        "started",
        "step 1/4",
        "analysis over",
        "step 4/4",
        "promoted: canary green 100%",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(text.lines().last().unwrap().starts_with("✓"), "{text}");
    assert_eq!(local.weights().await, WeightPair::ALL_CANARY);
    assert_eq!(local.execution_status(&id).await, "SUCCEEDED");

    let out = std::env::temp_dir().join(format!("sluice-e2e-{}.html", std::process::id()));
    let (code, text) = local
        .sluice(&["report", &id, "--out", out.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{text}");
    let html = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    assert_eq!(html.matches(r#"data-kind="advance""#).count(), 3);
    assert!(html.contains(r#"class="outcome outcome-promoted""#));
    keep("local-promoted.html", &html);

    let (code, text) = local
        .sluice(&["history", "--service", local.runner.environment().service()])
        .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("promoted"), "{text}");
    local.runner.shutdown().await;
}

#[tokio::test]
async fn pause_holds_at_the_next_step_boundary_until_resume() {
    let _turn = TURN.lock().await;
    let local = local("cli-pause").await;
    let id = local.start(DeploymentRequest::new("v2.5.0")).await;
    local.until(&id, "its record", |_| true).await;
    let (code, text) = local.sluice(&["pause", &id]).await;
    assert_eq!(code, 0, "{text}");

    let held = local
        .until(&id, "held with a task token", |d| {
            d.status == Status::AwaitingApproval && d.task_token.is_some()
        })
        .await;
    // Held after step 1's analysis passed: still at step 1's share, and it stays there.
    assert_eq!(held.step, Some(0));
    let at_step_1 = local.weights().await;
    assert_eq!(at_step_1, WeightPair::for_percent(5.0));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(local.weights().await, at_step_1);
    assert_eq!(
        local.deployment(&id).await.unwrap().status,
        Status::AwaitingApproval
    );
    let (_, text) = local.sluice(&["status"]).await;
    assert!(text.contains("awaiting-approval"), "{text}");

    let (code, text) = local.sluice(&["resume", &id]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("carries on: advance"), "{text}");
    let (code, text) = local.sluice(&["watch", &id]).await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(local.weights().await, WeightPair::ALL_CANARY);
    assert_eq!(local.execution_status(&id).await, "SUCCEEDED");
    local.runner.shutdown().await;
}

#[tokio::test]
async fn abort_mid_step_returns_all_traffic_to_blue_and_aborts_the_execution() {
    let _turn = TURN.lock().await;
    let local = local("cli-abort").await;
    let id = local
        .start(DeploymentRequest::new("v2.6.0").bake_seconds(30))
        .await;
    local
        .until(&id, "a live step", |d| d.status == Status::Baking)
        .await;
    assert_eq!(local.weights().await, WeightPair::for_percent(5.0));

    let (code, text) = local
        .sluice(&["abort", &id, "--reason", "customer reports"])
        .await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(local.weights().await, WeightPair::ALL_STABLE);
    assert_eq!(local.execution_status(&id).await, "ABORTED");
    let deployment = local.deployment(&id).await.unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(
        deployment.controller,
        Controller::Operator {
            who: "oncall".into()
        }
    );
    assert_eq!(
        deployment.outcome.unwrap().reason,
        "aborted by oncall: customer reports"
    );
    let (code, _) = local.sluice(&["watch", &id]).await;
    assert_eq!(code, 1, "rolled back is exit 1");
    local.runner.shutdown().await;
}

/// A two-step deployment that waits for approval before promoting, held at its gate.
async fn at_the_gate(local: &Local, version: &str) -> String {
    let request = DeploymentRequest::new(version)
        .steps(&[25.0, 100.0])
        .with_field("approval", json!("before-promote"));
    let id = local.start(request).await;
    local
        .until(&id, "the approval gate", |d| {
            d.status == Status::AwaitingApproval && d.task_token.is_some()
        })
        .await;
    id
}

#[tokio::test]
async fn approve_at_the_gate_promotes() {
    let _turn = TURN.lock().await;
    let local = local("cli-approve").await;
    let id = at_the_gate(&local, "v2.7.0").await;
    let (code, text) = local
        .sluice(&["approve", &id, "--comment", "canary metrics look right"])
        .await;
    assert_eq!(code, 0, "{text}");
    let (code, text) = local.sluice(&["watch", &id]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("approved by oncall: canary metrics look right"),
        "{text}"
    );
    assert_eq!(local.weights().await, WeightPair::ALL_CANARY);
    assert_eq!(local.execution_status(&id).await, "SUCCEEDED");
    local.runner.shutdown().await;
}

#[tokio::test]
async fn reject_at_the_gate_rolls_back() {
    let _turn = TURN.lock().await;
    let local = local("cli-reject").await;
    let id = at_the_gate(&local, "v2.8.0").await;
    let (code, text) = local
        .sluice(&["reject", &id, "--reason", "not during the sale"])
        .await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(local.weights().await, WeightPair::ALL_STABLE);
    let deployment = local.deployment(&id).await.unwrap();
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(
        deployment.outcome.unwrap().reason,
        "rejected by oncall: not during the sale"
    );
    let status = local.execution_status(&id).await;
    // Stopped (AWS keeps ABORTED; moto lets the failed task that follows overwrite it).
    assert!(status == "ABORTED" || status == "FAILED", "{status}");
    // Blue carries everything again, so a next deployment may start.
    let records = local.runner.environment().records.clone();
    assert_eq!(
        local
            .runner
            .route53()
            .read_weights(&records)
            .await
            .unwrap()
            .weights(),
        Some(WeightPair::ALL_STABLE)
    );
    local.runner.shutdown().await;
}

#[tokio::test]
async fn a_green_that_goes_bad_mid_deployment_is_rolled_back_and_watch_exits_1() {
    let _turn = TURN.lock().await;
    let local = local("cli-rollback").await;
    let id = local.start(DeploymentRequest::new("v2.9.0")).await;
    local.until(&id, "step 2", |d| d.step == Some(1)).await;
    // Green starts failing 8 % of its requests once it takes a quarter of the traffic.
    local
        .runner
        .traffic()
        .set_green(VersionProfile::healthy().with_errors(8.0));
    let (code, text) = local.sluice(&["watch", &id]).await;
    keep("watch-rolled-back.txt", &text);
    assert_eq!(code, 1, "rolled back is exit 1:\n{text}");
    assert!(text.contains("✓ pass → advance to step 2"), "{text}");
    assert!(text.contains("✗ fail → roll back"), "{text}");
    assert!(text.contains("rolled back: stable blue 100%"), "{text}");
    assert_eq!(local.weights().await, WeightPair::ALL_STABLE);
    assert_eq!(local.execution_status(&id).await, "FAILED");

    let out = std::env::temp_dir().join(format!("sluice-e2e-rb-{}.html", std::process::id()));
    let (code, text) = local
        .sluice(&["report", &id, "--out", out.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{text}");
    let html = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    assert!(html.contains(r#"class="outcome outcome-rolled-back""#));
    assert_eq!(html.matches(r#"data-kind="roll-back""#).count(), 1);
    keep("local-rolled-back.html", &html);
    local.runner.shutdown().await;
}
