//! Incoming events' idempotency keys, so a release event delivered twice starts one deployment.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::StorageFailure;

/// What an incoming event's idempotency key recorded the first time it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerRecord {
    pub execution_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    pub seen_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerClaim {
    /// First time this event is seen: the caller acts on it.
    New,
    /// Seen before: what was recorded then.
    Seen(TriggerRecord),
}

#[derive(Debug, Error)]
pub enum TriggerLedgerError {
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl TriggerLedgerError {
    pub fn is_retryable(&self) -> bool {
        match self {
            TriggerLedgerError::Storage(failure) => failure.is_retryable(),
        }
    }
}

/// Records which incoming events were seen.
pub trait TriggerLedger: Send + Sync {
    /// Records an incoming event's key the first time it is seen; later calls return what
    /// was recorded (`TriggerClaim::Seen`).
    fn claim_trigger(
        &self,
        key: &str,
        record: &TriggerRecord,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<TriggerClaim, TriggerLedgerError>> + Send;

    /// Adds the started execution's ARN to a claimed trigger key.
    fn complete_trigger(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> impl Future<Output = Result<(), TriggerLedgerError>> + Send;
}
