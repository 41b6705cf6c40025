use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Everything that can go wrong while starting, driving or stopping the local runner. Each
/// variant names what failed and with which input (command, port, file, resource).
#[derive(Debug, Error)]
pub enum LocalError {
    #[error("moto could not be started for the local runner: {0}")]
    Moto(#[from] sluice_testkit::moto::Error),

    #[error(
        "cargo lambda is not installed at {binary}: run scripts/setup (it installs cargo-lambda into .venv)"
    )]
    MissingCargoLambda { binary: PathBuf },

    #[error("could not start {what} (`{command}`): {source}")]
    Spawn {
        what: &'static str,
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed ({status}); its output is in {log}:\n{tail}")]
    BuildFailed {
        command: String,
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "cargo lambda watch did not listen on 127.0.0.1:{port} within {waited:?}; its log is {log}:\n{tail}"
    )]
    CargoLambdaNotReady {
        port: u16,
        waited: Duration,
        log: PathBuf,
        tail: String,
    },

    #[error("cargo lambda watch exited while starting ({status}); its log is {log}:\n{tail}")]
    CargoLambdaExited {
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "function {function} is not built: {binary} is missing (the runner builds it unless told not to: cargo build -p {function})"
    )]
    MissingFunctionBinary { function: String, binary: PathBuf },

    #[error("could not {what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the router could not listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },

    #[error("the workspace: {0}")]
    Workspace(#[from] sluice_infra_check::workspace::WorkspaceError),

    #[error("state machine definition {path}: {message}")]
    Definition { path: PathBuf, message: String },

    #[error("unknown function {name:?}: the workspace has {known}")]
    UnknownFunction { name: String, known: String },

    #[error("{operation} failed for {what}: {message}")]
    Aws {
        operation: &'static str,
        what: String,
        message: String,
    },

    #[error(transparent)]
    Provision(#[from] sluice_testkit::provision::ProvisionError),

    #[error("Route 53: {0}")]
    Router(#[from] sluice_core::ports::RouterError),

    #[error("DynamoDB: {0}")]
    Deployments(#[from] sluice_core::ports::DeploymentsError),

    #[error("DynamoDB: {0}")]
    Locks(#[from] sluice_core::ports::LockError),

    #[error("DynamoDB: {0}")]
    Configs(#[from] sluice_core::ports::ServiceConfigError),

    #[error("Step Functions: {0}")]
    Orchestrator(#[from] sluice_core::ports::OrchestratorError),

    #[error("the router could not reach {url}: {message}")]
    Http { url: String, message: String },

    #[error("execution {execution_arn} did not finish within {waited:?} (status {status})")]
    ExecutionTimeout {
        execution_arn: String,
        waited: Duration,
        status: String,
    },

    #[error("deployment request: {0}")]
    Request(String),

    #[error(transparent)]
    Hold(#[from] crate::router::HoldError),

    #[error("{function} did not start a deployment: {message}")]
    Trigger { function: String, message: String },
}

pub type Result<T, E = LocalError> = std::result::Result<T, E>;

/// An AWS SDK error as one line with its code and message (the SDK's own `Display` only says
/// "service error").
pub(crate) fn aws_error(
    operation: &'static str,
    what: impl Into<String>,
    error: &(dyn std::error::Error + 'static),
) -> LocalError {
    LocalError::Aws {
        operation,
        what: what.into(),
        message: aws_sdk_sfn::error::DisplayErrorContext(error).to_string(),
    }
}

/// The last lines of a log file, for error messages that point at it.
pub(crate) fn log_tail(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(log not readable: {error})"),
    }
}
