//! The commands against moto (DynamoDB, Route 53, Step Functions, SNS) where the deployment
//! state machine is not needed: the deployment is driven with the core workflow functions the
//! Lambdas call, and what each command did is read back from DynamoDB, Route 53 and Step
//! Functions. Each test has its own table, zone, records, alarm and topic (MotoWorld).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sluice_core::deployment::EventKind;
use sluice_core::ports::{
    Deployments, Orchestrator, Ports, ServiceConfigs, ServiceLocks, TrafficRouter,
};
use sluice_core::release::execution_name;
use sluice_core::{Controller, Status, WeightPair};
use sluice_handler::Configured;
use sluice_testkit::{MotoWorld, eventually, unique_name};

#[tokio::test]
async fn status_lists_the_deployment_in_progress_and_history_its_outcome() {
    let world = MotoWorld::start().await;
    let cli = moto_backend(&world, None).await;
    let table = world.ports.config().table.clone();
    let name = unique_name("dep");
    moto_started(&world, &name, None, &[]).await;

    let (code, text) = sluice(
        &cli,
        &["--table", &table, "status", "--service", &world.service],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("SERVICE"), "{text}");
    assert!(lines[1].starts_with(&world.service), "{text}");
    for cell in [
        "v2.0.0",
        "1/3",
        "canary green 10%",
        "shifting",
        name.as_str(),
    ] {
        assert!(lines[1].contains(cell), "{cell} in {text}");
    }

    // Without --service the services are found through their locks.
    let (code, json_text) = sluice(&cli, &["--table", &table, "status", "-o", "json"]).await;
    assert_eq!(code, 0, "{json_text}");
    let body: Value = serde_json::from_str(&json_text).unwrap();
    let rows = body["deployments"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json_text}");
    assert_eq!(
        body["services"],
        json!([]),
        "no deployment has ended: no state item yet"
    );
    assert_eq!(rows[0]["deploymentId"], json!(name));
    assert_eq!(rows[0]["step"], json!(1));
    assert_eq!(rows[0]["steps"], json!(3));
    assert_eq!(rows[0]["canaryShare"], json!(10.0));
    assert_eq!(
        rows[0]["roles"],
        json!({"stable": "blue", "canary": "green"})
    );

    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "--who",
            "ana",
            "abort",
            &name,
            "--reason",
            "wrong build",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");

    let (_, text) = sluice(
        &cli,
        &["--table", &table, "status", "--service", &world.service],
    )
    .await;
    assert!(
        text.starts_with(&format!("no deployment of {} in progress\n", world.service)),
        "{text}"
    );
    // The abort ended it: the state item says blue stays stable and green received v2.0.0.
    assert!(text.contains("stable     blue"), "{text}");
    assert!(text.contains("green v2.0.0"), "{text}");
    assert!(text.contains("queued     nothing"), "{text}");
    let (code, text) = sluice(
        &cli,
        &["--table", &table, "history", "--service", &world.service],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("rolled back (operator ana)"), "{text}");
    assert!(text.contains("aborted by ana: wrong build"), "{text}");
    let (_, json_text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "history",
            "--service",
            &world.service,
            "--output",
            "json",
        ],
    )
    .await;
    let body: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(body["state"]["stableSlot"], json!("blue"));
    assert_eq!(
        body["state"]["lastDeployment"]["status"],
        json!("rolled-back")
    );
    let rows = &body["deployments"];
    assert_eq!(rows[0]["status"], json!("rolled-back"));
    assert_eq!(rows[0]["outcome"], json!("aborted by ana: wrong build"));
    assert!(rows[0]["durationSeconds"].as_i64().unwrap() >= 0);
}

#[tokio::test]
async fn abort_mid_step_returns_blue_to_100_percent_and_stops_the_execution() {
    let world = MotoWorld::start().await;
    let name = unique_name("dep");
    let (machine, execution_arn) = waiting_execution(&world, &name).await;
    let cli = moto_backend(&world, Some(machine)).await;
    let table = world.ports.config().table.clone();
    moto_started(&world, &name, Some(execution_arn.clone()), &[]).await;
    assert_eq!(world.weights().await, WeightPair::new(9, 1).unwrap());

    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "--who",
            "ana",
            "abort",
            &name,
            "--reason",
            "smoke test failed",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("rolled back: stable blue 100%"), "{text}");

    assert_eq!(world.weights().await, WeightPair::ALL_STABLE);
    let deployment = moto_deployment(&world).await;
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(
        deployment.controller,
        Controller::Operator { who: "ana".into() }
    );
    assert_eq!(
        deployment.outcome.unwrap().reason,
        "aborted by ana: smoke test failed"
    );
    assert!(
        world
            .ports
            .store()
            .lock(&world.service)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(execution_ended(&world, &execution_arn).await.0, "ABORTED");

    // A second abort changes nothing and says so.
    let (code, text) = sluice(
        &cli,
        &[
            "--table", &table, "--who", "ana", "abort", &name, "--output", "json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    let result: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(result["result"], json!("already-rolled-back"));
}

#[tokio::test]
async fn promote_force_puts_all_traffic_on_green_and_records_who() {
    let world = MotoWorld::start().await;
    let name = unique_name("dep");
    let (machine, execution_arn) = waiting_execution(&world, &name).await;
    let cli = moto_backend(&world, Some(machine)).await;
    let table = world.ports.config().table.clone();
    moto_started(&world, &name, Some(execution_arn.clone()), &[]).await;

    let (code, text) = sluice(
        &cli,
        &[
            "--table", &table, "--who", "bo", "promote", &name, "--force",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("promoted: canary green 100%"), "{text}");

    assert_eq!(world.weights().await, WeightPair::ALL_CANARY);
    let deployment = moto_deployment(&world).await;
    assert_eq!(deployment.status, Status::Promoted);
    assert_eq!(
        deployment.controller,
        Controller::Operator { who: "bo".into() }
    );
    assert!(
        deployment
            .outcome
            .unwrap()
            .reason
            .contains("promoted by bo")
    );
    let history = world.ports.store().history(&deployment.id).await.unwrap();
    assert!(history.iter().any(|e| matches!(&e.kind,
        EventKind::OperatorRequested { by, request } if by == "bo" && request == "forced promotion")));
    assert_eq!(execution_ended(&world, &execution_arn).await.0, "ABORTED");
}

#[tokio::test]
async fn promote_skips_the_remaining_steps_once_the_current_analysis_passes() {
    let world = MotoWorld::start().await;
    let cli = moto_backend(&world, None).await;
    let table = world.ports.config().table.clone();
    let name = unique_name("dep");
    let cursor = moto_started(&world, &name, None, &[]).await;

    let (code, text) = sluice(&cli, &["--table", &table, "--who", "cy", "promote", &name]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("promotion requested"), "{text}");
    assert_eq!(
        moto_deployment(&world).await.requests.promote.as_deref(),
        Some("cy")
    );

    let cursor = moto_baked(&world, cursor).await;
    let live_at = moto_deployment(&world)
        .await
        .traffic
        .unwrap()
        .live_at
        .unwrap();
    world.put_green_traffic(live_at, 3, 20.0, 0.0).await;
    let cursor = moto_analyze(&world, cursor).await;
    // Step 1 of 3 passed and the next move is the promotion, not step 2.
    assert_eq!(cursor.decision.map(|d| d.as_str()), Some("promote"));
}

#[tokio::test]
async fn pause_is_recorded_and_resume_withdraws_it_before_the_boundary() {
    let world = MotoWorld::start().await;
    let cli = moto_backend(&world, None).await;
    let table = world.ports.config().table.clone();
    let name = unique_name("dep");
    moto_started(&world, &name, None, &[]).await;

    let (code, text) = sluice(&cli, &["--table", &table, "--who", "dee", "pause", &name]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("holds at its next step boundary"), "{text}");
    let deployment = moto_deployment(&world).await;
    assert_eq!(deployment.requests.pause.as_deref(), Some("dee"));
    let history = world.ports.store().history(&deployment.id).await.unwrap();
    assert!(matches!(&history.last().unwrap().kind,
        EventKind::OperatorRequested { by, request } if by == "dee" && request == "pause"));

    // status shows the pause waiting to take effect.
    let (_, text) = sluice(
        &cli,
        &["--table", &table, "status", "--service", &world.service],
    )
    .await;
    assert!(text.contains("pause asked by dee"), "{text}");

    let (code, text) = sluice(&cli, &["--table", &table, "--who", "dee", "resume", &name]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("pause withdrawn"), "{text}");
    assert_eq!(moto_deployment(&world).await.requests.pause, None);

    let (_, text) = sluice(&cli, &["--table", &table, "resume", &name, "--who", "dee"]).await;
    assert!(text.contains("is not paused"), "{text}");
}

#[tokio::test]
async fn approve_at_the_gate_answers_the_waiting_task_and_the_execution_carries_on() {
    let world = MotoWorld::start().await;
    let machine = gate_machine(&world).await;
    let name = unique_name("dep");
    let (execution_arn, token) = gate_execution(&world, &machine, &name).await;
    let cli = moto_backend(&world, Some(machine)).await;
    let table = world.ports.config().table.clone();
    // No traffic at all: the analysis is inconclusive and the spec says to wait for an operator.
    let cursor = moto_started(
        &world,
        &name,
        Some(execution_arn.clone()),
        &[(
            "analysis",
            json!({"metrics": world.request["analysis"]["metrics"], "minSamples": 10,
            "periodSeconds": 1, "onInconclusive": {"action": "pause"}}),
        )],
    )
    .await;
    let cursor = moto_baked(&world, cursor).await;
    let cursor = moto_analyze(&world, cursor).await;
    assert_eq!(cursor.decision.map(|d| d.as_str()), Some("await-approval"));
    moto_await_approval(&world, cursor, &token).await;

    let (_, text) = sluice(
        &cli,
        &["--table", &table, "status", "--service", &world.service],
    )
    .await;
    assert!(text.contains("awaiting-approval"), "{text}");

    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "--who",
            "eve",
            "approve",
            &name,
            "--comment",
            "dashboards look fine",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("carries on: advance"), "{text}");

    let (status, output) = execution_ended(&world, &execution_arn).await;
    assert_eq!(status, "SUCCEEDED");
    let output = output.unwrap();
    assert_eq!(output["decision"], json!("advance"));
    assert_eq!(output["step"], json!(1));
    let deployment = moto_deployment(&world).await;
    assert_eq!(deployment.status, Status::Analyzing);
    assert_eq!(deployment.task_token, None);
    let history = world.ports.store().history(&deployment.id).await.unwrap();
    assert!(matches!(&history.last().unwrap().kind,
        EventKind::Approved { by, comment } if by == "eve" && comment.as_deref() == Some("dashboards look fine")));
}

#[tokio::test]
async fn reject_at_the_gate_rolls_back_and_ends_the_execution() {
    let world = MotoWorld::start().await;
    let machine = gate_machine(&world).await;
    let name = unique_name("dep");
    let (execution_arn, token) = gate_execution(&world, &machine, &name).await;
    let cli = moto_backend(&world, Some(machine.clone())).await;
    let table = world.ports.config().table.clone();
    let cursor = moto_started(
        &world,
        &name,
        Some(execution_arn.clone()),
        &[(
            "analysis",
            json!({"metrics": world.request["analysis"]["metrics"], "minSamples": 10,
            "periodSeconds": 1, "onInconclusive": {"action": "pause"}}),
        )],
    )
    .await;
    // Rejecting what is not waiting for approval is refused: that is what abort is for.
    let (code, text) = sluice(&cli, &["--table", &table, "--who", "fay", "reject", &name]).await;
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("not waiting for approval"), "{text}");

    let cursor = moto_baked(&world, cursor).await;
    let cursor = moto_analyze(&world, cursor).await;
    moto_await_approval(&world, cursor, &token).await;

    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "--who",
            "fay",
            "reject",
            &name,
            "--reason",
            "latency looks off",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(world.weights().await, WeightPair::ALL_STABLE);
    let deployment = moto_deployment(&world).await;
    assert_eq!(deployment.status, Status::RolledBack);
    assert_eq!(
        deployment.controller,
        Controller::Operator { who: "fay".into() }
    );
    assert_eq!(
        deployment.outcome.unwrap().reason,
        "rejected by fay: latency looks off"
    );
    // The takeover stops the execution and fails the task it waits on. AWS keeps the
    // execution ABORTED; moto lets the task failure that follows the stop overwrite it.
    let (status, _) = execution_ended(&world, &execution_arn).await;
    assert!(status == "ABORTED" || status == "FAILED", "{status}");
    assert!(
        !cli.orchestrator()
            .execution_status(&execution_arn)
            .await
            .unwrap()
            .is_running()
    );
}

#[tokio::test]
async fn start_refuses_an_invalid_request_naming_every_field() {
    let world = MotoWorld::start().await;
    let cli = moto_backend(
        &world,
        Some("arn:aws:states:us-east-1:123456789012:stateMachine:none".into()),
    )
    .await;
    let table = world.ports.config().table.clone();
    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "start",
            "--service",
            &world.service,
            "--version",
            "v9",
            "--set",
            "hostedZoneId=ZNOSUCHZONE",
            "--set",
            "strategy.steps=[50,10]",
            "--set",
            "analysis.minSamples=0",
        ],
    )
    .await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("nothing was started"), "{text}");
    for field in ["hostedZoneId:", "strategy.steps", "analysis.minSamples:"] {
        assert!(text.contains(field), "{field} in {text}");
    }
    // A malformed field is named by its path too.
    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "start",
            "--service",
            "s",
            "--version",
            "v",
            "--set",
            "strategy.bakeSeconds=soon",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 2, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["errors"][0]["field"], json!("strategy.bakeSeconds"));
}

#[tokio::test]
async fn start_refuses_a_live_record_that_no_longer_matches_the_slots_and_starts_nothing() {
    let world = MotoWorld::start().await;
    let (machine, _) = waiting_execution(&world, &unique_name("unused")).await;
    let cli = moto_backend(&world, Some(machine.clone())).await;
    let table = world.ports.config().table.clone();
    let mut defaults = world.request.clone();
    defaults.as_object_mut().unwrap().remove("version");
    world
        .ports
        .store()
        .put_service_config(&world.service, &defaults)
        .await
        .unwrap();
    // Green's record was re-pointed by hand; the CONFIG still names the old target.
    let mut stale = world.records.clone();
    stale.canary.target = "green-replaced.internal.example.net".into();
    world
        .ports
        .router()
        .set_weights(&stale, WeightPair::ALL_STABLE)
        .await
        .unwrap();

    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "start",
            "--service",
            &world.service,
            "--version",
            "v3.2.0",
        ],
    )
    .await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("nothing was started"), "{text}");
    assert!(
        text.contains("slots.green.target")
            && text.contains("points at \"green-replaced.internal.example.net\""),
        "{text}"
    );
    assert!(
        world
            .ports
            .store()
            .list(&world.service, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        world
            .ports
            .store()
            .lock(&world.service)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn start_uses_the_service_defaults_and_a_new_name_for_a_version_deployed_before() {
    let world = MotoWorld::start().await;
    let (machine, _) = waiting_execution(&world, &unique_name("unused")).await;
    let cli = moto_backend(&world, Some(machine.clone())).await;
    let table = world.ports.config().table.clone();
    // The service's defaults are the world's request without version.
    let mut defaults = world.request.clone();
    defaults.as_object_mut().unwrap().remove("version");
    world
        .ports
        .store()
        .put_service_config(&world.service, &defaults)
        .await
        .unwrap();

    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "start",
            "--service",
            &world.service,
            "--version",
            "v3.1.0",
            "--set",
            "strategy.bakeSeconds=5",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    let started: Value = serde_json::from_str(&text).unwrap();
    let first = execution_name(&world.service, "v3.1.0");
    assert_eq!(started["deploymentId"], json!(first));
    let arn = started["executionArn"].as_str().unwrap().to_string();
    assert_eq!(execution(&world, &arn).await.0, "RUNNING");
    // The execution gets the request as asked; Validate lays it over the defaults again.
    let described = world
        .provisioner
        .sfn()
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(
        input,
        json!({"service": world.service, "version": "v3.1.0", "strategy": {"bakeSeconds": 5}})
    );

    // That deployment ran and was rolled back; starting the same version again is a new
    // deployment with a name of its own.
    moto_started(
        &world,
        &first,
        Some(arn.clone()),
        &[("version", json!("v3.1.0"))],
    )
    .await;
    let (code, text) = sluice(&cli, &["--table", &table, "--who", "gus", "abort", &first]).await;
    assert_eq!(code, 0, "{text}");
    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "start",
            "--service",
            &world.service,
            "--version",
            "v3.1.0",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    let second = sluice_cli::request::attempt_name(&world.service, "v3.1.0", 2);
    assert!(text.contains(&format!("as deployment {second}")), "{text}");
    assert_ne!(first, second);
}

#[tokio::test]
async fn start_refuses_while_another_deployment_of_the_service_runs() {
    let world = MotoWorld::start().await;
    let running = unique_name("dep");
    let (machine, execution_arn) = waiting_execution(&world, &running).await;
    let cli = moto_backend(&world, Some(machine)).await;
    let table = world.ports.config().table.clone();
    moto_started(&world, &running, Some(execution_arn.clone()), &[]).await;
    let mut spec = world.request.clone();
    spec.as_object_mut().unwrap().remove("version");
    let file = std::env::temp_dir().join(format!("{}.json", unique_name("spec")));
    std::fs::write(&file, spec.to_string()).unwrap();
    let spec_path = file.to_str().unwrap().to_string();
    let start = |version: &'static str| {
        let (cli, table, service, spec_path) = (&cli, &table, &world.service, &spec_path);
        async move {
            sluice(
                cli,
                &[
                    "--table",
                    table,
                    "start",
                    "--service",
                    service,
                    "--version",
                    version,
                    "--spec",
                    spec_path,
                ],
            )
            .await
        }
    };
    let (code, text) = start("v4").await;
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains(&format!("already has a deployment in progress: {running}")),
        "{text}"
    );
    // The version that runs is answered with its deployment, not started twice.
    let (code, text) = start("v2.0.0").await;
    std::fs::remove_file(&file).unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with(&format!(
            "already running: {} v2.0.0 as deployment {running}",
            world.service
        )),
        "{text}"
    );
    assert!(text.contains(&execution_arn), "{text}");
}

#[tokio::test]
async fn watch_follows_a_deployment_until_an_abort_rolls_it_back() {
    let world = MotoWorld::start().await;
    let name = unique_name("dep");
    let (machine, execution_arn) = waiting_execution(&world, &name).await;
    let cli = moto_backend(&world, Some(machine)).await;
    let table = world.ports.config().table.clone();
    moto_started(&world, &name, Some(execution_arn), &[]).await;

    // The abort comes once watch has shown the deployment live, so watch follows it.
    let watched = SharedOutput::default();
    let aborter = {
        let cli = moto_backend(&world, None).await;
        let name = name.clone();
        let watched = watched.clone();
        tokio::spawn(async move {
            eventually(Duration::from_secs(10), || async {
                let text = watched.text();
                if text.contains("step 1/3") {
                    Ok(())
                } else {
                    Err(text)
                }
            })
            .await
            .unwrap();
            sluice(
                &cli,
                &[
                    "--table",
                    "unused-by-dispatch",
                    "--who",
                    "hal",
                    "abort",
                    &name,
                ],
            )
            .await
        })
    };
    let code = sluice_into(
        &cli,
        &["--table", &table, "watch", &name, "--interval", "0.2"],
        &mut watched.clone(),
    )
    .await;
    let text = watched.text();
    let (abort_code, abort_text) = aborter.await.unwrap();
    assert_eq!(abort_code, 0, "{abort_text}");
    assert_eq!(code, 1, "rolled back is exit 1: {text}");
    for expected in [
        "started",
        "step 1/3  Route 53 weights stable blue 9 / canary green 1 → canary green 10%",
        "rolling back (operator hal): aborted by hal",
        "rolled back: stable blue 100%",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(text.lines().last().unwrap().starts_with("✗"), "{text}");

    // Watching it again prints its whole history and the same outcome at once, as JSON lines.
    let (code, text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "watch",
            "--service",
            &world.service,
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 1, "{text}");
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], json!("result"));
    assert_eq!(last["status"], json!("rolled-back"));
    assert_eq!(last["canaryShare"], json!(0.0));
    let events = text
        .lines()
        .filter(|l| l.contains(r#""type":"event""#))
        .count();
    assert!(events >= 4, "{text}");
}

#[tokio::test]
async fn watch_explains_an_execution_that_failed_before_writing_a_record() {
    let world = MotoWorld::start().await;
    let sfn = world.provisioner.sfn();
    let definition = json!({"StartAt": "Validate", "States": {"Validate": {"Type": "Fail",
        "Error": "Sluice.Invalid", "Cause": "hostedZoneId: hosted zone ZX does not exist"}}});
    let machine = world
        .provisioner
        .state_machine(
            &unique_name("failing"),
            &definition.to_string(),
            "arn:aws:iam::123456789012:role/sluice-test",
        )
        .await
        .unwrap();
    let name = unique_name("dep");
    sfn.start_execution()
        .state_machine_arn(&machine)
        .name(&name)
        .input("{}")
        .send()
        .await
        .unwrap();
    let cli = moto_backend(&world, Some(machine)).await;
    let table = world.ports.config().table.clone();
    let (code, text) = sluice(
        &cli,
        &["--table", &table, "watch", &name, "--interval", "0.2"],
    )
    .await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("ended FAILED before the deployment record was written"),
        "{text}"
    );
    assert!(text.contains("hosted zone ZX does not exist"), "{text}");
}

#[tokio::test]
async fn show_prints_the_record_and_its_history() {
    let world = MotoWorld::start().await;
    let cli = moto_backend(&world, None).await;
    let table = world.ports.config().table.clone();
    let name = unique_name("dep");
    moto_started(&world, &name, None, &[]).await;
    let (code, text) = sluice(&cli, &["--table", &table, "show", &name]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with(&format!("deployment {name}\n")), "{text}");
    assert!(
        text.contains("plan       10% (2s) → 50% (2s) → 100% (2s)"),
        "{text}"
    );
    assert!(text.contains("traffic    canary green 10%"), "{text}");
    let (code, text) = sluice(&cli, &["--table", &table, "show", &name, "-o", "json"]).await;
    assert_eq!(code, 0);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["timeline"]["steps"][0]["canaryShare"], json!(10.0));
    assert_eq!(body["deployment"]["status"], json!("shifting"));

    let (code, text) = sluice(&cli, &["--table", &table, "show", "no-such-deployment"]).await;
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("deployment no-such-deployment not found"),
        "{text}"
    );
}
