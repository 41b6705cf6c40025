//! Publishing a deployment's state changes.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::deployment::{Deployment, DeploymentId, Status};

/// A deployment's state change, published as structured JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub deployment_id: DeploymentId,
    pub service: String,
    pub version: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub canary_share: f64,
    pub message: String,
    pub at: DateTime<Utc>,
}

impl Notification {
    pub fn of(deployment: &Deployment, message: impl Into<String>) -> Notification {
        Notification {
            deployment_id: deployment.id.clone(),
            service: deployment.service.clone(),
            version: deployment.spec.version.clone(),
            status: deployment.status,
            step: deployment.step,
            canary_share: deployment.current_canary_share(),
            message: message.into(),
            at: deployment.updated_at,
        }
    }
}

#[derive(Debug, Error)]
pub enum NotifyError {
    #[error("SNS publish to {topic} failed: {message}")]
    Unavailable { topic: String, message: String },
}

pub trait Notifier: Send + Sync {
    fn notify(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}
