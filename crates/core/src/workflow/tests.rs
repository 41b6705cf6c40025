use serde_json::{Value, json};

use super::*;
use crate::analysis::DecisionAction;
use crate::deployment::{Controller, EventKind, Status};
use crate::fakes::*;
use crate::metrics::MetricRef;
use crate::plan::WeightPair;
use crate::ports::{
    AlarmState, Clock, Deployments, RecordSet, RouterError, ServiceConfigs, StorageFailure,
    TriggerLedger,
};
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

fn error_names(result: Result<Cursor, WorkflowError>) -> (ErrorName, String) {
    let error = result.unwrap_err();
    (error.error_name(), error.to_string())
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
    assert_eq!(name, ErrorName::Invalid);
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
    assert_eq!(name, ErrorName::Invalid);
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
    assert_eq!(name, ErrorName::Conflict);
    assert!(
        message.contains("already has a deployment in progress: first"),
        "{message}"
    );
    assert_eq!(w.store.deployments().len(), 1);
}

#[tokio::test]
async fn a_second_deployment_is_a_conflict_even_once_the_first_moved_traffic() {
    let w = World::new();
    let cursor = w.validate_named(request(), "first").await.unwrap();
    w.shift(cursor).await.unwrap();
    let (name, message) = error_names(w.validate_named(request(), "second").await);
    assert_eq!(name, ErrorName::Conflict, "{message}");
    assert!(
        message.contains("already has a deployment in progress: first"),
        "{message}"
    );
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
    assert_eq!(name, ErrorName::Invalid);
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
    assert_eq!(name, ErrorName::Fenced);
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
    assert_eq!(name, ErrorName::Fenced);
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
    assert_eq!(name, ErrorName::Retryable);
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
    assert_eq!(name, ErrorName::SyncTimeout);
    assert!(message.contains("not in sync after 3 polls"), "{message}");
}

// --- analyze --------------------------------------------------------------------------------

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
    assert_eq!(cursor.decision, Some(DecisionAction::Extend));
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
    assert_eq!(cursor.decision, Some(DecisionAction::RollBack));
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
    for expected in [
        DecisionAction::Advance,
        DecisionAction::Advance,
        DecisionAction::Promote,
    ] {
        cursor = w.run_step(cursor, 10, 0).await;
        assert_eq!(cursor.decision, Some(expected));
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

// --- await-approval -------------------------------------------------------------------------

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

// --- emergency rollback ---------------------------------------------------------------------

fn alarm(state: &str, at: chrono::DateTime<chrono::Utc>) -> AlarmNotification {
    serde_json::from_value(json!({
        "AlarmName": "checkout-api-5xx",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).",
        "StateChangeTime": at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
    }))
    .unwrap()
}

impl World {
    async fn alarm(
        &self,
        orchestrator: &MemoryOrchestrator,
        notification: &AlarmNotification,
    ) -> Vec<TakeoverOutcome> {
        let takeover = Takeover {
            store: &self.store,
            router: &self.router,
            orchestrator,
            notifier: &self.notifier,
            clock: &self.clock,
        };
        takeover.on_alarm(notification).await.unwrap()
    }

    /// A deployment started through the orchestrator, so it has an execution to stop.
    async fn started(&self, orchestrator: &MemoryOrchestrator) -> Cursor {
        let started = orchestrator
            .start_execution("exec-1", &request())
            .await
            .unwrap();
        validate_deployment(
            &self.store,
            &self.router,
            &self.alarms,
            &self.notifier,
            &self.clock,
            ValidateRequest {
                request: request(),
                execution_name: "exec-1".into(),
                execution_arn: Some(started.arn),
            },
        )
        .await
        .unwrap()
    }
}

use crate::ports::{ExecutionStatus, Orchestrator};

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
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_BLUE);
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
    let key = crate::ports::DeploymentKey::of(&w.store.only_deployment());
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
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_BLUE);
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
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_BLUE);
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

// --- release trigger ------------------------------------------------------------------------

fn release_event(
    id: &str,
    source: crate::release::TriggerSource,
    tag: &str,
) -> crate::release::ReleaseEvent {
    crate::release::ReleaseEvent {
        source,
        event_id: id.into(),
        repository: "acme/checkout-api".into(),
        tag: tag.into(),
    }
}

async fn registered(w: &World) {
    let mut defaults = request();
    defaults.as_object_mut().unwrap().remove("version");
    defaults["release"] =
        json!({"repositories": ["checkout-api"], "tagPattern": "^v[0-9]+\\.[0-9]+\\.[0-9]+$"});
    w.store
        .put_service_config("checkout-api", &defaults)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_release_tag_starts_one_deployment_named_after_service_and_version() {
    let w = World::new();
    registered(&w).await;
    let orchestrator = MemoryOrchestrator::new();
    let event = release_event("e-1", crate::release::TriggerSource::Codecommit, "v2.4.0");
    let outcomes = trigger_release(&w.store, &orchestrator, &w.clock, event.clone())
        .await
        .unwrap();
    let name = crate::release::execution_name("checkout-api", "v2.4.0");
    assert_eq!(
        outcomes,
        vec![TriggerOutcome::Started {
            service: "checkout-api".into(),
            version: "v2.4.0".into(),
            execution_name: name.clone(),
            execution_arn: MemoryOrchestrator::arn_of(&name),
        }]
    );
    let executions = orchestrator.executions();
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0].1,
        json!({"service": "checkout-api", "version": "v2.4.0"})
    );
    // The same delivery twenty times, and the same tag through ECR: still one execution.
    for _ in 0..20 {
        let again = trigger_release(&w.store, &orchestrator, &w.clock, event.clone())
            .await
            .unwrap();
        assert!(
            matches!(&again[0], TriggerOutcome::AlreadyStarted { execution_name, .. } if execution_name == &name)
        );
    }
    let via_ecr = release_event("e-2", crate::release::TriggerSource::Ecr, "v2.4.0");
    let again = trigger_release(&w.store, &orchestrator, &w.clock, via_ecr)
        .await
        .unwrap();
    assert!(matches!(&again[0], TriggerOutcome::AlreadyStarted { .. }));
    assert_eq!(orchestrator.executions().len(), 1);
}

#[tokio::test]
async fn tags_that_are_not_releases_and_unknown_repositories_start_nothing() {
    let w = World::new();
    registered(&w).await;
    let orchestrator = MemoryOrchestrator::new();
    let outcomes = trigger_release(
        &w.store,
        &orchestrator,
        &w.clock,
        release_event("e-1", crate::release::TriggerSource::Github, "nightly"),
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcomes[0], TriggerOutcome::Ignored { reason } if reason.contains("\"nightly\""))
    );
    let mut other = release_event("e-2", crate::release::TriggerSource::Github, "v1.0.0");
    other.repository = "acme/payments".into();
    let outcomes = trigger_release(&w.store, &orchestrator, &w.clock, other)
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], TriggerOutcome::Ignored { reason } if reason.contains("acme/payments"))
    );
    assert!(orchestrator.executions().is_empty());
}

#[tokio::test]
async fn a_delivery_that_failed_before_starting_is_started_by_the_redelivery() {
    let w = World::new();
    registered(&w).await;
    let orchestrator = MemoryOrchestrator::new();
    let event = release_event("e-1", crate::release::TriggerSource::Ecr, "v3.0.0");
    // The key was claimed, then the start failed (no ARN recorded).
    let name = crate::release::execution_name("checkout-api", "v3.0.0");
    let record = crate::ports::TriggerRecord {
        execution_name: name.clone(),
        execution_arn: None,
        seen_at: w.clock.now(),
    };
    w.store
        .claim_trigger(
            &format!("{}#checkout-api", event.trigger_key()),
            &record,
            w.clock.now(),
        )
        .await
        .unwrap();
    let outcomes = trigger_release(&w.store, &orchestrator, &w.clock, event)
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], TriggerOutcome::Started { execution_arn, .. } if execution_arn == &MemoryOrchestrator::arn_of(&name))
    );
    assert_eq!(orchestrator.executions().len(), 1);
}

// --- operators ------------------------------------------------------------------------------

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

fn key_of(w: &World) -> crate::ports::DeploymentKey {
    crate::ports::DeploymentKey::of(&w.store.only_deployment())
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
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_GREEN);
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
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_GREEN);
    let d = w.store.only_deployment();
    assert_eq!(d.status, Status::Promoted);
    assert!(d.outcome.unwrap().reason.contains("promoted by ana"));
    assert!(w.store.lock_of("checkout-api").is_none());
    assert_eq!(orchestrator.executions()[0].2, ExecutionStatus::Aborted);
}
