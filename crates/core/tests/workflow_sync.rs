//! The workflow step wait-for-sync: pending polls counted, live a TTL later, bounded.

mod common;

use common::*;
use sluice_core::ports::ServiceLocks;

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

#[tokio::test]
async fn shift_and_sync_each_extend_the_lease_past_the_wait_before_the_next_step() {
    let w = World::new();
    let mut req = request();
    // A day's bake: far longer than the lease Validate took.
    req["strategy"]["bakeSeconds"] = json!(86_400);
    let cursor = w.validate(req).await.unwrap();
    let validated = w.store.lock_of("checkout-api").unwrap().lease_until;
    w.clock.advance(600);
    let cursor = w.shift(cursor).await.unwrap();
    let shifted = w.store.lock_of("checkout-api").unwrap().lease_until;
    assert!(
        shifted > validated,
        "shift renews: {shifted} after {validated}"
    );
    let cursor = w.sync(cursor).await.unwrap();
    assert!(cursor.in_sync);
    let lease = w.store.lock_of("checkout-api").unwrap().lease_until;
    let due = cursor.analyze_at.unwrap();
    assert!(
        lease > due,
        "the lease {lease} ends before the analysis is due {due}"
    );
}

#[tokio::test]
async fn a_step_whose_lock_is_gone_fails_instead_of_running_unlocked() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    w.store
        .release_lock("checkout-api", &cursor.deployment.id)
        .await
        .unwrap();
    let (name, message) = error_names(w.shift(cursor).await);
    assert_eq!(name, ErrorName::Internal);
    assert!(message.contains("not held"), "{message}");
    assert!(
        w.router.changes().is_empty(),
        "no traffic moved without the lock"
    );
}
