//! The workflow step finalize: it claims the promotion before touching Route 53, re-reads the
//! armed alarms, and a late finalize that finds itself fenced restores what the record says,
//! verified.

// The helpers here are test code too, outside #[test] functions.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// A one-step deployment whose analysis decided to promote.
async fn passed(w: &World) -> Cursor {
    let mut req = request();
    req["strategy"]["steps"] = json!([100]);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Promote));
    cursor
}

fn throttled() -> RouterError {
    RouterError::Throttled {
        operation: "ChangeResourceRecordSets",
        zone: ZONE.into(),
        message: "PriorRequestNotComplete".into(),
    }
}

/// A forced promotion as it lands in the store and Route 53 once done.
fn promoted_by_operator(store: &MemoryStore, router: &MemoryRouter) {
    let mut d = store.only_deployment();
    d.controller = Controller::Operator { who: "ana".into() };
    d.status = Status::Promoted;
    d.revision += 1;
    store.replace(d);
    router.add_records(&records(), WeightPair::ALL_CANARY);
}

#[tokio::test]
async fn a_takeover_before_the_claim_fences_finalize_without_any_route53_write() {
    let w = World::new();
    let cursor = passed(&w).await;
    let before = w.router.changes();
    // The emergency path takes the record just before finalize's first write lands.
    let store = w.store.clone();
    w.store
        .before_next_save(Box::new(move || take_over(&store)));
    let (name, _) = error_names(w.finalize(cursor).await);
    assert_eq!(name, ErrorName::Fenced);
    assert_eq!(
        w.router.changes(),
        before,
        "the canary never went to 100%: finalize claims before it writes"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
}

#[tokio::test]
async fn the_claim_is_recorded_before_the_canary_goes_to_100() {
    let w = World::new();
    let cursor = passed(&w).await;
    let store = w.store.clone();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen_in_hook = seen.clone();
    w.router.before_next_set(Box::new(move || {
        let d = store.only_deployment();
        let last = store.events(&d.id).last().cloned().unwrap();
        *seen_in_hook.lock().unwrap() = Some(last.kind);
    }));
    w.finalize(cursor).await.unwrap();
    let claim = seen.lock().unwrap().clone();
    assert!(
        matches!(claim, Some(EventKind::PromotionStarted { .. })),
        "{claim:?}"
    );
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
}

#[tokio::test]
async fn a_takeover_after_the_claim_restores_stable_even_when_the_first_restore_fails() {
    let w = World::new();
    let mut req = request();
    req["strategy"]["steps"] = json!([10, 100]);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Promote));
    // The alarm takes the record while finalize's 100% change is in flight, and Route 53 is
    // busy right after that change.
    let store = w.store.clone();
    let router = w.router.clone();
    w.router.before_next_set(Box::new(move || {
        take_over(&store);
        let router = router.clone();
        store.before_next_save(Box::new(move || {
            router.fail_next(throttled());
            router.fail_next(throttled());
        }));
    }));
    let (name, _) = error_names(w.finalize(cursor).await);
    assert_eq!(name, ErrorName::Fenced);
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn a_finalize_fenced_by_a_forced_promotion_leaves_the_canary_under_the_promoted_record() {
    let w = World::new();
    let cursor = passed(&w).await;
    let (store, router) = (w.store.clone(), w.router.clone());
    w.router
        .before_next_set(Box::new(move || promoted_by_operator(&store, &router)));
    let (name, _) = error_names(w.finalize(cursor).await);
    assert_eq!(name, ErrorName::Fenced);
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
    assert!(
        !w.router.changes().contains(&WeightPair::ALL_STABLE),
        "{:?}",
        w.router.changes()
    );
}

#[tokio::test]
async fn an_armed_alarm_in_alarm_at_finalize_is_a_failed_analysis_that_rolls_back() {
    let w = World::new();
    let mut req = request();
    req["strategy"]["steps"] = json!([10, 100]);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Promote));
    // The alarm's notification was lost: only its state says so.
    w.alarms.set("checkout-api-5xx", AlarmState::Alarm);
    let changes = w.router.changes();
    let result = w.finalize(cursor.clone()).await;
    let error = result.unwrap_err();
    assert_ne!(error.error_name(), ErrorName::Fenced, "{error}");
    assert_ne!(error.error_name(), ErrorName::Retryable, "{error}");
    assert!(
        error.to_string().contains("checkout-api-5xx"),
        "names the alarm: {error}"
    );
    assert_eq!(w.router.changes(), changes, "finalize wrote nothing");
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RollingBack);
    assert!(w.store.events(&d.id).iter().any(|e| matches!(
        &e.kind,
        EventKind::RollbackStarted { reason, .. } if reason.contains("alarm checkout-api-5xx is in ALARM")
    )));
    // The state machine's Catch goes to Rollback, which finishes the job.
    w.rollback_waits(RollbackRequest {
        cursor,
        error: Some(CaughtError {
            error: error.error_name().as_str().into(),
            cause: error.to_string(),
        }),
    })
    .await
    .unwrap();
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    assert!(
        d.outcome.unwrap().reason.contains("checkout-api-5xx"),
        "the reason names the alarm"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn an_alarm_that_is_ok_or_without_data_lets_finalize_promote() {
    let w = World::new();
    let cursor = passed(&w).await;
    w.alarms
        .set("checkout-api-5xx", AlarmState::InsufficientData);
    w.finalize(cursor).await.unwrap();
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
}

#[tokio::test]
async fn a_hotfix_started_while_its_alarm_fires_is_not_held_back_by_it() {
    let w = World::new();
    let mut req = request();
    req["strategy"]["steps"] = json!([100]);
    req["hotfix"] = json!(true);
    w.alarms.set("checkout-api-5xx", AlarmState::Alarm);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Promote));
    w.finalize(cursor).await.unwrap();
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
}
