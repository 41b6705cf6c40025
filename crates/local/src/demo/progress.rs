//! The live progress: the deployment's history (its lines from the core's projection, the
//! same as `sluice watch` prints), the execution's failures and ending, the alarm evaluator's
//! state changes and what `emergency-rollback` answered, each stamped with the time since
//! the deployment started; and the scenario's cues, played as the history reaches them.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use sluice_core::deployment::EventKind;
use sluice_core::timeline::text::number;
use sluice_core::timeline::{ViewContext, project};
use sluice_core::{Deployment, HistoryEvent};

use super::output::{line, secs};
use super::scenarios::{Action, Cue, When};
use crate::alarms::AlarmTransition;
use crate::error::Result;
use crate::execution::{Execution, ExecutionEvent};
use crate::router::{Invocation, InvocationOutcome, InvocationSource};
use crate::runner::{EMERGENCY_ROLLBACK_FUNCTION, LocalRunner};
use crate::traffic::VersionProfile;

/// Prints what is new in the deployment's history and the execution's, and plays the cues.
pub(super) struct ProgressWatcher {
    started: Instant,
    shown_seq: u64,
    shown_execution_events: i64,
    cues: Vec<Cue>,
    played: BTreeSet<usize>,
    /// The state the execution is in, to name the task a failure belongs to.
    current_state: String,
    shown_alarm_transitions: usize,
    shown_emergency_answers: usize,
}

impl ProgressWatcher {
    pub(super) fn new(started: Instant, cues: Vec<Cue>) -> Self {
        ProgressWatcher {
            started,
            shown_seq: 0,
            shown_execution_events: 0,
            cues,
            played: BTreeSet::new(),
            current_state: String::new(),
            shown_alarm_transitions: 0,
            shown_emergency_answers: 0,
        }
    }

    /// Time since the deployment started.
    pub(super) fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    fn stamp(&self) -> String {
        format!("{:>6.1}s", secs(self.started.elapsed()))
    }

    /// Prints what is new; the deployment's history only once its record can be read.
    pub(super) async fn show(
        &mut self,
        out: &mut (impl Write + Send),
        runner: &LocalRunner,
        deployment: Option<&Deployment>,
        history: &[HistoryEvent],
        execution: &Execution,
    ) -> Result<()> {
        // In the order they happen: the alarm changes state, emergency-rollback writes the
        // history, then answers the SNS delivery.
        let transitions = runner.alarm_transitions();
        for transition in transitions.iter().skip(self.shown_alarm_transitions) {
            line(
                out,
                format!("{}  {}", self.stamp(), describe_transition(transition)),
            );
        }
        self.shown_alarm_transitions = transitions.len();
        if let Some(deployment) = deployment {
            // The same lines as `sluice watch`, with the time since the start instead of the
            // clock (the clock inside a line stays UTC with milliseconds, as the runner logs).
            let utc = |at: chrono::DateTime<chrono::Utc>| at.format("%H:%M:%S%.3f").to_string();
            let context = ViewContext::of(deployment, &utc);
            let shown_seq = self.shown_seq;
            for event in history.iter().filter(|e| e.seq > shown_seq) {
                self.shown_seq = event.seq;
                for text in project(event, &context).lines(&self.stamp()) {
                    line(out, text);
                }
                self.play_cues(out, runner, event).await?;
            }
        }
        let answers = runner.invocations(EMERGENCY_ROLLBACK_FUNCTION);
        for answer in answers.iter().skip(self.shown_emergency_answers) {
            line(
                out,
                format!("{}  {}", self.stamp(), describe_emergency_answer(answer)),
            );
        }
        self.shown_emergency_answers = answers.len();
        let shown_events = self.shown_execution_events;
        for event in execution.history.iter().filter(|e| e.id > shown_events) {
            self.shown_execution_events = event.id;
            if let Some(state) = &event.state {
                self.current_state.clone_from(state);
            }
            if let Some(text) = describe_execution_event(event, &self.current_state) {
                line(out, format!("{}  {text}", self.stamp()));
            }
        }
        Ok(())
    }

    async fn play_cues(
        &mut self,
        out: &mut (impl Write + Send),
        runner: &LocalRunner,
        event: &HistoryEvent,
    ) -> Result<()> {
        let happened = match &event.kind {
            EventKind::StepLive { step, .. } => Some(When::StepLive(*step)),
            EventKind::Analyzed { step, .. } => Some(When::Analyzed(*step)),
            _ => None,
        };
        let Some(happened) = happened else {
            return Ok(());
        };
        for (index, cue) in self.cues.clone().iter().enumerate() {
            if cue.when != happened || !self.played.insert(index) {
                continue;
            }
            match &cue.action {
                Action::SetGreen(profile) => {
                    runner.traffic().set_green(*profile);
                    line(
                        out,
                        format!(
                            "{}  ▶ green now {}",
                            self.stamp(),
                            describe_profile(*profile)
                        ),
                    );
                }
                Action::SetBlue(profile) => {
                    runner.traffic().set_blue(*profile);
                    line(
                        out,
                        format!(
                            "{}  ▶ blue now {}",
                            self.stamp(),
                            describe_profile(*profile)
                        ),
                    );
                }
                Action::ForceAlarm { reason } => {
                    let alarm = runner.environment().alarm().to_string();
                    runner.force_alarm(&alarm, reason).await?;
                    line(
                        out,
                        format!("{}  ▶ alarm {alarm} forced into ALARM", self.stamp()),
                    );
                }
            }
        }
        Ok(())
    }
}

fn describe_execution_event(event: &ExecutionEvent, state: &str) -> Option<String> {
    match event.kind.as_str() {
        "LambdaFunctionFailed" | "TaskFailed" | "LambdaFunctionTimedOut" => Some(format!(
            "! {state} failed with {}{}",
            event.error.as_deref().unwrap_or("an error"),
            event
                .cause
                .as_deref()
                .and_then(cause_message)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        "ExecutionSucceeded" => Some("execution SUCCEEDED".to_string()),
        "ExecutionFailed" => Some(format!(
            "execution FAILED: {}{}",
            event.error.as_deref().unwrap_or(""),
            event
                .cause
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        )),
        "ExecutionAborted" => Some(format!(
            "execution ABORTED during {state}{}{}",
            event
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
            event
                .cause
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        )),
        "ExecutionTimedOut" => Some("execution TIMED_OUT".to_string()),
        _ => None,
    }
}

/// `▲ alarm checkout-api-green-errors OK → ALARM: Threshold Crossed: … → SNS sluice-alarms`
fn describe_transition(transition: &AlarmTransition) -> String {
    let topics: Vec<&str> = transition
        .notified
        .iter()
        .map(|arn| arn.rsplit(':').next().unwrap_or(arn))
        .collect();
    format!(
        "▲ alarm {} {} → {}{}: {} → {}",
        transition.alarm,
        crate::alarms::state_name(transition.from),
        crate::alarms::state_name(transition.to),
        if transition.forced { " (forced)" } else { "" },
        transition.reason,
        if topics.is_empty() {
            "no topic notified".to_string()
        } else {
            format!("SNS {}", topics.join(", "))
        }
    )
}

/// What `emergency-rollback` answered one delivery, in words.
fn describe_emergency_answer(invocation: &Invocation) -> String {
    use sluice_core::workflow::TakeoverOutcome;
    let from = match &invocation.source {
        InvocationSource::Sns { topic_arn } => {
            format!("SNS {}", topic_arn.rsplit(':').next().unwrap_or(topic_arn))
        }
        InvocationSource::Invoke => "Invoke".to_string(),
        InvocationSource::Direct => "a direct call".to_string(),
    };
    let answer = match &invocation.outcome {
        InvocationOutcome::Succeeded { output } => {
            match serde_json::from_value::<Vec<TakeoverOutcome>>(output.clone()) {
                Ok(outcomes) => outcomes
                    .iter()
                    .map(|o| match o {
                        TakeoverOutcome::RolledBack {
                            deployment,
                            to_traffic_ms,
                        } => format!(
                            "took {deployment} over and rolled it back{}",
                            to_traffic_ms
                                .map(|ms| format!(" (alarm to 100 % stable in {ms} ms)"))
                                .unwrap_or_default()
                        ),
                        TakeoverOutcome::AlreadyRolledBack { deployment } => {
                            format!("{deployment} was already rolled back")
                        }
                        TakeoverOutcome::Ignored { alarm, state } => {
                            format!("alarm {alarm} is {state}: nothing to do")
                        }
                        TakeoverOutcome::NothingActive { alarm } => {
                            format!("no active deployment names alarm {alarm}")
                        }
                        other => {
                            serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}"))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                Err(_) => output.to_string(),
            }
        }
        InvocationOutcome::FunctionError {
            error_type,
            error_message,
            ..
        } => format!("failed with {error_type}: {error_message}"),
        other => format!("{other:?}"),
    };
    format!(
        "▶ {EMERGENCY_ROLLBACK_FUNCTION} ({from}, {:.0} ms): {answer}",
        invocation.duration.as_secs_f64() * 1000.0
    )
}

/// The `errorMessage` inside a Lambda error cause (`{"errorType": …, "errorMessage": …}`).
fn cause_message(cause: &str) -> Option<String> {
    let parsed: serde_json::Value = serde_json::from_str(cause).ok()?;
    parsed
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .map(|m| m.chars().take(160).collect())
}
pub(super) fn describe_profile(profile: VersionProfile) -> String {
    format!(
        "{} req/s at 100 %, {}% errors, {} ms",
        number(profile.requests_per_second),
        number(profile.error_percent),
        number(profile.latency_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_messages_come_out_of_lambda_error_causes() {
        assert_eq!(
            cause_message(r#"{"errorType":"Sluice.Retryable","errorMessage":"try again"}"#)
                .as_deref(),
            Some("try again")
        );
        assert_eq!(cause_message("plain"), None);
    }
}
