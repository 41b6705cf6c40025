//! The timeline built from histories, and the projection of each event kind.

use super::*;
use crate::analysis::Verdict;
use crate::deployment::{Controller, DeploymentId, EventKind};
use crate::metrics::Observation;
use crate::metrics::TimeWindow;
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
        canary_share: weights.canary_percent(),
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
                weights: WeightPair::ALL_CANARY,
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
    let shares: Vec<f64> = t.traffic.iter().map(|p| p.canary_share).collect();
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
fn a_rollback_returns_traffic_to_stable_and_closes_the_step() {
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
                weights: WeightPair::ALL_STABLE,
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
        canary_share: weights.canary_percent(),
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

/// The lines of one event of `d`, with the time as `HH:MM:SS` UTC.
fn lines_of(d: &Deployment, kind: EventKind) -> Vec<String> {
    let utc = |at: DateTime<Utc>| at.format("%H:%M:%S").to_string();
    let context = ViewContext::of(d, &utc);
    let event = event(1, 5, kind);
    project(&event, &context).lines(&utc(event.at))
}

#[test]
fn each_event_kind_reads_as_its_lines() {
    let d = deployment();
    let weights = WeightPair::for_percent(10.0);
    let cases: Vec<(EventKind, Vec<&str>)> = vec![
        (
            EventKind::Started {
                version: "v2".into(),
                steps: vec![10.0, 100.0],
                warnings: vec![crate::spec::SpecWarning {
                    field: "alarms".into(),
                    message: "none named".into(),
                }],
            },
            vec![
                "12:00:05  started checkout-api v2: 10% → 100%",
                "            warning alarms: none named",
            ],
        ),
        (
            EventKind::ShiftStarted {
                step: 0,
                asked_percent: 10.0,
                weights,
            },
            vec!["12:00:05  step 1/2  shifting to canary green 10%"],
        ),
        (
            shifted(0, 10.0),
            vec![
                "12:00:05  step 1/2  Route 53 weights stable blue 9 / canary green 1 → canary green 10%",
            ],
        ),
        (
            EventKind::StepLive {
                step: 0,
                live_at: at(7),
            },
            vec!["12:00:05  step 1/2  in sync; live at 12:00:07, baking 30s"],
        ),
        (
            analyzed(
                0,
                33,
                4.0,
                Decision::RollBack {
                    reason: "error-rate 4 above 1".into(),
                },
            ),
            vec![
                "12:00:05  step 1/2  analysis over 30s: ✗ fail → roll back",
                "            ✓ error-rate  4 percent  (max 1; 120 samples; stable 0.1 percent)",
            ],
        ),
        (
            EventKind::ApprovalRequested {
                step: 1,
                reason: "approval before promote".into(),
            },
            vec![
                "12:00:05  step 2/2  waiting for an operator: approval before promote",
                "            sluice approve dep-1   or   sluice reject dep-1",
            ],
        ),
        (
            EventKind::Approved {
                by: "ana".into(),
                comment: Some("looks fine".into()),
            },
            vec!["12:00:05  approved by ana: looks fine"],
        ),
        (
            EventKind::OperatorRequested {
                by: "ana".into(),
                request: "pause".into(),
            },
            vec!["12:00:05  ana asked for pause"],
        ),
        (
            EventKind::RollbackStarted {
                reason: "alarm went off".into(),
                controller: Controller::Alarm {
                    alarm: "errors".into(),
                },
            },
            vec!["12:00:05  rolling back (alarm errors): alarm went off"],
        ),
        (
            EventKind::RolledBack {
                reason: "alarm went off".into(),
                weights: WeightPair::ALL_STABLE,
                change_id: "C2".into(),
                alarm_to_traffic_ms: Some(168),
            },
            vec![
                "12:00:05  rolled back: stable blue 100%",
                "            traffic back on stable blue 168 ms after the trigger",
            ],
        ),
        (
            EventKind::Promoted {
                weights: WeightPair::ALL_CANARY,
                change_id: "C3".into(),
            },
            vec!["12:00:05  promoted: canary green 100%"],
        ),
        (
            EventKind::Failed {
                error: "Route 53 refused".into(),
            },
            vec!["12:00:05  failed: Route 53 refused"],
        ),
    ];
    for (kind, expected) in cases {
        assert_eq!(lines_of(&d, kind.clone()), expected, "{kind:?}");
    }
}

#[test]
fn each_analysis_decision_is_a_marker_of_its_kind() {
    let d = deployment();
    let utc = |at: DateTime<Utc>| at.format("%H:%M:%S").to_string();
    let context = ViewContext::of(&d, &utc);
    let cases = [
        (
            Decision::Advance { next_step: 1 },
            MarkerKind::Advance,
            "pass: advance to step 2",
            "→ advance to step 2",
        ),
        (
            Decision::Promote,
            MarkerKind::Promote,
            "pass: promote",
            "→ promote: canary to 100%",
        ),
        (
            Decision::Extend {
                bake_seconds: 20,
                reason: "too few samples".into(),
            },
            MarkerKind::Extend,
            "pass: judge step 1 again",
            "→ bake 20s more and judge again",
        ),
        (
            Decision::AwaitApproval {
                reason: "inconclusive".into(),
            },
            MarkerKind::AwaitApproval,
            "pass: hold for approval",
            "→ hold for an operator (inconclusive)",
        ),
    ];
    for (decision, kind, label, head_end) in cases {
        let event = event(1, 33, analyzed(0, 33, 0.2, decision));
        let view = project(&event, &context);
        let marker = view.marker.unwrap();
        assert_eq!((marker.kind, marker.label.as_str()), (kind, label));
        assert_eq!(marker.step, Some(0));
        assert!(view.head.ends_with(head_end), "{}", view.head);
        assert_eq!(view.details.len(), 1);
    }
}

#[test]
fn a_shift_started_changes_nothing_on_the_timeline() {
    let d = deployment();
    let history = vec![event(
        1,
        1,
        EventKind::ShiftStarted {
            step: 0,
            asked_percent: 10.0,
            weights: WeightPair::for_percent(10.0),
        },
    )];
    let t = Timeline::build(&d, &history);
    assert!(t.markers.is_empty() && t.steps.is_empty());
    assert_eq!(t.traffic.len(), 1);
}

#[test]
fn the_next_release_names_the_slots_in_their_new_roles() {
    let mut d = deployment();
    d.roles = crate::slots::SlotRoles::new("green", "blue");
    let weights = WeightPair::for_percent(25.0);
    assert_eq!(
        lines_of(
            &d,
            EventKind::TrafficShifted {
                step: 0,
                asked_percent: 25.0,
                weights,
                canary_share: weights.canary_percent(),
                change_id: "C1".into(),
            }
        ),
        vec![
            "12:00:05  step 1/2  Route 53 weights stable green 3 / canary blue 1 → canary blue 25%"
        ]
    );
    assert_eq!(
        lines_of(
            &d,
            EventKind::Promoted {
                weights: WeightPair::ALL_CANARY,
                change_id: "C2".into(),
            }
        ),
        vec!["12:00:05  promoted: canary blue 100%"]
    );
    let t = Timeline::build(&d, &[]);
    assert_eq!(t.roles, d.roles);
}
