//! Reading raw metric series.

use std::future::Future;

use thiserror::Error;

use crate::metrics::{Series, SeriesQuery, TimeWindow};

#[derive(Debug, Error)]
pub enum MetricError {
    #[error("CloudWatch rejected the query for {what}: {message}")]
    InvalidQuery { what: String, message: String },
    #[error("CloudWatch {operation} was throttled after retries ({what}): {message}")]
    Throttled {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("CloudWatch {operation} failed ({what}): {message}")]
    Unavailable {
        operation: &'static str,
        what: String,
        message: String,
    },
}

impl MetricError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MetricError::Throttled { .. } | MetricError::Unavailable { .. }
        )
    }
}

/// Reads raw metric series.
pub trait MetricSource: Send + Sync {
    /// One series per query, in the queries' order; a series without datapoints means no data.
    fn fetch(
        &self,
        queries: &[SeriesQuery],
        window: TimeWindow,
    ) -> impl Future<Output = Result<Vec<Series>, MetricError>> + Send;
}
