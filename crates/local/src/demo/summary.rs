//! The one-screen summary after a demo: outcome, traffic, execution, analyses, lock,
//! simulated requests, timings and whether it went as expected.

use std::io::Write;

use sluice_core::deployment::EventKind;
use sluice_core::timeline::text::{measured, number};
use sluice_core::{Controller, MetricResult, Verdict};

use super::expectations::alarm_to_traffic_ms;
use super::output::{line, relative, secs};
use super::release::RELEASE_TRIGGER_FUNCTION;
use super::report::DemoReport;
use super::scenarios::{Scenario, Start};
use crate::runner::LocalRunner;

pub(super) fn summary(
    out: &mut impl Write,
    scenario: &Scenario,
    report: &DemoReport,
    runner: &LocalRunner,
) {
    line(out, String::new());
    line(out, format!("── summary {}", "─".repeat(67)));
    let execution = &report.execution;
    match &report.deployment {
        Some(d) => {
            line(
                out,
                format!(
                    "deployment  {} · {} {} · revision {}",
                    d.id, d.service, d.spec.version, d.revision
                ),
            );
            let why = d
                .outcome
                .as_ref()
                .map(|o| format!(" · {}", o.reason))
                .unwrap_or_default();
            line(
                out,
                format!("outcome     {}{why}", d.status.to_string().to_uppercase()),
            );
            if d.controller != Controller::StateMachine {
                line(
                    out,
                    format!(
                        "taken over  by {}{}",
                        d.controller.describe(),
                        alarm_to_traffic_ms(&report.history)
                            .map(|ms| format!(
                                " · {ms} ms from the alarm's state change to Route 53 accepting 100 % stable"
                            ))
                            .unwrap_or_default()
                    ),
                );
            }
        }
        None => line(out, "deployment  none was written".to_string()),
    }
    line(
        out,
        format!(
            "traffic     blue {} / green {} → green {:.1} % (read back from Route 53)",
            report.weights.stable(),
            report.weights.canary(),
            report.weights.canary_percent()
        ),
    );
    let invocations = runner.all_invocations();
    let failed = invocations
        .iter()
        .filter(|i| {
            !matches!(
                i.outcome,
                crate::router::InvocationOutcome::Succeeded { .. }
            )
        })
        .count();
    line(
        out,
        format!(
            "execution   {}{} · {:.1} s · {} history events · {} Lambda invocations ({failed} failed)",
            execution.status,
            execution
                .error
                .as_deref()
                .map(|e| format!(" {e}"))
                .unwrap_or_default(),
            execution
                .duration()
                .map(|d| d.num_milliseconds() as f64 / 1000.0)
                .unwrap_or_default(),
            execution.history.len(),
            invocations.len(),
        ),
    );
    if let Some(cause) = &execution.cause {
        line(out, format!("cause       {cause}"));
    }
    let analyses: Vec<(usize, &Verdict, &Vec<MetricResult>)> = report
        .history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Analyzed {
                step,
                verdict,
                metrics,
                ..
            } => Some((*step, verdict, metrics)),
            _ => None,
        })
        .collect();
    let percents: Vec<f64> = report
        .deployment
        .as_ref()
        .map(|d| d.plan.steps.iter().map(|s| s.percent).collect())
        .unwrap_or_default();
    for (i, (step, verdict, metrics)) in analyses.iter().enumerate() {
        let values: Vec<String> = metrics
            .iter()
            .map(|m| format!("{} {}", m.name, measured(m.value, &m.unit)))
            .collect();
        line(
            out,
            format!(
                "{}  step {} at {:>3}%: {:<12} {}",
                if i == 0 { "analyses  " } else { "          " },
                step + 1,
                percents.get(*step).copied().unwrap_or_default(),
                verdict.to_string(),
                values.join(" · ")
            ),
        );
    }
    if let Start::ReleaseTag { repository } = scenario.start {
        line(
            out,
            format!(
                "started by  {RELEASE_TRIGGER_FUNCTION}: tag {} in {repository} · idempotency key {}",
                scenario.request.version,
                if report.trigger_keys.is_empty() {
                    "none".to_string()
                } else {
                    report.trigger_keys.join(", ")
                }
            ),
        );
    }
    line(
        out,
        format!(
            "lock        {}",
            if report.lock_released {
                "released"
            } else {
                "STILL HELD"
            }
        ),
    );
    let totals = runner.traffic().totals();
    line(
        out,
        format!(
            "simulated   blue {:.0} requests ({:.0} errors) · green {:.0} requests ({:.0} errors)",
            totals.blue_requests, totals.blue_errors, totals.green_requests, totals.green_errors
        ),
    );
    line(
        out,
        format!(
            "took        {:.1} s for the deployment, {:.1} s in all · logs {}",
            secs(report.deployment_elapsed),
            secs(report.elapsed),
            relative(runner.run_dir())
        ),
    );
    if report.matched() {
        line(
            out,
            format!(
                "expected    {} with green at {}%, execution {}{} → as expected",
                scenario.expect.status.to_string().to_uppercase(),
                number(scenario.expect.canary_percent),
                scenario.expect.execution_status,
                if scenario.expect.taken_over_by_alarm {
                    ", taken over by the alarm"
                } else {
                    ""
                }
            ),
        );
    } else {
        for problem in &report.mismatches {
            line(out, format!("UNEXPECTED  {problem}"));
        }
    }
}
