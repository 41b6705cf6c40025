//! The workflow step await-approval: the task token stored and the operators told.

use crate::common::*;

#[tokio::test]
async fn awaiting_approval_stores_the_task_token_and_tells_the_operators() {
    let w = World::new();
    let mut req = request();
    req["approval"] = json!("before-promote");
    req["strategy"]["steps"] = json!([100]);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::AwaitApproval));
    let ask = ApprovalRequest {
        cursor: cursor.clone(),
        task_token: "token-1".into(),
    };
    await_approval(&w.store, &w.notifier, &w.clock, ask.clone())
        .await
        .unwrap();
    let d = w.store.only_deployment();
    assert_eq!(
        (d.status, d.task_token.as_deref()),
        (Status::AwaitingApproval, Some("token-1"))
    );
    assert!(
        w.notifier
            .sent()
            .last()
            .unwrap()
            .message
            .contains("sluice approve exec-1")
    );
    // Retried with the same token: nothing more is written.
    await_approval(&w.store, &w.notifier, &w.clock, ask)
        .await
        .unwrap();
    assert_eq!(w.store.only_deployment().revision, d.revision);
}

#[tokio::test]
async fn awaiting_approval_is_refused_unless_the_analysis_asked_for_it() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let error = await_approval(
        &w.store,
        &w.notifier,
        &w.clock,
        ApprovalRequest {
            cursor,
            task_token: "t".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(error.error_name(), ErrorName::Invalid);
    assert!(w.store.only_deployment().task_token.is_none());
}
