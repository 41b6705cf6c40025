//! The one lock per service, and the index from an alarm to the locks of the deployments that
//! watch it.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::deployments::DeploymentKey;
use super::storage::StorageFailure;
use crate::deployment::DeploymentId;

/// The one lock per service: which deployment holds it and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLock {
    pub deployment: DeploymentKey,
    pub lease_until: DateTime<Utc>,
    /// Alarms of the holding deployment, so an alarm finds it.
    #[serde(default)]
    pub alarms: Vec<String>,
}

#[derive(Debug, Error)]
pub enum LockError {
    #[error("service {service} is locked by deployment {holder} (lease until {lease_until})")]
    LockHeld {
        service: String,
        holder: DeploymentId,
        lease_until: DateTime<Utc>,
    },
    /// Renewing a lease the deployment no longer holds (released by a takeover, or expired and
    /// taken by another deployment).
    #[error(
        "service {service}'s lock is not held by deployment {deployment}; its lease was not renewed"
    )]
    NotHeld {
        service: String,
        deployment: DeploymentId,
    },
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl LockError {
    pub fn is_retryable(&self) -> bool {
        match self {
            LockError::LockHeld { .. } | LockError::NotHeld { .. } => false,
            LockError::Storage(failure) => failure.is_retryable(),
        }
    }
}

/// Keeps the per-service locks and their alarm index.
pub trait ServiceLocks: Send + Sync {
    /// Takes the service's lock for `lock.deployment`, unless another deployment holds an
    /// unexpired lease (`LockError::LockHeld`). Taking a lock one already holds succeeds.
    fn acquire_lock(
        &self,
        lock: &ServiceLock,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), LockError>> + Send;

    /// Releases the lock if `deployment` holds it; otherwise does nothing.
    fn release_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
    ) -> impl Future<Output = Result<(), LockError>> + Send;

    /// Moves the lease of the lock `deployment` holds to `lease_until` (each step of the state
    /// machine extends it past the next step's due time); `LockError::NotHeld` when the lock is
    /// gone or another deployment's.
    fn renew_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), LockError>> + Send;

    fn lock(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<ServiceLock>, LockError>> + Send;

    /// Every service that has a lock item (held, or expired and not yet taken again), sorted.
    fn locked_services(&self) -> impl Future<Output = Result<Vec<String>, LockError>> + Send;

    /// Locks of deployments whose spec names `alarm` (expired leases included; the caller
    /// checks the records).
    fn locks_for_alarm(
        &self,
        alarm: &str,
    ) -> impl Future<Output = Result<Vec<ServiceLock>, LockError>> + Send;
}
