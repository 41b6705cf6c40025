//! The rows `status` and `history` print, as a table or as JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_core::deployment::{Controller, Deployment, Status};
use sluice_core::slots::SlotRoles;

/// One deployment in progress, for `status`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRow {
    pub deployment_id: String,
    pub service: String,
    pub version: String,
    pub status: Status,
    /// 1-based, of `steps`.
    #[serialize_always]
    pub step: Option<usize>,
    pub steps: usize,
    /// The slots in their roles.
    pub roles: SlotRoles,
    pub canary_share: f64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub execution_arn: Option<String>,
    pub pause_requested_by: Option<String>,
    pub promotion_requested_by: Option<String>,
}

impl ActiveRow {
    pub fn of(d: &Deployment) -> ActiveRow {
        ActiveRow {
            deployment_id: d.id.to_string(),
            service: d.service.clone(),
            version: d.spec.version.clone(),
            status: d.status,
            step: d.step.map(|s| s + 1),
            steps: d.plan.steps.len(),
            roles: d.roles.clone(),
            canary_share: d.current_canary_share(),
            started_at: d.started_at,
            updated_at: d.updated_at,
            execution_arn: d.execution_arn.clone(),
            pause_requested_by: d.requests.pause.clone(),
            promotion_requested_by: d.requests.promote.clone(),
        }
    }
}

/// One past (or running) deployment, for `history`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    pub deployment_id: String,
    pub version: String,
    pub roles: SlotRoles,
    pub status: Status,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: i64,
    pub outcome: Option<String>,
    pub controller: Controller,
}
