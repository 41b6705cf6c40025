//! The workflow step trigger-release: a release tag starts one deployment.

// The helpers here are test code too, outside #[test] functions.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

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

/// The store of a table with a year of history: scanning it for CONFIG items outlives the
/// function's timeout, so the scan fails here. Everything else is the memory store.
#[derive(Clone)]
struct NoScanStore(MemoryStore);

impl ServiceConfigs for NoScanStore {
    async fn service_config(
        &self,
        service: &str,
    ) -> Result<Option<Value>, sluice_core::ports::ServiceConfigError> {
        self.0.service_config(service).await
    }

    async fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> Result<(), sluice_core::ports::ServiceConfigError> {
        self.0.put_service_config(service, config).await
    }

    async fn service_configs(
        &self,
    ) -> Result<Vec<(String, Value)>, sluice_core::ports::ServiceConfigError> {
        Err(StorageFailure::Unavailable {
            operation: "Scan",
            what: "service configs".into(),
            message: "the scan outlived the function's timeout".into(),
        }
        .into())
    }

    async fn services_released_from(
        &self,
        repository: &str,
    ) -> Result<Vec<(String, Value)>, sluice_core::ports::ServiceConfigError> {
        self.0.services_released_from(repository).await
    }
}

impl TriggerLedger for NoScanStore {
    async fn claim_trigger(
        &self,
        key: &str,
        record: &sluice_core::ports::TriggerRecord,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<sluice_core::ports::TriggerClaim, sluice_core::ports::TriggerLedgerError> {
        self.0.claim_trigger(key, record, expires_at).await
    }

    async fn complete_trigger(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> Result<(), sluice_core::ports::TriggerLedgerError> {
        self.0.complete_trigger(key, execution_arn).await
    }
}

impl sluice_core::ports::ServiceStates for NoScanStore {
    async fn service_state(
        &self,
        service: &str,
    ) -> Result<
        Option<sluice_core::service_state::ServiceState>,
        sluice_core::ports::ServiceStateError,
    > {
        self.0.service_state(service).await
    }

    async fn queue_release(
        &self,
        service: &str,
        release: &sluice_core::service_state::QueuedRelease,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<sluice_core::ports::QueueWrite, sluice_core::ports::ServiceStateError> {
        self.0.queue_release(service, release, now).await
    }

    async fn update_service_state<F>(
        &self,
        service: &str,
        change: F,
    ) -> Result<sluice_core::service_state::ServiceState, sluice_core::ports::ServiceStateError>
    where
        F: Fn(&mut sluice_core::service_state::ServiceState) -> bool + Send + Sync,
    {
        self.0.update_service_state(service, change).await
    }
}

#[tokio::test]
async fn the_service_is_found_by_its_repository_index_never_by_a_scan() {
    let w = World::new();
    registered(&w).await;
    // Another service released from another repository, and one from the same repository by
    // its full GitHub name.
    let mut payments = request();
    payments["service"] = json!("payments");
    payments["release"] = json!({"repositories": ["acme/payments"]});
    w.store
        .put_service_config("payments", &payments)
        .await
        .unwrap();
    let mut docs = request();
    docs["service"] = json!("checkout-docs");
    docs["release"] = json!({"repositories": ["ACME/Checkout-API"]});
    w.store
        .put_service_config("checkout-docs", &docs)
        .await
        .unwrap();
    let store = NoScanStore(w.store.clone());
    let orchestrator = MemoryOrchestrator::new();
    let event = release_event("e-1", sluice_core::release::TriggerSource::Github, "v2.4.0");

    let outcomes = trigger_release(&store, &orchestrator, &w.clock, event)
        .await
        .unwrap();

    let mut started: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            TriggerOutcome::Started { service, .. } => service.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    started.sort();
    assert_eq!(started, ["checkout-api", "checkout-docs"]);
    assert_eq!(orchestrator.executions().len(), 2);
}

#[tokio::test]
async fn a_repository_dropped_from_a_config_no_longer_releases_the_service() {
    let w = World::new();
    registered(&w).await;
    let mut moved = w
        .store
        .service_config("checkout-api")
        .await
        .unwrap()
        .unwrap();
    moved["release"] = json!({"repositories": ["acme/checkout-next"]});
    w.store
        .put_service_config("checkout-api", &moved)
        .await
        .unwrap();
    let store = NoScanStore(w.store.clone());
    let orchestrator = MemoryOrchestrator::new();
    let outcomes = trigger_release(
        &store,
        &orchestrator,
        &w.clock,
        release_event("e-1", sluice_core::release::TriggerSource::Github, "v2.4.0"),
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcomes[..], [TriggerOutcome::Ignored { .. }]),
        "{outcomes:?}"
    );
    assert!(orchestrator.executions().is_empty());
    assert_eq!(
        w.store
            .services_released_from("acme/checkout-next")
            .await
            .unwrap()
            .len(),
        1
    );
}

/// `sluice start` starts the same version with other settings between the trigger's look for
/// an existing execution and its own start.
#[derive(Clone)]
struct StartedMeanwhile(MemoryOrchestrator);

impl Orchestrator for StartedMeanwhile {
    fn state_machine_arn(&self) -> Option<&str> {
        self.0.state_machine_arn()
    }

    async fn start_execution(
        &self,
        name: &str,
        input: &Value,
    ) -> Result<sluice_core::ports::ExecutionRef, sluice_core::ports::OrchestratorError> {
        let mut by_hand = input.clone();
        by_hand["strategy"] = json!({"kind": "blue-green", "bakeSeconds": 60});
        self.0.start_execution(name, &by_hand).await?;
        self.0.start_execution(name, input).await
    }

    async fn stop_execution(
        &self,
        arn: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), sluice_core::ports::OrchestratorError> {
        self.0.stop_execution(arn, error, cause).await
    }

    async fn execution_status(
        &self,
        arn: &str,
    ) -> Result<ExecutionStatus, sluice_core::ports::OrchestratorError> {
        self.0.execution_status(arn).await
    }

    async fn execution_outcome(
        &self,
        arn: &str,
    ) -> Result<Option<sluice_core::ports::ExecutionOutcome>, sluice_core::ports::OrchestratorError>
    {
        self.0.execution_outcome(arn).await
    }

    async fn send_task_success(
        &self,
        token: &str,
        output: &Value,
    ) -> Result<(), sluice_core::ports::OrchestratorError> {
        self.0.send_task_success(token, output).await
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), sluice_core::ports::OrchestratorError> {
        self.0.send_task_failure(token, error, cause).await
    }
}

#[tokio::test]
async fn an_execution_name_taken_with_other_input_is_a_handled_duplicate() {
    let w = World::new();
    registered(&w).await;
    let orchestrator = StartedMeanwhile(MemoryOrchestrator::new());
    let event = release_event("e-1", sluice_core::release::TriggerSource::Ecr, "v2.4.0");
    let name = sluice_core::release::execution_name("checkout-api", "v2.4.0");

    let outcomes = trigger_release(&w.store, &orchestrator, &w.clock, event.clone())
        .await
        .unwrap();

    assert!(
        matches!(&outcomes[..], [TriggerOutcome::DuplicateName { service, execution_name, execution_arn: Some(arn), message, .. }]
            if service == "checkout-api" && execution_name == &name
                && arn == &MemoryOrchestrator::arn_of(&name) && message.contains("another request")),
        "{outcomes:?}"
    );
    // Only the one started by hand exists; a redelivery finds it.
    assert_eq!(orchestrator.0.executions().len(), 1);
    let again = trigger_release(&w.store, &orchestrator.0, &w.clock, event)
        .await
        .unwrap();
    assert!(
        matches!(&again[..], [TriggerOutcome::AlreadyStarted { execution_name, .. }] if execution_name == &name),
        "{again:?}"
    );
}
