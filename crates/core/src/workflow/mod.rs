//! The deployment's steps as the state machine runs them: validate, shift traffic, wait for
//! sync, analyze, roll back, finalize. Each is one function over the ports; the Lambda
//! handlers only parse their event and call these.
//!
//! Every step reads the deployment record (strongly consistent), refuses to act when the state
//! machine no longer drives it (the fence: an emergency rollback or an operator took it over),
//! and writes conditionally on the revision it read. Each is safe to retry.

mod analyze;
mod approval;
mod emergency;
mod finalize;
mod operator;
mod rollback;
mod shift;
mod sync;
mod trigger;
mod validate;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use analyze::analyze_step;
pub use approval::{ApprovalRequest, await_approval};
pub use emergency::{AlarmNotification, Takeover, TakeoverOutcome};
pub use finalize::finalize;
pub use operator::{OperatorOutcome, approve, request_pause, request_promotion};
pub use rollback::{RollbackRequest, roll_back};
pub use shift::shift_traffic;
pub use sync::{SyncLimits, check_sync};
pub use trigger::{TriggerOutcome, trigger_release};
pub use validate::{ValidateRequest, check_request, validate_deployment};

use crate::deployment::{Deployment, DeploymentId, HistoryEvent, Status};
use crate::ports::{
    DeploymentKey, Deployments, DeploymentsError, LockError, MetricError, Notification, Notifier,
    NotifyError, OrchestratorError, RouterError, ServiceConfigError, TriggerLedgerError,
};
use crate::spec::SpecErrors;

/// What the state machine carries from step to step. The record in the store is the truth;
/// the cursor holds only what the state machine routes and waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    pub deployment: DeploymentKey,
    /// Index of the current step in the plan.
    pub step: usize,
    pub step_count: usize,
    /// The green percent the current step asks for.
    pub percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    #[serde(default)]
    pub in_sync: bool,
    #[serde(default)]
    pub sync_polls: u32,
    /// Seconds the state machine waits between two sync polls.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u32,
    /// When the current step's analysis is due (its live time plus its bake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyze_at: Option<DateTime<Utc>>,
    /// The last decision's action: advance, promote, extend, await-approval, roll-back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn default_poll_seconds() -> u32 {
    5
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
        }
    }
}

/// Why a step could not do its work. Each maps to the error name the state machine's `Retry`
/// and `Catch` route on ([`WorkflowError::error_name`]).
#[derive(Debug, Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Invalid(#[from] SpecErrors),
    #[error("{what}: {message}")]
    BadInput { what: String, message: String },
    #[error(
        "service {service} already has a deployment in progress: {holder} (lease until {lease_until}); \
         wait for it, or abort it with `sluice abort {holder}`"
    )]
    Conflict {
        service: String,
        holder: DeploymentId,
        lease_until: DateTime<Utc>,
    },
    #[error(
        "deployment {id} is no longer driven by the state machine: {status}, taken over by {by}"
    )]
    Fenced {
        id: DeploymentId,
        status: Status,
        by: String,
    },
    #[error("deployment {0} not found")]
    NotFound(String),
    #[error("Route 53 change {change} of deployment {id} was not in sync after {polls} polls")]
    SyncTimeout {
        id: DeploymentId,
        change: String,
        polls: u32,
    },
    #[error("{0}")]
    Router(#[from] RouterError),
    #[error("{0}")]
    Metrics(#[from] MetricError),
    #[error("{0}")]
    Configs(#[from] ServiceConfigError),
    #[error("{0}")]
    Locks(#[from] LockError),
    #[error("{0}")]
    Deployments(#[from] DeploymentsError),
    #[error("{0}")]
    Triggers(#[from] TriggerLedgerError),
    #[error("{0}")]
    Orchestrator(#[from] OrchestratorError),
    #[error("deployment {id}: {message}")]
    Internal { id: String, message: String },
}

/// Every error name a step can fail with, for the state machine's Retry/Catch and the checks
/// that keep the definition and the code in agreement.
pub const ERROR_NAMES: [&str; 7] = [
    "Sluice.Invalid",
    "Sluice.Conflict",
    "Sluice.Fenced",
    "Sluice.NotFound",
    "Sluice.SyncTimeout",
    "Sluice.Retryable",
    "Sluice.Internal",
];

impl WorkflowError {
    /// The name the state machine sees as the error of the failed task.
    pub fn error_name(&self) -> &'static str {
        match self {
            WorkflowError::Invalid(_) | WorkflowError::BadInput { .. } => "Sluice.Invalid",
            WorkflowError::Conflict { .. } => "Sluice.Conflict",
            WorkflowError::Fenced { .. } => "Sluice.Fenced",
            WorkflowError::NotFound(_) => "Sluice.NotFound",
            WorkflowError::SyncTimeout { .. } => "Sluice.SyncTimeout",
            WorkflowError::Router(e) if e.is_retryable() => "Sluice.Retryable",
            WorkflowError::Metrics(e) if e.is_retryable() => "Sluice.Retryable",
            WorkflowError::Configs(e) if e.is_retryable() => "Sluice.Retryable",
            WorkflowError::Locks(e) if e.is_retryable() => "Sluice.Retryable",
            WorkflowError::Deployments(e) if e.is_retryable() => "Sluice.Retryable",
            WorkflowError::Triggers(e) if e.is_retryable() => "Sluice.Retryable",
            WorkflowError::Orchestrator(e) if e.is_retryable() => "Sluice.Retryable",
            // A revision conflict is a race another try resolves (or turns into Fenced).
            WorkflowError::Deployments(DeploymentsError::RevisionConflict { .. }) => {
                "Sluice.Retryable"
            }
            WorkflowError::Router(RouterError::ZoneNotFound { .. }) => "Sluice.Invalid",
            WorkflowError::Router(_)
            | WorkflowError::Metrics(_)
            | WorkflowError::Configs(_)
            | WorkflowError::Locks(_)
            | WorkflowError::Deployments(_)
            | WorkflowError::Triggers(_)
            | WorkflowError::Orchestrator(_)
            | WorkflowError::Internal { .. } => "Sluice.Internal",
        }
    }
}

/// Reads the deployment a cursor points at, failing with `NotFound` when it does not exist.
async fn load(store: &impl Deployments, key: &DeploymentKey) -> Result<Deployment, WorkflowError> {
    store
        .get(key)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(key.id.to_string()))
}

/// The plan's step `index`, or `BadInput` naming the step when the plan has no such step.
fn step_of(deployment: &Deployment, index: usize) -> Result<crate::plan::Step, WorkflowError> {
    deployment
        .plan
        .step(index)
        .cloned()
        .ok_or_else(|| WorkflowError::BadInput {
            what: "step".into(),
            message: format!(
                "deployment {} has {} steps, there is no step {index}",
                deployment.id,
                deployment.plan.steps.len()
            ),
        })
}

/// Fails with `Fenced` unless the state machine still drives the deployment.
fn ensure_driven(deployment: &Deployment) -> Result<(), WorkflowError> {
    if deployment.is_driven_by_state_machine() {
        Ok(())
    } else {
        Err(fenced(deployment))
    }
}

fn fenced(deployment: &Deployment) -> WorkflowError {
    WorkflowError::Fenced {
        id: deployment.id.clone(),
        status: deployment.status,
        by: deployment.controller.describe(),
    }
}

/// Saves a change the state machine made. When the revision moved underneath, the record is
/// read again: if someone took the deployment over the answer is `Fenced`, otherwise the
/// conflict is returned for the state machine to retry.
async fn save_driven(
    store: &impl Deployments,
    deployment: &Deployment,
    event: &HistoryEvent,
) -> Result<(), WorkflowError> {
    match store.save(deployment, event).await {
        Ok(()) => Ok(()),
        Err(conflict @ DeploymentsError::RevisionConflict { .. }) => {
            let current = load(store, &DeploymentKey::of(deployment)).await?;
            ensure_driven(&current)?;
            Err(conflict.into())
        }
        Err(other) => Err(other.into()),
    }
}

/// Publishes a notification; a failure is logged, not returned, because the state change it
/// reports is already stored and retrying the step would repeat it.
async fn notify(notifier: &impl Notifier, deployment: &Deployment, message: impl Into<String>) {
    let notification = Notification::of(deployment, message);
    if let Err(error) = notifier.notify(&notification).await {
        log_notify_failure(&deployment.id, &error);
    }
}

fn log_notify_failure(id: &DeploymentId, error: &NotifyError) {
    tracing::warn!(deployment_id = %id, %error, "notification not sent");
}

#[cfg(test)]
mod tests;
