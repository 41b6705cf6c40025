//! The cursor: what the state machine carries from task to task.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::hooks::HookInvocations;
use crate::analysis::DecisionAction;
use crate::deployment::Deployment;
use crate::ports::DeploymentKey;

/// What the state machine carries from step to step. The record in the store is the truth;
/// the cursor holds only what the state machine routes and waits on.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    pub deployment: DeploymentKey,
    /// Index of the current step in the plan.
    pub step: usize,
    pub step_count: usize,
    /// The canary percent the current step asks for.
    pub percent: f64,
    pub change_id: Option<String>,
    #[serde(default)]
    pub in_sync: bool,
    #[serde(default)]
    pub sync_polls: u32,
    /// Seconds the state machine waits between two sync polls.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u32,
    /// When the current step's analysis is due (its live time plus its bake).
    pub analyze_at: Option<DateTime<Utc>>,
    /// What the last decision does next; the state machine's Decide state routes on it.
    pub decision: Option<DecisionAction>,
    pub reason: Option<String>,
    /// The deployment's hooks, for the definition to invoke; absent without hooks.
    pub hooks: Option<HookInvocations>,
    /// Whether the last hook check passed; the definition routes on it right after the check.
    pub hook_passed: Option<bool>,
    /// The gradual rollback's last Route 53 change, as the Rollback step left it.
    pub ramp: Option<RampChange>,
    /// Seconds the state machine waits before Rollback runs again; absent once the rollback
    /// is complete.
    pub ramp_wait_seconds: Option<u32>,
}

/// Where a gradual rollback stands between two Rollback invocations: its last change, and
/// whether it was seen in sync (then its hold is what the state machine waited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RampChange {
    pub change_id: String,
    #[serde(default)]
    pub in_sync: bool,
    #[serde(default)]
    pub polls: u32,
}

fn default_poll_seconds() -> u32 {
    crate::spec::SYNC_POLL_SECONDS
}

impl Cursor {
    /// A cursor at the deployment's current step.
    pub fn at(deployment: &Deployment, step: usize) -> Cursor {
        Cursor {
            deployment: DeploymentKey::of(deployment),
            step,
            step_count: deployment.plan.steps.len(),
            percent: deployment.plan.step(step).map(|s| s.percent).unwrap_or(0.0),
            change_id: None,
            in_sync: false,
            sync_polls: 0,
            poll_seconds: default_poll_seconds(),
            analyze_at: None,
            decision: None,
            reason: None,
            hooks: HookInvocations::of(deployment),
            hook_passed: None,
            ramp: None,
            ramp_wait_seconds: None,
        }
    }
}
