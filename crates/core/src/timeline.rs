//! A deployment's history read as a timeline: where traffic was when, which step was live,
//! every analysis with its values and thresholds, and the decisions, operator actions and the
//! ending as markers. A read model for people (the CLI's watch, history and report); it is
//! derived from the record and its append-only history and never written back.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::{Decision, Verdict};
use crate::deployment::{Controller, Deployment, DeploymentId, EventKind, HistoryEvent, Status};
use crate::metrics::TimeWindow;

/// One deployment as a timeline.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub id: DeploymentId,
    pub service: String,
    pub version: String,
    pub status: Status,
    pub controller: Controller,
    pub started_at: DateTime<Utc>,
    /// When the deployment reached its terminal status; `None` while it runs.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended as it did.
    pub outcome: Option<String>,
    /// The planned steps: green percent and bake of each.
    pub plan: Vec<PlannedStep>,
    /// Green's share of traffic, as a step function: each point holds until the next.
    pub traffic: Vec<TrafficPoint>,
    /// The steps that were shifted to, in order (a step judged again appears once).
    pub steps: Vec<StepSpan>,
    pub analyses: Vec<AnalysisPoint>,
    /// Each metric's values over the analyses, with its thresholds.
    pub metrics: Vec<MetricTrack>,
    pub markers: Vec<Marker>,
    /// When the step now baking is due to be judged, while one is.
    pub analysis_due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStep {
    pub percent: f64,
    pub bake_seconds: u32,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPoint {
    pub at: DateTime<Utc>,
    /// Green's real share in percent (from the Route 53 weights, not the asked percent).
    pub green_share: f64,
    pub step: Option<usize>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSpan {
    pub step: usize,
    pub asked_percent: f64,
    pub green_share: f64,
    pub blue_weight: u8,
    pub green_weight: u8,
    pub shifted_at: DateTime<Utc>,
    pub live_at: Option<DateTime<Utc>>,
    /// When traffic moved on (the next step, a rollback, the promotion); `None` while current.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisPoint {
    pub at: DateTime<Utc>,
    pub step: usize,
    pub window: TimeWindow,
    pub verdict: Verdict,
    pub decision: Decision,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTrack {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub max_increase_over_baseline: Option<f64>,
    pub points: Vec<MetricPoint>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricPoint {
    pub at: DateTime<Utc>,
    pub step: usize,
    /// `None` when there was no data.
    #[serialize_always]
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub samples: u64,
    pub verdict: Verdict,
    pub reason: String,
}

/// Something that happened at a moment, worth a mark on the timeline.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub at: DateTime<Utc>,
    pub kind: MarkerKind,
    pub step: Option<usize>,
    /// A few words: "advance to step 2", "paused by ana".
    pub label: String,
    /// The full reason, where there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkerKind {
    Started,
    /// An analysis decided to move to the next step.
    Advance,
    /// An analysis decided to promote.
    Promote,
    /// An analysis decided to judge the step again.
    Extend,
    /// An analysis held the deployment for an operator.
    AwaitApproval,
    /// An analysis decided to roll back.
    RollBack,
    ApprovalRequested,
    Approved,
    /// An operator asked for a pause, a resume or a promotion.
    OperatorRequest,
    RollbackStarted,
    RolledBack,
    Promoted,
    Failed,
}

impl MarkerKind {
    /// Whether this marker ends the deployment.
    pub fn is_ending(&self) -> bool {
        matches!(
            self,
            MarkerKind::Promoted | MarkerKind::RolledBack | MarkerKind::Failed
        )
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MarkerKind::Started => "started",
            MarkerKind::Advance => "advance",
            MarkerKind::Promote => "promote",
            MarkerKind::Extend => "extend",
            MarkerKind::AwaitApproval => "await-approval",
            MarkerKind::RollBack => "roll-back",
            MarkerKind::ApprovalRequested => "approval-requested",
            MarkerKind::Approved => "approved",
            MarkerKind::OperatorRequest => "operator-request",
            MarkerKind::RollbackStarted => "rollback-started",
            MarkerKind::RolledBack => "rolled-back",
            MarkerKind::Promoted => "promoted",
            MarkerKind::Failed => "failed",
        }
    }
}

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
                green_share: 0.0,
                step: None,
            }],
            steps: Vec::new(),
            analyses: Vec::new(),
            metrics: Vec::new(),
            markers: Vec::new(),
            analysis_due: None,
        };
        for event in history {
            timeline.add(event);
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

    fn add(&mut self, event: &HistoryEvent) {
        let at = event.at;
        match &event.kind {
            EventKind::Started { version, steps, .. } => {
                let plan: Vec<String> = steps.iter().map(|p| format!("{p}%")).collect();
                self.mark(
                    at,
                    MarkerKind::Started,
                    None,
                    format!("started {version}"),
                    plan.join(" → "),
                );
            }
            EventKind::ShiftStarted { .. } => {}
            EventKind::TrafficShifted {
                step,
                asked_percent,
                weights,
                green_share,
                ..
            } => {
                self.move_traffic(at, *green_share, Some(*step));
                // A shift repeated for the same step (a retried task) keeps its first span.
                if self
                    .steps
                    .last()
                    .is_none_or(|s| s.step != *step || s.until.is_some())
                {
                    self.steps.push(StepSpan {
                        step: *step,
                        asked_percent: *asked_percent,
                        green_share: *green_share,
                        blue_weight: weights.blue(),
                        green_weight: weights.green(),
                        shifted_at: at,
                        live_at: None,
                        until: None,
                    });
                }
            }
            EventKind::StepLive { step, live_at } => {
                if let Some(span) = self.steps.iter_mut().rev().find(|s| s.step == *step) {
                    span.live_at = Some(*live_at);
                }
            }
            EventKind::Analyzed {
                step,
                window,
                verdict,
                metrics,
                decision,
            } => {
                self.analyses.push(AnalysisPoint {
                    at,
                    step: *step,
                    window: *window,
                    verdict: *verdict,
                    decision: decision.clone(),
                });
                for result in metrics {
                    let track = match self.metrics.iter().position(|t| t.name == result.name) {
                        Some(i) => &mut self.metrics[i],
                        None => {
                            self.metrics.push(MetricTrack {
                                name: result.name.clone(),
                                unit: result.unit.clone(),
                                max: result.max,
                                min: result.min,
                                max_increase_over_baseline: result.max_increase_over_baseline,
                                points: Vec::new(),
                            });
                            let last = self.metrics.len() - 1;
                            &mut self.metrics[last]
                        }
                    };
                    track.points.push(MetricPoint {
                        at,
                        step: *step,
                        value: result.value,
                        baseline: result.baseline.and_then(|b| b.value),
                        samples: result.samples,
                        verdict: result.verdict,
                        reason: result.reason.clone(),
                    });
                }
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
                self.mark(at, kind, Some(*step), label, detail);
            }
            EventKind::ApprovalRequested { step, reason } => {
                self.mark(
                    at,
                    MarkerKind::ApprovalRequested,
                    Some(*step),
                    "waiting for approval".into(),
                    reason.clone(),
                );
            }
            EventKind::Approved { by, comment } => {
                self.mark(
                    at,
                    MarkerKind::Approved,
                    None,
                    format!("approved by {by}"),
                    comment.clone().unwrap_or_default(),
                );
            }
            EventKind::OperatorRequested { by, request } => {
                self.mark(
                    at,
                    MarkerKind::OperatorRequest,
                    None,
                    format!("{request} asked by {by}"),
                    String::new(),
                );
            }
            EventKind::RollbackStarted { reason, controller } => {
                self.mark(
                    at,
                    MarkerKind::RollbackStarted,
                    None,
                    format!("rollback by {}", controller.describe()),
                    reason.clone(),
                );
            }
            EventKind::RolledBack {
                reason, weights, ..
            } => {
                self.move_traffic(at, weights.green_percent(), None);
                self.mark(
                    at,
                    MarkerKind::RolledBack,
                    None,
                    "rolled back: 100% blue".into(),
                    reason.clone(),
                );
            }
            EventKind::Promoted { weights, .. } => {
                self.move_traffic(at, weights.green_percent(), None);
                self.mark(
                    at,
                    MarkerKind::Promoted,
                    None,
                    "promoted: 100% green".into(),
                    String::new(),
                );
            }
            EventKind::Failed { error } => {
                self.mark(at, MarkerKind::Failed, None, "failed".into(), error.clone());
            }
        }
    }

    fn move_traffic(&mut self, at: DateTime<Utc>, green_share: f64, step: Option<usize>) {
        if let Some(span) = self.steps.last_mut()
            && span.until.is_none()
            && step != Some(span.step)
        {
            span.until = Some(at);
        }
        self.traffic.push(TrafficPoint {
            at,
            green_share,
            step,
        });
    }

    fn mark(
        &mut self,
        at: DateTime<Utc>,
        kind: MarkerKind,
        step: Option<usize>,
        label: String,
        detail: String,
    ) {
        self.markers.push(Marker {
            at,
            kind,
            step,
            label,
            detail,
        });
    }

    /// From start to end, or to `now` while it runs.
    pub fn duration(&self, now: DateTime<Utc>) -> Duration {
        self.ended_at.unwrap_or(now) - self.started_at
    }

    /// Green's share at the end of the history.
    pub fn current_share(&self) -> f64 {
        self.traffic.last().map(|p| p.green_share).unwrap_or(0.0)
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
mod tests {
    use super::*;
    use crate::analysis::MetricResult;
    use crate::metrics::Observation;
    use crate::plan::WeightPair;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn deployment() -> Deployment {
        let spec = crate::DeploymentSpec::from_json(&serde_json::json!({
            "service": "checkout-api", "version": "v2",
            "strategy": {"kind": "canary", "steps": [10, 100], "bakeSeconds": 30}
        }))
        .unwrap();
        Deployment::new(DeploymentId::parse("dep-1").unwrap(), spec, None, at(0))
    }

    fn event(seq: u64, seconds: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            seq,
            at: at(seconds),
            kind,
        }
    }

    fn analyzed(step: usize, seconds: i64, value: f64, decision: Decision) -> EventKind {
        EventKind::Analyzed {
            step,
            window: TimeWindow {
                start: at(seconds - 30),
                end: at(seconds),
            },
            verdict: if value > 1.0 {
                Verdict::Fail
            } else {
                Verdict::Pass
            },
            metrics: vec![MetricResult {
                name: "error-rate".into(),
                unit: "percent".into(),
                value: Some(value),
                samples: 120,
                baseline: Some(Observation {
                    value: Some(0.1),
                    samples: 900,
                }),
                max: Some(1.0),
                min: None,
                max_increase_over_baseline: None,
                min_samples: 50,
                verdict: Verdict::Pass,
                reason: "ok".into(),
            }],
            decision,
        }
    }

    fn shifted(step: usize, percent: f64) -> EventKind {
        let weights = WeightPair::for_percent(percent);
        EventKind::TrafficShifted {
            step,
            asked_percent: percent,
            weights,
            green_share: weights.green_percent(),
            change_id: "C1".into(),
        }
    }

    #[test]
    fn a_promoted_deployment_reads_as_steps_analyses_and_an_ending() {
        let mut d = deployment();
        d.status = Status::Promoted;
        d.outcome = Some(crate::deployment::Outcome {
            reason: "every step passed".into(),
            at: at(100),
        });
        let history = vec![
            event(
                1,
                0,
                EventKind::Started {
                    version: "v2".into(),
                    steps: vec![10.0, 100.0],
                    warnings: vec![],
                },
            ),
            event(2, 1, shifted(0, 10.0)),
            event(
                3,
                2,
                EventKind::StepLive {
                    step: 0,
                    live_at: at(3),
                },
            ),
            event(
                4,
                33,
                analyzed(0, 33, 0.2, Decision::Advance { next_step: 1 }),
            ),
            event(5, 34, shifted(1, 100.0)),
            event(
                6,
                35,
                EventKind::StepLive {
                    step: 1,
                    live_at: at(36),
                },
            ),
            event(7, 66, analyzed(1, 66, 0.3, Decision::Promote)),
            event(
                8,
                100,
                EventKind::Promoted {
                    weights: WeightPair::ALL_GREEN,
                    change_id: "C3".into(),
                },
            ),
        ];
        let t = Timeline::build(&d, &history);
        assert_eq!(t.ended_at, Some(at(100)));
        assert_eq!(t.duration(at(500)), Duration::seconds(100));
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[0].until, Some(at(34)));
        assert_eq!(t.steps[0].live_at, Some(at(3)));
        assert_eq!(t.steps[1].until, Some(at(100)));
        let shares: Vec<f64> = t.traffic.iter().map(|p| p.green_share).collect();
        assert_eq!(shares, vec![0.0, 10.0, 100.0, 100.0]);
        let kinds: Vec<MarkerKind> = t.markers.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MarkerKind::Started,
                MarkerKind::Advance,
                MarkerKind::Promote,
                MarkerKind::Promoted
            ]
        );
        assert_eq!(t.metrics.len(), 1);
        assert_eq!(t.metrics[0].points.len(), 2);
        assert_eq!(t.metrics[0].points[0].baseline, Some(0.1));
        assert_eq!(t.metrics[0].max, Some(1.0));
        assert_eq!(t.current_share(), 100.0);
        assert!(t.current_step().is_none());
    }

    #[test]
    fn a_rollback_returns_traffic_to_blue_and_closes_the_step() {
        let mut d = deployment();
        d.status = Status::RolledBack;
        let history = vec![
            event(
                1,
                0,
                EventKind::Started {
                    version: "v2".into(),
                    steps: vec![10.0, 100.0],
                    warnings: vec![],
                },
            ),
            event(2, 1, shifted(0, 10.0)),
            event(
                3,
                33,
                analyzed(
                    0,
                    33,
                    4.0,
                    Decision::RollBack {
                        reason: "error-rate 4 above 1".into(),
                    },
                ),
            ),
            event(
                4,
                34,
                EventKind::RollbackStarted {
                    reason: "error-rate 4 above 1".into(),
                    controller: Controller::StateMachine,
                },
            ),
            event(
                5,
                35,
                EventKind::RolledBack {
                    reason: "error-rate 4 above 1".into(),
                    weights: WeightPair::ALL_BLUE,
                    change_id: "C2".into(),
                    alarm_to_traffic_ms: None,
                },
            ),
        ];
        let t = Timeline::build(&d, &history);
        assert_eq!(t.ended_at, Some(at(35)));
        assert_eq!(t.steps[0].until, Some(at(35)));
        assert_eq!(t.current_share(), 0.0);
        let kinds: Vec<MarkerKind> = t.markers.iter().map(|m| m.kind).collect();
        assert!(kinds.contains(&MarkerKind::RollBack));
        assert_eq!(kinds.last(), Some(&MarkerKind::RolledBack));
        assert_eq!(t.markers[1].detail, "error-rate 4 above 1");
    }

    #[test]
    fn a_baking_step_is_due_after_its_bake_or_after_a_re_judgement() {
        let mut d = deployment();
        d.status = Status::Baking;
        d.step = Some(0);
        let weights = WeightPair::for_percent(10.0);
        d.traffic = Some(crate::deployment::TrafficState {
            asked_percent: 10.0,
            weights,
            green_share: weights.green_percent(),
            change_id: "C1".into(),
            changed_at: at(1),
            live_at: Some(at(3)),
        });
        let mut history = vec![event(2, 1, shifted(0, 10.0))];
        assert_eq!(Timeline::build(&d, &history).analysis_due, Some(at(33)));
        history.push(event(
            3,
            40,
            analyzed(
                0,
                40,
                0.2,
                Decision::Extend {
                    bake_seconds: 30,
                    reason: "inconclusive".into(),
                },
            ),
        ));
        let t = Timeline::build(&d, &history);
        assert_eq!(t.analysis_due, Some(at(70)));
        assert_eq!(t.current_step().map(|s| s.step), Some(0));
    }
}
