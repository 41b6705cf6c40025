//! Deployment records and their history, written together.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::StorageFailure;
use crate::deployment::{Deployment, DeploymentId, HistoryEvent};

/// Where a deployment's record lives: its service, start time and id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentKey {
    pub service: String,
    pub started_at: DateTime<Utc>,
    pub id: DeploymentId,
}

impl DeploymentKey {
    pub fn of(deployment: &Deployment) -> DeploymentKey {
        DeploymentKey {
            service: deployment.service.clone(),
            started_at: deployment.started_at,
            id: deployment.id.clone(),
        }
    }
}

#[derive(Debug, Error)]
pub enum DeploymentsError {
    #[error("deployment {id} changed underneath: expected revision {expected}, found another")]
    RevisionConflict { id: DeploymentId, expected: u64 },
    #[error("deployment {id} already exists")]
    AlreadyExists { id: DeploymentId },
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl DeploymentsError {
    pub fn is_retryable(&self) -> bool {
        match self {
            DeploymentsError::RevisionConflict { .. } | DeploymentsError::AlreadyExists { .. } => {
                false
            }
            DeploymentsError::Storage(failure) => failure.is_retryable(),
        }
    }
}

/// Keeps every deployment's record and history.
pub trait Deployments: Send + Sync {
    /// Writes a new deployment and its first history event together
    /// (`DeploymentsError::AlreadyExists` when the id is taken).
    fn create(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> impl Future<Output = Result<(), DeploymentsError>> + Send;

    /// Reads a deployment, strongly consistent.
    fn get(
        &self,
        key: &DeploymentKey,
    ) -> impl Future<Output = Result<Option<Deployment>, DeploymentsError>> + Send;

    /// Finds a deployment by id alone (for operators; may lag a write by a moment).
    fn find(
        &self,
        id: &DeploymentId,
    ) -> impl Future<Output = Result<Option<Deployment>, DeploymentsError>> + Send;

    /// Writes `deployment` and appends `event`, both only if the stored revision is
    /// `deployment.revision - 1` (`DeploymentsError::RevisionConflict` otherwise).
    fn save(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> impl Future<Output = Result<(), DeploymentsError>> + Send;

    /// A deployment's history, oldest first.
    fn history(
        &self,
        id: &DeploymentId,
    ) -> impl Future<Output = Result<Vec<HistoryEvent>, DeploymentsError>> + Send;

    /// A service's deployments, newest first.
    fn list(
        &self,
        service: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Deployment>, DeploymentsError>> + Send;
}
