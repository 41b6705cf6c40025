//! The workflow step analyze-step: a step judged on its metrics, and the decision stored once.

mod common;

use common::*;

#[tokio::test]
async fn a_healthy_step_advances_and_its_analysis_is_stored_with_values() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Advance));
    assert_eq!((cursor.step, cursor.percent), (1, 50.0));
    assert_eq!(cursor.change_id, None);
    let d = w.store.only_deployment();
    let analysis = w
        .store
        .events(&d.id)
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::Analyzed {
                verdict, metrics, ..
            } => Some((verdict, metrics)),
            _ => None,
        });
    let (verdict, metrics) = analysis.unwrap();
    assert_eq!(verdict, sluice_core::Verdict::Pass);
    assert_eq!(metrics[0].value, Some(0.0));
    assert_eq!(metrics[0].samples, 600);
    assert_eq!(metrics[0].max, Some(1.0));
}

#[tokio::test]
async fn empty_metric_data_is_inconclusive_not_pass() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 0, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Extend));
    assert!(
        cursor
            .reason
            .as_deref()
            .unwrap()
            .contains("no data for the canary"),
        "{:?}",
        cursor.reason
    );
    assert_eq!(cursor.step, 0);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::Baking);
    assert_eq!(
        d.last_analysis.unwrap().verdict,
        sluice_core::Verdict::Inconclusive
    );
}

#[tokio::test]
async fn too_few_samples_are_inconclusive_not_pass() {
    let w = World::new();
    let mut req = request();
    req["analysis"]["minSamples"] = json!(1000);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Extend));
    assert!(
        cursor
            .reason
            .as_deref()
            .unwrap()
            .contains("only 600 samples, fewer than minSamples 1000")
    );
}

#[tokio::test]
async fn a_bad_step_decides_rollback_with_the_values_in_the_reason() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 10, 2).await;
    assert_eq!(cursor.decision, Some(DecisionAction::RollBack));
    assert!(
        cursor
            .reason
            .as_deref()
            .unwrap()
            .contains("20.0000 percent is above max 1"),
        "{:?}",
        cursor.reason
    );
}

#[tokio::test]
async fn analyze_retried_returns_the_stored_decision_without_judging_twice() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.shift(cursor).await.unwrap();
    let cursor = w.sync(cursor).await.unwrap();
    w.clock.advance(5);
    w.green_traffic(60, 10, 0);
    w.clock.set(cursor.analyze_at.unwrap());
    let first = w.analyze(cursor.clone()).await.unwrap();
    let second = w.analyze(cursor).await.unwrap();
    assert_eq!(first, second);
    let id = w.store.only_deployment().id;
    let analyses = w
        .store
        .events(&id)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Analyzed { .. }))
        .count();
    assert_eq!(analyses, 1);
}

#[tokio::test]
async fn an_armed_alarm_in_alarm_fails_the_analysis_with_its_name_as_the_reason() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    // The metrics are healthy; only the alarm says otherwise (its notification was missed).
    w.alarms.set("checkout-api-5xx", AlarmState::Alarm);
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::RollBack));
    let reason = cursor.reason.unwrap();
    assert!(reason.contains("checkout-api-5xx"), "{reason}");
    assert!(reason.contains("ALARM"), "{reason}");
    let d = w.store.only_deployment();
    assert_eq!(d.last_analysis.unwrap().verdict, sluice_core::Verdict::Fail);
}

#[tokio::test]
async fn a_quiet_alarm_changes_nothing_in_the_analysis() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    w.alarms
        .set("checkout-api-5xx", AlarmState::InsufficientData);
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Advance));
}

#[tokio::test]
async fn an_analysis_held_for_approval_leases_the_lock_past_the_approval_wait() {
    let w = World::new();
    let mut req = request();
    req["approval"] = json!("before-promote");
    let mut cursor = w.validate(req).await.unwrap();
    for _ in 0..3 {
        cursor = w.run_step(cursor, 10, 0).await;
    }
    assert_eq!(cursor.decision, Some(DecisionAction::AwaitApproval));
    let lease = w.store.lock_of("checkout-api").unwrap().lease_until;
    let waits_until = w.clock.now() + chrono::Duration::seconds(86_400);
    assert!(
        lease > waits_until,
        "lease {lease} ends before the approval wait ({waits_until})"
    );
}
