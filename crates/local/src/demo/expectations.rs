//! Whether a demo ended as its scenario expects.

use sluice_core::deployment::EventKind;
use sluice_core::{Controller, Deployment, HistoryEvent, WeightPair};

use super::scenarios::Expectation;
use crate::execution::Execution;

/// The error an execution ended with: DescribeExecution's, else its last
/// `ExecutionFailed`/`ExecutionAborted` event's.
pub fn end_error(execution: &Execution) -> Option<&str> {
    execution.error.as_deref().or_else(|| {
        execution
            .history
            .iter()
            .rev()
            .find(|e| e.kind == "ExecutionFailed" || e.kind == "ExecutionAborted")
            .and_then(|e| e.error.as_deref())
    })
}

/// The rollback's alarm-to-traffic time, when an alarm's takeover recorded one.
pub fn alarm_to_traffic_ms(history: &[HistoryEvent]) -> Option<i64> {
    history.iter().rev().find_map(|e| match &e.kind {
        EventKind::RolledBack {
            alarm_to_traffic_ms,
            ..
        } => *alarm_to_traffic_ms,
        _ => None,
    })
}

pub(super) fn mismatches(
    expect: &Expectation,
    alarm: &str,
    deployment: Option<&Deployment>,
    history: &[HistoryEvent],
    execution: &Execution,
    weights: WeightPair,
) -> Vec<String> {
    let mut problems = Vec::new();
    match deployment {
        Some(d) if d.status == expect.status => {}
        Some(d) => problems.push(format!(
            "deployment is {}, expected {}",
            d.status, expect.status
        )),
        None => problems.push("no deployment record was written".to_string()),
    }
    if (weights.canary_percent() - expect.canary_percent).abs() > 0.01 {
        problems.push(format!(
            "green has {:.1} % of the traffic, expected {:.1} %",
            weights.canary_percent(),
            expect.canary_percent
        ));
    }
    if execution.status != expect.execution_status {
        problems.push(format!(
            "execution is {}, expected {}",
            execution.status, expect.execution_status
        ));
    }
    // moto drops StopExecution's error and cause (AWS keeps them in the ExecutionAborted
    // event): a stopped execution without an error is as expected.
    let stopped_without_error = execution.status == "ABORTED" && end_error(execution).is_none();
    if end_error(execution) != expect.execution_error && !stopped_without_error {
        problems.push(format!(
            "execution error is {:?}, expected {:?}",
            end_error(execution),
            expect.execution_error
        ));
    }
    if expect.taken_over_by_alarm {
        let by_alarm = Controller::Alarm {
            alarm: alarm.to_string(),
        };
        match deployment {
            Some(d) if d.controller != by_alarm => problems.push(format!(
                "the deployment was ended by {}, expected {}",
                d.controller.describe(),
                by_alarm.describe()
            )),
            Some(d) if !d.outcome.as_ref().is_some_and(|o| o.reason.contains(alarm)) => {
                problems.push(format!(
                    "the outcome does not name alarm {alarm}: {:?}",
                    d.outcome
                ));
            }
            _ => {}
        }
        if alarm_to_traffic_ms(history).is_none() {
            problems.push("the rollback recorded no alarm-to-traffic time".to_string());
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::ExecutionEvent;

    #[test]
    fn a_stopped_executions_error_comes_from_its_aborted_event() {
        let event = |id: i64, kind: &str, error: Option<&str>| ExecutionEvent {
            id,
            at: chrono::Utc::now(),
            kind: kind.to_string(),
            state: None,
            error: error.map(str::to_string),
            cause: None,
        };
        let mut execution = Execution {
            arn: "arn".into(),
            name: "n".into(),
            status: "ABORTED".into(),
            started_at: None,
            stopped_at: None,
            error: None,
            cause: None,
            output: None,
            history: vec![
                event(1, "ExecutionStarted", None),
                event(2, "ExecutionAborted", Some("Sluice.TakenOver")),
            ],
        };
        assert_eq!(end_error(&execution), Some("Sluice.TakenOver"));
        execution.error = Some("Sluice.RolledBack".into());
        assert_eq!(end_error(&execution), Some("Sluice.RolledBack"));
    }
}
