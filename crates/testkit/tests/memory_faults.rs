//! The in-memory fakes' faults behave as Route 53, DynamoDB and Step Functions do: a failed call
//! changes nothing, a lost answer changed it, a late Route 53 change lands after a later one
//! (but before that later one is in sync), a task token is answered once, and an interleaved
//! call yields before it acts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::task::{Context, Poll, Waker};

use serde_json::json;
use sluice_core::plan::WeightPair;
use sluice_core::ports::*;
use sluice_core::spec::DeploymentSpec;
use sluice_testkit::memory::{Fault, Faults, MemoryOrchestrator, MemoryRouter, MemoryStore};

fn records() -> RecordSet {
    let spec = DeploymentSpec::from_json(&json!({
        "service": "api", "version": "v1", "hostedZoneId": "Z1",
        "recordName": "api.example.com.", "ttlSeconds": 5,
        "slots": {"blue": {"target": "blue.example.net"}, "green": {"target": "green.example.net"}},
    }))
    .unwrap();
    RecordSet::with_roles(&spec, &spec.slot_roles().unwrap())
}

fn router(faults: &Faults) -> MemoryRouter {
    let router = MemoryRouter::with_faults(faults);
    router.add_zone("Z1", "example.com.");
    router.add_records(&records(), WeightPair::ALL_STABLE);
    router
}

#[tokio::test]
async fn a_failed_or_busy_change_changes_nothing_and_a_lost_one_did() {
    let faults = Faults::new();
    let router = router(&faults);
    let half = WeightPair::for_percent(50.0);

    faults.fail_call(1, Fault::Busy);
    let busy = router.set_weights(&records(), half).await.unwrap_err();
    assert!(busy.is_retryable());
    assert!(
        busy.to_string().contains("PriorRequestNotComplete"),
        "{busy}"
    );
    faults.fail_call(1, Fault::Fail);
    assert!(router.set_weights(&records(), half).await.is_err());
    assert_eq!(router.weights(&records()), WeightPair::ALL_STABLE);

    faults.fail_call(1, Fault::Lost);
    assert!(router.set_weights(&records(), half).await.is_err());
    assert_eq!(router.weights(&records()), half);
    assert_eq!(faults.met().len(), 3);
}

#[tokio::test]
async fn a_late_change_lands_after_a_later_one_and_before_that_one_is_in_sync() {
    let faults = Faults::new();
    let router = router(&faults);
    faults.fail_call(1, Fault::Late);
    let late = router
        .set_weights(&records(), WeightPair::for_percent(10.0))
        .await
        .unwrap();
    assert_eq!(router.weights(&records()), WeightPair::ALL_STABLE);
    assert_eq!(
        router.change_status(&late).await.unwrap(),
        ChangeStatus::Pending
    );

    let later = router
        .set_weights(&records(), WeightPair::ALL_STABLE)
        .await
        .unwrap();
    assert_eq!(router.late_count(), 1);
    // Asking about the later change lands the earlier one first: it overwrites the later write.
    assert_eq!(
        router.change_status(&later).await.unwrap(),
        ChangeStatus::Pending
    );
    assert_eq!(router.weights(&records()), WeightPair::for_percent(10.0));
    assert_eq!(
        router.change_status(&later).await.unwrap(),
        ChangeStatus::InSync
    );
    assert!(!router.land_late());
}

#[tokio::test]
async fn land_late_applies_the_oldest_accepted_change() {
    let faults = Faults::new();
    let router = router(&faults);
    faults.fail_call(1, Fault::Late);
    router
        .set_weights(&records(), WeightPair::ALL_CANARY)
        .await
        .unwrap();
    router
        .set_weights(&records(), WeightPair::ALL_STABLE)
        .await
        .unwrap();
    assert!(router.land_late());
    assert_eq!(router.weights(&records()), WeightPair::ALL_CANARY);
    assert_eq!(
        router.applied(),
        vec![
            WeightPair::ALL_STABLE,
            WeightPair::ALL_STABLE,
            WeightPair::ALL_CANARY
        ]
    );
}

#[tokio::test]
async fn a_store_write_fails_before_acting_or_loses_its_answer_after() {
    let faults = Faults::new();
    let store = MemoryStore::with_faults(&faults);
    let config = json!({"ttlSeconds": 5});
    faults.fail_call(1, Fault::Fail);
    assert!(store.put_service_config("api", &config).await.is_err());
    assert_eq!(store.service_config("api").await.unwrap(), None);
    faults.fail_call(1, Fault::Lost);
    assert!(store.put_service_config("api", &config).await.is_err());
    assert_eq!(store.service_config("api").await.unwrap(), Some(config));
    faults.fail_call(1, Fault::Lost);
    assert!(store.service_config("api").await.is_err());
}

#[tokio::test]
async fn a_task_token_is_answered_once() {
    let orchestrator = MemoryOrchestrator::new();
    orchestrator
        .send_task_success("t1", &json!({}))
        .await
        .unwrap();
    let again = orchestrator.send_task_failure("t1", "E", "c").await;
    assert!(matches!(
        again,
        Err(OrchestratorError::TaskTokenInvalid { .. })
    ));
    assert_eq!(orchestrator.task_answers().len(), 1);
}

#[test]
fn an_interleaved_call_yields_once_before_it_acts() {
    let faults = Faults::new();
    faults.interleave();
    let store = MemoryStore::with_faults(&faults);
    let config = json!({"ttlSeconds": 5});
    let mut write = std::pin::pin!(store.put_service_config("api", &config));
    let mut context = Context::from_waker(Waker::noop());
    assert!(write.as_mut().poll(&mut context).is_pending());
    assert_eq!(faults.calls(), 0);
    assert!(matches!(
        write.as_mut().poll(&mut context),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(faults.calls(), 1);
    assert_eq!(faults.last_operation(), Some("PutItem CONFIG"));
}
