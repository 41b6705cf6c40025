//! The metrics a deployment's history produces, for the operators' dashboard: derived from each
//! history event as it is written, so the numbers and the history cannot disagree.

use serde::Serialize;

use crate::analysis::Verdict;
use crate::deployment::{Deployment, EventKind, HistoryEvent};

/// The CloudWatch namespace of sluice's own metrics.
pub const NAMESPACE: &str = "Sluice";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPoint {
    pub name: &'static str,
    /// A CloudWatch unit: Count, Percent, Seconds, Milliseconds, None.
    pub unit: &'static str,
    pub value: f64,
    /// The analysed metric's name, for `AnalysisValue`.
    pub metric: Option<String>,
}

impl MetricPoint {
    fn new(name: &'static str, unit: &'static str, value: f64) -> MetricPoint {
        MetricPoint {
            name,
            unit,
            value,
            metric: None,
        }
    }
}

/// The metric points one written event stands for.
pub fn points_for(deployment: &Deployment, event: &HistoryEvent) -> Vec<MetricPoint> {
    let duration = || (event.at - deployment.started_at).num_milliseconds() as f64 / 1000.0;
    match &event.kind {
        EventKind::Started { .. } => vec![MetricPoint::new("DeploymentsStarted", "Count", 1.0)],
        EventKind::TrafficShifted { canary_share, .. } => {
            vec![MetricPoint::new("CanaryShare", "Percent", *canary_share)]
        }
        EventKind::Analyzed {
            verdict, metrics, ..
        } => {
            let verdict = match verdict {
                Verdict::Pass => 1.0,
                Verdict::Inconclusive => 0.0,
                Verdict::Fail => -1.0,
            };
            let mut points = vec![MetricPoint::new("AnalysisVerdict", "None", verdict)];
            points.extend(metrics.iter().filter_map(|m| {
                Some(MetricPoint {
                    metric: Some(m.name.clone()),
                    ..MetricPoint::new("AnalysisValue", "None", m.value?)
                })
            }));
            points
        }
        EventKind::Promoted { .. } => vec![
            MetricPoint::new("CanaryShare", "Percent", 100.0),
            MetricPoint::new("Promotions", "Count", 1.0),
            MetricPoint::new("DeploymentDuration", "Seconds", duration()),
        ],
        EventKind::RolledBack {
            alarm_to_traffic_ms,
            ..
        } => {
            let mut points = vec![
                MetricPoint::new("CanaryShare", "Percent", 0.0),
                MetricPoint::new("Rollbacks", "Count", 1.0),
                MetricPoint::new("DeploymentDuration", "Seconds", duration()),
            ];
            if let Some(ms) = alarm_to_traffic_ms {
                points.push(MetricPoint::new("EmergencyRollbacks", "Count", 1.0));
                points.push(MetricPoint::new(
                    "AlarmToTrafficMilliseconds",
                    "Milliseconds",
                    *ms as f64,
                ));
            }
            points
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{DeploymentId, Status};
    use crate::plan::WeightPair;
    use crate::spec::DeploymentSpec;
    use chrono::{Duration, TimeZone, Utc};

    fn deployment() -> Deployment {
        let spec = DeploymentSpec::from_json(&serde_json::json!({"service": "s", "version": "v1"}))
            .unwrap();
        Deployment::new(
            DeploymentId::parse("d").unwrap(),
            spec,
            None,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )
    }

    fn event(kind: EventKind, after_seconds: i64) -> HistoryEvent {
        HistoryEvent {
            seq: 2,
            at: deployment().started_at + Duration::seconds(after_seconds),
            kind,
        }
    }

    #[test]
    fn shifts_report_the_real_share_and_endings_their_duration() {
        let d = deployment();
        let shifted = event(
            EventKind::TrafficShifted {
                step: 0,
                asked_percent: 0.1,
                weights: WeightPair::for_percent(0.1),
                canary_share: 0.39,
                change_id: "C".into(),
            },
            1,
        );
        assert_eq!(
            points_for(&d, &shifted),
            vec![MetricPoint::new("CanaryShare", "Percent", 0.39)]
        );
        let rolled = event(
            EventKind::RolledBack {
                reason: "r".into(),
                weights: WeightPair::ALL_STABLE,
                change_id: "C".into(),
                alarm_to_traffic_ms: Some(80),
            },
            90,
        );
        let names: Vec<_> = points_for(&d, &rolled)
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect();
        assert_eq!(
            names,
            vec![
                ("CanaryShare", 0.0),
                ("Rollbacks", 1.0),
                ("DeploymentDuration", 90.0),
                ("EmergencyRollbacks", 1.0),
                ("AlarmToTrafficMilliseconds", 80.0)
            ]
        );
        assert!(points_for(&d, &event(EventKind::Failed { error: "x".into() }, 1)).is_empty());
        assert_eq!(d.status, Status::Validating);
    }
}
