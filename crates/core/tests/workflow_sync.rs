//! The workflow step wait-for-sync: pending polls counted, live a TTL later, bounded.

mod common;

use common::*;

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
