//! The reconciler: whatever holds a service's lock for an execution that no longer runs is
//! taken over, returned to stable, recorded and released; `sluice unlock` shares its core.

// The helpers here are test code too, outside #[test] functions.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sluice_core::ports::{DeploymentKey, ServiceLock, ServiceLocks, ServiceStates};

fn reconciler<'a>(
    w: &'a World,
    orchestrator: &'a MemoryOrchestrator,
) -> Reconciler<'a, MemoryStore, MemoryRouter, MemoryOrchestrator, MemoryNotifier, ManualClock> {
    Reconciler {
        store: &w.store,
        router: &w.router,
        orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    }
}

/// A deployment started through the orchestrator and left at its first step (10 % canary).
async fn split(w: &World, orchestrator: &MemoryOrchestrator) -> Cursor {
    let cursor = w.started(orchestrator).await;
    let cursor = w.shift(cursor).await.unwrap();
    let cursor = w.sync(cursor).await.unwrap();
    assert_ne!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    cursor
}

/// The execution ends the way a Lambda timeout ends it (no step ran to the end).
async fn kill(orchestrator: &MemoryOrchestrator) {
    orchestrator
        .stop_execution(
            &MemoryOrchestrator::arn_of("exec-1"),
            "Lambda.Unknown",
            "timed out",
        )
        .await
        .unwrap();
}

fn ended_event(status: &str, input: Value) -> ExecutionEnded {
    serde_json::from_value(json!({
        "executionArn": MemoryOrchestrator::arn_of("exec-1"),
        "stateMachineArn": MemoryOrchestrator::MACHINE,
        "name": "exec-1",
        "status": status,
        "startDate": 1_551_225_271_984_u64,
        "stopDate": 1_551_225_277_984_u64,
        "input": input.to_string(),
        "inputDetails": {"included": true},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_deployment_whose_execution_died_mid_ramp_is_returned_to_stable_recorded_and_released() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;
    kill(&orchestrator).await;

    let outcomes = reconciler(&w, &orchestrator)
        .on_execution_end(&ended_event("ABORTED", request()))
        .await
        .unwrap();

    assert!(
        matches!(&outcomes[..], [ReconcileOutcome::RolledBack { service, deployment, reason }]
            if service == "checkout-api" && deployment == "exec-1" && reason.contains("ended ABORTED")),
        "{outcomes:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    assert_eq!(d.controller, Controller::Reconciler);
    assert!(w.store.lock_of("checkout-api").is_none());
    let kinds: Vec<EventKind> = w.store.events(&d.id).into_iter().map(|e| e.kind).collect();
    assert!(
        kinds.iter().any(|k| matches!(k, EventKind::RollbackStarted { controller: Controller::Reconciler, reason } if reason.starts_with("reconciled: execution"))),
        "{kinds:?}"
    );
    assert!(
        matches!(kinds.last(), Some(EventKind::RolledBack { weights, .. }) if *weights == WeightPair::ALL_STABLE),
        "{kinds:?}"
    );
    assert!(
        w.notifier
            .sent()
            .iter()
            .any(|n| n.status == Status::RolledBack)
    );

    // Delivered again (EventBridge delivers at least once), and the schedule's sweep: nothing
    // more happens.
    let revision = d.revision;
    let again = reconciler(&w, &orchestrator)
        .on_execution_end(&ended_event("ABORTED", request()))
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![ReconcileOutcome::Free {
            service: "checkout-api".into()
        }]
    );
    assert!(
        reconciler(&w, &orchestrator)
            .sweep()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.store.only_deployment().revision, revision);
}

#[tokio::test]
async fn a_running_execution_is_left_alone() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;
    let before = w.store.only_deployment();

    let outcomes = reconciler(&w, &orchestrator).sweep().await.unwrap();

    assert!(
        matches!(&outcomes[..], [ReconcileOutcome::Live { deployment, execution, .. }]
            if deployment == "exec-1" && execution.ends_with("is RUNNING")),
        "{outcomes:?}"
    );
    assert_eq!(w.store.only_deployment(), before);
    assert_ne!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    assert!(w.store.lock_of("checkout-api").is_some());
}

#[tokio::test]
async fn a_succeeded_execution_event_changes_nothing() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;
    let outcomes = reconciler(&w, &orchestrator)
        .on_execution_end(&ended_event("SUCCEEDED", request()))
        .await
        .unwrap();
    assert!(outcomes.is_empty());
    assert!(w.store.lock_of("checkout-api").is_some());
}

#[tokio::test]
async fn an_event_whose_input_names_no_service_sweeps_every_lock() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;
    kill(&orchestrator).await;
    let outcomes = reconciler(&w, &orchestrator)
        .on_execution_end(&ended_event("FAILED", json!({"something": "else"})))
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[..], [ReconcileOutcome::RolledBack { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

/// Validate took the lock and was killed before it wrote the record.
async fn orphan_lock(w: &World, orchestrator: &MemoryOrchestrator) -> DeploymentKey {
    orchestrator
        .start_execution("exec-1", &request())
        .await
        .unwrap();
    let key = DeploymentKey {
        service: "checkout-api".into(),
        started_at: w.clock.now(),
        id: sluice_core::DeploymentId::parse("exec-1").unwrap(),
    };
    w.store
        .acquire_lock(
            &ServiceLock {
                deployment: key.clone(),
                lease_until: w.clock.now() + chrono::Duration::hours(5),
                alarms: vec!["checkout-api-5xx".into()],
            },
            w.clock.now(),
        )
        .await
        .unwrap();
    key
}

#[tokio::test]
async fn an_orphan_lock_is_released_once_its_execution_ended_and_noted_in_the_service_state() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    orphan_lock(&w, &orchestrator).await;

    // While the execution runs, Validate may still be retried: left alone.
    let outcomes = reconciler(&w, &orchestrator).sweep().await.unwrap();
    assert!(
        matches!(&outcomes[..], [ReconcileOutcome::Live { .. }]),
        "{outcomes:?}"
    );
    assert!(w.store.lock_of("checkout-api").is_some());

    kill(&orchestrator).await;
    let outcomes = reconciler(&w, &orchestrator).sweep().await.unwrap();
    assert!(
        matches!(&outcomes[..], [ReconcileOutcome::OrphanReleased { deployment, reason, .. }]
            if deployment == "exec-1" && reason.starts_with("no deployment record; reconciled: execution")),
        "{outcomes:?}"
    );
    assert!(w.store.lock_of("checkout-api").is_none());
    assert!(w.store.deployments().is_empty());
    let state = w
        .store
        .service_state("checkout-api")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.released_locks.len(), 1);
    assert_eq!(state.released_locks[0].deployment.as_str(), "exec-1");
    assert_eq!(state.released_locks[0].released_by, "reconciler");
    // A new deployment can take the lock.
    assert!(
        w.store
            .acquire_lock(
                &ServiceLock {
                    deployment: DeploymentKey {
                        service: "checkout-api".into(),
                        started_at: w.clock.now(),
                        id: sluice_core::DeploymentId::parse("exec-2").unwrap(),
                    },
                    lease_until: w.clock.now() + chrono::Duration::hours(1),
                    alarms: vec![],
                },
                w.clock.now(),
            )
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_lock_left_by_an_ended_deployment_is_released() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;
    kill(&orchestrator).await;
    // The deployment ended (rolled back) but its end step stopped before releasing the lock.
    let mut d = w.store.only_deployment();
    d.status = Status::RolledBack;
    w.store.replace(d);
    assert!(w.store.lock_of("checkout-api").is_some());

    let outcomes = reconciler(&w, &orchestrator).sweep().await.unwrap();

    assert!(
        matches!(
            &outcomes[..],
            [ReconcileOutcome::AlreadyEnded {
                status: Status::RolledBack,
                ..
            }]
        ),
        "{outcomes:?}"
    );
    assert!(w.store.lock_of("checkout-api").is_none());
}

fn unlock(who: &str, force: bool) -> Settler {
    Settler::Operator {
        who: who.into(),
        reason: "the pipeline was cancelled".into(),
        force,
    }
}

#[tokio::test]
async fn unlock_is_refused_while_the_execution_runs_and_forced_takes_over_with_who_and_why() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;

    let refused = reconciler(&w, &orchestrator)
        .settle("checkout-api", &unlock("ana", false))
        .await
        .unwrap();
    assert!(
        matches!(refused, ReconcileOutcome::Live { .. }),
        "{refused:?}"
    );
    assert!(w.store.lock_of("checkout-api").is_some());

    let forced = reconciler(&w, &orchestrator)
        .settle("checkout-api", &unlock("ana", true))
        .await
        .unwrap();
    assert!(
        matches!(&forced, ReconcileOutcome::RolledBack { reason, .. }
            if reason.starts_with("unlocked by ana: the pipeline was cancelled")),
        "{forced:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    assert_eq!(d.controller, Controller::Operator { who: "ana".into() });
    assert!(w.store.lock_of("checkout-api").is_none());
    assert_eq!(orchestrator.executions()[0].2, ExecutionStatus::Aborted);
}

#[tokio::test]
async fn unlock_of_an_orphan_lock_is_recorded_with_who_and_why() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    orphan_lock(&w, &orchestrator).await;
    let outcome = reconciler(&w, &orchestrator)
        .settle("checkout-api", &unlock("bo", true))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, ReconcileOutcome::OrphanReleased { .. }),
        "{outcome:?}"
    );
    assert!(w.store.lock_of("checkout-api").is_none());
    // Stopped, so a retried Validate does not take the lock again.
    assert_eq!(orchestrator.executions()[0].2, ExecutionStatus::Aborted);
    let state = w.store.service_state_of("checkout-api").unwrap();
    assert_eq!(state.released_locks[0].released_by, "operator bo");
    assert!(
        state.released_locks[0]
            .reason
            .contains("unlocked by bo: the pipeline was cancelled")
    );
}

#[tokio::test]
async fn unlocking_a_free_service_says_so() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let outcome = reconciler(&w, &orchestrator)
        .settle("checkout-api", &unlock("cy", true))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ReconcileOutcome::Free {
            service: "checkout-api".into()
        }
    );
}

#[tokio::test]
async fn a_forced_promotion_in_progress_is_left_to_the_operator_who_forced_it() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;
    // `sluice promote --force` fenced the deployment, wrote 100 % canary and stopped the
    // execution; it has not recorded the promotion yet.
    let mut d = w.store.only_deployment();
    d.controller = Controller::Operator { who: "ana".into() };
    d.revision += 1;
    w.store.replace(d);
    w.router.add_records(&records(), WeightPair::ALL_CANARY);
    kill(&orchestrator).await;

    for settler in [Settler::Reconciler, unlock("bo", true)] {
        let outcome = reconciler(&w, &orchestrator)
            .settle("checkout-api", &settler)
            .await
            .unwrap();
        assert!(
            matches!(&outcome, ReconcileOutcome::HeldByTakeover { by, .. } if by == "operator ana"),
            "{outcome:?}"
        );
    }
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
    assert!(w.store.lock_of("checkout-api").is_some());
}

#[tokio::test]
async fn an_alarm_rollback_whose_lambda_died_is_finished() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    split(&w, &orchestrator).await;
    // The alarm's takeover fenced the deployment and stopped the execution, then its Lambda
    // was killed before it wrote stable.
    take_over(&w.store);
    kill(&orchestrator).await;

    let outcomes = reconciler(&w, &orchestrator).sweep().await.unwrap();

    assert!(
        matches!(&outcomes[..], [ReconcileOutcome::RolledBack { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    assert_eq!(w.store.only_deployment().status, Status::RolledBack);
    assert!(w.store.lock_of("checkout-api").is_none());
}
