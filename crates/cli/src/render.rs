//! Text for people: tables, durations, percentages, and one deployment event as lines.

use chrono::{DateTime, Duration, Local, Utc};
use sluice_core::analysis::{Decision, MetricResult, Verdict};
use sluice_core::deployment::{Deployment, EventKind, HistoryEvent, Status};

/// `4s`, `2m05s`, `1h02m`: short, and precise where it matters.
pub fn duration(d: Duration) -> String {
    let seconds = d.num_seconds().max(0);
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `12.5%`, `10%`, `0.39%`: as many decimals as the number needs, at most two.
pub fn percent(value: f64) -> String {
    format!("{}%", number(value))
}

/// A number without trailing zeros, at most four significant decimals.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let decimals = if value.abs() >= 100.0 {
        1
    } else if value.abs() >= 1.0 {
        2
    } else {
        4
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

/// The local wall-clock time of an instant, for lines people read as they happen.
pub fn clock(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%H:%M:%S").to_string()
}

/// A date and time, for tables of past deployments.
pub fn date_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Columns aligned by the widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// How a deployment ended, in a word or two.
pub fn outcome_word(status: Status) -> &'static str {
    match status {
        Status::Promoted => "promoted",
        Status::RolledBack => "rolled back",
        Status::Failed => "failed",
        Status::RollingBack => "rolling back",
        Status::AwaitingApproval => "waiting",
        _ => "running",
    }
}

/// `✓`, `✗` or `?` for a verdict.
pub fn verdict_mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✓",
        Verdict::Fail => "✗",
        Verdict::Inconclusive => "?",
    }
}

/// A metric's thresholds: `max 1`, `min 0.5, max 2`, `≤ blue + 0.2`.
pub fn thresholds(max: Option<f64>, min: Option<f64>, over_baseline: Option<f64>) -> String {
    let mut parts = Vec::new();
    if let Some(min) = min {
        parts.push(format!("min {}", number(min)));
    }
    if let Some(max) = max {
        parts.push(format!("max {}", number(max)));
    }
    if let Some(allowed) = over_baseline {
        parts.push(format!("≤ blue + {}", number(allowed)));
    }
    if parts.is_empty() {
        "no threshold".into()
    } else {
        parts.join(", ")
    }
}

/// One metric's judgement: `✓ error-rate  0.42 percent  (max 1; 120 samples; blue 0.1)`.
pub fn metric_line(result: &MetricResult) -> String {
    let unit = if result.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", result.unit)
    };
    let value = match result.value {
        Some(v) => format!("{}{unit}", number(v)),
        None => "no data".into(),
    };
    let mut notes = vec![
        thresholds(result.max, result.min, result.max_increase_over_baseline),
        format!("{} samples", result.samples),
    ];
    if let Some(blue) = result.baseline.and_then(|b| b.value) {
        notes.push(format!("blue {}{unit}", number(blue)));
    }
    let mut line = format!(
        "{} {}  {value}  ({})",
        verdict_mark(result.verdict),
        result.name,
        notes.join("; ")
    );
    if result.verdict != Verdict::Pass {
        line.push_str(&format!(": {}", result.reason));
    }
    line
}

/// What a decision does next, for people.
pub fn decision_text(decision: &Decision) -> String {
    match decision {
        Decision::Advance { next_step } => format!("advance to step {}", next_step + 1),
        Decision::Promote => "promote to 100% green".into(),
        // The metric lines under the decision say why; a hold says who or what it waits for.
        Decision::Extend { bake_seconds, .. } => {
            format!("bake {bake_seconds}s more and judge again")
        }
        Decision::AwaitApproval { reason } => format!("hold for an operator ({reason})"),
        Decision::RollBack { .. } => "roll back".into(),
    }
}

/// One history event as lines: the first with the time, the rest indented under it.
pub fn event_lines(deployment: &Deployment, event: &HistoryEvent) -> Vec<String> {
    let steps = deployment.plan.steps.len();
    let step_of = |step: usize| format!("step {}/{steps}", step + 1);
    let id = &deployment.id;
    let (head, details): (String, Vec<String>) = match &event.kind {
        EventKind::Started {
            version,
            steps,
            warnings,
        } => {
            let plan: Vec<String> = steps.iter().map(|p| percent(*p)).collect();
            (
                format!(
                    "started {} {version}: {}",
                    deployment.service,
                    plan.join(" → ")
                ),
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
            format!(
                "{}  shifting to {} green",
                step_of(*step),
                percent(*asked_percent)
            ),
            Vec::new(),
        ),
        EventKind::TrafficShifted {
            step,
            weights,
            green_share,
            ..
        } => (
            format!(
                "{}  Route 53 weights blue {} / green {} → {} green",
                step_of(*step),
                weights.blue(),
                weights.green(),
                percent(*green_share)
            ),
            Vec::new(),
        ),
        EventKind::StepLive { step, live_at } => {
            let bake = deployment
                .plan
                .step(*step)
                .map(|s| s.bake_seconds)
                .unwrap_or(0);
            (
                format!(
                    "{}  in sync; live at {}, baking {}",
                    step_of(*step),
                    clock(*live_at),
                    duration(Duration::seconds(i64::from(bake)))
                ),
                Vec::new(),
            )
        }
        EventKind::Analyzed {
            step,
            verdict,
            metrics,
            decision,
            window,
        } => (
            format!(
                "{}  analysis over {}: {} {verdict} → {}",
                step_of(*step),
                duration(window.end - window.start),
                verdict_mark(*verdict),
                decision_text(decision)
            ),
            metrics.iter().map(metric_line).collect(),
        ),
        EventKind::ApprovalRequested { step, reason } => (
            format!("{}  waiting for an operator: {reason}", step_of(*step)),
            vec![format!("sluice approve {id}   or   sluice reject {id}")],
        ),
        EventKind::Approved { by, comment } => (
            match comment {
                Some(comment) => format!("approved by {by}: {comment}"),
                None => format!("approved by {by}"),
            },
            Vec::new(),
        ),
        EventKind::OperatorRequested { by, request } => {
            (format!("{by} asked for {request}"), Vec::new())
        }
        EventKind::RollbackStarted { reason, controller } => (
            format!("rolling back ({}): {reason}", controller.describe()),
            Vec::new(),
        ),
        // The reason was on the "rolling back" line just before.
        EventKind::RolledBack {
            alarm_to_traffic_ms,
            ..
        } => (
            "rolled back: 100% blue".into(),
            alarm_to_traffic_ms
                .iter()
                .map(|ms| format!("traffic back on blue {ms} ms after the trigger"))
                .collect(),
        ),
        EventKind::Promoted { .. } => ("promoted: 100% green".into(), Vec::new()),
        EventKind::Failed { error } => (format!("failed: {error}"), Vec::new()),
    };
    let mut lines = vec![format!("{}  {head}", clock(event.at))];
    lines.extend(details.into_iter().map(|d| format!("            {d}")));
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use sluice_core::metrics::Observation;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(Duration::seconds(4)), "4s");
        assert_eq!(duration(Duration::seconds(125)), "2m05s");
        assert_eq!(duration(Duration::seconds(3720)), "1h02m");
        assert_eq!(duration(Duration::seconds(90_000)), "1d01h");
        assert_eq!(duration(Duration::seconds(-3)), "0s");
    }

    #[test]
    fn numbers_lose_their_trailing_zeros() {
        assert_eq!(percent(10.0), "10%");
        assert_eq!(percent(0.390625), "0.3906%");
        assert_eq!(percent(33.333333), "33.33%");
        assert_eq!(number(2000.0), "2000");
        assert_eq!(number(-0.00001), "0");
    }

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &["SERVICE", "STATUS"],
            &[
                vec!["checkout-api".into(), "baking".into()],
                vec!["a".into(), "shifting".into()],
            ],
        );
        assert_eq!(
            text,
            "SERVICE       STATUS\ncheckout-api  baking\na             shifting\n"
        );
    }

    #[test]
    fn a_failing_metric_line_shows_value_threshold_and_reason() {
        let line = metric_line(&MetricResult {
            name: "error-rate".into(),
            unit: "percent".into(),
            value: Some(4.2),
            samples: 120,
            baseline: Some(Observation {
                value: Some(0.1),
                samples: 1000,
            }),
            max: Some(1.0),
            min: None,
            max_increase_over_baseline: None,
            min_samples: 50,
            verdict: Verdict::Fail,
            reason: "4.2000 percent is above max 1".into(),
        });
        assert_eq!(
            line,
            "✗ error-rate  4.2 percent  (max 1; 120 samples; blue 0.1 percent): 4.2000 percent is above max 1"
        );
    }
}
