//! The timeline's shape: what every view reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::{Decision, Verdict};
use crate::deployment::{Controller, DeploymentId, Status};
use crate::metrics::TimeWindow;
use crate::slots::SlotRoles;

/// One deployment as a timeline.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub id: DeploymentId,
    pub service: String,
    pub version: String,
    pub status: Status,
    pub controller: Controller,
    pub started_at: DateTime<Utc>,
    /// When the deployment reached its terminal status; `None` while it runs.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended as it did.
    pub outcome: Option<String>,
    /// Which slot was stable and which the canary.
    pub roles: SlotRoles,
    /// The planned steps: canary percent and bake of each.
    pub plan: Vec<PlannedStep>,
    /// The canary's share of traffic, as a step function: each point holds until the next.
    pub traffic: Vec<TrafficPoint>,
    /// The steps that were shifted to, in order (a step judged again appears once).
    pub steps: Vec<StepSpan>,
    pub analyses: Vec<AnalysisPoint>,
    /// Each metric's values over the analyses, with its thresholds.
    pub metrics: Vec<MetricTrack>,
    pub markers: Vec<Marker>,
    /// When the step now baking is due to be judged, while one is.
    pub analysis_due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStep {
    pub percent: f64,
    pub bake_seconds: u32,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPoint {
    pub at: DateTime<Utc>,
    /// The canary's real share in percent (from the Route 53 weights, not the asked percent).
    pub canary_share: f64,
    pub step: Option<usize>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSpan {
    pub step: usize,
    pub asked_percent: f64,
    pub canary_share: f64,
    pub stable_weight: u8,
    pub canary_weight: u8,
    pub shifted_at: DateTime<Utc>,
    pub live_at: Option<DateTime<Utc>>,
    /// When traffic moved on (the next step, a rollback, the promotion); `None` while current.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisPoint {
    pub at: DateTime<Utc>,
    pub step: usize,
    pub window: TimeWindow,
    pub verdict: Verdict,
    pub decision: Decision,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTrack {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub max_increase_over_baseline: Option<f64>,
    pub points: Vec<MetricPoint>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricPoint {
    pub at: DateTime<Utc>,
    pub step: usize,
    /// `None` when there was no data.
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub samples: u64,
    pub verdict: Verdict,
    pub reason: String,
}

/// Something that happened at a moment, worth a mark on the timeline.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub at: DateTime<Utc>,
    pub kind: MarkerKind,
    pub step: Option<usize>,
    /// A few words: "advance to step 2", "paused by ana".
    pub label: String,
    /// The full reason, where there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkerKind {
    Started,
    /// An analysis decided to move to the next step.
    Advance,
    /// An analysis decided to promote.
    Promote,
    /// An analysis decided to judge the step again.
    Extend,
    /// An analysis held the deployment for an operator.
    AwaitApproval,
    /// An analysis decided to roll back.
    RollBack,
    ApprovalRequested,
    Approved,
    /// An operator asked for a pause, a resume or a promotion.
    OperatorRequest,
    RollbackStarted,
    RolledBack,
    Promoted,
    Failed,
    /// A pre- or post-traffic hook passed.
    HookPassed,
    /// A pre- or post-traffic hook failed.
    HookFailed,
}

impl MarkerKind {
    /// Whether this marker ends the deployment.
    pub fn is_ending(&self) -> bool {
        matches!(
            self,
            MarkerKind::Promoted | MarkerKind::RolledBack | MarkerKind::Failed
        )
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MarkerKind::Started => "started",
            MarkerKind::Advance => "advance",
            MarkerKind::Promote => "promote",
            MarkerKind::Extend => "extend",
            MarkerKind::AwaitApproval => "await-approval",
            MarkerKind::RollBack => "roll-back",
            MarkerKind::ApprovalRequested => "approval-requested",
            MarkerKind::Approved => "approved",
            MarkerKind::OperatorRequest => "operator-request",
            MarkerKind::RollbackStarted => "rollback-started",
            MarkerKind::RolledBack => "rolled-back",
            MarkerKind::Promoted => "promoted",
            MarkerKind::Failed => "failed",
            MarkerKind::HookPassed => "hook-passed",
            MarkerKind::HookFailed => "hook-failed",
        }
    }
}
