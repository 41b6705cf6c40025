//! Reading alarm states. Alarms are read from the same service as metrics, so their failures
//! are [`MetricError`]s.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::MetricError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// An alarm's current state, or `None` when no alarm has that name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStatus {
    pub name: String,
    pub state: Option<AlarmState>,
}

/// Reads CloudWatch alarm states.
pub trait AlarmStates: Send + Sync {
    /// One status per name, in the names' order.
    fn alarm_states(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmStatus>, MetricError>> + Send;
}
