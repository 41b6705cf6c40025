//! Operator requests: pause, resume, promote, approve and abort.

// The helpers here are test code too, outside #[test] functions.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

impl World {
    /// Stores the token the state machine would wait on after an await-approval decision.
    async fn waiting(&self, cursor: &Cursor) {
        let ask = ApprovalRequest {
            cursor: cursor.clone(),
            task_token: "token-1".into(),
        };
        await_approval(&self.store, &self.notifier, &self.clock, ask)
            .await
            .unwrap();
    }
}

fn key_of(w: &World) -> sluice_core::ports::DeploymentKey {
    sluice_core::ports::DeploymentKey::of(&w.store.only_deployment())
}

#[tokio::test]
async fn a_pause_holds_the_next_step_boundary_until_resumed() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let cursor = w.validate(request()).await.unwrap();
    assert_eq!(
        request_pause(&w.store, &w.clock, &key_of(&w), "ana")
            .await
            .unwrap(),
        OperatorOutcome::Requested
    );
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::AwaitApproval));
    assert!(cursor.reason.as_deref().unwrap().contains("paused by ana"));
    w.waiting(&cursor).await;
    assert_eq!(
        w.router.weights(&records()),
        WeightPair::for_percent(10.0),
        "held at the step"
    );
    let resumed = approve(
        &w.store,
        &orchestrator,
        &w.notifier,
        &w.clock,
        &key_of(&w),
        "ana",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        resumed,
        OperatorOutcome::Resumed {
            decision: "advance".into()
        }
    );
    let answers = orchestrator.task_answers();
    let Ok(output) = &answers[0].1 else {
        panic!("{answers:?}")
    };
    let next: Cursor = serde_json::from_value(output.clone()).unwrap();
    assert_eq!(
        (next.decision, next.step, next.percent),
        (Some(DecisionAction::Advance), 1, 50.0)
    );
    let d = w.store.only_deployment();
    assert_eq!(
        (d.status, d.requests.pause.clone(), d.task_token.clone()),
        (Status::Analyzing, None, None)
    );
    // The state machine carries on from the answer.
    assert!(w.shift(next).await.is_ok());
}

#[tokio::test]
async fn a_resume_before_the_boundary_withdraws_the_pause() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let cursor = w.validate(request()).await.unwrap();
    request_pause(&w.store, &w.clock, &key_of(&w), "ana")
        .await
        .unwrap();
    assert!(matches!(
        request_pause(&w.store, &w.clock, &key_of(&w), "bo")
            .await
            .unwrap(),
        OperatorOutcome::Unchanged(_)
    ));
    approve(
        &w.store,
        &orchestrator,
        &w.notifier,
        &w.clock,
        &key_of(&w),
        "ana",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        w.run_step(cursor, 10, 0).await.decision,
        Some(DecisionAction::Advance)
    );
    assert!(orchestrator.task_answers().is_empty());
}

#[tokio::test]
async fn a_requested_promotion_skips_the_remaining_steps_once_the_step_passes() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    request_promotion(&w.store, &w.clock, &key_of(&w), "ana")
        .await
        .unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::Promote));
    w.finalize(cursor).await.unwrap();
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
}

#[tokio::test]
async fn a_requested_promotion_still_rolls_back_a_failing_step() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    request_promotion(&w.store, &w.clock, &key_of(&w), "ana")
        .await
        .unwrap();
    assert_eq!(
        w.run_step(cursor, 10, 3).await.decision,
        Some(DecisionAction::RollBack)
    );
}

#[tokio::test]
async fn approving_the_promotion_gate_promotes() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let mut req = request();
    req["approval"] = json!("before-promote");
    req["strategy"]["steps"] = json!([50, 100]);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::AwaitApproval));
    // Too early: the state machine has not stored its token yet.
    let early = approve(
        &w.store,
        &orchestrator,
        &w.notifier,
        &w.clock,
        &key_of(&w),
        "ana",
        None,
    )
    .await;
    assert!(
        early
            .unwrap_err()
            .to_string()
            .contains("try again in a moment")
    );
    w.waiting(&cursor).await;
    let outcome = approve(
        &w.store,
        &orchestrator,
        &w.notifier,
        &w.clock,
        &key_of(&w),
        "ana",
        Some("looks good".into()),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        OperatorOutcome::Resumed {
            decision: "promote".into()
        }
    );
    let Ok(output) = &orchestrator.task_answers()[0].1 else {
        panic!()
    };
    let next: Cursor = serde_json::from_value(output.clone()).unwrap();
    w.finalize(next).await.unwrap();
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
    assert!(w.store.events(&w.store.only_deployment().id).iter().any(|e| matches!(&e.kind, EventKind::Approved { by, comment } if by == "ana" && comment.as_deref() == Some("looks good"))));
}

#[tokio::test]
async fn an_operator_abort_is_the_fenced_takeover_and_a_forced_promotion_goes_green() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let cursor = w.shift(w.started(&orchestrator).await).await.unwrap();
    let takeover = Takeover {
        store: &w.store,
        router: &w.router,
        orchestrator: &orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    };
    let outcome = takeover
        .take_over(
            &key_of(&w),
            Controller::Operator { who: "ana".into() },
            "aborted by ana: bad deploy",
            Some(w.clock.now()),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, TakeoverOutcome::RolledBack { .. }));
    let d = w.store.only_deployment();
    assert_eq!(
        (d.status, d.controller.clone()),
        (
            Status::RolledBack,
            Controller::Operator { who: "ana".into() }
        )
    );
    assert_eq!(orchestrator.executions()[0].2, ExecutionStatus::Aborted);
    assert_eq!(error_names(w.sync(cursor).await).0, ErrorName::Fenced);

    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.shift(w.started(&orchestrator).await).await.unwrap();
    let takeover = Takeover {
        store: &w.store,
        router: &w.router,
        orchestrator: &orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    };
    assert!(matches!(
        takeover.promote_now(&key_of(&w), "ana").await.unwrap(),
        TakeoverOutcome::Promoted { .. }
    ));
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::Promoted);
    assert!(d.outcome.unwrap().reason.contains("promoted by ana"));
    assert!(w.store.lock_of("checkout-api").is_none());
    assert_eq!(orchestrator.executions()[0].2, ExecutionStatus::Aborted);
}

/// A two-step deployment held at its promotion gate, the state machine waiting on "token-1".
async fn at_the_promotion_gate(w: &World) -> Cursor {
    let mut req = request();
    req["approval"] = json!("before-promote");
    req["strategy"]["steps"] = json!([50, 100]);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision, Some(DecisionAction::AwaitApproval));
    w.waiting(&cursor).await;
    cursor
}

async fn approve_as(
    w: &World,
    orchestrator: &MemoryOrchestrator,
    who: &str,
) -> Result<OperatorOutcome, WorkflowError> {
    approve(
        &w.store,
        orchestrator,
        &w.notifier,
        &w.clock,
        &key_of(w),
        who,
        None,
    )
    .await
}

fn answered_cursor(orchestrator: &MemoryOrchestrator) -> Cursor {
    let answers = orchestrator.task_answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let Ok(output) = &answers[0].1 else {
        panic!("{answers:?}")
    };
    serde_json::from_value(output.clone()).unwrap()
}

#[tokio::test]
async fn approve_records_before_answering_so_a_failed_record_write_sends_no_answer() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    at_the_promotion_gate(&w).await;
    // Another write lands just before the approval's: its conditional write fails.
    let store = w.store.clone();
    w.store.before_next_save(Box::new(move || {
        let mut d = store.only_deployment();
        d.revision += 1;
        store.replace(d);
    }));
    let error = approve_as(&w, &orchestrator, "ana").await.unwrap_err();
    assert_eq!(error.error_name(), ErrorName::Retryable, "{error}");
    assert!(
        orchestrator.task_answers().is_empty(),
        "the state machine was not told to go on: {:?}",
        orchestrator.task_answers()
    );
    // The retry records and answers; the promotion follows.
    approve_as(&w, &orchestrator, "ana").await.unwrap();
    w.finalize(answered_cursor(&orchestrator)).await.unwrap();
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
}

#[tokio::test]
async fn an_answer_lost_after_the_approval_is_recorded_is_sent_again_by_a_retried_approve() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    at_the_promotion_gate(&w).await;
    orchestrator.fail_next_task_answer(sluice_core::ports::OrchestratorError::Unavailable {
        operation: "SendTaskSuccess",
        what: "token-1".into(),
        message: "503".into(),
    });
    let error = approve_as(&w, &orchestrator, "ana").await.unwrap_err();
    assert_eq!(error.error_name(), ErrorName::Retryable, "{error}");
    let d = w.store.only_deployment();
    let approvals = |w: &World| {
        w.store
            .events(&w.store.only_deployment().id)
            .into_iter()
            .filter(|e| matches!(e.kind, EventKind::Approved { .. }))
            .count()
    };
    assert_eq!(approvals(&w), 1, "the approval is on record");
    // The recorded approval alone lets the state machine's next step promote.
    let decided = d.last_analysis.unwrap().decision;
    assert_eq!(decided.action(), DecisionAction::Promote);
    let outcome = approve_as(&w, &orchestrator, "ana").await.unwrap();
    assert_eq!(
        outcome,
        OperatorOutcome::Resumed {
            decision: "promote".into()
        }
    );
    assert_eq!(approvals(&w), 1, "recorded once");
    let next = answered_cursor(&orchestrator);
    assert_eq!(next.decision, Some(DecisionAction::Promote));
    w.finalize(next).await.unwrap();
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
}

#[tokio::test]
async fn a_retried_approve_whose_answer_already_arrived_changes_nothing() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    at_the_promotion_gate(&w).await;
    orchestrator.fail_next_task_answer(sluice_core::ports::OrchestratorError::Unavailable {
        operation: "SendTaskSuccess",
        what: "token-1".into(),
        message: "timed out".into(),
    });
    assert!(approve_as(&w, &orchestrator, "ana").await.is_err());
    let revision = w.store.only_deployment().revision;
    // The first answer did reach the state machine: the token is spent.
    orchestrator.fail_next_task_answer(sluice_core::ports::OrchestratorError::TaskTokenInvalid {
        message: "Task Timed Out".into(),
    });
    let outcome = approve_as(&w, &orchestrator, "ana").await.unwrap();
    assert!(
        matches!(outcome, OperatorOutcome::Unchanged(_)),
        "{outcome:?}"
    );
    assert_eq!(w.store.only_deployment().revision, revision);
}
