//! What can go wrong, each naming what failed and with which input, and the exit code it
//! leads to.

use std::path::PathBuf;

use sluice_core::SpecErrors;
use sluice_core::ports::{
    DeploymentsError, LockError, OrchestratorError, ServiceConfigError, ServiceStateError,
    TriggerLedgerError,
};
use sluice_core::workflow::WorkflowError;
use thiserror::Error;

/// Exit codes (documented in `sluice --help`).
pub mod exit {
    pub const OK: u8 = 0;
    pub const ROLLED_BACK: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const FAILED: u8 = 2;
    pub const ERROR: u8 = 3;
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error("{setting} is required for `sluice {command}`: pass {flag} or set {env}")]
    MissingSetting {
        command: &'static str,
        setting: &'static str,
        flag: &'static str,
        env: &'static str,
    },
    #[error("who is acting is not known: pass --who or set SLUICE_WHO (or USER)")]
    UnknownOperator,
    #[error("--set {input:?}: {message}")]
    BadSet { input: String, message: String },
    #[error("spec file {path}: {message}")]
    SpecFile { path: PathBuf, message: String },
    /// The request breaks validation rules; each problem is printed with its field.
    #[error("{0}")]
    Invalid(SpecErrors),
    #[error("{what}: {message}")]
    BadArgument { what: String, message: String },
    #[error(
        "--queue: service {0} has no CONFIG item (SERVICE#{0} / CONFIG), so a queued release \
         could not be started from it later; register the service first (infra/README.md), \
         nothing was queued"
    )]
    QueueWithoutConfig(String),
    #[error("deployment {id} {message}")]
    WrongState { id: String, message: String },
    #[error("deployment {0} not found (is --table / SLUICE_TABLE the right table?)")]
    NotFound(String),
    #[error("service {0} has no deployments in this table")]
    NoDeployments(String),
    #[error(
        "service {service} already has a deployment in progress: {holder} ({status}); follow it with \
         `sluice watch {holder}` or stop it with `sluice abort {holder}`"
    )]
    Conflict {
        service: String,
        holder: String,
        status: String,
    },
    #[error("could not find a free execution name for {service} {version} after {tries} tries")]
    NoExecutionName {
        service: String,
        version: String,
        tries: usize,
    },
    #[error(
        "execution {execution} ended {status} before the deployment record was written: {cause}"
    )]
    ExecutionEnded {
        execution: String,
        status: String,
        cause: String,
    },
    #[error("gave up watching deployment {id} after {seconds} s; it is still {status}")]
    WatchTimeout {
        id: String,
        seconds: u64,
        status: String,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing to the terminal: {0}")]
    Stdout(#[source] std::io::Error),
    #[error("encoding JSON output: {0}")]
    Json(#[from] serde_json::Error),
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
    #[error("{0}")]
    Workflow(#[from] WorkflowError),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::MissingSetting { .. }
            | CliError::UnknownOperator
            | CliError::BadSet { .. }
            | CliError::SpecFile { .. }
            | CliError::Invalid(_)
            | CliError::BadArgument { .. }
            | CliError::QueueWithoutConfig(_) => exit::INVALID,
            CliError::Workflow(WorkflowError::Invalid(_) | WorkflowError::BadInput { .. }) => {
                exit::INVALID
            }
            CliError::ExecutionEnded { .. } => exit::FAILED,
            _ => exit::ERROR,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        CliError::Stdout(error)
    }
}
