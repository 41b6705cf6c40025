//! How long a deployment may run, and the bounds that keep every valid plan inside it. The state
//! machine's `TimeoutSeconds` and its approval wait carry the constants below (a test of the
//! definition compares them), so a plan that passes validation always fits its execution.

use super::model::{Approval, DeploymentSpec, InconclusiveAction};
use super::strategy::Strategy;

/// The state machine's `TimeoutSeconds`: no execution runs longer. A deployment held past it
/// (an operator's pause is not part of the plan) times out and is returned to stable.
pub const EXECUTION_TIMEOUT_SECONDS: u64 = 30 * 86_400;
/// The approval wait's `TimeoutSeconds`: an unanswered approval rolls back after a day.
pub const APPROVAL_TIMEOUT_SECONDS: u64 = 86_400;
/// Longest gradual rollback (ramp-down steps × `rollback.stepSeconds`): returning to stable
/// must not take longer than an hour.
pub const MAX_ROLLBACK_RAMP_SECONDS: u64 = 3_600;
/// Seconds between two looks at a pending Route 53 change, and how many looks a step gets.
pub const SYNC_POLL_SECONDS: u32 = 5;
pub const SYNC_MAX_POLLS: u32 = 120;
/// What one task may take with its retries (function timeouts, backoff and jitter included).
pub const TASK_SECONDS: u64 = 900;
/// How far a lease reaches past the next step's due time: that step's task with its retries,
/// twice over.
pub const LEASE_MARGIN_SECONDS: u64 = 2 * TASK_SECONDS;

/// Longest a Route 53 change is waited for.
pub const fn sync_seconds() -> u64 {
    SYNC_POLL_SECONDS as u64 * SYNC_MAX_POLLS as u64
}

impl DeploymentSpec {
    /// The gradual rollback's hold time: ramp-down steps × `rollback.stepSeconds`.
    pub fn rollback_ramp_seconds(&self) -> u64 {
        let holds = self.rollback.percents().len().saturating_sub(1) as u64;
        holds * u64::from(self.rollback.step_seconds)
    }

    /// The longest a valid deployment of this spec can run: every step shifted, synced, live
    /// after a TTL, baked and judged, re-judged as often as the analysis allows, every approval
    /// the spec itself asks for waited out, the hooks, and a rollback down its whole ramp.
    pub fn longest_run_seconds(&self) -> u64 {
        let plan = self.plan();
        let steps = plan.steps.len() as u64;
        let longest_bake = plan
            .steps
            .iter()
            .map(|s| u64::from(s.bake_seconds))
            .max()
            .unwrap_or(0);
        let policy = &self.analysis.on_inconclusive;
        let rejudged_per_step = match policy.action {
            InconclusiveAction::Retry => u64::from(policy.max_retries),
            InconclusiveAction::Pause | InconclusiveAction::Rollback => 0,
        };
        let walk = steps * (3 * TASK_SECONDS + sync_seconds() + u64::from(self.ttl_seconds))
            + plan.total_bake_seconds();
        let rejudged = (steps * rejudged_per_step
            + u64::from(self.analysis.failure_limit.saturating_sub(1)))
            * (longest_bake + TASK_SECONDS);
        let approvals = u64::from(self.approval == Approval::BeforePromote)
            + if policy.action == InconclusiveAction::Pause {
                steps
            } else {
                0
            };
        let hooks = self.hooks.as_ref().map_or(0, |hooks| {
            let count =
                u64::from(hooks.pre_traffic.is_some()) + u64::from(hooks.post_traffic.is_some());
            count * (u64::from(hooks.timeout_seconds) + 2 * TASK_SECONDS)
        });
        let rollback = self.rollback_ramp_seconds()
            + self.rollback.percents().len() as u64 * (sync_seconds() + TASK_SECONDS);
        // Validate and Finalize.
        let ends = 2 * TASK_SECONDS;
        walk + rejudged
            + approvals * (APPROVAL_TIMEOUT_SECONDS + TASK_SECONDS)
            + hooks
            + rollback
            + ends
    }

    /// The field that sets how long each step bakes, as the request names it.
    pub(super) fn bake_field(&self) -> &'static str {
        match self.strategy {
            Strategy::Linear(_) => "strategy.intervalSeconds",
            Strategy::Canary(_) | Strategy::BlueGreen(_) => "strategy.bakeSeconds",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(extra: serde_json::Value) -> DeploymentSpec {
        let mut request = json!({
            "service": "checkout-api", "version": "v2",
            "strategy": {"kind": "canary", "steps": [10, 50, 100], "bakeSeconds": 300},
            "ttlSeconds": 60,
        });
        if let (Some(base), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        DeploymentSpec::from_json(&request).unwrap()
    }

    #[test]
    fn the_ramp_holds_each_step_above_zero() {
        let s = spec(json!({"rollback": {"steps": [25, 5], "stepSeconds": 30}}));
        assert_eq!(s.rollback_ramp_seconds(), 60);
        assert_eq!(spec(json!({})).rollback_ramp_seconds(), 0);
    }

    #[test]
    fn the_longest_run_counts_each_part_of_the_plan() {
        let plain = spec(json!({}));
        let per_step = 3 * TASK_SECONDS + sync_seconds() + 60;
        let rollback = sync_seconds() + TASK_SECONDS;
        // Three steps, their bakes, two retries of an inconclusive step each (the default).
        let expected =
            3 * per_step + 900 + 3 * 2 * (300 + TASK_SECONDS) + rollback + 2 * TASK_SECONDS;
        assert_eq!(plain.longest_run_seconds(), expected);
        let approved = spec(json!({"approval": "before-promote"}));
        assert_eq!(
            approved.longest_run_seconds() - plain.longest_run_seconds(),
            APPROVAL_TIMEOUT_SECONDS + TASK_SECONDS
        );
        let failing = spec(json!({"analysis": {"failureLimit": 3}}));
        assert_eq!(
            failing.longest_run_seconds() - plain.longest_run_seconds(),
            2 * (300 + TASK_SECONDS)
        );
    }
}
