//! The emergency rollback: an alarm takes the deployment from the state machine.

// The helpers here are test code too, outside #[test] functions.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn alarm(state: &str, at: chrono::DateTime<chrono::Utc>) -> AlarmNotification {
    serde_json::from_value(json!({
        "AlarmName": "checkout-api-5xx",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).",
        "StateChangeTime": at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
    }))
    .unwrap()
}

#[tokio::test]
async fn an_alarm_takes_the_deployment_returns_blue_stops_the_execution_and_fences_later_steps() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let cursor = w.started(&orchestrator).await;
    let cursor = w.shift(cursor).await.unwrap();
    let cursor = w.sync(cursor).await.unwrap();
    let fired_at = w.clock.now();
    w.clock.advance(2);
    let outcomes = w.alarm(&orchestrator, &alarm("ALARM", fired_at)).await;
    assert_eq!(
        outcomes,
        vec![TakeoverOutcome::RolledBack {
            deployment: "exec-1".into(),
            to_traffic_ms: Some(2000)
        }]
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::RolledBack);
    assert_eq!(
        d.controller,
        Controller::Alarm {
            alarm: "checkout-api-5xx".into()
        }
    );
    assert!(
        d.outcome
            .unwrap()
            .reason
            .starts_with("alarm checkout-api-5xx went to ALARM: Threshold Crossed")
    );
    assert!(w.store.lock_of("checkout-api").is_none());
    assert_eq!(orchestrator.executions()[0].2, ExecutionStatus::Aborted);
    assert!(
        orchestrator
            .stop_cause("exec-1")
            .unwrap()
            .contains("alarm checkout-api-5xx")
    );
    let rolled_back = w
        .store
        .events(&d.id)
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::RolledBack {
                alarm_to_traffic_ms,
                ..
            } => Some(alarm_to_traffic_ms),
            _ => None,
        });
    assert_eq!(rolled_back, Some(Some(2000)));
    // The state machine's next step refuses and changes nothing.
    let changes = w.router.changes().len();
    w.clock.set(cursor.analyze_at.unwrap());
    assert_eq!(
        error_names(w.analyze(cursor.clone()).await).0,
        ErrorName::Fenced
    );
    assert_eq!(error_names(w.shift(cursor).await).0, ErrorName::Fenced);
    assert_eq!(w.router.changes().len(), changes);
}

#[tokio::test]
async fn ok_and_insufficient_data_are_ignored() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let cursor = w.shift(w.started(&orchestrator).await).await.unwrap();
    for state in ["OK", "INSUFFICIENT_DATA"] {
        let outcomes = w.alarm(&orchestrator, &alarm(state, w.clock.now())).await;
        assert!(matches!(&outcomes[0], TakeoverOutcome::Ignored { state: s, .. } if s == state));
    }
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(10.0));
    assert_eq!(w.store.only_deployment().status, Status::Shifting);
    assert!(w.shift(cursor).await.is_ok());
}

#[tokio::test]
async fn an_alarm_without_an_active_deployment_does_nothing() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let outcomes = w.alarm(&orchestrator, &alarm("ALARM", w.clock.now())).await;
    assert_eq!(
        outcomes,
        vec![TakeoverOutcome::NothingActive {
            alarm: "checkout-api-5xx".into()
        }]
    );
    assert!(w.router.changes().is_empty());
}

#[tokio::test]
async fn repeated_deliveries_end_in_one_rollback() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.shift(w.started(&orchestrator).await).await.unwrap();
    let notification = alarm("ALARM", w.clock.now());
    let first = w.alarm(&orchestrator, &notification).await;
    assert!(matches!(first[0], TakeoverOutcome::RolledBack { .. }));
    // The lock is gone, so a redelivery finds nothing active; asked by key, it says so too.
    for _ in 0..3 {
        assert!(matches!(
            w.alarm(&orchestrator, &notification).await[0],
            TakeoverOutcome::NothingActive { .. }
        ));
    }
    let key = sluice_core::ports::DeploymentKey::of(&w.store.only_deployment());
    let takeover = Takeover {
        store: &w.store,
        router: &w.router,
        orchestrator: &orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    };
    let again = takeover
        .take_over(
            &key,
            Controller::Alarm {
                alarm: "other".into(),
            },
            "again",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        TakeoverOutcome::AlreadyRolledBack {
            deployment: "exec-1".into()
        }
    );
    let d = w.store.only_deployment();
    let rollbacks = w
        .store
        .events(&d.id)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::RolledBack { .. }))
        .count();
    assert_eq!(rollbacks, 1);
}

#[tokio::test]
async fn a_takeover_interrupted_after_the_fence_is_finished_by_the_next_delivery() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.shift(w.started(&orchestrator).await).await.unwrap();
    let notification = alarm("ALARM", w.clock.now());
    w.router.fail_next(RouterError::Throttled {
        operation: "ChangeResourceRecordSets",
        zone: ZONE.into(),
        message: "Rate exceeded".into(),
    });
    let takeover = Takeover {
        store: &w.store,
        router: &w.router,
        orchestrator: &orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    };
    assert!(takeover.on_alarm(&notification).await.is_err());
    let d = w.store.only_deployment();
    assert_eq!(
        (d.status, d.controller.clone()),
        (
            Status::RollingBack,
            Controller::Alarm {
                alarm: "checkout-api-5xx".into()
            }
        )
    );
    // The lock is still held, so the redelivery finds the deployment and completes the job.
    let outcomes = takeover.on_alarm(&notification).await.unwrap();
    assert!(matches!(outcomes[0], TakeoverOutcome::RolledBack { .. }));
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    assert_eq!(w.store.only_deployment().status, Status::RolledBack);
}

#[tokio::test]
async fn a_takeover_racing_a_state_machine_write_retries_on_the_new_revision() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.shift(w.started(&orchestrator).await).await.unwrap();
    // Just before the takeover's write lands, the state machine writes (revision moves on).
    let store = w.store.clone();
    w.store.before_next_save(Box::new(move || {
        let mut d = store.only_deployment();
        d.revision += 1;
        store.replace(d);
    }));
    let outcomes = w.alarm(&orchestrator, &alarm("ALARM", w.clock.now())).await;
    assert!(
        matches!(outcomes[0], TakeoverOutcome::RolledBack { .. }),
        "{outcomes:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn a_takeover_fails_the_approval_the_state_machine_waits_on() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.started(&orchestrator).await;
    let mut d = w.store.only_deployment();
    d.task_token = Some("token-9".into());
    w.store.replace(d);
    w.alarm(&orchestrator, &alarm("ALARM", w.clock.now())).await;
    let answers = orchestrator.task_answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].0, "token-9");
    assert!(matches!(&answers[0].1, Err((error, _)) if error == ErrorName::Aborted.as_str()));
}

#[test]
fn cloudwatch_state_change_times_parse_with_and_without_an_offset_colon() {
    let parse = |t: &str| {
        serde_json::from_value::<AlarmNotification>(
            json!({"AlarmName": "a", "NewStateValue": "ALARM", "StateChangeTime": t}),
        )
        .map(|a| a.state_change_time)
    };
    let expected = chrono::DateTime::parse_from_rfc3339("2026-11-25T23:40:17.302Z").unwrap();
    assert_eq!(parse("2026-11-25T23:40:17.302+0000").unwrap(), expected);
    assert_eq!(parse("2026-11-25T23:40:17.302Z").unwrap(), expected);
    assert!(
        parse("yesterday")
            .unwrap_err()
            .to_string()
            .contains("StateChangeTime")
    );
}

#[tokio::test]
async fn a_slot_alarm_pulls_the_brake_only_while_its_slot_is_the_canary() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    let mut req = request();
    req["slots"]["blue"]["alarms"] = json!(["checkout-api-blue-5xx"]);
    req["slots"]["green"]["alarms"] = json!(["checkout-api-green-5xx"]);
    w.alarms.set("checkout-api-blue-5xx", AlarmState::Ok);
    w.alarms.set("checkout-api-green-5xx", AlarmState::Ok);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.shift(cursor).await.unwrap();
    w.sync(cursor).await.unwrap();
    let fired = |name: &str| -> AlarmNotification {
        serde_json::from_value(json!({
            "AlarmName": name,
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed",
            "StateChangeTime": w.clock.now().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        }))
        .unwrap()
    };
    // Blue is stable here: its alarm is not this deployment's brake.
    let outcomes = w
        .alarm(&orchestrator, &fired("checkout-api-blue-5xx"))
        .await;
    assert!(
        !outcomes
            .iter()
            .any(|o| matches!(o, TakeoverOutcome::RolledBack { .. })),
        "{outcomes:?}"
    );
    assert_eq!(w.store.only_deployment().status, Status::Baking);
    // Green is the canary: its alarm rolls back.
    let outcomes = w
        .alarm(&orchestrator, &fired("checkout-api-green-5xx"))
        .await;
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, TakeoverOutcome::RolledBack { .. })),
        "{outcomes:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    assert_eq!(w.store.only_deployment().status, Status::RolledBack);
}

fn throttled() -> RouterError {
    RouterError::Throttled {
        operation: "ChangeResourceRecordSets",
        zone: ZONE.into(),
        message: "PriorRequestNotComplete".into(),
    }
}

fn takeover_of<'a>(
    w: &'a World,
    orchestrator: &'a MemoryOrchestrator,
) -> Takeover<'a, MemoryStore, MemoryRouter, MemoryOrchestrator, MemoryNotifier, ManualClock> {
    Takeover {
        store: &w.store,
        router: &w.router,
        orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    }
}

fn key_of(w: &World) -> sluice_core::ports::DeploymentKey {
    sluice_core::ports::DeploymentKey::of(&w.store.only_deployment())
}

/// A started, shifted deployment whose alarm takeover fenced but whose Route 53 write failed:
/// the alarm is its controller, mid-rollback.
async fn mid_alarm_rollback(w: &World, orchestrator: &MemoryOrchestrator) {
    w.shift(w.started(orchestrator).await).await.unwrap();
    w.router.fail_next(throttled());
    assert!(
        takeover_of(w, orchestrator)
            .on_alarm(&alarm("ALARM", w.clock.now()))
            .await
            .is_err()
    );
    assert_eq!(w.store.only_deployment().status, Status::RollingBack);
}

/// A started, shifted deployment whose forced promotion fenced but whose Route 53 write failed.
async fn mid_forced_promotion(w: &World, orchestrator: &MemoryOrchestrator) {
    w.shift(w.started(orchestrator).await).await.unwrap();
    w.router.fail_next(throttled());
    assert!(
        takeover_of(w, orchestrator)
            .promote_now(&key_of(w), "ana")
            .await
            .is_err()
    );
    let d = w.store.only_deployment();
    assert_eq!(d.controller, Controller::Operator { who: "ana".into() });
}

#[tokio::test]
async fn a_forced_promotion_during_an_alarms_rollback_is_refused_before_any_route53_write() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    mid_alarm_rollback(&w, &orchestrator).await;
    let changes = w.router.changes();
    let error = takeover_of(&w, &orchestrator)
        .promote_now(&key_of(&w), "ana")
        .await
        .unwrap_err();
    assert_eq!(error.error_name(), ErrorName::Conflict);
    let message = error.to_string();
    for named in ["exec-1", "alarm checkout-api-5xx", "operator ana"] {
        assert!(message.contains(named), "{named} in {message}");
    }
    assert_eq!(w.router.changes(), changes, "nothing written to Route 53");
    let d = w.store.only_deployment();
    assert_eq!(
        (d.status, d.controller.clone()),
        (
            Status::RollingBack,
            Controller::Alarm {
                alarm: "checkout-api-5xx".into()
            }
        )
    );
    // The alarm's redelivery finishes its rollback.
    let outcomes = w.alarm(&orchestrator, &alarm("ALARM", w.clock.now())).await;
    assert!(
        matches!(outcomes[0], TakeoverOutcome::RolledBack { .. }),
        "{outcomes:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    assert!(w.store.lock_of("checkout-api").is_none());
}

#[tokio::test]
async fn an_alarm_during_a_forced_promotion_is_refused_and_the_promotion_finishes() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    mid_forced_promotion(&w, &orchestrator).await;
    let changes = w.router.changes();
    let outcomes = w.alarm(&orchestrator, &alarm("ALARM", w.clock.now())).await;
    let [TakeoverOutcome::Refused { deployment, reason }] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    assert_eq!(deployment, "exec-1");
    for named in ["alarm checkout-api-5xx", "operator ana", "forced promotion"] {
        assert!(reason.contains(named), "{named} in {reason}");
    }
    assert_eq!(w.router.changes(), changes, "nothing written to Route 53");
    // The operator's retry finishes the promotion; the lock was kept until then.
    assert!(w.store.lock_of("checkout-api").is_some());
    let outcome = takeover_of(&w, &orchestrator)
        .promote_now(&key_of(&w), "ana")
        .await
        .unwrap();
    assert!(
        matches!(outcome, TakeoverOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
    assert!(w.store.lock_of("checkout-api").is_none());
}

#[tokio::test]
async fn an_abort_during_a_forced_promotion_is_refused_with_both_controllers_named() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    mid_forced_promotion(&w, &orchestrator).await;
    let changes = w.router.changes();
    let error = takeover_of(&w, &orchestrator)
        .take_over(
            &key_of(&w),
            Controller::Operator { who: "bo".into() },
            "aborted by bo",
            None,
        )
        .await
        .unwrap_err();
    let message = error.to_string();
    for named in ["exec-1", "operator ana", "operator bo"] {
        assert!(message.contains(named), "{named} in {message}");
    }
    assert_eq!(w.router.changes(), changes);
    assert_ne!(w.store.only_deployment().status, Status::RollingBack);
}

#[tokio::test]
async fn a_forced_promotion_during_the_state_machines_rollback_is_refused_before_writing() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.shift(w.started(&orchestrator).await).await.unwrap();
    let mut d = w.store.only_deployment();
    d.status = Status::RollingBack;
    d.revision += 1;
    w.store.replace(d);
    let changes = w.router.changes();
    let error = takeover_of(&w, &orchestrator)
        .promote_now(&key_of(&w), "ana")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("exec-1"), "{error}");
    assert_eq!(w.router.changes(), changes, "nothing written to Route 53");
    let d = w.store.only_deployment();
    assert_eq!(
        (d.status, d.controller),
        (Status::RollingBack, Controller::StateMachine)
    );
}

#[tokio::test]
async fn two_alarms_converge_to_one_rollback() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    mid_alarm_rollback(&w, &orchestrator).await;
    let outcome = takeover_of(&w, &orchestrator)
        .take_over(
            &key_of(&w),
            Controller::Alarm {
                alarm: "checkout-api-latency".into(),
            },
            "alarm checkout-api-latency went to ALARM",
            None,
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, TakeoverOutcome::RolledBack { .. }),
        "{outcome:?}"
    );
    let again = w.alarm(&orchestrator, &alarm("ALARM", w.clock.now())).await;
    assert!(
        matches!(again[0], TakeoverOutcome::NothingActive { .. }),
        "{again:?}"
    );
    let d = w.store.only_deployment();
    let rollbacks = w
        .store
        .events(&d.id)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::RolledBack { .. }))
        .count();
    assert_eq!(rollbacks, 1);
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn the_emergency_path_re_asserts_stable_when_a_late_write_lands_after_its_own() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.shift(w.started(&orchestrator).await).await.unwrap();
    // A state-machine write in flight before the fence lands just after the takeover's.
    let router = w.router.clone();
    w.router.after_next_set(Box::new(move || {
        router.add_records(&records(), WeightPair::for_percent(10.0));
    }));
    let outcomes = w.alarm(&orchestrator, &alarm("ALARM", w.clock.now())).await;
    assert!(
        matches!(outcomes[0], TakeoverOutcome::RolledBack { .. }),
        "{outcomes:?}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    assert_eq!(w.store.only_deployment().status, Status::RolledBack);
}

#[tokio::test]
async fn a_forced_promotion_re_asserts_the_canary_when_a_late_write_lands_after_its_own() {
    let w = World::new();
    let orchestrator = MemoryOrchestrator::new();
    w.shift(w.started(&orchestrator).await).await.unwrap();
    let router = w.router.clone();
    w.router.after_next_set(Box::new(move || {
        router.add_records(&records(), WeightPair::for_percent(10.0));
    }));
    takeover_of(&w, &orchestrator)
        .promote_now(&key_of(&w), "ana")
        .await
        .unwrap();
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
    assert_eq!(w.store.only_deployment().status, Status::Promoted);
}
