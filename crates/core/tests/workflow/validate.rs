//! The workflow step validate-deployment: the record written, the lock taken, and every refusal named.

use sluice_core::ports::{DeploymentKey, ServiceLocks};

use crate::common::*;

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
async fn the_first_deployment_makes_the_slot_with_all_traffic_stable() {
    let w = World::new();
    w.validate(request()).await.unwrap();
    let d = w.store.only_deployment();
    assert_eq!(d.roles, SlotRoles::new("blue", "green"));
}

#[tokio::test]
async fn after_a_promotion_green_is_stable_and_blue_the_canary() {
    let w = World::new();
    // The previous deployment left green at 100 %: in the stored order's roles that is
    // stable 0 / canary 1.
    w.router.add_records(&records(), WeightPair::ALL_CANARY);
    let cursor = w.validate(request()).await.unwrap();
    let d = w.store.only_deployment();
    assert_eq!(d.roles, SlotRoles::new("green", "blue"));
    // The first shift moves traffic onto blue.
    w.shift(cursor).await.unwrap();
    let weights = w.router.weights(&records().swapped());
    assert_eq!(
        (weights.stable(), weights.canary()),
        (9, 1),
        "green 9 / blue 1"
    );
}

#[tokio::test]
async fn a_missing_record_is_refused_with_what_to_do() {
    let w = World::new();
    w.router.remove_canary(&records());
    let (_, message) = error_names(w.validate(request()).await);
    assert!(
        message.contains("slots.green: no weighted record with set identifier green"),
        "{message}"
    );
    assert!(message.contains("create both slots' records"), "{message}");
    assert!(w.store.deployments().is_empty());
}

#[tokio::test]
async fn both_slots_carrying_traffic_is_refused_naming_both() {
    let w = World::new();
    w.router
        .add_records(&records(), WeightPair::for_percent(25.0));
    let (_, message) = error_names(w.validate(request()).await);
    assert!(
        message.contains("slots blue (weight 3) and green (weight 1) both receive traffic"),
        "{message}"
    );
    assert!(w.store.deployments().is_empty());
    assert!(w.store.lock_of("checkout-api").is_none());
}

#[tokio::test]
async fn a_live_record_pointing_elsewhere_or_with_another_ttl_is_refused() {
    let w = World::new();
    let set = records();
    w.router.put_record(
        &set,
        &set.stable,
        WeightedRecord {
            weight: 1,
            target: "old-blue.example.net".into(),
            ttl_seconds: Some(300),
        },
    );
    let (_, message) = error_names(w.validate(request()).await);
    assert!(
        message.contains(
            "slots.blue.target: is \"blue.example.net\" but the live record blue of api.example.com. CNAME in zone Z0123456789ABC points at \"old-blue.example.net\""
        ),
        "{message}"
    );
    assert!(
        message.contains("ttlSeconds: is 5 but the live record blue of"),
        "{message}"
    );
    assert!(w.store.deployments().is_empty());
    assert!(w.router.changes().is_empty());
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

#[tokio::test]
async fn a_state_item_that_disagrees_with_route_53_is_refused_naming_both() {
    use sluice_core::ports::ServiceStates;
    let w = World::new();
    // The state says green is stable (a promotion of green), but Route 53 has all traffic on
    // blue: someone moved traffic by hand.
    w.store
        .update_service_state("checkout-api", |state| {
            state.stable_slot = Some("green".into());
            true
        })
        .await
        .unwrap();
    let (_, message) = error_names(w.validate(request()).await);
    assert!(
        message.contains("records green as the stable slot")
            && message.contains("the live weights put all traffic on blue"),
        "{message}"
    );
    assert!(w.store.deployments().is_empty());
    assert!(w.store.lock_of("checkout-api").is_none());

    // Once the weights agree (green carries everything), the next deployment goes to blue.
    w.router.add_records(&records(), WeightPair::ALL_CANARY);
    w.validate(request()).await.unwrap();
    assert_eq!(
        w.store.only_deployment().roles,
        SlotRoles::new("green", "blue")
    );
}

/// The request with an alarm on each slot's own metrics besides the service-wide one.
fn with_slot_alarms(w: &World) -> Value {
    let mut req = request();
    req["slots"]["blue"]["alarms"] = json!(["checkout-api-blue-5xx"]);
    req["slots"]["green"]["alarms"] = json!(["checkout-api-green-5xx"]);
    w.alarms.set("checkout-api-blue-5xx", AlarmState::Ok);
    w.alarms.set("checkout-api-green-5xx", AlarmState::Ok);
    req
}

#[tokio::test]
async fn only_the_canary_slots_alarms_arm_the_brake_with_the_service_wide_ones() {
    let w = World::new();
    let req = with_slot_alarms(&w);
    // Blue is stable and already alarming: that does not block a deployment to green.
    w.alarms.set("checkout-api-blue-5xx", AlarmState::Alarm);
    w.validate(req).await.unwrap();
    assert_eq!(
        w.store.lock_of("checkout-api").unwrap().alarms,
        vec![
            "checkout-api-5xx".to_string(),
            "checkout-api-green-5xx".to_string()
        ]
    );

    // After a promotion green is stable: blue's alarm arms the next deployment's brake.
    let w = World::new();
    let req = with_slot_alarms(&w);
    w.router.add_records(&records(), WeightPair::ALL_CANARY);
    w.validate(req).await.unwrap();
    assert_eq!(
        w.store.lock_of("checkout-api").unwrap().alarms,
        vec![
            "checkout-api-5xx".to_string(),
            "checkout-api-blue-5xx".to_string()
        ]
    );
}

#[tokio::test]
async fn a_missing_or_alarming_canary_slot_alarm_is_refused_naming_its_field() {
    let w = World::new();
    let mut req = with_slot_alarms(&w);
    req["slots"]["green"]["alarms"] = json!(["checkout-api-green-nope"]);
    let (_, message) = error_names(w.validate(req).await);
    assert!(
        message.contains(
            "slots.green.alarms[0]: CloudWatch alarm \"checkout-api-green-nope\" does not exist"
        ),
        "{message}"
    );
    let req = with_slot_alarms(&w);
    w.alarms.set("checkout-api-green-5xx", AlarmState::Alarm);
    let (_, message) = error_names(w.validate(req).await);
    assert!(
        message.contains(
            "slots.green.alarms[0]: CloudWatch alarm \"checkout-api-green-5xx\" is already in ALARM"
        ),
        "{message}"
    );
    assert!(w.store.deployments().is_empty());
}

#[tokio::test]
async fn a_rollback_ramp_longer_than_its_bound_is_refused_naming_the_field() {
    let w = World::new();
    let mut req = request();
    req["rollback"] = json!({"steps": [50, 25, 10, 5], "stepSeconds": 10_000});
    let (name, message) = error_names(w.validate(req).await);
    assert_eq!(name, ErrorName::Invalid);
    assert!(message.contains("rollback.stepSeconds"), "{message}");
    assert!(w.store.lock_of("checkout-api").is_none());
}

#[tokio::test]
async fn a_plan_that_could_outlive_the_state_machine_is_refused_naming_the_bake() {
    let w = World::new();
    let mut req = request();
    // Ten steps of a day, each re-judged up to 10 times: more than the execution may run.
    req["strategy"] = json!({
        "kind": "canary",
        "steps": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
        "bakeSeconds": 86_400
    });
    req["analysis"]["onInconclusive"] = json!({"action": "retry", "maxRetries": 10});
    let (name, message) = error_names(w.validate(req).await);
    assert_eq!(name, ErrorName::Invalid);
    assert!(message.contains("strategy.bakeSeconds"), "{message}");
}

#[tokio::test]
async fn validate_leases_the_lock_until_the_first_shift_not_for_the_whole_deployment() {
    let w = World::new();
    w.validate(request()).await.unwrap();
    let lease = w.store.lock_of("checkout-api").unwrap().lease_until;
    // The next step (the first shift) follows at once: the lease covers its retries, no more.
    assert!(
        lease > w.clock.now() + chrono::Duration::minutes(10),
        "{lease}"
    );
    assert!(
        lease <= w.clock.now() + chrono::Duration::hours(1),
        "{lease}"
    );
}

/// A world whose store meets `fault` on Validate's `create` (found by counting the calls of a
/// clean run, so the test follows Validate's reads as they change).
async fn world_whose_create_meets(fault: Fault) -> (World, Faults) {
    const CREATE: &str = "TransactWriteItems create DEPLOY";
    for n in 1..=20 {
        let faults = Faults::new();
        let mut w = World::new();
        w.store = MemoryStore::with_faults(&faults);
        faults.fail_call(n, fault);
        let _ = w.validate(request()).await;
        if faults
            .met()
            .iter()
            .any(|(_, operation, _)| *operation == CREATE)
        {
            let faults = Faults::new();
            let mut w = World::new();
            w.store = MemoryStore::with_faults(&faults);
            faults.fail_call(n, fault);
            return (w, faults);
        }
    }
    panic!("validate never calls {CREATE}");
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_keeps_the_lock_and_the_retry_returns_the_record() {
    let (w, _faults) = world_whose_create_meets(Fault::Lost).await;
    let (name, _) = error_names(w.validate(request()).await);
    assert_eq!(name, ErrorName::Retryable);
    // The record was written: its lock must stay, or another deployment could take the service.
    let written = w.store.only_deployment();
    let lock = w
        .store
        .lock_of("checkout-api")
        .expect("the lock stays held");
    assert_eq!(lock.deployment, DeploymentKey::of(&written));

    w.clock.advance(30);
    let cursor = w.validate(request()).await.unwrap();
    assert_eq!(cursor.deployment, DeploymentKey::of(&written));
    assert_eq!(w.store.deployments().len(), 1);
    assert_eq!(w.store.events(&written.id).len(), 1);
    assert_eq!(
        w.store.lock_of("checkout-api").unwrap().deployment,
        cursor.deployment
    );
}

#[tokio::test]
async fn a_retry_that_meets_its_own_record_under_another_key_returns_that_record() {
    let w = World::new();
    let first = w.validate(request()).await.unwrap();
    // The lock is gone (released by hand, say) while the record stays: the retry takes a
    // new lock with a new start time, and its create answers AlreadyExists.
    w.store
        .release_lock("checkout-api", &first.deployment.id)
        .await
        .unwrap();
    w.clock.advance(30);
    let cursor = w.validate(request()).await.unwrap();
    assert_eq!(cursor.deployment, first.deployment);
    assert!(w.store.get(&cursor.deployment).await.unwrap().is_some());
    assert_eq!(w.store.deployments().len(), 1);
    assert_eq!(
        w.store.lock_of("checkout-api").unwrap().deployment,
        first.deployment,
        "the lock names the record that exists"
    );
}

#[tokio::test]
async fn a_create_that_failed_is_retried_under_the_same_lock() {
    let (w, _faults) = world_whose_create_meets(Fault::Fail).await;
    let (name, _) = error_names(w.validate(request()).await);
    assert_eq!(name, ErrorName::Retryable);
    assert!(w.store.deployments().is_empty());
    // A failure looks the same as a lost answer: the lock stays, for the retry (or, should the
    // execution end here, the reconciler) to settle.
    let lock = w
        .store
        .lock_of("checkout-api")
        .expect("the lock stays held");
    w.clock.advance(30);
    let cursor = w.validate(request()).await.unwrap();
    assert_eq!(cursor.deployment, lock.deployment);
    assert!(w.store.get(&cursor.deployment).await.unwrap().is_some());
}
