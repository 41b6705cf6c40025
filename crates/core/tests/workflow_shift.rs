//! The workflow step shift-traffic: both weights in one change, and the fence respected.

mod common;

use common::*;

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
    assert_eq!((traffic.asked_percent, traffic.canary_share), (10.0, 10.0));
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

#[tokio::test]
async fn shift_refuses_without_touching_traffic_once_fenced() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    take_over(&w.store);
    let (name, message) = error_names(w.shift(cursor).await);
    assert_eq!(name, ErrorName::Fenced);
    assert!(message.contains("alarm checkout-api-5xx"), "{message}");
    assert!(w.router.changes().is_empty());
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
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
        vec![WeightPair::for_percent(10.0), WeightPair::ALL_STABLE]
    );
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
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

fn throttled() -> RouterError {
    RouterError::Throttled {
        operation: "ChangeResourceRecordSets",
        zone: ZONE.into(),
        message: "PriorRequestNotComplete".into(),
    }
}

#[tokio::test]
async fn a_late_shift_restores_stable_even_when_the_first_restore_fails() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    // The alarm takes the record while our change is in flight; Route 53 is busy right after.
    let (store, router) = (w.store.clone(), w.router.clone());
    w.router.before_next_set(Box::new(move || {
        take_over(&store);
        let router = router.clone();
        store.before_next_save(Box::new(move || {
            router.fail_next(throttled());
            router.fail_next(throttled());
        }));
    }));
    let (name, message) = error_names(w.shift(cursor).await);
    assert_eq!(name, ErrorName::Fenced, "{message}");
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
}

#[tokio::test]
async fn a_shift_fenced_by_a_forced_promotion_never_puts_stable_back_under_it() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    // An operator's forced promotion ends while our 10% change is in flight; ours lands after.
    let (store, router) = (w.store.clone(), w.router.clone());
    w.router.before_next_set(Box::new(move || {
        let mut d = store.only_deployment();
        d.controller = Controller::Operator { who: "ana".into() };
        d.status = Status::Promoted;
        d.revision += 1;
        store.replace(d);
        router.add_records(&records(), WeightPair::ALL_CANARY);
    }));
    let (name, _) = error_names(w.shift(cursor).await);
    assert_eq!(name, ErrorName::Fenced);
    assert!(
        !w.router.changes().contains(&WeightPair::ALL_STABLE),
        "{:?}",
        w.router.changes()
    );
    // What the record says: the canary carries everything.
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_CANARY);
}

#[tokio::test]
async fn a_shift_fenced_while_a_forced_promotion_is_in_flight_leaves_traffic_to_it() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    // The promotion has fenced (the status stays until its traffic moved).
    let store = w.store.clone();
    w.router.before_next_set(Box::new(move || {
        let mut d = store.only_deployment();
        d.controller = Controller::Operator { who: "ana".into() };
        d.revision += 1;
        store.replace(d);
    }));
    let (name, _) = error_names(w.shift(cursor).await);
    assert_eq!(name, ErrorName::Fenced);
    assert_eq!(w.router.changes(), vec![WeightPair::for_percent(10.0)]);
}

#[tokio::test]
async fn a_late_shift_that_cannot_restore_stable_pages_and_names_what_it_found() {
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    let (store, router) = (w.store.clone(), w.router.clone());
    w.router.before_next_set(Box::new(move || {
        take_over(&store);
        let router = router.clone();
        // Route 53 is unavailable from here on: every read and re-assert of the restore fails.
        store.before_next_save(Box::new(move || {
            for _ in 0..2 * REASSERT_ATTEMPTS + 1 {
                router.fail_next(throttled());
            }
        }));
    }));
    let started = w.clock.now();
    let error = w.shift(cursor).await.unwrap_err();
    assert_eq!(error.error_name(), ErrorName::Internal, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("exec-1") && message.contains("operators paged"),
        "{message}"
    );
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(10.0));
    let page = w.notifier.sent().last().cloned().unwrap();
    assert!(page.message.starts_with("PAGE:"), "{}", page.message);
    // The backoff waited on the clock (1 + 2 + 4 + 8 s), never for real.
    assert_eq!((w.clock.now() - started).num_seconds(), 15);
}

#[tokio::test]
async fn a_late_restore_leaves_the_records_to_the_services_next_deployment() {
    use sluice_core::ports::{DeploymentKey, ServiceLock, ServiceLocks};
    let w = World::new();
    let cursor = w.validate(request()).await.unwrap();
    w.shift(cursor).await.unwrap();
    // Deployment exec-1 was rolled back (its late 10% landed after) and released the service.
    let mut d = w.store.only_deployment();
    d.controller = Controller::Alarm {
        alarm: "checkout-api-5xx".into(),
    };
    d.status = Status::RolledBack;
    d.revision += 1;
    w.store.replace(d.clone());
    let key = DeploymentKey::of(&d);
    w.store.release_lock(&d.service, &d.id).await.unwrap();
    // Its restore, without a next deployment: stable again.
    restore_recorded(&w.store, &w.router, &w.notifier, &w.clock, &key)
        .await
        .unwrap();
    assert_eq!(w.router.weights(&records()), WeightPair::ALL_STABLE);
    // With the next deployment holding the service, the records are that one's.
    w.router
        .add_records(&records(), WeightPair::for_percent(10.0));
    let next = DeploymentKey {
        id: sluice_core::deployment::DeploymentId::parse("exec-2").unwrap(),
        ..key.clone()
    };
    let lock = ServiceLock {
        deployment: next,
        lease_until: w.clock.now() + chrono::Duration::hours(1),
        alarms: Vec::new(),
    };
    w.store.acquire_lock(&lock, w.clock.now()).await.unwrap();
    restore_recorded(&w.store, &w.router, &w.notifier, &w.clock, &key)
        .await
        .unwrap();
    assert_eq!(w.router.weights(&records()), WeightPair::for_percent(10.0));
}
