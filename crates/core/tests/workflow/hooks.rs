//! The workflow step check-hook: a hook's answer judged and recorded, the cursor the definition
//! routes on, and what the rollback then does with a failure.

#![allow(clippy::unwrap_used)]

use crate::common::*;
use sluice_core::spec::HookKind;
use sluice_core::timeline::{ViewContext, project};

const SMOKE: &str = "arn:aws:lambda:us-east-1:123456789012:function:smoke";

fn request_with_hooks(hooks: Value) -> Value {
    let mut request = request();
    request["hooks"] = hooks;
    request
}

async fn check(w: &World, hook: HookKind, cursor: Cursor, result: Value) -> Cursor {
    check_hook(
        &w.store,
        &w.clock,
        HookCheckRequest {
            hook,
            cursor,
            result,
        },
    )
    .await
    .unwrap()
}

/// The lines every view prints for the deployment's hook events.
fn hook_lines(w: &World) -> Vec<String> {
    let deployment = w.store.only_deployment();
    let clock = |at: chrono::DateTime<chrono::Utc>| at.format("%H:%M:%S").to_string();
    let context = ViewContext::of(&deployment, &clock);
    w.store
        .events(&deployment.id)
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::HookPassed { .. } | EventKind::HookFailed { .. }
            )
        })
        .flat_map(|e| project(e, &context).lines("t"))
        .collect()
}

#[tokio::test]
async fn without_hooks_the_cursor_carries_none() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    assert_eq!(cursor.hooks, None);
    let json = serde_json::to_value(&cursor).unwrap();
    assert!(json.get("hooks").is_none(), "{json}");
}

#[tokio::test]
async fn a_failed_pre_traffic_hook_is_recorded_and_the_rollback_moves_no_traffic() {
    let w = World::new();
    let cursor = w
        .validate(request_with_hooks(
            json!({"preTraffic": SMOKE, "timeoutSeconds": 20}),
        ))
        .await
        .unwrap();
    let hooks = cursor.hooks.clone().unwrap();
    assert_eq!(
        (
            hooks.pre_traffic.as_deref(),
            hooks.post_traffic,
            hooks.timeout_seconds
        ),
        (Some(SMOKE), None, 20)
    );
    assert_eq!(hooks.subject.version, "v2.4.0");
    assert_eq!(hooks.subject.canary_slot, "green");

    let checked = check(
        &w,
        HookKind::PreTraffic,
        cursor,
        json!({"Error": "States.Timeout", "Cause": ""}),
    )
    .await;
    let reason = format!("pre-traffic hook {SMOKE} failed: no answer within 20 s (States.Timeout)");
    assert_eq!(checked.hook_passed, Some(false));
    assert_eq!(checked.reason.as_deref(), Some(reason.as_str()));
    // A retried check (its answer lost) gives the same answer and records nothing more.
    let revision = w.store.only_deployment().revision;
    let again = check(
        &w,
        HookKind::PreTraffic,
        w.validate(request_with_hooks(
            json!({"preTraffic": SMOKE, "timeoutSeconds": 20}),
        ))
        .await
        .unwrap(),
        json!({"Error": "States.Timeout", "Cause": ""}),
    )
    .await;
    assert_eq!(
        (again.hook_passed, again.reason.as_deref()),
        (Some(false), Some(reason.as_str()))
    );
    assert_eq!(w.store.only_deployment().revision, revision);
    assert_eq!(
        hook_lines(&w),
        [
            "t  pre-traffic hook failed: no answer within 20 s (States.Timeout)".to_string(),
            format!("     function {SMOKE}")
        ]
    );

    // The definition routes the failure to Rollback: traffic never leaves blue.
    let done = w.rollback(checked).await.unwrap();
    assert_eq!(done.reason.as_deref(), Some(reason.as_str()));
    assert!(
        w.router
            .changes()
            .iter()
            .all(|c| *c == WeightPair::ALL_STABLE),
        "{:?}",
        w.router.changes()
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    assert_eq!(d.outcome.unwrap().reason, reason);
    assert!(w.store.lock_of("checkout-api").is_none());
}

#[tokio::test]
async fn a_post_traffic_hook_is_judged_after_the_promotion_decision() {
    let w = World::new();
    let mut req = request_with_hooks(json!({"postTraffic": SMOKE}));
    req["strategy"] = json!({"kind": "blue-green", "bakeSeconds": 60});
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Promote));
    assert!(cursor.hooks.is_some(), "the hooks ride along every step");

    let passed = check(
        &w,
        HookKind::PostTraffic,
        cursor.clone(),
        json!({"Payload": {"status": "Succeeded", "message": "smoke test green"}, "StatusCode": 200}),
    )
    .await;
    assert_eq!(passed.hook_passed, Some(true));
    assert_eq!(passed.decision, Some(DecisionAction::Promote));
    assert_eq!(
        hook_lines(&w)[0],
        "t  post-traffic hook passed: smoke test green"
    );
    w.finalize(passed).await.unwrap();
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
}

#[tokio::test]
async fn a_failed_post_traffic_hook_rolls_back_from_the_canary() {
    let w = World::new();
    let mut req = request_with_hooks(json!({"postTraffic": SMOKE}));
    req["strategy"] = json!({"kind": "blue-green", "bakeSeconds": 60});
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let failed = check(
        &w,
        HookKind::PostTraffic,
        cursor,
        json!({"Payload": "OK", "StatusCode": 200}),
    )
    .await;
    assert_eq!(failed.hook_passed, Some(false));
    w.rollback(failed).await.unwrap();
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    assert_eq!(
        d.outcome.unwrap().reason,
        format!(
            "post-traffic hook {SMOKE} failed: it answered \"OK\", not a JSON object with \
             \"status\": \"Succeeded\""
        )
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn a_check_after_a_takeover_is_fenced_and_records_nothing() {
    let w = World::new();
    let cursor = w
        .validate(request_with_hooks(json!({"preTraffic": SMOKE})))
        .await
        .unwrap();
    take_over(&w.store);
    let result = check_hook(
        &w.store,
        &w.clock,
        HookCheckRequest {
            hook: HookKind::PreTraffic,
            cursor,
            result: json!({"Payload": {"status": "Succeeded"}}),
        },
    )
    .await;
    assert_eq!(error_names(result).0, ErrorName::Fenced);
    assert!(hook_lines(&w).is_empty());
}
