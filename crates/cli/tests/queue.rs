//! `sluice start --queue` against moto: while the service deploys, the release is queued in the
//! service's state item (latest wins) instead of refused; a service without CONFIG is refused
//! with nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_core::ports::{Ports, ServiceConfigs, ServiceStates};
use sluice_handler::Configured;
use sluice_testkit::{MotoWorld, unique_name};

#[tokio::test]
async fn start_with_queue_waits_behind_the_running_deployment_and_the_latest_wins() {
    let world = MotoWorld::start().await;
    let running = unique_name("dep");
    let (machine, execution_arn) = waiting_execution(&world, &running).await;
    let cli = moto_backend(&world, Some(machine)).await;
    let table = world.ports.config().table.clone();
    moto_started(&world, &running, Some(execution_arn), &[]).await;
    let start = |version: &'static str| {
        let (cli, table, service) = (&cli, &table, &world.service);
        async move {
            sluice(
                cli,
                &[
                    "--table",
                    table,
                    "--who",
                    "ana",
                    "start",
                    "--service",
                    service,
                    "--version",
                    version,
                    "--queue",
                ],
            )
            .await
        }
    };

    // No CONFIG item: refused, naming it, and nothing queued.
    let (code, text) = start("v4.0.0").await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(&format!("SERVICE#{} / CONFIG", world.service)),
        "{text}"
    );
    assert_eq!(
        world
            .ports
            .store()
            .service_state(&world.service)
            .await
            .unwrap(),
        None
    );

    let mut defaults = world.request.clone();
    defaults.as_object_mut().unwrap().remove("version");
    world
        .ports
        .store()
        .put_service_config(&world.service, &defaults)
        .await
        .unwrap();
    let (code, text) = start("v4.0.0").await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with(&format!("queued: {} v4.0.0", world.service)),
        "{text}"
    );
    assert!(text.contains(&format!("when {running} ends")), "{text}");
    let (code, text) = start("v5.0.0").await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("replaces the queued v4.0.0"), "{text}");

    let state = world
        .ports
        .store()
        .service_state(&world.service)
        .await
        .unwrap()
        .unwrap();
    let queued = state.queued.unwrap();
    assert_eq!(queued.version, "v5.0.0");
    assert_eq!(queued.source, "cli:ana");
    assert_eq!(queued.request["version"], json!("v5.0.0"));
    assert_eq!(state.superseded.len(), 1);
    assert_eq!(state.superseded[0].version, "v4.0.0");

    // status and history show it, as text and as JSON.
    let (_, text) = sluice(
        &cli,
        &["--table", &table, "status", "--service", &world.service],
    )
    .await;
    assert!(text.contains("queued     v5.0.0"), "{text}");
    assert!(text.contains("superseded v4.0.0 by v5.0.0"), "{text}");
    let (_, json_text) = sluice(
        &cli,
        &[
            "--table",
            &table,
            "history",
            "--service",
            &world.service,
            "-o",
            "json",
        ],
    )
    .await;
    let body: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(body["state"]["queued"]["version"], json!("v5.0.0"));
    assert_eq!(body["deployments"][0]["deploymentId"], json!(running));
}
