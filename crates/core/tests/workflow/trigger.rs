//! The workflow step trigger-release: a release tag starts one deployment.

// The helpers here are test code too, outside #[test] functions.
#![allow(clippy::unwrap_used)]

use crate::common::*;

fn release_event(
    id: &str,
    source: sluice_core::release::TriggerSource,
    tag: &str,
) -> sluice_core::release::ReleaseEvent {
    sluice_core::release::ReleaseEvent {
        source,
        event_id: id.into(),
        repository: "acme/checkout-api".into(),
        tag: tag.into(),
    }
}

async fn registered(w: &World) {
    let mut defaults = request();
    defaults.as_object_mut().unwrap().remove("version");
    defaults["release"] =
        json!({"repositories": ["checkout-api"], "tagPattern": "^v[0-9]+\\.[0-9]+\\.[0-9]+$"});
    w.store
        .put_service_config("checkout-api", &defaults)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_release_tag_starts_one_deployment_named_after_service_and_version() {
    let w = World::new();
    registered(&w).await;
    let orchestrator = MemoryOrchestrator::new();
    let event = release_event(
        "e-1",
        sluice_core::release::TriggerSource::Codecommit,
        "v2.4.0",
    );
    let outcomes = trigger_release(&w.store, &orchestrator, &w.clock, event.clone())
        .await
        .unwrap();
    let name = sluice_core::release::execution_name("checkout-api", "v2.4.0");
    assert_eq!(
        outcomes,
        vec![TriggerOutcome::Started {
            service: "checkout-api".into(),
            version: "v2.4.0".into(),
            execution_name: name.clone(),
            execution_arn: MemoryOrchestrator::arn_of(&name),
            superseded: None,
        }]
    );
    let executions = orchestrator.executions();
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0].1,
        json!({"service": "checkout-api", "version": "v2.4.0"})
    );
    // The same delivery twenty times, and the same tag through ECR: still one execution.
    for _ in 0..20 {
        let again = trigger_release(&w.store, &orchestrator, &w.clock, event.clone())
            .await
            .unwrap();
        assert!(
            matches!(&again[0], TriggerOutcome::AlreadyStarted { execution_name, .. } if execution_name == &name)
        );
    }
    let via_ecr = release_event("e-2", sluice_core::release::TriggerSource::Ecr, "v2.4.0");
    let again = trigger_release(&w.store, &orchestrator, &w.clock, via_ecr)
        .await
        .unwrap();
    assert!(matches!(&again[0], TriggerOutcome::AlreadyStarted { .. }));
    assert_eq!(orchestrator.executions().len(), 1);
}

#[tokio::test]
async fn tags_that_are_not_releases_and_unknown_repositories_start_nothing() {
    let w = World::new();
    registered(&w).await;
    let orchestrator = MemoryOrchestrator::new();
    let outcomes = trigger_release(
        &w.store,
        &orchestrator,
        &w.clock,
        release_event(
            "e-1",
            sluice_core::release::TriggerSource::Github,
            "nightly",
        ),
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcomes[0], TriggerOutcome::Ignored { reason } if reason.contains("\"nightly\""))
    );
    let mut other = release_event("e-2", sluice_core::release::TriggerSource::Github, "v1.0.0");
    other.repository = "acme/payments".into();
    let outcomes = trigger_release(&w.store, &orchestrator, &w.clock, other)
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], TriggerOutcome::Ignored { reason } if reason.contains("acme/payments"))
    );
    assert!(orchestrator.executions().is_empty());
}

#[tokio::test]
async fn a_delivery_that_failed_before_starting_is_started_by_the_redelivery() {
    let w = World::new();
    registered(&w).await;
    let orchestrator = MemoryOrchestrator::new();
    let event = release_event("e-1", sluice_core::release::TriggerSource::Ecr, "v3.0.0");
    // The key was claimed, then the start failed (no ARN recorded).
    let name = sluice_core::release::execution_name("checkout-api", "v3.0.0");
    let record = sluice_core::ports::TriggerRecord {
        execution_name: name.clone(),
        execution_arn: None,
        seen_at: w.clock.now(),
    };
    w.store
        .claim_trigger(
            &format!("{}#checkout-api", event.trigger_key()),
            &record,
            w.clock.now(),
        )
        .await
        .unwrap();
    let outcomes = trigger_release(&w.store, &orchestrator, &w.clock, event)
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], TriggerOutcome::Started { execution_arn, .. } if execution_arn == &MemoryOrchestrator::arn_of(&name))
    );
    assert_eq!(orchestrator.executions().len(), 1);
}
