//! Starting, stopping and answering deployment executions.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRef {
    pub arn: String,
    /// True when an execution with that name already existed and was returned instead.
    pub already_existed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
}

impl ExecutionStatus {
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive
        )
    }

    /// The name Step Functions gives the status, e.g. `TIMED_OUT`.
    pub fn name(&self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::PendingRedrive => "PENDING_REDRIVE",
        }
    }
}

/// How an execution that is no longer running ended, with the error and cause Step Functions
/// recorded, where it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionOutcome {
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl ExecutionOutcome {
    /// `error: cause`, whichever of the two there is; empty when neither.
    pub fn explanation(&self) -> String {
        [self.error.as_deref(), self.cause.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ")
    }
}

#[derive(Debug, Error)]
pub enum OrchestratorError {
    #[error("execution {name} already exists with different input")]
    NameTakenWithOtherInput { name: String },
    #[error("execution {arn} does not exist")]
    ExecutionNotFound { arn: String },
    #[error("task token is no longer valid ({message})")]
    TaskTokenInvalid { message: String },
    #[error("Step Functions {operation} rejected {what}: {message}")]
    Invalid {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("Step Functions {operation} was throttled after retries ({what}): {message}")]
    Throttled {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("Step Functions {operation} failed ({what}): {message}")]
    Unavailable {
        operation: &'static str,
        what: String,
        message: String,
    },
}

impl OrchestratorError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OrchestratorError::Throttled { .. } | OrchestratorError::Unavailable { .. }
        )
    }
}

/// Starts and stops deployment executions and answers their waiting tasks.
pub trait Orchestrator: Send + Sync {
    /// The deployment state machine this orchestrator starts executions of, when known.
    fn state_machine_arn(&self) -> Option<&str>;

    /// The ARN an execution of the state machine named `name` has, when the state machine is
    /// known.
    fn execution_arn(&self, name: &str) -> Option<String> {
        self.state_machine_arn().map(|arn| {
            format!(
                "{}:{name}",
                arn.replacen(":stateMachine:", ":execution:", 1)
            )
        })
    }

    /// Starts an execution named `name`; if one with that name exists, returns it.
    fn start_execution(
        &self,
        name: &str,
        input: &Value,
    ) -> impl Future<Output = Result<ExecutionRef, OrchestratorError>> + Send;

    /// Stops a running execution; stopping one that has ended succeeds.
    fn stop_execution(
        &self,
        arn: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = Result<(), OrchestratorError>> + Send;

    fn execution_status(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<ExecutionStatus, OrchestratorError>> + Send;

    /// How an execution ended, or `None` while it runs or before it exists.
    fn execution_outcome(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<ExecutionOutcome>, OrchestratorError>> + Send;

    fn send_task_success(
        &self,
        token: &str,
        output: &Value,
    ) -> impl Future<Output = Result<(), OrchestratorError>> + Send;

    fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = Result<(), OrchestratorError>> + Send;
}
