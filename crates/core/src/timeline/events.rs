//! The one projection of a history event: the facts a [`Timeline`](super::Timeline) takes from
//! it, the marker it puts on the timeline, and the lines of text every view prints for it
//! (`sluice watch`, `sluice show`, the demo's progress; the HTML report draws the markers).
//!
//! **A new [`EventKind`] is added here, in [`project`], and nowhere else**: the timeline
//! applies the [`Fact`]s without looking at the kind, and the views print [`EventView::lines`].

use chrono::{DateTime, Duration, Utc};

use super::model::{MarkerKind, StepSpan};
use super::text::{self, decision_text, duration, hook_line, metric_line, percent, verdict_mark};
use crate::analysis::{Decision, MetricResult, Verdict};
use crate::deployment::{Deployment, DeploymentId, EventKind, HistoryEvent};
use crate::metrics::TimeWindow;
use crate::plan::StepPlan;
use crate::slots::SlotRoles;

/// Writes an instant as a view shows it (the CLI: local wall-clock time).
pub type ClockText<'a> = &'a dyn Fn(DateTime<Utc>) -> String;

/// What the lines of an event need to know about its deployment.
pub struct ViewContext<'a> {
    pub id: &'a DeploymentId,
    pub service: &'a str,
    pub plan: &'a StepPlan,
    pub roles: &'a SlotRoles,
    pub clock: ClockText<'a>,
}

impl<'a> ViewContext<'a> {
    pub fn of(deployment: &'a Deployment, clock: ClockText<'a>) -> ViewContext<'a> {
        ViewContext {
            id: &deployment.id,
            service: &deployment.service,
            plan: &deployment.plan,
            roles: &deployment.roles,
            clock,
        }
    }

    /// `canary green`: the role and the slot playing it.
    fn canary(&self) -> String {
        text::canary(self.roles)
    }

    /// `stable blue`.
    fn stable(&self) -> String {
        text::stable(self.roles)
    }

    /// `step 2/4`.
    fn step(&self, step: usize) -> String {
        format!("step {}/{}", step + 1, self.plan.steps.len())
    }
}

/// One history event as the timeline and the views take it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventView<'e> {
    pub at: DateTime<Utc>,
    pub facts: Vec<Fact<'e>>,
    pub marker: Option<MarkerText>,
    /// The first line, after the time.
    pub head: String,
    /// Lines under it.
    pub details: Vec<String>,
}

impl EventView<'_> {
    /// The head after `stamp` (a time, an elapsed time), the details indented under it.
    pub fn lines(&self, stamp: &str) -> Vec<String> {
        let indent = " ".repeat(stamp.chars().count() + 4);
        let mut lines = vec![format!("{stamp}  {}", self.head)];
        lines.extend(self.details.iter().map(|d| format!("{indent}{d}")));
        lines
    }
}

/// What an event changes on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact<'e> {
    /// Green's real share moved; `step` is the step it moved to, `None` for an ending.
    TrafficMoved {
        canary_share: f64,
        step: Option<usize>,
    },
    /// Traffic was shifted to a step (a span starts, unless the step's span is still open).
    StepShifted(StepSpan),
    StepLive {
        step: usize,
        live_at: DateTime<Utc>,
    },
    Analyzed {
        step: usize,
        window: TimeWindow,
        verdict: Verdict,
        decision: &'e Decision,
        metrics: &'e [MetricResult],
    },
}

/// A marker's kind and words, without its time.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerText {
    pub kind: MarkerKind,
    pub step: Option<usize>,
    /// A few words: "advance to step 2", "paused by ana".
    pub label: String,
    /// The full reason, where there is one.
    pub detail: String,
}

fn marker(kind: MarkerKind, step: Option<usize>, label: String, detail: String) -> MarkerText {
    MarkerText {
        kind,
        step,
        label,
        detail,
    }
}

/// Reads one event: every view of every event kind comes from this match.
pub fn project<'e>(event: &'e HistoryEvent, context: &ViewContext<'_>) -> EventView<'e> {
    let at = event.at;
    let mut facts = Vec::new();
    let (marker, head, details) = match &event.kind {
        EventKind::Started {
            version,
            steps,
            warnings,
        } => {
            let plan: Vec<String> = steps.iter().map(|p| percent(*p)).collect();
            let plan = plan.join(" → ");
            (
                Some(marker(
                    MarkerKind::Started,
                    None,
                    format!("started {version}"),
                    plan.clone(),
                )),
                format!("started {} {version}: {plan}", context.service),
                warnings
                    .iter()
                    .map(|w| format!("warning {}: {}", w.field, w.message))
                    .collect(),
            )
        }
        EventKind::ShiftStarted {
            step,
            asked_percent,
            ..
        } => (
            None,
            format!(
                "{}  shifting to {} {}",
                context.step(*step),
                context.canary(),
                percent(*asked_percent)
            ),
            Vec::new(),
        ),
        EventKind::TrafficShifted {
            step,
            asked_percent,
            weights,
            canary_share,
            ..
        } => {
            facts.push(Fact::TrafficMoved {
                canary_share: *canary_share,
                step: Some(*step),
            });
            facts.push(Fact::StepShifted(StepSpan {
                step: *step,
                asked_percent: *asked_percent,
                canary_share: *canary_share,
                stable_weight: weights.stable(),
                canary_weight: weights.canary(),
                shifted_at: at,
                live_at: None,
                until: None,
            }));
            (
                None,
                format!(
                    "{}  Route 53 weights {} {} / {} {} → {} {}",
                    context.step(*step),
                    context.stable(),
                    weights.stable(),
                    context.canary(),
                    weights.canary(),
                    context.canary(),
                    percent(*canary_share)
                ),
                Vec::new(),
            )
        }
        EventKind::StepLive { step, live_at } => {
            facts.push(Fact::StepLive {
                step: *step,
                live_at: *live_at,
            });
            let bake = context.plan.step(*step).map_or(0, |s| s.bake_seconds);
            (
                None,
                format!(
                    "{}  in sync; live at {}, baking {}",
                    context.step(*step),
                    (context.clock)(*live_at),
                    duration(Duration::seconds(i64::from(bake)))
                ),
                Vec::new(),
            )
        }
        EventKind::Analyzed {
            step,
            window,
            verdict,
            metrics,
            decision,
        } => {
            facts.push(Fact::Analyzed {
                step: *step,
                window: *window,
                verdict: *verdict,
                decision,
                metrics,
            });
            let (kind, label, detail) = match decision {
                Decision::Advance { next_step } => (
                    MarkerKind::Advance,
                    format!("{verdict}: advance to step {}", next_step + 1),
                    String::new(),
                ),
                Decision::Promote => (
                    MarkerKind::Promote,
                    format!("{verdict}: promote"),
                    String::new(),
                ),
                Decision::Extend { reason, .. } => (
                    MarkerKind::Extend,
                    format!("{verdict}: judge step {} again", step + 1),
                    reason.clone(),
                ),
                Decision::AwaitApproval { reason } => (
                    MarkerKind::AwaitApproval,
                    format!("{verdict}: hold for approval"),
                    reason.clone(),
                ),
                Decision::RollBack { reason } => (
                    MarkerKind::RollBack,
                    format!("{verdict}: roll back"),
                    reason.clone(),
                ),
            };
            (
                Some(marker(kind, Some(*step), label, detail)),
                format!(
                    "{}  analysis over {}: {} {verdict} → {}",
                    context.step(*step),
                    duration(window.end - window.start),
                    verdict_mark(*verdict),
                    decision_text(decision)
                ),
                metrics.iter().map(metric_line).collect(),
            )
        }
        EventKind::ApprovalRequested { step, reason } => (
            Some(marker(
                MarkerKind::ApprovalRequested,
                Some(*step),
                "waiting for approval".into(),
                reason.clone(),
            )),
            format!("{}  waiting for an operator: {reason}", context.step(*step)),
            vec![format!(
                "sluice approve {id}   or   sluice reject {id}",
                id = context.id
            )],
        ),
        EventKind::Approved { by, comment } => (
            Some(marker(
                MarkerKind::Approved,
                None,
                format!("approved by {by}"),
                comment.clone().unwrap_or_default(),
            )),
            match comment {
                Some(comment) => format!("approved by {by}: {comment}"),
                None => format!("approved by {by}"),
            },
            Vec::new(),
        ),
        EventKind::OperatorRequested { by, request } => (
            Some(marker(
                MarkerKind::OperatorRequest,
                None,
                format!("{request} asked by {by}"),
                String::new(),
            )),
            format!("{by} asked for {request}"),
            Vec::new(),
        ),
        EventKind::RollbackStarted { reason, controller } => (
            Some(marker(
                MarkerKind::RollbackStarted,
                None,
                format!("rollback by {}", controller.describe()),
                reason.clone(),
            )),
            format!("rolling back ({}): {reason}", controller.describe()),
            Vec::new(),
        ),
        EventKind::RampedDown {
            weights,
            canary_share,
            ..
        } => {
            facts.push(Fact::TrafficMoved {
                canary_share: *canary_share,
                step: None,
            });
            (
                None,
                format!(
                    "ramping down: Route 53 weights {} {} / {} {} → {} {}",
                    context.stable(),
                    weights.stable(),
                    context.canary(),
                    weights.canary(),
                    context.canary(),
                    percent(*canary_share)
                ),
                Vec::new(),
            )
        }
        EventKind::RolledBack {
            reason,
            weights,
            alarm_to_traffic_ms,
            ..
        } => {
            facts.push(Fact::TrafficMoved {
                canary_share: weights.canary_percent(),
                step: None,
            });
            let head = format!("rolled back: {} 100%", context.stable());
            (
                Some(marker(
                    MarkerKind::RolledBack,
                    None,
                    head.clone(),
                    reason.clone(),
                )),
                // The reason was on the "rolling back" line just before.
                head,
                alarm_to_traffic_ms
                    .iter()
                    .map(|ms| {
                        format!(
                            "traffic back on {} {ms} ms after the trigger",
                            context.stable()
                        )
                    })
                    .collect(),
            )
        }
        EventKind::PromotionStarted { .. } => (
            None,
            format!("promoting: {} to 100%", context.canary()),
            Vec::new(),
        ),
        EventKind::Promoted { weights, .. } => {
            facts.push(Fact::TrafficMoved {
                canary_share: weights.canary_percent(),
                step: None,
            });
            let head = format!("promoted: {} 100%", context.canary());
            (
                Some(marker(
                    MarkerKind::Promoted,
                    None,
                    head.clone(),
                    String::new(),
                )),
                head,
                Vec::new(),
            )
        }
        EventKind::Failed { error } => (
            Some(marker(
                MarkerKind::Failed,
                None,
                "failed".into(),
                error.clone(),
            )),
            format!("failed: {error}"),
            Vec::new(),
        ),
        EventKind::HookPassed {
            hook,
            function_arn,
            message,
        } => (
            Some(marker(
                MarkerKind::HookPassed,
                None,
                format!("{hook} hook passed"),
                message.clone().unwrap_or_default(),
            )),
            hook_line(*hook, true, message.as_deref()),
            vec![format!("function {function_arn}")],
        ),
        EventKind::HookFailed {
            hook,
            function_arn,
            problem,
            ..
        } => (
            Some(marker(
                MarkerKind::HookFailed,
                None,
                format!("{hook} hook failed"),
                problem.clone(),
            )),
            hook_line(*hook, false, Some(problem)),
            vec![format!("function {function_arn}")],
        ),
    };
    EventView {
        at,
        facts,
        marker,
        head,
        details,
    }
}
