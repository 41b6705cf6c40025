use serde_json::{Value, json};

use super::*;
use crate::deployment::{Controller, EventKind, Status};
use crate::fakes::*;
use crate::metrics::MetricRef;
use crate::plan::WeightPair;
use crate::ports::{AlarmState, Clock, DeploymentStore, RecordSet, RouterError, StoreError};
use crate::spec::DeploymentSpec;

const ZONE: &str = "Z0123456789ABC";

/// Every port in memory, with a zone, blue carrying all traffic, and an OK alarm.
struct World {
    store: MemoryStore,
    router: MemoryRouter,
    metrics: MemoryMetrics,
    alarms: MemoryAlarms,
    notifier: MemoryNotifier,
    clock: ManualClock,
}

fn metric(name: &str, version: &str) -> Value {
    json!({"namespace": "Sluice/Test", "metricName": name, "dimensions": {"Version": version}})
}

fn metric_ref(name: &str, version: &str) -> MetricRef {
    serde_json::from_value(metric(name, version)).unwrap()
}

fn request() -> Value {
    json!({
        "service": "checkout-api",
        "version": "v2.4.0",
        "hostedZoneId": ZONE,
        "recordName": "api.example.com.",
        "ttlSeconds": 5,
        "blue": {"target": "blue.example.net"},
        "green": {"target": "green.example.net"},
        "strategy": {"kind": "canary", "steps": [10, 50, 100], "bakeSeconds": 60},
        "analysis": {
            "metrics": [{
                "name": "error-rate", "unit": "percent", "max": 1.0,
                "query": {"kind": "ratio", "scale": 100,
                          "numerator": metric("Errors", "green"), "denominator": metric("Requests", "green")},
            }],
            "minSamples": 20,
            "periodSeconds": 10,
        },
        "alarms": ["checkout-api-5xx"],
    })
}

fn records() -> RecordSet {
    RecordSet::from_spec(&DeploymentSpec::from_json(&request()).unwrap())
}

impl World {
    fn new() -> World {
        let world = World {
            store: MemoryStore::new(),
            router: MemoryRouter::new(),
            metrics: MemoryMetrics::new(),
            alarms: MemoryAlarms::new(),
            notifier: MemoryNotifier::new(),
            clock: ManualClock::new(),
        };
        world.router.add_zone(ZONE, "example.com.");
        world.router.add_records(&records(), WeightPair::ALL_BLUE);
        world.alarms.set("checkout-api-5xx", AlarmState::Ok);
        world
    }

    async fn validate_named(
        &self,
        request: Value,
        execution: &str,
    ) -> Result<Cursor, WorkflowError> {
        validate_deployment(
            &self.store,
            &self.router,
            &self.alarms,
            &self.notifier,
            &self.clock,
            ValidateRequest {
                request,
                execution_name: execution.into(),
                execution_arn: None,
            },
        )
        .await
    }

    async fn validate(&self, request: Value) -> Result<Cursor, WorkflowError> {
        self.validate_named(request, "exec-1").await
    }

    async fn shift(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        shift_traffic(&self.store, &self.router, &self.clock, cursor).await
    }

    async fn sync(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        check_sync(
            &self.store,
            &self.router,
            &self.clock,
            SyncLimits {
                poll_seconds: 1,
                max_polls: 3,
            },
            cursor,
        )
        .await
    }

    async fn analyze(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        analyze_step(&self.store, &self.metrics, &self.clock, cursor).await
    }

    async fn rollback(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        roll_back(
            &self.store,
            &self.router,
            &self.notifier,
            &self.clock,
            RollbackRequest {
                cursor,
                error: None,
            },
        )
        .await
    }

    async fn finalize(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        finalize(
            &self.store,
            &self.router,
            &self.notifier,
            &self.clock,
            cursor,
        )
        .await
    }

    /// Green traffic over the next `seconds`: `requests` a second with `errors` of them failing.
    fn green_traffic(&self, seconds: i64, requests: usize, errors: usize) {
        let start = self.clock.now();
        for s in 0..seconds {
            let at = start + chrono::Duration::seconds(s);
            self.metrics
                .put(&metric_ref("Requests", "green"), at, 1.0, requests);
            self.metrics
                .put(&metric_ref("Errors", "green"), at, 1.0, errors);
        }
    }

    /// Shift, sync, bake (with the given traffic) and analyze the cursor's step.
    async fn run_step(&self, cursor: Cursor, requests: usize, errors: usize) -> Cursor {
        let cursor = self.shift(cursor).await.unwrap();
        let cursor = self.sync(cursor).await.unwrap();
        assert!(cursor.in_sync);
        let due = cursor.analyze_at.unwrap();
        self.clock.advance(5); // the TTL: the step goes live
        self.green_traffic(60, requests, errors);
        self.clock.set(due);
        self.analyze(cursor).await.unwrap()
    }
}

fn error_names(result: Result<Cursor, WorkflowError>) -> (String, String) {
    let error = result.unwrap_err();
    (error.error_name().to_string(), error.to_string())
}

// --- validate -------------------------------------------------------------------------------

#[tokio::test]
async fn validate_writes_the_record_takes_the_lock_and_returns_the_first_step() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    assert_eq!(
        (cursor.step, cursor.step_count, cursor.percent),
        (0, 3, 10.0)
    );
    let d = w.store.only_deployment();
    assert_eq!(d.id.as_str(), "exec-1");
    assert_eq!(d.status, Status::Shifting);
    assert_eq!(d.revision, 1);
    assert_eq!(d.plan.steps.len(), 3);
    assert_eq!(w.store.lock_of("checkout-api").unwrap().deployment.id, d.id);
    assert_eq!(
        w.store.lock_of("checkout-api").unwrap().alarms,
        vec!["checkout-api-5xx".to_string()]
    );
    let events = w.store.events(&d.id);
    assert_eq!(events.len(), 1);
    assert!(
        matches!(&events[0].kind, EventKind::Started { steps, .. } if steps == &vec![10.0, 50.0, 100.0])
    );
    assert_eq!(w.notifier.sent().len(), 1);
    assert!(
        w.router.changes().is_empty(),
        "validate never touches traffic"
    );
}

#[tokio::test]
async fn validate_run_twice_for_one_execution_creates_one_record() {
    let w = World::new();
    let first = w.validate(request()).await.unwrap();
    w.clock.advance(30);
    let second = w.validate(request()).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(w.store.deployments().len(), 1);
    assert_eq!(w.store.events(&first.deployment.id).len(), 1);
}

#[tokio::test]
async fn bad_requests_name_every_field_and_write_nothing() {
    let w = World::new();
    let mut bad = request();
    bad["service"] = json!("");
    bad["strategy"]["steps"] = json!([10, 5, 100]);
    let (name, message) = error_names(w.validate(bad).await);
    assert_eq!(name, "Sluice.Invalid");
    assert!(message.contains("service: is required"), "{message}");
    assert!(
        message.contains("strategy.steps[1]: steps must increase (5 after 10)"),
        "{message}"
    );
    assert!(w.store.deployments().is_empty());
    assert!(w.store.lock_of("checkout-api").is_none());
}

#[tokio::test]
async fn an_unknown_zone_is_named() {
    let w = World::new();
    let mut bad = request();
    bad["hostedZoneId"] = json!("ZNOPE");
    let (name, message) = error_names(w.validate(bad).await);
    assert_eq!(name, "Sluice.Invalid");
    assert!(
        message.contains("hostedZoneId: hosted zone ZNOPE does not exist"),
        "{message}"
    );
    assert!(w.store.deployments().is_empty());
}

#[tokio::test]
async fn a_record_outside_the_zone_is_named() {
    let w = World::new();
    let mut bad = request();
    bad["recordName"] = json!("api.other.org.");
    let (_, message) = error_names(w.validate(bad).await);
    assert!(
        message.contains("recordName: \"api.other.org.\" must end with the hosted zone's domain"),
        "{message}"
    );
}

#[tokio::test]
async fn missing_records_and_green_already_live_are_refused() {
    let w = World::new();
    w.router.remove_green(&records());
    let (_, message) = error_names(w.validate(request()).await);
    assert!(
        message.contains("recordName: no weighted record with set identifier green"),
        "{message}"
    );

    let w = World::new();
    w.router
        .add_records(&records(), WeightPair::for_percent(25.0));
    let (_, message) = error_names(w.validate(request()).await);
    assert!(
        message.contains("green already receives traffic"),
        "{message}"
    );
    assert!(w.store.deployments().is_empty());
}

#[tokio::test]
async fn alarms_must_exist_and_be_quiet_unless_hotfix() {
    let w = World::new();
    let mut req = request();
    req["alarms"] = json!(["checkout-api-5xx", "no-such-alarm"]);
    let (_, message) = error_names(w.validate(req).await);
    assert!(
        message.contains("alarms[1]: CloudWatch alarm \"no-such-alarm\" does not exist"),
        "{message}"
    );

    w.alarms.set("checkout-api-5xx", AlarmState::Alarm);
    let (_, message) = error_names(w.validate(request()).await);
    assert!(
        message.contains("alarms[0]: CloudWatch alarm \"checkout-api-5xx\" is already in ALARM"),
        "{message}"
    );
    let mut hotfix = request();
    hotfix["hotfix"] = json!(true);
    assert!(w.validate(hotfix).await.is_ok());
}

#[tokio::test]
async fn a_second_deployment_of_the_service_is_a_conflict_naming_the_first() {
    let w = World::new();
    w.validate_named(request(), "first").await.unwrap();
    let (name, message) = error_names(w.validate_named(request(), "second").await);
    assert_eq!(name, "Sluice.Conflict");
    assert!(
        message.contains("already has a deployment in progress: first"),
        "{message}"
    );
    assert_eq!(w.store.deployments().len(), 1);
}

#[tokio::test]
async fn a_request_naming_only_service_and_version_uses_the_stored_defaults() {
    let w = World::new();
    let mut defaults = request();
    defaults.as_object_mut().unwrap().remove("version");
    w.store
        .put_service_config("checkout-api", &defaults)
        .await
        .unwrap();
    let cursor = w
        .validate(
            json!({"service": "checkout-api", "version": "v9", "strategy": {"bakeSeconds": 5}}),
        )
        .await
        .unwrap();
    let d = w.store.get(&cursor.deployment).await.unwrap().unwrap();
    assert_eq!(d.spec.version, "v9");
    assert_eq!(
        d.plan
            .steps
            .iter()
            .map(|s| s.bake_seconds)
            .collect::<Vec<_>>(),
        vec![5, 5, 5]
    );
    assert_eq!(d.spec.alarms, vec!["checkout-api-5xx".to_string()]);
}

#[tokio::test]
async fn a_bad_execution_name_is_invalid_input() {
    let w = World::new();
    let (name, message) = error_names(w.validate_named(request(), "not ok").await);
    assert_eq!(name, "Sluice.Invalid");
    assert!(message.starts_with("executionName:"), "{message}");
}

// --- shift-traffic --------------------------------------------------------------------------

#[tokio::test]
async fn shift_sets_both_weights_in_one_change_and_records_it() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.shift(cursor).await.unwrap();
    assert_eq!(w.router.changes(), vec![WeightPair::for_percent(10.0)]);
    assert_eq!(w.router.weights(&records()), WeightPair::new(9, 1).unwrap());
    assert_eq!(cursor.change_id.as_deref(), Some("C1"));
    let d = w.store.only_deployment();
    let traffic = d.traffic.unwrap();
    assert_eq!((traffic.asked_percent, traffic.green_share), (10.0, 10.0));
    assert_eq!(traffic.change_id, "C1");
    let kinds: Vec<_> = w.store.events(&d.id).into_iter().map(|e| e.kind).collect();
    assert!(
        matches!(&kinds[2], EventKind::TrafficShifted { step: 0, change_id, .. } if change_id == "C1")
    );
    // A retry finds the change already made and makes no second one.
    let again = w.shift(cursor.clone()).await.unwrap();
    assert_eq!(again.change_id, cursor.change_id);
    assert_eq!(w.router.changes().len(), 1);
}

/// An emergency rollback as it lands in the store: takes the record, bumps the revision.
fn take_over(store: &MemoryStore) {
    let mut d = store.only_deployment();
    d.controller = Controller::Alarm {
        alarm: "checkout-api-5xx".into(),
    };
    d.status = Status::RollingBack;
    d.revision += 1;
    store.replace(d);
}

#[tokio::test]
async fn shift_refuses_without_touching_traffic_once_fenced() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    take_over(&w.store);
    let (name, message) = error_names(w.shift(cursor).await);
    assert_eq!(name, "Sluice.Fenced");
    assert!(message.contains("alarm checkout-api-5xx"), "{message}");
    assert!(w.router.changes().is_empty());
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_BLUE);
}

#[tokio::test]
async fn a_takeover_during_the_shift_ends_with_blue_restored() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let store = w.store.clone();
    // The emergency path takes the record while our Route 53 call is in flight.
    w.router
        .before_next_set(Box::new(move || take_over(&store)));
    let (name, _) = error_names(w.shift(cursor).await);
    assert_eq!(name, "Sluice.Fenced");
    assert_eq!(
        w.router.changes(),
        vec![WeightPair::for_percent(10.0), WeightPair::ALL_BLUE]
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_BLUE);
}

#[tokio::test]
async fn throttled_route53_is_retryable() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    w.router.fail_next(RouterError::Throttled {
        operation: "ChangeResourceRecordSets",
        zone: ZONE.into(),
        message: "Rate exceeded".into(),
    });
    let (name, _) = error_names(w.shift(cursor.clone()).await);
    assert_eq!(name, "Sluice.Retryable");
    // The retry completes the step.
    let cursor = w.shift(cursor).await.unwrap();
    assert!(cursor.change_id.is_some());
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(10.0));
}

// --- wait-for-sync --------------------------------------------------------------------------

#[tokio::test]
async fn sync_counts_pending_polls_then_goes_live_a_ttl_later() {
    let w = World::new();
    let cursor = w.shift(w.validate(request()).await.unwrap()).await.unwrap();
    w.router.stay_pending_for(2);
    let cursor = w.sync(cursor).await.unwrap();
    assert_eq!(
        (cursor.in_sync, cursor.sync_polls, cursor.poll_seconds),
        (false, 1, 1)
    );
    let cursor = w.sync(cursor).await.unwrap();
    assert_eq!((cursor.in_sync, cursor.sync_polls), (false, 2));
    let now = w.clock.now();
    let cursor = w.sync(cursor).await.unwrap();
    assert!(cursor.in_sync);
    // Live after the 5 s TTL, analysed after the 60 s bake from then.
    assert_eq!(cursor.analyze_at, Some(now + chrono::Duration::seconds(65)));
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::Baking);
    assert_eq!(
        d.traffic.unwrap().live_at,
        Some(now + chrono::Duration::seconds(5))
    );
}

#[tokio::test]
async fn sync_fails_past_its_bound() {
    let w = World::new();
    let mut cursor = w.shift(w.validate(request()).await.unwrap()).await.unwrap();
    w.router.stay_pending_for(10);
    for _ in 0..3 {
        cursor = w.sync(cursor).await.unwrap();
    }
    let (name, message) = error_names(w.sync(cursor).await);
    assert_eq!(name, "Sluice.SyncTimeout");
    assert!(message.contains("not in sync after 3 polls"), "{message}");
}

// --- analyze --------------------------------------------------------------------------------

#[tokio::test]
async fn a_healthy_step_advances_and_its_analysis_is_stored_with_values() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision.as_deref(), Some("advance"));
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
    assert_eq!(verdict, crate::Verdict::Pass);
    assert_eq!(metrics[0].value, Some(0.0));
    assert_eq!(metrics[0].samples, 600);
    assert_eq!(metrics[0].max, Some(1.0));
}

#[tokio::test]
async fn empty_metric_data_is_inconclusive_not_pass() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 0, 0).await;
    assert_eq!(cursor.decision.as_deref(), Some("extend"));
    assert!(
        cursor
            .reason
            .as_deref()
            .unwrap()
            .contains("no data for green"),
        "{:?}",
        cursor.reason
    );
    assert_eq!(cursor.step, 0);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::Baking);
    assert_eq!(
        d.last_analysis.unwrap().verdict,
        crate::Verdict::Inconclusive
    );
}

#[tokio::test]
async fn too_few_samples_are_inconclusive_not_pass() {
    let w = World::new();
    let mut req = request();
    req["analysis"]["minSamples"] = json!(1000);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision.as_deref(), Some("extend"));
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
    assert_eq!(cursor.decision.as_deref(), Some("roll-back"));
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

// --- rollback and finalize ------------------------------------------------------------------

#[tokio::test]
async fn rollback_returns_all_traffic_to_blue_releases_the_lock_and_is_safe_twice() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let cursor = w.run_step(cursor, 10, 2).await;
    let done = w.rollback(cursor.clone()).await.unwrap();
    assert!(done.reason.unwrap().contains("above max"));
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_BLUE);
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
            .starts_with("rolled back to 100% blue")
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
    assert_eq!(cursor.decision.as_deref(), Some("roll-back"));
    let before = w.clock.now();
    w.rollback(cursor).await.unwrap();
    let changes = w.router.changes();
    assert_eq!(
        &changes[2..],
        &[
            WeightPair::for_percent(25.0),
            WeightPair::for_percent(5.0),
            WeightPair::ALL_BLUE
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
        error: Some(rollback::CaughtError {
            error: "Sluice.SyncTimeout".into(),
            cause: r#"{"errorType":"Sluice.SyncTimeout","errorMessage":"change C1 not in sync"}"#
                .into(),
        }),
    };
    roll_back(&w.store, &w.router, &w.notifier, &w.clock, request)
        .await
        .unwrap();
    let d = w.store.only_deployment();
    assert_eq!(
        d.outcome.unwrap().reason,
        "step failed with Sluice.SyncTimeout: change C1 not in sync"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_BLUE);
}

#[tokio::test]
async fn a_healthy_deployment_promotes_to_all_green_keeping_blue_at_zero() {
    let w = World::new();
    let mut cursor = w.validate(request()).await.unwrap();
    for expected in ["advance", "advance", "promote"] {
        cursor = w.run_step(cursor, 10, 0).await;
        assert_eq!(cursor.decision.as_deref(), Some(expected));
    }
    w.finalize(cursor.clone()).await.unwrap();
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_GREEN);
    assert_eq!(WeightPair::ALL_GREEN.blue(), 0);
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
    assert_eq!(name, "Sluice.Invalid");
    assert!(message.contains("cannot be promoted"), "{message}");
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(10.0));
}

#[tokio::test]
async fn a_store_outage_is_retryable_and_a_notification_outage_is_not_an_error() {
    let w = World::new();
    w.notifier.break_topic();
    let cursor = w.validate(request()).await.unwrap();
    w.store.fail_next(StoreError::Unavailable {
        operation: "GetItem",
        what: "x".into(),
        message: "503".into(),
    });
    let (name, _) = error_names(w.shift(cursor).await);
    assert_eq!(name, "Sluice.Retryable");
}

// --- await-approval -------------------------------------------------------------------------

#[tokio::test]
async fn awaiting_approval_stores_the_task_token_and_tells_the_operators() {
    let w = World::new();
    let mut req = request();
    req["approval"] = json!("before-promote");
    req["strategy"]["steps"] = json!([100]);
    let cursor = w.validate(req).await.unwrap();
    let cursor = w.run_step(cursor, 10, 0).await;
    assert_eq!(cursor.decision.as_deref(), Some("await-approval"));
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
    assert_eq!(error.error_name(), "Sluice.Invalid");
    assert!(w.store.only_deployment().task_token.is_none());
}
