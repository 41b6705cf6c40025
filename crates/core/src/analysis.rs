//! Judging a step: every metric's value against its thresholds, then what the deployment does
//! next. Missing or too little data is inconclusive, never a pass.

use serde::{Deserialize, Serialize};

use crate::metrics::{MetricQuery, Observation, Series, SeriesQuery, Side};
use crate::plan::StepPlan;
use crate::slots::SlotRoles;
use crate::spec::{AnalysisSpec, Approval, DeploymentSpec, InconclusiveAction, MetricSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// One metric's judgement with everything it was judged on, as stored in the history.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    #[serialize_always]
    pub value: Option<f64>,
    pub samples: u64,
    pub baseline: Option<Observation>,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub max_increase_over_baseline: Option<f64>,
    pub min_samples: u64,
    pub verdict: Verdict,
    pub reason: String,
}

/// Every raw series the analysis of `spec` needs: each metric on the canary slot and, where the
/// slots are told apart by dimensions, on the stable slot as its baseline.
pub fn analysis_queries(spec: &DeploymentSpec, roles: &SlotRoles) -> Vec<SeriesQuery> {
    let period = spec.analysis.period_seconds;
    spec.analysis
        .metrics
        .iter()
        .enumerate()
        .flat_map(|(i, metric)| {
            let (canary, baseline) = slot_queries(spec, roles, metric);
            let mut queries = canary.series_queries(i, Side::Canary, period);
            if let Some(baseline) = baseline {
                queries.extend(baseline.series_queries(i, Side::Stable, period));
            }
            queries
        })
        .collect()
}

/// Judges every metric of `spec` on the series fetched for [`analysis_queries`].
pub fn judge(spec: &DeploymentSpec, roles: &SlotRoles, series: &[Series]) -> Vec<MetricResult> {
    let analysis = &spec.analysis;
    let period = analysis.period_seconds;
    analysis
        .metrics
        .iter()
        .enumerate()
        .map(|(i, metric)| {
            let (canary, baseline) = slot_queries(spec, roles, metric);
            let canary = canary.observe(i, Side::Canary, period, series);
            let baseline = baseline.map(|q| q.observe(i, Side::Stable, period, series));
            judge_metric(metric, analysis.min_samples, canary, baseline)
        })
        .collect()
}

/// A metric's query for the canary slot and, when the slots' dimensions differ, for the
/// stable slot.
fn slot_queries(
    spec: &DeploymentSpec,
    roles: &SlotRoles,
    metric: &MetricSpec,
) -> (MetricQuery, Option<MetricQuery>) {
    let canary = metric
        .query
        .with_dimensions(&spec.metric_dimensions(metric, &roles.canary));
    let baseline = spec.has_baseline(metric, roles).then(|| {
        metric
            .query
            .with_dimensions(&spec.metric_dimensions(metric, &roles.stable))
    });
    (canary, baseline)
}

/// The step's verdict: any failure fails it; otherwise anything inconclusive makes it
/// inconclusive; it passes only when every metric passed. No metrics is inconclusive.
pub fn overall_verdict(results: &[MetricResult]) -> Verdict {
    if results.is_empty() {
        Verdict::Inconclusive
    } else if results.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if results.iter().any(|r| r.verdict == Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

fn judge_metric(
    metric: &MetricSpec,
    min_samples: u64,
    canary: Observation,
    baseline: Option<Observation>,
) -> MetricResult {
    let unit = if metric.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", metric.unit)
    };
    let (verdict, reason) = match canary.value {
        None => (
            Verdict::Inconclusive,
            format!("no data for the canary ({} samples)", canary.samples),
        ),
        Some(_) if canary.samples < min_samples => (
            Verdict::Inconclusive,
            format!(
                "only {} samples, fewer than minSamples {min_samples}",
                canary.samples
            ),
        ),
        Some(value) => threshold_verdict(metric, value, &unit, baseline),
    };
    MetricResult {
        name: metric.name.clone(),
        unit: metric.unit.clone(),
        value: canary.value,
        samples: canary.samples,
        baseline,
        max: metric.max,
        min: metric.min,
        max_increase_over_baseline: metric.max_increase_over_baseline,
        min_samples,
        verdict,
        reason,
    }
}

fn threshold_verdict(
    metric: &MetricSpec,
    value: f64,
    unit: &str,
    baseline: Option<Observation>,
) -> (Verdict, String) {
    if let Some(max) = metric.max
        && value > max
    {
        return (
            Verdict::Fail,
            format!("{value:.4}{unit} is above max {max}"),
        );
    }
    if let Some(min) = metric.min
        && value < min
    {
        return (
            Verdict::Fail,
            format!("{value:.4}{unit} is below min {min}"),
        );
    }
    let mut reason = format!("{value:.4}{unit} within thresholds");
    if let Some(allowed) = metric.max_increase_over_baseline {
        match baseline.and_then(|b| b.value) {
            Some(stable) if value - stable > allowed => {
                return (
                    Verdict::Fail,
                    format!(
                        "{value:.4}{unit} exceeds stable's {stable:.4}{unit} by {:.4}, more than the allowed {allowed}",
                        value - stable
                    ),
                );
            }
            Some(stable) => reason = format!("{reason}; stable {stable:.4}{unit}"),
            // With no absolute threshold, a comparison without baseline data proves nothing.
            None if metric.max.is_none() && metric.min.is_none() => {
                return (
                    Verdict::Inconclusive,
                    "no stable baseline data to compare with".to_string(),
                );
            }
            None => {
                reason = format!("{reason}; no stable baseline data, judged on thresholds only")
            }
        }
    }
    (Verdict::Pass, reason)
}

/// Failed and inconclusive analyses so far, which the next decision depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisCounters {
    /// Failed analyses in the whole deployment.
    pub failures: u32,
    /// Inconclusive analyses re-tried at the current step.
    pub inconclusive_retries: u32,
}

/// What the deployment does after an analysis. Its variants without their data are the
/// [`DecisionAction`] the state machine routes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[strum_discriminants(
    name(DecisionAction),
    derive(
        Hash,
        Serialize,
        Deserialize,
        strum::EnumIter,
        strum::IntoStaticStr,
        strum::Display
    ),
    serde(rename_all = "kebab-case"),
    strum(serialize_all = "kebab-case")
)]
pub enum Decision {
    /// Shift to the next step.
    #[serde(rename_all = "camelCase")]
    Advance {
        next_step: usize,
    },
    /// Every step passed: finish at 100 % canary.
    Promote,
    /// Bake the same step again and re-judge.
    #[serde(rename_all = "camelCase")]
    Extend {
        bake_seconds: u32,
        reason: String,
    },
    /// Hold until an operator approves or rejects.
    AwaitApproval {
        reason: String,
    },
    RollBack {
        reason: String,
    },
}

impl Decision {
    /// What the state machine's Decide state routes on.
    pub fn action(&self) -> DecisionAction {
        self.into()
    }
}

impl DecisionAction {
    /// The name the state machine's Choice compares (`advance`, `await-approval`, …), the
    /// same as the `action` tag of a serialised [`Decision`].
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Decides what follows an analysis of step `step` and updates the counters.
pub fn decide(
    spec: &AnalysisSpec,
    approval: Approval,
    plan: &StepPlan,
    step: usize,
    verdict: Verdict,
    reasons: &str,
    counters: &mut AnalysisCounters,
) -> Decision {
    let bake_seconds = plan.step(step).map(|s| s.bake_seconds).unwrap_or(0);
    match verdict {
        Verdict::Pass => {
            counters.inconclusive_retries = 0;
            if !plan.is_last(step) {
                Decision::Advance {
                    next_step: step + 1,
                }
            } else if approval == Approval::BeforePromote {
                Decision::AwaitApproval {
                    reason: "every step passed; the spec asks for approval before promotion".into(),
                }
            } else {
                Decision::Promote
            }
        }
        Verdict::Fail => {
            counters.failures += 1;
            if counters.failures >= spec.failure_limit {
                Decision::RollBack {
                    reason: format!(
                        "analysis of step {} failed ({} of {} allowed failures): {reasons}",
                        step + 1,
                        counters.failures,
                        spec.failure_limit
                    ),
                }
            } else {
                Decision::Extend {
                    bake_seconds,
                    reason: format!(
                        "analysis failed ({} of {}); judging the step again: {reasons}",
                        counters.failures, spec.failure_limit
                    ),
                }
            }
        }
        Verdict::Inconclusive => match spec.on_inconclusive.action {
            InconclusiveAction::Rollback => Decision::RollBack {
                reason: format!("analysis of step {} was inconclusive: {reasons}", step + 1),
            },
            InconclusiveAction::Pause => Decision::AwaitApproval {
                reason: format!("analysis of step {} was inconclusive: {reasons}", step + 1),
            },
            InconclusiveAction::Retry
                if counters.inconclusive_retries < spec.on_inconclusive.max_retries =>
            {
                counters.inconclusive_retries += 1;
                Decision::Extend {
                    bake_seconds,
                    reason: format!(
                        "inconclusive, retry {} of {}: {reasons}",
                        counters.inconclusive_retries, spec.on_inconclusive.max_retries
                    ),
                }
            }
            InconclusiveAction::Retry => Decision::RollBack {
                reason: format!(
                    "analysis of step {} stayed inconclusive after {} retries: {reasons}",
                    step + 1,
                    spec.on_inconclusive.max_retries
                ),
            },
        },
    }
}

/// What operators asked of a running deployment, applied at its next analysis.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorRequests {
    /// Who asked to hold the deployment at the next step boundary.
    pub pause: Option<String>,
    /// Who asked to skip the remaining steps once the current analysis passes.
    pub promote: Option<String>,
}

/// Layers operator requests over the judge's decision: a requested promotion turns a passing
/// step's advance into a promotion (through the approval gate, if the spec has one); a
/// requested pause holds an advance or a promotion for approval. Returns the decision and the
/// one an approval will carry out (`None` when an approval means "as if it passed").
pub fn with_operator_requests(
    decision: Decision,
    verdict: Verdict,
    requests: &OperatorRequests,
    approval: Approval,
) -> (Decision, Option<Decision>) {
    let mut decision = decision;
    if let (Verdict::Pass, Some(who), Decision::Advance { .. }) =
        (verdict, &requests.promote, &decision)
    {
        decision = if approval == Approval::BeforePromote {
            Decision::AwaitApproval {
                reason: format!(
                    "{who} asked to promote; the spec asks for approval before promotion"
                ),
            }
        } else {
            Decision::Promote
        };
    }
    // A passing step that waits for approval waits at the promotion gate.
    let held = match (&decision, verdict) {
        (Decision::AwaitApproval { .. }, Verdict::Pass) => Some(Decision::Promote),
        _ => None,
    };
    if let Some(who) = &requests.pause
        && matches!(decision, Decision::Advance { .. } | Decision::Promote)
    {
        return (
            Decision::AwaitApproval {
                reason: format!("paused by {who}; `sluice resume` continues"),
            },
            Some(decision),
        );
    }
    (decision, held)
}

/// The reasons of the metrics that decided the verdict, for decisions and notifications.
pub fn verdict_reasons(results: &[MetricResult], verdict: Verdict) -> String {
    let reasons: Vec<String> = results
        .iter()
        .filter(|r| r.verdict == verdict)
        .map(|r| format!("{}: {}", r.name, r.reason))
        .collect();
    if reasons.is_empty() {
        "no metrics".into()
    } else {
        reasons.join("; ")
    }
}

#[cfg(test)]
mod tests;
