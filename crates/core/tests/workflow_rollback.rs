//! The workflow step roll-back and finalize: blue restored or green promoted, the lock released.

mod common;

use common::*;

#[tokio::test]
async fn rollback_returns_all_traffic_to_stable_releases_the_lock_and_is_safe_twice() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 10, 2).await;
    let done = w.rollback(cursor.clone()).await.unwrap();
    assert!(done.reason.unwrap().contains("above max"));
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    assert!(d.outcome.unwrap().reason.contains("above max 1"));
    assert!(w.store.lock_of("checkout-api").is_none());
    assert!(
        w.notifier
            .sent()
            .last()
            .unwrap()
            .message
            .starts_with("rolled back to stable blue 100%")
    );
    let changes = w.router.changes().len();
    w.rollback(cursor).await.unwrap();
    assert_eq!(
        w.router.changes().len(),
        changes,
        "a second run changes nothing"
    );
    assert_eq!(w.store.only_deployment().revision, d.revision);
}

#[tokio::test]
async fn a_gradual_rollback_ramps_down_through_the_spec_steps() {
    let w = World::new();
    let mut req = request();
    req["rollback"] = json!({"steps": [25, 5], "stepSeconds": 10});
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await; // 10 % passes
    let cursor = w.run_step(cursor, 10, 5).await; // 50 % fails
    assert_eq!(cursor.decision, Some(DecisionAction::RollBack));
    let before = w.clock.now();
    w.rollback(cursor).await.unwrap();
    let changes = w.router.changes();
    assert_eq!(
        &changes[2..],
        &[
            WeightPair::for_percent(25.0),
            WeightPair::for_percent(5.0),
            WeightPair::ALL_STABLE
        ]
    );
    assert_eq!(w.clock.now() - before, chrono::Duration::seconds(20));
}

#[tokio::test]
async fn a_caught_error_becomes_the_rollback_reason() {
    let w = World::new();
    let cursor = w.shift(w.validate(request()).await.unwrap()).await.unwrap();
    let request = RollbackRequest {
        cursor,
        error: Some(CaughtError {
            error: "Sluice.SyncTimeout".into(),
            cause: r#"{"errorType":"Sluice.SyncTimeout","errorMessage":"change C1 not in sync"}"#
                .into(),
        }),
    };
    roll_back(
        &w.store,
        &w.router,
        &w.notifier,
        &w.orchestrator,
        &w.clock,
        request,
    )
    .await
    .unwrap();
    let d = w.store.only_deployment();
    assert_eq!(
        d.outcome.unwrap().reason,
        "step failed with Sluice.SyncTimeout: change C1 not in sync"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn a_healthy_deployment_promotes_to_all_green_keeping_blue_at_zero() {
    let w = World::new();
    let mut cursor = w.validate(request()).await.unwrap();
    for expected in [
        DecisionAction::Advance,
        DecisionAction::Advance,
        DecisionAction::Promote,
    ] {
        cursor = w.run_step(cursor, 10, 0).await;
        assert_eq!(cursor.decision, Some(expected));
    }
    w.finalize(cursor.clone()).await.unwrap();
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
    assert_eq!(WeightPair::ALL_CANARY.stable(), 0);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::Promoted);
    assert!(w.store.lock_of("checkout-api").is_none());
    let analyses = w
        .store
        .events(&d.id)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Analyzed { .. }))
        .count();
    assert_eq!(analyses, 3);
    // Safe to run again.
    w.finalize(cursor).await.unwrap();
    assert_eq!(w.store.only_deployment().revision, d.revision);
}

#[tokio::test]
async fn finalize_refuses_a_deployment_whose_last_step_has_not_passed() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let (name, message) = error_names(w.finalize(cursor).await);
    assert_eq!(name, ErrorName::Invalid);
    assert!(message.contains("cannot be promoted"), "{message}");
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(10.0));
}

#[tokio::test]
async fn a_store_outage_is_retryable_and_a_notification_outage_is_not_an_error() {
    let w = World::new();
    w.notifier.break_topic();
    let cursor = w.validate(request()).await.unwrap();
    w.store.fail_next(StorageFailure::Unavailable {
        operation: "GetItem",
        what: "x".into(),
        message: "503".into(),
    });
    let (name, _) = error_names(w.shift(cursor).await);
    assert_eq!(name, ErrorName::Retryable);
}
