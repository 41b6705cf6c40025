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
    let (_, waits) = w
        .rollback_waits(RollbackRequest {
            cursor,
            error: None,
        })
        .await
        .unwrap();
    let changes = w.router.changes();
    assert_eq!(
        &changes[2..],
        &[
            WeightPair::for_percent(25.0),
            WeightPair::for_percent(5.0),
            WeightPair::ALL_STABLE
        ]
    );
    // Each change: one sync poll (1 s here), then the ramp's 10 s hold above 0 %.
    assert_eq!(waits, vec![1, 10, 1, 10, 1]);
    assert_eq!(w.clock.now() - before, chrono::Duration::seconds(23));
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    let ramped: Vec<f64> = w
        .store
        .events(&d.id)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::RampedDown { asked_percent, .. } => Some(asked_percent),
            _ => None,
        })
        .collect();
    assert_eq!(ramped, vec![25.0, 5.0, 0.0], "each ramp step is recorded");
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
    w.rollback_waits(request).await.unwrap();
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

/// A gradual rollback's request whose 50 % step failed: the ramp is [25, 5] at 10 s each.
#[allow(clippy::unwrap_used)] // a test helper
async fn failed_at_fifty_with_a_ramp(w: &World) -> Cursor {
    let mut req = request();
    req["rollback"] = json!({"steps": [25, 5], "stepSeconds": 10});
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let cursor = w.run_step(cursor, 10, 5).await;
    assert_eq!(cursor.decision, Some(DecisionAction::RollBack));
    cursor
}

#[tokio::test]
async fn a_rollback_step_never_sleeps_in_the_function() {
    let w = World::new();
    let cursor = failed_at_fifty_with_a_ramp(&w).await;
    let before = w.clock.now();
    let next = w
        .rollback_once(RollbackRequest {
            cursor,
            error: None,
        })
        .await
        .unwrap();
    assert_eq!(
        w.clock.now(),
        before,
        "the state machine's Wait holds each ramp step"
    );
    assert_eq!(next.ramp_wait_seconds, Some(1), "the sync poll comes first");
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(25.0));
    assert_eq!(w.store.only_deployment().status, Status::RollingBack);
}

#[tokio::test]
async fn a_retried_ramp_never_sends_the_canary_more_than_route_53_already_gives_it() {
    let w = World::new();
    let cursor = failed_at_fifty_with_a_ramp(&w).await;
    // An earlier try reached 5 % in Route 53 and died before it recorded anything.
    w.router
        .add_records(&records(), WeightPair::for_percent(5.0));
    let shifted = w.router.changes().len();
    let mut cursor = cursor;
    for _ in 0..10 {
        cursor = w.rollback(cursor).await.unwrap();
        if w.store.only_deployment().status == Status::RolledBack {
            break;
        }
    }
    assert_eq!(w.store.only_deployment().status, Status::RolledBack);
    for change in &w.router.changes()[shifted..] {
        assert!(
            change.canary_percent() <= 5.0,
            "the retry raised the canary to {change}"
        );
    }
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

/// Runs Rollback invocations (the clock moving by each wait) until the canary's share in
/// Route 53 is `percent`; returns the cursor for the next invocation.
#[allow(clippy::unwrap_used)] // a test helper
async fn ramp_until(w: &World, cursor: Cursor, percent: f64) -> Cursor {
    let mut cursor = cursor;
    for _ in 0..20 {
        if w.router.weights(&records()) == WeightPair::for_percent(percent) {
            return cursor;
        }
        cursor = w
            .rollback_once(RollbackRequest {
                cursor,
                error: None,
            })
            .await
            .unwrap();
        w.clock
            .advance(i64::from(cursor.ramp_wait_seconds.unwrap()));
    }
    panic!("the ramp never reached {percent}%")
}

#[tokio::test]
async fn a_takeover_between_two_ramp_steps_fences_the_next_one() {
    let w = World::new();
    let cursor = failed_at_fifty_with_a_ramp(&w).await;
    let cursor = ramp_until(&w, cursor, 25.0).await;
    take_over(&w.store);
    let changes = w.router.changes().len();
    let (name, _) = error_names(
        w.rollback_once(RollbackRequest {
            cursor,
            error: None,
        })
        .await,
    );
    assert_eq!(name, ErrorName::Fenced);
    assert_eq!(w.router.changes().len(), changes, "no write once fenced");
}

#[tokio::test]
async fn a_takeover_landing_during_a_ramp_write_gets_stable_back() {
    let w = World::new();
    let cursor = failed_at_fifty_with_a_ramp(&w).await;
    let cursor = ramp_until(&w, cursor, 25.0).await;
    // Past the hold: the next invocation writes 5 %, and a takeover lands just before.
    let cursor = w
        .rollback_once(RollbackRequest {
            cursor,
            error: None,
        })
        .await
        .unwrap();
    assert_eq!(cursor.ramp.as_ref().map(|r| r.in_sync), Some(true));
    let store = w.store.clone();
    w.router
        .before_next_set(Box::new(move || take_over(&store)));
    let (name, _) = error_names(
        w.rollback_once(RollbackRequest {
            cursor,
            error: None,
        })
        .await,
    );
    assert_eq!(name, ErrorName::Fenced);
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn a_ramp_step_retried_after_a_failure_goes_on_down_from_where_it_was() {
    let w = World::new();
    let cursor = failed_at_fifty_with_a_ramp(&w).await;
    let cursor = ramp_until(&w, cursor, 25.0).await;
    let cursor = w
        .rollback_once(RollbackRequest {
            cursor,
            error: None,
        })
        .await
        .unwrap(); // in sync: the hold
    w.clock.advance(10);
    // The 5 % write lands, its record does not: the invocation fails and is retried as it was.
    let store = w.store.clone();
    w.store.before_next_save(Box::new(move || {
        store.fail_next(StorageFailure::Unavailable {
            operation: "TransactWriteItems",
            what: "deployment exec-1".into(),
            message: "503".into(),
        })
    }));
    let failed = w
        .rollback_once(RollbackRequest {
            cursor: cursor.clone(),
            error: None,
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(5.0));
    let shifted = w.router.changes().len();
    let (_, _) = w
        .rollback_waits(RollbackRequest {
            cursor,
            error: None,
        })
        .await
        .unwrap();
    for change in &w.router.changes()[shifted..] {
        assert!(
            change.canary_percent() < 5.0,
            "the retry raised the canary to {change}"
        );
    }
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    assert_eq!(w.store.only_deployment().status, Status::RolledBack);
}

#[tokio::test]
async fn every_ramp_step_extends_the_lock_past_its_hold() {
    let w = World::new();
    let mut req = request();
    req["rollback"] = json!({"steps": [25, 5], "stepSeconds": 600});
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let mut cursor = w.run_step(cursor, 10, 5).await;
    for _ in 0..5 {
        cursor = w
            .rollback_once(RollbackRequest {
                cursor,
                error: None,
            })
            .await
            .unwrap();
        let lease = w.store.lock_of("checkout-api").unwrap().lease_until;
        let wait = i64::from(cursor.ramp_wait_seconds.unwrap());
        assert!(
            lease > w.clock.now() + chrono::Duration::seconds(wait + 600),
            "lease {lease} too short for a wait of {wait} s"
        );
        w.clock.advance(wait);
    }
}
