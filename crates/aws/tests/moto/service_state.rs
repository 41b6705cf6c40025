//! The service state item on moto: written with a deployment's end in the same transaction,
//! and the release queue's write conditional on the service's lock.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use sluice_aws::DynamoDbStore;
use sluice_core::WeightPair;
use sluice_core::deployment::{Deployment, EventKind, HistoryEvent, Outcome, Status};
use sluice_core::ports::{Deployments, DeploymentsError, QueueWrite, ServiceLocks, ServiceStates};
use sluice_core::service_state::{QueueChange, QueuedRelease};

use crate::dynamodb::{raw_item, store};
use crate::fixtures::{at, created, lock_of, shifted};

fn release(service: &str, version: &str, second: i64) -> QueuedRelease {
    QueuedRelease {
        version: version.into(),
        request: json!({"service": service, "version": version}),
        execution_name: format!("{service}-{version}"),
        source: format!("TRIGGER#codecommit#e-{second}"),
        queued_at: at(second),
    }
}

/// Rolls the deployment back in two saves (rolling back, rolled back), checking that the first
/// writes no state.
async fn rolled_back(store: &DynamoDbStore, d: &mut Deployment, seconds: i64) {
    let started = d
        .transition(
            Status::RollingBack,
            at(seconds),
            EventKind::RollbackStarted {
                reason: "bad".into(),
                controller: sluice_core::Controller::StateMachine,
            },
        )
        .unwrap();
    store.save(d, &started).await.unwrap();
    assert!(store.service_state(&d.service).await.unwrap().is_none());
    d.outcome = Some(Outcome {
        reason: "bad".into(),
        at: at(seconds),
    });
    let done = d
        .transition(
            Status::RolledBack,
            at(seconds),
            EventKind::RolledBack {
                reason: "bad".into(),
                weights: WeightPair::ALL_STABLE,
                change_id: "C9".into(),
                alarm_to_traffic_ms: None,
            },
        )
        .unwrap();
    store.save(d, &done).await.unwrap();
}

/// The promotion's write (from analyzing).
fn promoted(d: &mut Deployment, seconds: i64) -> HistoryEvent {
    d.status = Status::Analyzing;
    d.outcome = Some(Outcome {
        reason: "done".into(),
        at: at(seconds),
    });
    d.transition(
        Status::Promoted,
        at(seconds),
        EventKind::Promoted {
            weights: WeightPair::ALL_CANARY,
            change_id: "C9".into(),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn the_state_is_written_with_the_terminal_save_and_not_before() {
    let (aws, store) = store().await;
    let (mut d, event) = created("checkout", "dep-state");
    store.create(&d, &event).await.unwrap();
    let event = shifted(&mut d, 10);
    store.save(&d, &event).await.unwrap();
    assert!(
        raw_item(&aws, &store, "SERVICE#checkout", "STATE")
            .await
            .is_none(),
        "a first deployment has no state item until it ends"
    );
    let mut stale = d.clone();

    rolled_back(&store, &mut d, 20).await;

    let item = raw_item(&aws, &store, "SERVICE#checkout", "STATE")
        .await
        .expect("the state item, written with the rolled-back record");
    assert_eq!(
        item.get("stableSlot"),
        Some(&AttributeValue::S("blue".into()))
    );
    let state = store.service_state("checkout").await.unwrap().unwrap();
    assert_eq!(state.stable_slot.as_deref(), Some("blue"));
    assert_eq!(
        state.slot_versions.get("green").map(String::as_str),
        Some("v2.4.0")
    );
    let last = state.last_deployment.unwrap();
    assert_eq!(
        (last.id.as_str(), last.status),
        ("dep-state", Status::RolledBack)
    );
    assert_eq!(last.ended_at, at(20));

    // A stale writer's terminal save fails on the record and writes no state.
    let before = store.service_state("checkout").await.unwrap();
    let event = promoted(&mut stale, 30);
    let error = store.save(&stale, &event).await.unwrap_err();
    assert!(
        matches!(error, DeploymentsError::RevisionConflict { .. }),
        "{error}"
    );
    assert_eq!(store.service_state("checkout").await.unwrap(), before);
}

#[tokio::test]
async fn a_promotion_makes_the_canary_slot_stable_and_keeps_what_was_queued() {
    let (_aws, store) = store().await;
    let (mut d, event) = created("checkout", "dep-promote");
    store.create(&d, &event).await.unwrap();
    store
        .acquire_lock(&lock_of(&d, at(3600)), at(0))
        .await
        .unwrap();
    let queued = store
        .queue_release("checkout", &release("checkout", "v2.5.0", 5), at(5))
        .await
        .unwrap();
    assert_eq!(queued, QueueWrite::Queued(QueueChange::Queued));

    let event = promoted(&mut d, 20);
    store.save(&d, &event).await.unwrap();
    let state = store.service_state("checkout").await.unwrap().unwrap();
    assert_eq!(state.stable_slot.as_deref(), Some("green"));
    assert_eq!(
        state.queued.map(|q| q.version).as_deref(),
        Some("v2.5.0"),
        "the end of a deployment leaves the queue as it was"
    );
    assert_eq!(state.revision, 2);
}

#[tokio::test]
async fn a_queue_write_is_refused_while_the_lock_is_free_or_expired() {
    let (aws, store) = store().await;
    let free = store
        .queue_release("checkout", &release("checkout", "v2.5.0", 1), at(1))
        .await
        .unwrap();
    assert_eq!(free, QueueWrite::LockFree);
    assert!(
        raw_item(&aws, &store, "SERVICE#checkout", "STATE")
            .await
            .is_none()
    );

    let (d, _) = created("checkout", "dep-expired");
    store
        .acquire_lock(&lock_of(&d, at(10)), at(0))
        .await
        .unwrap();
    let expired = store
        .queue_release("checkout", &release("checkout", "v2.5.0", 20), at(20))
        .await
        .unwrap();
    assert_eq!(expired, QueueWrite::LockFree);
    assert!(
        raw_item(&aws, &store, "SERVICE#checkout", "STATE")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn two_queue_writes_keep_the_latest_and_record_the_superseded_one() {
    let (_aws, store) = store().await;
    let (d, _) = created("checkout", "dep-running");
    store
        .acquire_lock(&lock_of(&d, at(3600)), at(0))
        .await
        .unwrap();
    let first = store
        .queue_release("checkout", &release("checkout", "v2.5.0", 1), at(1))
        .await
        .unwrap();
    assert_eq!(first, QueueWrite::Queued(QueueChange::Queued));
    let second = store
        .queue_release("checkout", &release("checkout", "v2.6.0", 2), at(2))
        .await
        .unwrap();
    let QueueWrite::Queued(QueueChange::Replaced { superseded }) = second else {
        panic!("expected v2.5.0 replaced, got {second:?}");
    };
    assert_eq!(
        (
            superseded.version.as_str(),
            superseded.superseded_by.as_str()
        ),
        ("v2.5.0", "v2.6.0")
    );
    let state = store.service_state("checkout").await.unwrap().unwrap();
    assert_eq!(state.queued.as_ref().unwrap().version, "v2.6.0");
    assert_eq!(
        state.queued.as_ref().unwrap().request,
        json!({"service": "checkout", "version": "v2.6.0"})
    );
    assert_eq!(state.superseded, vec![superseded]);

    // Cleared only while it is still that version.
    let unchanged = store
        .update_service_state("checkout", |s| s.clear_queued("v2.5.0"))
        .await
        .unwrap();
    assert_eq!(unchanged.revision, state.revision);
    let cleared = store
        .update_service_state("checkout", |s| s.clear_queued("v2.6.0"))
        .await
        .unwrap();
    assert_eq!(cleared.queued, None);
    assert_eq!(
        store
            .service_state("checkout")
            .await
            .unwrap()
            .unwrap()
            .queued,
        None
    );
    store.release_lock("checkout", &d.id).await.unwrap();
}
