//! How the views write numbers, durations, verdicts, thresholds, metric judgements and
//! decisions: the one formatter of each, shared by the CLI, the demo and the HTML report.

use chrono::Duration;

use crate::analysis::{Decision, MetricResult, Verdict};
use crate::slots::SlotRoles;
use crate::spec::HookKind;

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

/// `12.5%`, `10%`, `0.39%`: as many decimals as the number needs.
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

/// A measured value with its unit (`0.42 percent`, `130 ms`), or `no data`.
pub fn measured(value: Option<f64>, unit: &str) -> String {
    match value {
        Some(v) if unit.is_empty() => number(v),
        Some(v) => format!("{} {unit}", number(v)),
        None => "no data".into(),
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

/// `canary green`: a role and the slot playing it, as every view names them.
pub fn canary(roles: &SlotRoles) -> String {
    format!("canary {}", roles.canary)
}

/// `stable blue`.
pub fn stable(roles: &SlotRoles) -> String {
    format!("stable {}", roles.stable)
}

/// A metric's thresholds: `max 1`, `min 0.5, max 2`, `≤ stable + 0.2`.
pub fn thresholds(max: Option<f64>, min: Option<f64>, over_baseline: Option<f64>) -> String {
    let mut parts = Vec::new();
    if let Some(min) = min {
        parts.push(format!("min {}", number(min)));
    }
    if let Some(max) = max {
        parts.push(format!("max {}", number(max)));
    }
    if let Some(allowed) = over_baseline {
        parts.push(format!("≤ stable + {}", number(allowed)));
    }
    if parts.is_empty() {
        "no threshold".into()
    } else {
        parts.join(", ")
    }
}

/// One metric's judgement: `✓ error-rate  0.42 percent  (max 1; 120 samples; stable 0.1 percent)`,
/// with the reason after it when it did not pass.
pub fn metric_line(result: &MetricResult) -> String {
    let mut notes = vec![
        thresholds(result.max, result.min, result.max_increase_over_baseline),
        format!("{} samples", result.samples),
    ];
    if let Some(stable) = result.baseline.and_then(|b| b.value) {
        notes.push(format!("stable {}", measured(Some(stable), &result.unit)));
    }
    let mut line = format!(
        "{} {}  {}  ({})",
        verdict_mark(result.verdict),
        result.name,
        measured(result.value, &result.unit),
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
        Decision::Promote => "promote: canary to 100%".into(),
        // The metric lines under the decision say why; a hold says who or what it waits for.
        Decision::Extend { bake_seconds, .. } => {
            format!("bake {bake_seconds}s more and judge again")
        }
        Decision::AwaitApproval { reason } => format!("hold for an operator ({reason})"),
        Decision::RollBack { .. } => "roll back".into(),
    }
}

/// `pre-traffic hook passed: <message>`, `post-traffic hook failed: <problem>`.
pub fn hook_line(hook: HookKind, passed: bool, detail: Option<&str>) -> String {
    let outcome = if passed { "passed" } else { "failed" };
    match detail.filter(|d| !d.is_empty()) {
        Some(detail) => format!("{hook} hook {outcome}: {detail}"),
        None => format!("{hook} hook {outcome}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Observation;

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
        assert_eq!(measured(Some(130.0), "ms"), "130 ms");
        assert_eq!(measured(Some(0.5), ""), "0.5");
        assert_eq!(measured(None, "ms"), "no data");
    }

    #[test]
    fn thresholds_read_in_order() {
        assert_eq!(
            thresholds(Some(2.0), Some(0.5), Some(1.0)),
            "min 0.5, max 2, ≤ stable + 1"
        );
        assert_eq!(thresholds(None, None, None), "no threshold");
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
            "✗ error-rate  4.2 percent  (max 1; 120 samples; stable 0.1 percent): 4.2000 percent is above max 1"
        );
    }

    #[test]
    fn decisions_say_what_comes_next() {
        assert_eq!(
            decision_text(&Decision::Advance { next_step: 1 }),
            "advance to step 2"
        );
        assert_eq!(decision_text(&Decision::Promote), "promote: canary to 100%");
        assert_eq!(
            decision_text(&Decision::Extend {
                bake_seconds: 30,
                reason: "few samples".into()
            }),
            "bake 30s more and judge again"
        );
        assert_eq!(
            decision_text(&Decision::AwaitApproval {
                reason: "inconclusive".into()
            }),
            "hold for an operator (inconclusive)"
        );
        assert_eq!(
            decision_text(&Decision::RollBack { reason: "x".into() }),
            "roll back"
        );
    }
}
