//! Why a step fails, and the names the state machine's `Retry` and `Catch` route on.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::deployment::{DeploymentId, Status};
use crate::ports::{
    DeploymentsError, LockError, MetricError, OrchestratorError, RouterError, ServiceConfigError,
    ServiceStateError, TriggerLedgerError,
};
use crate::spec::SpecErrors;

/// Every `Sluice.*` error name of the contract with the state machine: what a failed task
/// reports as its error type, what the definition raises itself, and what is sent to it from
/// outside (StopExecution, SendTaskFailure). `as_str` gives each its one wire name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::EnumIter,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
pub enum ErrorName {
    /// The request or event is malformed or breaks a rule; retrying cannot help.
    #[strum(serialize = "Sluice.Invalid")]
    Invalid,
    /// The service already has a deployment in progress.
    #[strum(serialize = "Sluice.Conflict")]
    Conflict,
    /// The state machine no longer drives the deployment (taken over).
    #[strum(serialize = "Sluice.Fenced")]
    Fenced,
    /// The deployment the cursor names does not exist.
    #[strum(serialize = "Sluice.NotFound")]
    NotFound,
    /// A Route 53 change was not in sync within its bound.
    #[strum(serialize = "Sluice.SyncTimeout")]
    SyncTimeout,
    /// A passing failure (throttling, a race): the same task tried again may succeed.
    #[strum(serialize = "Sluice.Retryable")]
    Retryable,
    /// Anything else that went wrong in a step.
    #[strum(serialize = "Sluice.Internal")]
    Internal,
    /// Raised by the definition once traffic is back on stable.
    #[strum(serialize = "Sluice.RolledBack")]
    RolledBack,
    /// Recorded by the definition when Analyze returns a decision it has no route for.
    #[strum(serialize = "Sluice.UnknownDecision")]
    UnknownDecision,
    /// Sent to a waiting approval when the deployment is taken over (an operator's reject or
    /// abort, an emergency rollback).
    #[strum(serialize = "Sluice.Aborted")]
    Aborted,
    /// The error a taken-over execution is stopped with.
    #[strum(serialize = "Sluice.TakenOver")]
    TakenOver,
}

impl ErrorName {
    /// The name on the wire: `Sluice.Invalid`, `Sluice.Retryable`, …
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why a step could not do its work. Each maps to the error name the state machine's `Retry`
/// and `Catch` route on ([`WorkflowError::error_name`], an [`ErrorName`]).
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
    States(#[from] ServiceStateError),
    #[error("{0}")]
    Orchestrator(#[from] OrchestratorError),
    #[error("deployment {id}: {message}")]
    Internal { id: String, message: String },
    /// A takeover that would undo another's: its target differs from the current
    /// controller's, or the deployment cannot reach it from where it is.
    #[error("deployment {id}: {refused} refused: {reason}")]
    TakeoverRefused {
        id: DeploymentId,
        refused: String,
        reason: String,
    },
    /// Route 53 did not come to carry what the record says within the bounded re-asserts;
    /// the operators were paged.
    #[error(
        "deployment {id}: Route 53 ({records}) still carries {found} after {attempts} attempts to \
         restore {wanted}; operators paged through the notifications topic"
    )]
    NotVerified {
        id: DeploymentId,
        records: String,
        wanted: String,
        found: String,
        attempts: u32,
    },
    /// An armed alarm is in ALARM when the state machine looks: treated as a failed analysis.
    #[error("deployment {id} not promoted: {reason}")]
    AlarmFiring { id: DeploymentId, reason: String },
}

impl WorkflowError {
    /// The name the state machine sees as the error of the failed task.
    pub fn error_name(&self) -> ErrorName {
        match self {
            WorkflowError::Invalid(_) | WorkflowError::BadInput { .. } => ErrorName::Invalid,
            WorkflowError::Conflict { .. } | WorkflowError::TakeoverRefused { .. } => {
                ErrorName::Conflict
            }
            // Not retried: the state machine's Catch rolls back with the alarm as the reason.
            WorkflowError::AlarmFiring { .. } => ErrorName::Invalid,
            WorkflowError::Fenced { .. } => ErrorName::Fenced,
            WorkflowError::NotFound(_) => ErrorName::NotFound,
            WorkflowError::SyncTimeout { .. } => ErrorName::SyncTimeout,
            WorkflowError::Router(e) if e.is_retryable() => ErrorName::Retryable,
            WorkflowError::Metrics(e) if e.is_retryable() => ErrorName::Retryable,
            WorkflowError::Configs(e) if e.is_retryable() => ErrorName::Retryable,
            WorkflowError::Locks(e) if e.is_retryable() => ErrorName::Retryable,
            WorkflowError::Deployments(e) if e.is_retryable() => ErrorName::Retryable,
            WorkflowError::Triggers(e) if e.is_retryable() => ErrorName::Retryable,
            WorkflowError::States(e) if e.is_retryable() => ErrorName::Retryable,
            WorkflowError::Orchestrator(e) if e.is_retryable() => ErrorName::Retryable,
            // A revision conflict is a race another try resolves (or turns into Fenced).
            WorkflowError::Deployments(DeploymentsError::RevisionConflict { .. }) => {
                ErrorName::Retryable
            }
            WorkflowError::Router(RouterError::ZoneNotFound { .. }) => ErrorName::Invalid,
            WorkflowError::Router(_)
            | WorkflowError::Metrics(_)
            | WorkflowError::Configs(_)
            | WorkflowError::Locks(_)
            | WorkflowError::Deployments(_)
            | WorkflowError::Triggers(_)
            | WorkflowError::States(_)
            | WorkflowError::Orchestrator(_)
            | WorkflowError::Internal { .. }
            | WorkflowError::NotVerified { .. } => ErrorName::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn every_error_name_is_a_distinct_sluice_name_that_reads_back() {
        let mut seen = BTreeSet::new();
        for name in ErrorName::iter() {
            let wire = name.as_str();
            assert!(wire.starts_with("Sluice."), "{name:?} is {wire:?}");
            assert!(seen.insert(wire), "{wire} is used twice");
            assert_eq!(wire.parse::<ErrorName>(), Ok(name));
            assert_eq!(name.to_string(), wire);
        }
        assert!("Sluice.Unheard".parse::<ErrorName>().is_err());
    }
}
