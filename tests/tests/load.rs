//! Load (issue 13): one release event delivered many times, many at once, starts exactly one
//! execution; many services deploying at once on one local runner each end as their canary
//! deserves, with no cross-talk between them.
//!
//! CI size: 200 deliveries (50 at a time) and 8 services. `SLUICE_CHAOS_FULL=1`
//! (scripts/chaos): 1000 deliveries and 20 services.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fleet;

use std::sync::Arc;

use sluice_core::ports::{Deployments, ServiceLocks, TrafficRouter};
use sluice_core::{Status, WeightPair};
use sluice_local::demo::{RELEASE_TRIGGER_FUNCTION, codecommit_tag_event, started_execution};
use sluice_local::{InvocationOutcome, RunnerOptions, VersionProfile};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use common::{runner_with, short_request, wait_to_end};
use fleet::{RUN_TIMEOUT, Service, quick_request};

/// One runner at a time: each runs every function binary, and these tests load them.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_release_event_delivered_many_times_at_once_starts_one_execution() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let deliveries = if fleet::full_size() { 1000 } else { 200 };
    let at_once = 50;
    let runner = runner_with(RunnerOptions::new("load-release")).await;
    let env = runner.environment().clone();
    let request = short_request("v4.0.0").steps(&[50.0, 100.0]);
    runner
        .put_service_config(&request.service_config(&env, &["checkout-api"]))
        .await
        .unwrap();
    let event = codecommit_tag_event("checkout-api", "v4.0.0", "tag-event-load");

    let runner = Arc::new(runner);
    let gate = Arc::new(Semaphore::new(at_once));
    let mut sent = JoinSet::new();
    for _ in 0..deliveries {
        let (runner, event, gate) = (runner.clone(), event.clone(), gate.clone());
        sent.spawn(async move {
            let _turn = gate.acquire_owned().await.unwrap();
            runner.invoke(RELEASE_TRIGGER_FUNCTION, &event).await
        });
    }
    let answers: Vec<InvocationOutcome> = sent.join_all().await;
    let runner = Arc::into_inner(runner).expect("every delivery is done");

    let failed: Vec<&InvocationOutcome> = answers
        .iter()
        .filter(|a| !matches!(a, InvocationOutcome::Succeeded { .. }))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {deliveries} deliveries failed, e.g. {:#?}",
        failed.len(),
        failed.first()
    );
    let started: Vec<(String, String)> = answers
        .iter()
        .map(|a| started_execution(a).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(
        started.iter().all(|s| *s == started[0]),
        "every delivery names the same execution"
    );
    let (name, arn) = started[0].clone();
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
        "one delivery started it"
    );

    let execution = wait_to_end(&runner, &name, &arn).await;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    assert_eq!(
        runner.executions().await.unwrap(),
        [(name.clone(), "SUCCEEDED".to_string())],
        "exactly one execution in moto's list after {deliveries} deliveries"
    );
    let deployments = runner.deployments().await.unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:#?}");
    assert_eq!(deployments[0].status, Status::Promoted);
    assert_eq!(runner.weights().await.unwrap(), WeightPair::ALL_CANARY);
    println!(
        "load: {deliveries} deliveries of one release event, {at_once} at a time: 1 execution ({name}), {} answered started",
        kinds.iter().filter(|k| **k == "started").count()
    );
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_services_deploying_at_once_each_end_as_their_canary_deserves() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let count = if fleet::full_size() { 20 } else { 8 };
    let runner = runner_with(RunnerOptions::new("load-services")).await;
    // Every fourth canary is bad: it must be rolled back, and only it.
    let bad = |i: usize| i % 4 == 3;
    let mut services = Vec::new();
    for i in 0..count {
        let green = if bad(i) {
            VersionProfile::healthy().with_errors(10.0)
        } else {
            VersionProfile::healthy()
        };
        services.push(Service::create(&runner, &format!("load-{i}"), green, 1).await);
    }
    let mut started = Vec::new();
    for (i, service) in services.iter().enumerate() {
        let id = format!("load-{i}-v1");
        let request = service.request(&quick_request("v1.0.0"));
        started.push((
            id.clone(),
            runner.start_deployment(&id, &request).await.unwrap(),
        ));
    }
    let mut failures = Vec::new();
    for (i, ((id, arn), service)) in started.iter().zip(&services).enumerate() {
        let execution = runner.wait_for_execution(arn, RUN_TIMEOUT).await.unwrap();
        let (expected_status, expected_execution, expected_weights) = if bad(i) {
            (Status::RolledBack, "FAILED", WeightPair::ALL_STABLE)
        } else {
            (Status::Promoted, "SUCCEEDED", WeightPair::ALL_CANARY)
        };
        let record = runner
            .store()
            .find(&sluice_core::DeploymentId::parse(id.as_str()).unwrap())
            .await
            .unwrap();
        let weights = runner
            .route53()
            .read_weights(&service.records)
            .await
            .unwrap()
            .weights();
        let own = runner.store().list(&service.name, 10).await.unwrap();
        let lock = runner.store().lock(&service.name).await.unwrap();
        let seen = (
            record.as_ref().map(|r| (r.status, r.service.clone())),
            execution.status.as_str(),
            weights,
            own.iter().map(|d| d.id.to_string()).collect::<Vec<_>>(),
            lock.is_none(),
        );
        let wanted = (
            Some((expected_status, service.name.clone())),
            expected_execution,
            Some(expected_weights),
            vec![id.clone()],
            true,
        );
        if seen != wanted {
            failures.push(format!("{id}: {seen:?}, expected {wanted:?}"));
        }
    }
    println!(
        "load: {count} services at once on one runner: {} ended as expected",
        count - failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    for service in services {
        service.retire(&runner).await;
    }
    runner.shutdown().await;
}
