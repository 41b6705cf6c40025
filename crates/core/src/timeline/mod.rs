//! A deployment's history read as a timeline: where traffic was when, which step was live,
//! every analysis with its values and thresholds, and the decisions, operator actions and the
//! ending as markers. A read model for people (the CLI's watch, history and report); it is
//! derived from the record and its append-only history and never written back.
//!
//! What each event kind means for the timeline and for the lines the views print is read in
//! one place, [`events::project`]; [`text`] holds the formatters every view shares.

use chrono::{DateTime, Duration, Utc};

use crate::analysis::{Decision, MetricResult};
use crate::deployment::{Deployment, HistoryEvent, Status};

pub mod events;
mod model;
pub mod text;

pub use events::{EventView, Fact, MarkerText, ViewContext, project};
pub use model::{
    AnalysisPoint, Marker, MarkerKind, MetricPoint, MetricTrack, PlannedStep, StepSpan, Timeline,
    TrafficPoint,
};

impl Timeline {
    /// Reads `deployment` and its `history` (oldest first, as the store returns it).
    pub fn build(deployment: &Deployment, history: &[HistoryEvent]) -> Timeline {
        let mut timeline = Timeline {
            id: deployment.id.clone(),
            service: deployment.service.clone(),
            version: deployment.spec.version.clone(),
            status: deployment.status,
            controller: deployment.controller.clone(),
            started_at: deployment.started_at,
            ended_at: None,
            outcome: deployment.outcome.as_ref().map(|o| o.reason.clone()),
            roles: deployment.roles.clone(),
            plan: deployment
                .plan
                .steps
                .iter()
                .map(|s| PlannedStep {
                    percent: s.percent,
                    bake_seconds: s.bake_seconds,
                })
                .collect(),
            traffic: vec![TrafficPoint {
                at: deployment.started_at,
                canary_share: 0.0,
                step: None,
            }],
            steps: Vec::new(),
            analyses: Vec::new(),
            metrics: Vec::new(),
            markers: Vec::new(),
            analysis_due: None,
        };
        // The timeline keeps no text; the clock only matters to the lines it does not keep.
        let utc = |at: DateTime<Utc>| at.format("%H:%M:%S").to_string();
        let context = ViewContext::of(deployment, &utc);
        for event in history {
            timeline.add(event, &context);
        }
        if deployment.status.is_terminal() {
            let ended = deployment
                .outcome
                .as_ref()
                .map(|o| o.at)
                .or_else(|| {
                    timeline
                        .markers
                        .iter()
                        .rev()
                        .find(|m| m.kind.is_ending())
                        .map(|m| m.at)
                })
                .unwrap_or(deployment.updated_at);
            timeline.ended_at = Some(ended);
        }
        timeline.analysis_due = analysis_due(deployment, &timeline);
        timeline
    }

    /// Applies what [`project`] read from one event.
    fn add(&mut self, event: &HistoryEvent, context: &ViewContext<'_>) {
        let view = project(event, context);
        let at = view.at;
        for fact in view.facts {
            match fact {
                Fact::TrafficMoved { canary_share, step } => {
                    self.move_traffic(at, canary_share, step);
                }
                Fact::StepShifted(span) => {
                    // A shift repeated for the same step (a retried task) keeps its first span.
                    if self
                        .steps
                        .last()
                        .is_none_or(|s| s.step != span.step || s.until.is_some())
                    {
                        self.steps.push(span);
                    }
                }
                Fact::StepLive { step, live_at } => {
                    if let Some(span) = self.steps.iter_mut().rev().find(|s| s.step == step) {
                        span.live_at = Some(live_at);
                    }
                }
                Fact::Analyzed {
                    step,
                    window,
                    verdict,
                    decision,
                    metrics,
                } => {
                    self.analyses.push(AnalysisPoint {
                        at,
                        step,
                        window,
                        verdict,
                        decision: decision.clone(),
                    });
                    for result in metrics {
                        self.track(result).points.push(MetricPoint {
                            at,
                            step,
                            value: result.value,
                            baseline: result.baseline.and_then(|b| b.value),
                            samples: result.samples,
                            verdict: result.verdict,
                            reason: result.reason.clone(),
                        });
                    }
                }
            }
        }
        if let Some(marker) = view.marker {
            self.markers.push(Marker {
                at,
                kind: marker.kind,
                step: marker.step,
                label: marker.label,
                detail: marker.detail,
            });
        }
    }

    /// The track of `result`'s metric, started with its thresholds when it is new.
    fn track(&mut self, result: &MetricResult) -> &mut MetricTrack {
        let index = match self.metrics.iter().position(|t| t.name == result.name) {
            Some(i) => i,
            None => {
                self.metrics.push(MetricTrack {
                    name: result.name.clone(),
                    unit: result.unit.clone(),
                    max: result.max,
                    min: result.min,
                    max_increase_over_baseline: result.max_increase_over_baseline,
                    points: Vec::new(),
                });
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[index]
    }

    fn move_traffic(&mut self, at: DateTime<Utc>, canary_share: f64, step: Option<usize>) {
        if let Some(span) = self.steps.last_mut()
            && span.until.is_none()
            && step != Some(span.step)
        {
            span.until = Some(at);
        }
        self.traffic.push(TrafficPoint {
            at,
            canary_share,
            step,
        });
    }

    /// From start to end, or to `now` while it runs.
    pub fn duration(&self, now: DateTime<Utc>) -> Duration {
        self.ended_at.unwrap_or(now) - self.started_at
    }

    /// The canary's share at the end of the history.
    pub fn current_share(&self) -> f64 {
        self.traffic.last().map(|p| p.canary_share).unwrap_or(0.0)
    }

    /// The step live now (or being shifted to), while the deployment runs.
    pub fn current_step(&self) -> Option<&StepSpan> {
        self.steps.last().filter(|s| s.until.is_none())
    }
}

/// When the step now baking is judged: its live time plus its bake, or, after an analysis
/// that asked to judge it again, that analysis plus the bake it asked for.
fn analysis_due(deployment: &Deployment, timeline: &Timeline) -> Option<DateTime<Utc>> {
    if deployment.status != Status::Baking {
        return None;
    }
    let step = deployment.step?;
    if let Some(last) = timeline.analyses.last().filter(|a| a.step == step)
        && let Decision::Extend { bake_seconds, .. } = last.decision
    {
        return Some(last.at + Duration::seconds(i64::from(bake_seconds)));
    }
    let live_at = deployment.traffic.as_ref()?.live_at?;
    let bake = deployment.plan.step(step)?.bake_seconds;
    Some(live_at + Duration::seconds(i64::from(bake)))
}

#[cfg(test)]
mod tests;
