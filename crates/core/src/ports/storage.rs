//! What the storage ports share: a failure of the storage itself (unreadable, throttled,
//! unreachable), as opposed to an answer about the request (a lock held, a revision moved).
//! Each storage port's error carries it as its `Storage` variant.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageFailure {
    #[error("{what} is not readable: {message}")]
    Corrupt { what: String, message: String },
    #[error("DynamoDB {operation} was throttled after retries ({what}): {message}")]
    Throttled {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("DynamoDB {operation} failed ({what}): {message}")]
    Unavailable {
        operation: &'static str,
        what: String,
        message: String,
    },
}

impl StorageFailure {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StorageFailure::Throttled { .. } | StorageFailure::Unavailable { .. }
        )
    }
}
