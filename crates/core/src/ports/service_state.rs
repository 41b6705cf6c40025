//! Each service's state item (`SERVICE#<s>` / `STATE`): read by the views and Validate, and
//! the release queue written here. How a deployment's end changes it is written by
//! [`Deployments::save`](super::Deployments::save), in the same transaction as the record.

use std::future::Future;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::storage::StorageFailure;
use crate::service_state::{QueueChange, QueuedRelease, ServiceState};

/// What a queue request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueWrite {
    /// The service's lock is held: the release waits in its state item.
    Queued(QueueChange),
    /// Nothing holds the lock: nothing was written, the caller starts the release itself.
    LockFree,
}

#[derive(Debug, Error)]
pub enum ServiceStateError {
    #[error("the state of service {service} kept changing while {what} was being written")]
    Contended { service: String, what: String },
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl ServiceStateError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ServiceStateError::Contended { .. } => true,
            ServiceStateError::Storage(failure) => failure.is_retryable(),
        }
    }
}

/// Keeps each service's state item and its release queue.
pub trait ServiceStates: Send + Sync {
    /// A service's state, strongly consistent; `None` before its first deployment ended or
    /// anything was queued.
    fn service_state(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<ServiceState>, ServiceStateError>> + Send;

    /// Queues `release` ([`ServiceState::queue`]) only while the service's lock is held with a
    /// lease that runs past `now`: the check and the write are one conditional write, so a
    /// deployment that releases the lock meanwhile either sees the release queued or makes
    /// this answer `LockFree`.
    fn queue_release(
        &self,
        service: &str,
        release: &QueuedRelease,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<QueueWrite, ServiceStateError>> + Send;

    /// Applies `change` to the stored state (a new one when there is none) and writes it when
    /// `change` says it changed something, conditional on the revision it read (re-read and
    /// applied again on a race). Returns the state as written, or as read when unchanged.
    fn update_service_state<F>(
        &self,
        service: &str,
        change: F,
    ) -> impl Future<Output = Result<ServiceState, ServiceStateError>> + Send
    where
        F: Fn(&mut ServiceState) -> bool + Send + Sync;
}
