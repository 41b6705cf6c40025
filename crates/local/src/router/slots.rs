//! Which version each slot serves, as the simulated world has it, and the endpoint hooks ask:
//! `GET /sluice-local/slots/<slot>/version` answers `{"slot", "version"}`, or 404 when nothing
//! was deployed to the slot; `PUT` with `{"version": "v2.0.0"}` says a slot now serves it (what
//! a real deployment of the slot's target would do). The local sample hook (`src/bin/sample-hook.rs`) compares it with
//! the deployment's version, as a real smoke test would ask the slot's own target.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::sync::locked;

/// The path of a slot's version on the router.
pub fn slot_version_path(slot: &str) -> String {
    format!("/sluice-local/slots/{slot}/version")
}

/// Slot name → the version it serves.
#[derive(Debug, Default)]
pub struct SlotVersions(Mutex<BTreeMap<String, String>>);

impl SlotVersions {
    pub fn set(&self, slot: &str, version: &str) {
        locked(&self.0).insert(slot.to_string(), version.to_string());
    }

    pub fn get(&self, slot: &str) -> Option<String> {
        locked(&self.0).get(slot).cloned()
    }
}

pub(super) fn routes(slots: Arc<SlotVersions>) -> Router {
    Router::new()
        .route(
            "/sluice-local/slots/{slot}/version",
            get(slot_version).put(deploy_to_slot),
        )
        .with_state(slots)
}

async fn slot_version(
    State(slots): State<Arc<SlotVersions>>,
    Path(slot): Path<String>,
) -> Response {
    match slots.get(&slot) {
        Some(version) => axum::Json(json!({"slot": slot, "version": version})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(
                json!({"slot": slot, "message": format!("no version deployed to slot {slot}")}),
            ),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct Deployed {
    version: String,
}

async fn deploy_to_slot(
    State(slots): State<Arc<SlotVersions>>,
    Path(slot): Path<String>,
    axum::Json(deployed): axum::Json<Deployed>,
) -> Response {
    slots.set(&slot, &deployed.version);
    tracing::info!(%slot, version = %deployed.version, "slot version set");
    axum::Json(json!({"slot": slot, "version": deployed.version})).into_response()
}
