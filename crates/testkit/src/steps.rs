//! Drives a deployment through its first steps on any ports, for handler tests that need one
//! validated, shifted or live before the step they test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_core::ports::Deployments;
use sluice_core::workflow::{Cursor, check_sync, shift_traffic, validate_deployment};

use sluice_handler::{Configured, Ports};

/// `request` validated as execution `name`: the deployment exists, its lock is held.
pub async fn validated(ports: &impl Ports, request: &Value, name: &str) -> Cursor {
    let input = serde_json::from_value(json!({"request": request, "executionName": name})).unwrap();
    validate_deployment(
        ports.store(),
        ports.router(),
        ports.alarms(),
        ports.notifier(),
        ports.clock(),
        input,
    )
    .await
    .unwrap()
}

/// The cursor's step shifted.
pub async fn shifted(ports: &impl Ports, cursor: Cursor) -> Cursor {
    shift_traffic(
        ports.store(),
        ports.router(),
        ports.notifier(),
        ports.clock(),
        cursor,
    )
    .await
    .unwrap()
}

/// The cursor's change polled once (in sync on moto and by default in memory).
pub async fn synced(ports: &impl Configured, cursor: Cursor) -> Cursor {
    check_sync(
        ports.store(),
        ports.router(),
        ports.clock(),
        ports.config().sync,
        cursor,
    )
    .await
    .unwrap()
}

/// When the cursor's step went live, as the record says.
pub async fn live_at(ports: &impl Ports, cursor: &Cursor) -> DateTime<Utc> {
    let deployment = ports
        .store()
        .get(&cursor.deployment)
        .await
        .unwrap()
        .unwrap();
    deployment
        .traffic
        .and_then(|t| t.live_at)
        .expect("the step is live")
}

/// Sleeps (in real time) until the cursor's analysis is due.
pub async fn until_due(cursor: &Cursor) {
    let due = cursor.analyze_at.expect("the step is live");
    tokio::time::sleep((due - Utc::now()).to_std().unwrap_or_default()).await;
}
