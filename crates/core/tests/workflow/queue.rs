//! The release queue: a release tagged while its service deploys waits in the service's state
//! and starts when that deployment ends (promoted, rolled back, taken over), latest wins.

// The helpers here are test code too, outside #[test] functions.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use sluice_core::ports::{DeploymentKey, ServiceLocks, ServiceStates};
use sluice_core::release::{ReleaseEvent, TriggerSource, execution_name};
use sluice_core::service_state::QueuedRelease;

async fn registered(w: &World) {
    let mut defaults = request();
    defaults.as_object_mut().unwrap().remove("version");
    defaults["release"] = json!({"repositories": ["checkout-api"]});
    w.store
        .put_service_config("checkout-api", &defaults)
        .await
        .unwrap();
}

async fn tag(w: &World, id: &str, version: &str) -> TriggerOutcome {
    let event = ReleaseEvent {
        source: TriggerSource::Codecommit,
        event_id: id.into(),
        repository: "checkout-api".into(),
        tag: version.into(),
    };
    let mut outcomes = trigger_release(&w.store, &w.orchestrator, &w.clock, event)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    outcomes.remove(0)
}

fn started_names(w: &World) -> Vec<String> {
    w.orchestrator
        .executions()
        .into_iter()
        .map(|(name, _, _)| name)
        .collect()
}

/// v2.4.0 runs (validated under its own execution name) and every step passes.
async fn promote_running(w: &World, cursor: Cursor) {
    let mut cursor = cursor;
    for _ in 0..3 {
        cursor = w.run_step(cursor, 10, 0).await;
    }
    assert_eq!(cursor.decision, Some(DecisionAction::Promote));
    w.finalize(cursor).await.unwrap();
}

#[tokio::test]
async fn tags_while_the_service_deploys_queue_the_latest_and_it_starts_when_the_deployment_is_promoted()
 {
    let w = World::new();
    registered(&w).await;
    let running = w.validate(request()).await.unwrap();

    let queued = tag(&w, "e-1", "v2.5.0").await;
    assert_eq!(
        queued,
        TriggerOutcome::Queued {
            service: "checkout-api".into(),
            version: "v2.5.0".into(),
            execution_name: execution_name("checkout-api", "v2.5.0"),
            superseded: None,
        }
    );
    let latest = tag(&w, "e-2", "v2.6.0").await;
    assert!(
        matches!(&latest, TriggerOutcome::Queued { version, superseded: Some(old), .. } if version == "v2.6.0" && old == "v2.5.0"),
        "{latest:?}"
    );
    assert!(
        started_names(&w).is_empty(),
        "nothing starts while v2.4.0 runs"
    );
    let state = w.store.service_state_of("checkout-api").unwrap();
    assert_eq!(state.queued.as_ref().unwrap().version, "v2.6.0");
    assert_eq!(state.superseded.len(), 1);
    assert_eq!(state.superseded[0].version, "v2.5.0");
    assert_eq!(state.stable_slot, None, "no deployment has ended yet");

    promote_running(&w, running).await;

    let name = execution_name("checkout-api", "v2.6.0");
    assert_eq!(started_names(&w), vec![name.clone()]);
    assert_eq!(
        w.orchestrator.executions()[0].1,
        json!({"service": "checkout-api", "version": "v2.6.0"})
    );
    let state = w.store.service_state_of("checkout-api").unwrap();
    assert_eq!(state.queued, None, "started, so no longer queued");
    assert_eq!(state.stable_slot.as_deref(), Some("green"));
    assert_eq!(
        state.slot_versions.get("green").map(String::as_str),
        Some("v2.4.0")
    );
    let last = state.last_deployment.unwrap();
    assert_eq!(
        (last.id.as_str(), last.status),
        ("exec-1", Status::Promoted)
    );
    assert!(w.store.lock_of("checkout-api").is_none());
}

#[tokio::test]
async fn a_rolled_back_deployment_keeps_its_stable_slot_and_starts_the_queued_release() {
    let w = World::new();
    registered(&w).await;
    let cursor = w.validate(request()).await.unwrap();
    tag(&w, "e-1", "v2.5.0").await;
    let cursor = w.run_step(cursor, 10, 5).await;
    assert_eq!(cursor.decision, Some(DecisionAction::RollBack));
    w.rollback(cursor).await.unwrap();

    assert_eq!(
        started_names(&w),
        vec![execution_name("checkout-api", "v2.5.0")]
    );
    let state = w.store.service_state_of("checkout-api").unwrap();
    assert_eq!(state.stable_slot.as_deref(), Some("blue"));
    assert_eq!(
        state.slot_versions.get("green").map(String::as_str),
        Some("v2.4.0"),
        "green received v2.4.0 even though it was rolled back"
    );
    assert_eq!(state.last_deployment.unwrap().status, Status::RolledBack);
    assert_eq!(state.queued, None);
}

#[tokio::test]
async fn a_tag_for_an_idle_service_starts_at_once_and_writes_no_state() {
    let w = World::new();
    registered(&w).await;
    let outcome = tag(&w, "e-1", "v2.5.0").await;
    assert!(
        matches!(
            &outcome,
            TriggerOutcome::Started {
                superseded: None,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        started_names(&w),
        vec![execution_name("checkout-api", "v2.5.0")]
    );
    assert_eq!(w.store.service_state_of("checkout-api"), None);
    // Delivered again from another source once it runs: the same deployment, not queued.
    let again = tag(&w, "e-2", "v2.5.0").await;
    assert!(
        matches!(&again, TriggerOutcome::AlreadyStarted { .. }),
        "{again:?}"
    );
    assert_eq!(w.store.service_state_of("checkout-api"), None);
}

#[tokio::test]
async fn an_end_step_run_again_after_a_crash_still_starts_the_queued_release() {
    let w = World::new();
    registered(&w).await;
    let cursor = w.validate(request()).await.unwrap();
    let mut end = cursor.clone();
    for _ in 0..3 {
        end = w.run_step(end, 10, 0).await;
    }
    w.finalize(end.clone()).await.unwrap();
    assert!(started_names(&w).is_empty());
    // As if a release had been queued and the first Finalize died between the end and the
    // start: the retry finds the deployment promoted and starts it.
    let release = QueuedRelease {
        version: "v2.7.0".into(),
        request: json!({"service": "checkout-api", "version": "v2.7.0"}),
        execution_name: execution_name("checkout-api", "v2.7.0"),
        source: "test".into(),
        queued_at: w.clock.now(),
    };
    w.store
        .update_service_state("checkout-api", |state| {
            state.queue(release.clone());
            true
        })
        .await
        .unwrap();
    let revision = w.store.only_deployment().revision;
    w.finalize(end.clone()).await.unwrap();
    assert_eq!(
        started_names(&w),
        vec![execution_name("checkout-api", "v2.7.0")]
    );
    assert_eq!(w.store.only_deployment().revision, revision);
    assert_eq!(
        w.store.service_state_of("checkout-api").unwrap().queued,
        None
    );
    // And once more: nothing more starts.
    w.finalize(end).await.unwrap();
    assert_eq!(w.orchestrator.executions().len(), 1);
}

#[tokio::test]
async fn an_emergency_rollback_starts_the_queued_release_after_taking_over() {
    let w = World::new();
    registered(&w).await;
    let cursor = w.started(&w.orchestrator).await;
    w.shift(cursor).await.unwrap();
    tag(&w, "e-1", "v2.5.0").await;
    let notification: AlarmNotification = serde_json::from_value(json!({
        "AlarmName": "checkout-api-5xx",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed",
        "StateChangeTime": w.clock.now().to_rfc3339(),
    }))
    .unwrap();
    let outcomes = w.alarm(&w.orchestrator, &notification).await;
    assert!(matches!(outcomes[0], TakeoverOutcome::RolledBack { .. }));
    let names = started_names(&w);
    assert!(
        names.contains(&execution_name("checkout-api", "v2.5.0")),
        "{names:?}"
    );
    let state = w.store.service_state_of("checkout-api").unwrap();
    assert_eq!(state.stable_slot.as_deref(), Some("blue"));
    assert_eq!(state.queued, None);
    // A repeated takeover of the ended deployment starts nothing more.
    let key = DeploymentKey::of(&w.store.only_deployment());
    let takeover = Takeover {
        store: &w.store,
        router: &w.router,
        orchestrator: &w.orchestrator,
        notifier: &w.notifier,
        clock: &w.clock,
    };
    let count = w.orchestrator.executions().len();
    takeover
        .take_over(
            &key,
            Controller::Alarm {
                alarm: "checkout-api-5xx".into(),
            },
            "again",
            None,
        )
        .await
        .unwrap();
    assert_eq!(w.orchestrator.executions().len(), count);
}

#[tokio::test]
async fn validate_takes_its_own_version_off_the_queue() {
    let w = World::new();
    registered(&w).await;
    let other = w.validate_named(request(), "exec-0").await.unwrap();
    tag(&w, "e-1", "v2.4.0").await;
    assert!(
        w.store
            .service_state_of("checkout-api")
            .unwrap()
            .queued
            .is_some()
    );
    // The running one ends without starting anything (as if the start were lost), then the
    // release is started by hand and validated.
    w.store.replace({
        let mut d = w.store.deployments().into_iter().next().unwrap();
        d.status = Status::Failed;
        d
    });
    w.store
        .release_lock("checkout-api", &other.deployment.id)
        .await
        .unwrap();
    w.validate_named(request(), &execution_name("checkout-api", "v2.4.0"))
        .await
        .unwrap();
    assert_eq!(
        w.store.service_state_of("checkout-api").unwrap().queued,
        None
    );
}
