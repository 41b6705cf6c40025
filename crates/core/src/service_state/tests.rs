use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::deployment::Outcome;
use crate::spec::DeploymentSpec;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

fn ended(id: &str, version: &str, roles: SlotRoles, status: Status) -> Deployment {
    let spec: DeploymentSpec =
        serde_json::from_value(json!({"service": "checkout-api", "version": version})).unwrap();
    let mut deployment = Deployment::new(DeploymentId::parse(id).unwrap(), spec, None, at(0));
    deployment.roles = roles;
    deployment.status = status;
    deployment.outcome = Some(Outcome {
        reason: "done".into(),
        at: at(60),
    });
    deployment
}

fn release(version: &str, second: i64) -> QueuedRelease {
    QueuedRelease {
        version: version.into(),
        request: json!({"service": "checkout-api", "version": version}),
        execution_name: format!("checkout-api-{version}"),
        source: format!("TRIGGER#codecommit#{second}"),
        queued_at: at(second),
    }
}

#[test]
fn a_promotion_makes_the_canary_slot_stable_and_records_its_version() {
    let mut state = ServiceState::new("checkout-api");
    let first = ended(
        "d1",
        "v1",
        SlotRoles::new("blue", "green"),
        Status::Promoted,
    );
    assert!(state.record_end(&first));
    assert_eq!(state.stable_slot.as_deref(), Some("green"));
    assert_eq!(
        state.slot_versions.get("green").map(String::as_str),
        Some("v1")
    );
    let last = state.last_deployment.clone().unwrap();
    assert_eq!(
        (
            last.version.as_str(),
            last.canary_slot.as_str(),
            last.status,
            last.ended_at
        ),
        ("v1", "green", Status::Promoted, at(60))
    );

    // The next release runs on the other slot; promoted, that slot is stable.
    let second = ended(
        "d2",
        "v2",
        SlotRoles::new("green", "blue"),
        Status::Promoted,
    );
    assert!(state.record_end(&second));
    assert_eq!(state.stable_slot.as_deref(), Some("blue"));
    assert_eq!(
        state.slot_versions,
        BTreeMap::from([("blue".into(), "v2".into()), ("green".into(), "v1".into())])
    );
}

#[test]
fn a_rollback_keeps_the_stable_slot_but_records_what_the_canary_received() {
    let mut state = ServiceState::new("checkout-api");
    state.record_end(&ended(
        "d1",
        "v1",
        SlotRoles::new("blue", "green"),
        Status::Promoted,
    ));
    let bad = ended(
        "d2",
        "v2",
        SlotRoles::new("green", "blue"),
        Status::RolledBack,
    );
    assert!(state.record_end(&bad));
    assert_eq!(state.stable_slot.as_deref(), Some("green"));
    assert_eq!(
        state.slot_versions.get("blue").map(String::as_str),
        Some("v2")
    );
    assert_eq!(state.last_deployment.unwrap().status, Status::RolledBack);
}

#[test]
fn a_running_or_already_recorded_deployment_changes_nothing() {
    let mut state = ServiceState::new("checkout-api");
    let running = ended("d1", "v1", SlotRoles::default(), Status::Baking);
    assert!(!state.record_end(&running));
    assert_eq!(state, ServiceState::new("checkout-api"));
    let done = ended("d1", "v1", SlotRoles::default(), Status::Promoted);
    assert!(state.record_end(&done));
    let before = state.clone();
    assert!(!state.record_end(&done));
    assert_eq!(state, before);
}

#[test]
fn the_latest_queued_release_wins_and_the_one_it_replaces_is_superseded() {
    let mut state = ServiceState::new("checkout-api");
    assert_eq!(state.queue(release("v2", 1)), QueueChange::Queued);
    assert_eq!(state.queue(release("v2", 2)), QueueChange::AlreadyQueued);
    assert_eq!(
        state.queued.as_ref().unwrap().queued_at,
        at(1),
        "the first stays"
    );
    let change = state.queue(release("v3", 3));
    let QueueChange::Replaced { superseded } = change else {
        panic!("expected a replacement, got {change:?}");
    };
    assert_eq!(superseded.version, "v2");
    assert_eq!(superseded.superseded_by, "v3");
    assert_eq!(superseded.superseded_at, at(3));
    assert_eq!(state.queued.as_ref().unwrap().version, "v3");
    assert_eq!(state.superseded, vec![superseded]);
}

#[test]
fn clearing_only_removes_the_version_that_was_started() {
    let mut state = ServiceState::new("checkout-api");
    state.queue(release("v3", 1));
    assert!(!state.clear_queued("v2"));
    assert!(state.queued.is_some());
    assert!(state.clear_queued("v3"));
    assert!(state.queued.is_none());
    assert!(!state.clear_queued("v3"));
}

#[test]
fn a_direct_start_supersedes_another_waiting_version_only() {
    let mut state = ServiceState::new("checkout-api");
    state.queue(release("v2", 1));
    assert_eq!(state.supersede_queued("v2", at(5)), None);
    assert!(state.queued.is_some());
    let superseded = state.supersede_queued("v4", at(5)).unwrap();
    assert_eq!(
        (
            superseded.version.as_str(),
            superseded.superseded_by.as_str()
        ),
        ("v2", "v4")
    );
    assert!(state.queued.is_none());
}

#[test]
fn the_recorded_stable_slot_is_checked_against_the_live_roles() {
    let mut state = ServiceState::new("checkout-api");
    assert_eq!(
        state.disagreement(&SlotRoles::new("green", "blue")),
        None,
        "nothing recorded"
    );
    state.record_end(&ended(
        "d1",
        "v1",
        SlotRoles::new("blue", "green"),
        Status::Promoted,
    ));
    assert_eq!(state.disagreement(&SlotRoles::new("green", "blue")), None);
    let said = state
        .disagreement(&SlotRoles::new("blue", "green"))
        .unwrap();
    assert!(said.contains("records green as the stable slot"), "{said}");
    assert!(said.contains("all traffic on blue"), "{said}");
    assert!(said.contains("d1 (v1 promoted)"), "{said}");
}

#[test]
fn the_state_round_trips_through_json() {
    let mut state = ServiceState::new("checkout-api");
    state.record_end(&ended("d1", "v1", SlotRoles::default(), Status::Promoted));
    state.queue(release("v2", 1));
    state.queue(release("v3", 2));
    let value = serde_json::to_value(&state).unwrap();
    assert_eq!(value["stableSlot"], "green");
    assert_eq!(value["queued"]["executionName"], "checkout-api-v3");
    assert_eq!(
        serde_json::from_value::<ServiceState>(value).unwrap(),
        state
    );
}

proptest! {
    #[test]
    fn queueing_keeps_the_latest_and_records_every_replaced_version(
        versions in proptest::collection::vec(0u8..5, 1..30)
    ) {
        let mut state = ServiceState::new("checkout-api");
        let mut replaced = Vec::new();
        let mut current: Option<String> = None;
        for (i, v) in versions.iter().enumerate() {
            let version = format!("v{v}");
            match state.queue(release(&version, i as i64)) {
                QueueChange::Queued => prop_assert!(current.is_none()),
                QueueChange::AlreadyQueued => prop_assert_eq!(current.as_ref(), Some(&version)),
                QueueChange::Replaced { superseded } => {
                    prop_assert_eq!(Some(&superseded.version), current.as_ref());
                    prop_assert_eq!(&superseded.superseded_by, &version);
                    replaced.push(superseded.version);
                }
            }
            current = Some(version);
        }
        prop_assert_eq!(state.queued.map(|q| q.version), current);
        let kept: Vec<String> = state.superseded.iter().map(|s| s.version.clone()).collect();
        let expected = &replaced[replaced.len().saturating_sub(SUPERSEDED_KEPT)..];
        prop_assert_eq!(kept.as_slice(), expected);
    }

    #[test]
    fn after_any_end_the_stable_slot_is_one_of_the_deployments_slots(
        promoted in any::<bool>(), swap in any::<bool>()
    ) {
        let roles = if swap { SlotRoles::new("green", "blue") } else { SlotRoles::default() };
        let status = if promoted { Status::Promoted } else { Status::RolledBack };
        let mut state = ServiceState::new("checkout-api");
        state.record_end(&ended("d1", "v9", roles.clone(), status));
        let expected = if promoted { &roles.canary } else { &roles.stable };
        prop_assert_eq!(state.stable_slot.as_ref(), Some(expected));
        prop_assert_eq!(state.slot_versions.get(&roles.canary).map(String::as_str), Some("v9"));
        prop_assert_eq!(state.slot_versions.len(), 1);
    }
}
