//! What a demo run reports when it ends.

use std::time::Duration;

use sluice_core::{Deployment, HistoryEvent, WeightPair};

use crate::execution::Execution;

/// How a demo ended.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub scenario: &'static str,
    pub execution: Execution,
    pub deployment: Option<Deployment>,
    pub history: Vec<HistoryEvent>,
    pub weights: WeightPair,
    pub lock_released: bool,
    /// The idempotency keys release triggers left in the table (`TRIGGER#...`).
    pub trigger_keys: Vec<String>,
    /// Where the outcome differs from the scenario's expectation; empty when it matches.
    pub mismatches: Vec<String>,
    pub elapsed: Duration,
    pub deployment_elapsed: Duration,
}

impl DemoReport {
    pub fn matched(&self) -> bool {
        self.mismatches.is_empty()
    }
}
