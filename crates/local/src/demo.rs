//! The demo: a whole deployment through the real state machine on simulated traffic, with its
//! progress printed live from the deployment's DynamoDB history and the execution history, and
//! a one-screen summary at the end.
//!
//! A [`Scenario`] is data: how blue and green behave, the request, how the deployment starts
//! ([`Start`]), what happens during it ([`Cue`]s: change a version's behaviour, force the
//! alarm) and what the outcome must be ([`Expectation`]). New scenarios (an alarm firing
//! mid-deployment, a release tag starting it) are new values, plus a [`Start`] or [`Action`]
//! variant where they need a new kind of step.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use sluice_core::analysis::{Decision, MetricResult};
use sluice_core::deployment::EventKind;
use sluice_core::{Deployment, HistoryEvent, Status, WeightPair};

use crate::environment::DeploymentRequest;
use crate::error::Result;
use crate::execution::{Execution, ExecutionEvent};
use crate::runner::{LocalRunner, RunnerOptions};
use crate::traffic::{TrafficProfile, VersionProfile};

/// How the deployment is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// StartExecution with the request, named after the service, version and scenario.
    StartExecution,
}

/// When a cue acts, in terms of the deployment's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Step `n` (0-based) went live.
    StepLive(usize),
    /// Step `n` was analysed.
    Analyzed(usize),
}

/// Something a scenario does to the world mid-deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SetGreen(VersionProfile),
    SetBlue(VersionProfile),
    /// Forces the environment's alarm into ALARM (its notification goes to the alarm topic).
    ForceAlarm {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub when: When,
    pub action: Action,
}

/// What a scenario must end in.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub status: Status,
    /// Green's share of the traffic at the end, in percent.
    pub green_percent: f64,
    /// `SUCCEEDED`, `FAILED`, `ABORTED`.
    pub execution_status: &'static str,
    pub execution_error: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub traffic: TrafficProfile,
    pub request: DeploymentRequest,
    pub start: Start,
    pub cues: Vec<Cue>,
    pub expect: Expectation,
    /// The whole deployment must end within this.
    pub timeout: Duration,
}

/// The version every demo deploys.
pub const DEMO_VERSION: &str = "v2.0.0";

/// Green as healthy as blue: promoted step by step to 100 %.
pub fn healthy() -> Scenario {
    Scenario {
        name: "healthy",
        about: "green is as healthy as blue: every analysis passes and it is promoted to 100 %",
        traffic: TrafficProfile {
            blue: VersionProfile::healthy(),
            green: VersionProfile::new(1000.0, 0.3, 130.0),
        },
        request: DeploymentRequest::new(DEMO_VERSION),
        start: Start::StartExecution,
        cues: Vec::new(),
        expect: Expectation {
            status: Status::Promoted,
            green_percent: 100.0,
            execution_status: "SUCCEEDED",
            execution_error: None,
        },
        timeout: Duration::from_secs(120),
    }
}

/// Green fails 10 % of its requests: the first analysis fails and traffic goes back to blue.
pub fn bad_canary() -> Scenario {
    Scenario {
        name: "bad-canary",
        about: "green fails 10 % of its requests: the first step's analysis fails and the deployment rolls back to 100 % blue",
        traffic: TrafficProfile {
            blue: VersionProfile::healthy(),
            green: VersionProfile::healthy().with_errors(10.0),
        },
        request: DeploymentRequest::new(DEMO_VERSION),
        start: Start::StartExecution,
        cues: Vec::new(),
        expect: Expectation {
            status: Status::RolledBack,
            green_percent: 0.0,
            execution_status: "FAILED",
            execution_error: Some("Sluice.RolledBack"),
        },
        timeout: Duration::from_secs(120),
    }
}

/// Every scenario `demo --scenario` knows.
pub fn scenarios() -> Vec<Scenario> {
    vec![healthy(), bad_canary()]
}

pub fn scenario(name: &str) -> Option<Scenario> {
    scenarios().into_iter().find(|s| s.name == name)
}

/// The execution name (and deployment id) of a scenario's deployment: deterministic, so the
/// same demo started twice on one environment is one execution.
pub fn execution_name(service: &str, version: &str, scenario: &str) -> String {
    let raw = format!("{service}-{version}-{scenario}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect()
}

/// How a demo ended.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub scenario: &'static str,
    pub execution: Execution,
    pub deployment: Option<Deployment>,
    pub history: Vec<HistoryEvent>,
    pub weights: WeightPair,
    pub lock_released: bool,
    /// Where the outcome differs from the scenario's expectation; empty when it matches.
    pub mismatches: Vec<String>,
    pub elapsed: Duration,
    pub deployment_elapsed: Duration,
}

impl DemoReport {
    pub fn matched(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Runs `scenario` on a fresh local runner, printing its progress to `out`.
pub async fn run(scenario: &Scenario, out: &mut (impl Write + Send)) -> Result<DemoReport> {
    let started = Instant::now();
    let run_name = format!("demo-{}", scenario.name);
    let run_dir = crate::runner::new_run_dir(&run_name)?;
    let options = RunnerOptions::new(&run_name)
        .traffic(scenario.traffic)
        .run_dir(&run_dir);
    line(
        out,
        format!(
            "sluice demo · scenario {} · {}",
            scenario.name, scenario.about
        ),
    );
    let functions = crate::workspace::Workspace::locate()?.functions()?;
    line(
        out,
        format!(
            "cargo {} (output in {}), then moto, cargo lambda watch, the functions and the router…",
            crate::workspace::build_args(&functions).join(" "),
            relative(&run_dir.join("build.log")),
        ),
    );
    let runner = LocalRunner::start(options).await?;
    let env = runner.environment().clone();
    let timings = runner.timings();
    line(
        out,
        format!(
            "ready in {:.1} s (build {:.1} s, moto {:.1} s, cargo lambda watch and functions {:.1} s, resources {:.1} s) · logs in {}",
            secs(timings.total),
            secs(timings.build),
            secs(timings.moto),
            secs(timings.cargo_lambda),
            secs(timings.environment),
            relative(runner.run_dir()),
        ),
    );
    line(
        out,
        format!(
            "environment: zone {} · {} → blue {} / green {} · table {} · alarm {} → topic {}",
            env.hosted_zone_id,
            env.names.record_name,
            env.names.blue_target,
            env.names.green_target,
            env.names.table,
            env.names.alarm,
            env.names.alarm_topic,
        ),
    );
    line(
        out,
        format!(
            "traffic: blue {} · green {}",
            describe_profile(scenario.traffic.blue),
            describe_profile(scenario.traffic.green)
        ),
    );

    let request = scenario.request.to_json(&env);
    let name = execution_name(env.service(), &scenario.request.version, scenario.name);
    let deployment_started = Instant::now();
    let execution_arn = match scenario.start {
        Start::StartExecution => runner.start_deployment(&name, &request).await?,
    };
    line(
        out,
        format!("StartExecution {name} on {}", env.names.state_machine),
    );
    line(out, String::new());

    let mut watcher = ProgressWatcher::new(deployment_started, scenario.cues.clone());
    let deadline = deployment_started + scenario.timeout;
    let execution = loop {
        let execution = runner.execution(&execution_arn).await?;
        let history = runner.deployment_history(&name).await.unwrap_or_default();
        watcher.show(out, &runner, &history, &execution).await?;
        if !execution.is_running() {
            break execution;
        }
        if Instant::now() > deadline {
            line(
                out,
                format!(
                    "the deployment did not finish within {:?}",
                    scenario.timeout
                ),
            );
            break execution;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let deployment_elapsed = deployment_started.elapsed();
    // The last writes may land after the execution ends (none should, but show them if so).
    let history = runner.deployment_history(&name).await.unwrap_or_default();
    watcher.show(out, &runner, &history, &execution).await?;

    let deployment = runner.deployment(&name).await?;
    let weights = runner.weights().await?;
    let lock_released = runner.lock().await?.is_none();
    let report = DemoReport {
        scenario: scenario.name,
        mismatches: mismatches(&scenario.expect, deployment.as_ref(), &execution, weights),
        execution,
        deployment,
        history,
        weights,
        lock_released,
        elapsed: started.elapsed(),
        deployment_elapsed,
    };
    summary(out, scenario, &report, &runner);
    runner.shutdown().await;
    Ok(report)
}

fn mismatches(
    expect: &Expectation,
    deployment: Option<&Deployment>,
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
    if (weights.green_percent() - expect.green_percent).abs() > 0.01 {
        problems.push(format!(
            "green has {:.1} % of the traffic, expected {:.1} %",
            weights.green_percent(),
            expect.green_percent
        ));
    }
    if execution.status != expect.execution_status {
        problems.push(format!(
            "execution is {}, expected {}",
            execution.status, expect.execution_status
        ));
    }
    if execution.error.as_deref() != expect.execution_error {
        problems.push(format!(
            "execution error is {:?}, expected {:?}",
            execution.error, expect.execution_error
        ));
    }
    problems
}

/// Prints what is new in the deployment's history and the execution's, and plays the cues.
struct ProgressWatcher {
    started: Instant,
    shown_seq: u64,
    shown_execution_events: i64,
    step_count: usize,
    cues: Vec<Cue>,
    played: BTreeSet<usize>,
    /// The state the execution is in, to name the task a failure belongs to.
    current_state: String,
}

impl ProgressWatcher {
    fn new(started: Instant, cues: Vec<Cue>) -> Self {
        ProgressWatcher {
            started,
            shown_seq: 0,
            shown_execution_events: 0,
            step_count: 0,
            cues,
            played: BTreeSet::new(),
            current_state: String::new(),
        }
    }

    fn stamp(&self) -> String {
        format!("{:>6.1}s", secs(self.started.elapsed()))
    }

    async fn show(
        &mut self,
        out: &mut (impl Write + Send),
        runner: &LocalRunner,
        history: &[HistoryEvent],
        execution: &Execution,
    ) -> Result<()> {
        let shown_seq = self.shown_seq;
        for event in history.iter().filter(|e| e.seq > shown_seq) {
            self.shown_seq = event.seq;
            for text in self.describe(event) {
                line(out, text);
            }
            self.play_cues(out, runner, event).await?;
        }
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

    fn step_label(&self, step: usize) -> String {
        if self.step_count > 0 {
            format!("step {}/{}", step + 1, self.step_count)
        } else {
            format!("step {}", step + 1)
        }
    }

    fn describe(&mut self, event: &HistoryEvent) -> Vec<String> {
        let t = self.stamp();
        match &event.kind {
            EventKind::Started {
                version,
                steps,
                warnings,
            } => {
                self.step_count = steps.len();
                let plan: Vec<String> = steps.iter().map(|s| format!("{s}%")).collect();
                let mut lines = vec![format!(
                    "{t}  validated     {version}: {}",
                    plan.join(" → ")
                )];
                lines.extend(
                    warnings
                        .iter()
                        .map(|w| format!("{:>8}  warning: {}: {}", "", w.field, w.message)),
                );
                lines
            }
            EventKind::ShiftStarted { .. } => Vec::new(),
            EventKind::TrafficShifted {
                step,
                asked_percent,
                weights,
                green_share,
                ..
            } => vec![format!(
                "{t}  {:<12}  shift to {asked_percent}%: weights blue {} / green {} (green {green_share:.2}%)",
                self.step_label(*step),
                weights.blue(),
                weights.green(),
            )],
            EventKind::StepLive { step, live_at } => vec![format!(
                "{t}  {:<12}  Route 53 in sync; live at {} (after the record TTL), then bake",
                self.step_label(*step),
                live_at.format("%H:%M:%S%.3f"),
            )],
            EventKind::Analyzed {
                step,
                window,
                verdict,
                metrics,
                decision,
            } => {
                let mut lines = vec![format!(
                    "{t}  {:<12}  analysis of {:.1} s of traffic: {}",
                    self.step_label(*step),
                    (window.end - window.start).num_milliseconds() as f64 / 1000.0,
                    verdict.to_string().to_uppercase(),
                )];
                lines.extend(
                    metrics
                        .iter()
                        .map(|m| format!("{:>24}{}", "", describe_metric(m))),
                );
                lines.push(format!(
                    "{:>24}→ {}",
                    "",
                    describe_decision(decision, self.step_count)
                ));
                lines
            }
            EventKind::ApprovalRequested { step, reason } => vec![format!(
                "{t}  {:<12}  waiting for an operator's approval: {reason}",
                self.step_label(*step)
            )],
            EventKind::Approved { by, .. } => vec![format!("{t}  approved by {by}")],
            EventKind::RollbackStarted { reason, controller } => vec![format!(
                "{t}  rolling back  ({}): {reason}",
                controller.describe()
            )],
            EventKind::RolledBack { weights, .. } => vec![format!(
                "{t}  rolled back   weights blue {} / green {}",
                weights.blue(),
                weights.green()
            )],
            EventKind::Promoted { weights, .. } => vec![format!(
                "{t}  promoted      weights blue {} / green {}",
                weights.blue(),
                weights.green()
            )],
            EventKind::Failed { error } => vec![format!("{t}  failed        {error}")],
            // Events of newer kinds: their type and fields as stored.
            other => vec![format!(
                "{t}  {}",
                serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}"))
            )],
        }
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
        "ExecutionAborted" => Some("execution ABORTED".to_string()),
        "ExecutionTimedOut" => Some("execution TIMED_OUT".to_string()),
        _ => None,
    }
}

/// The `errorMessage` inside a Lambda error cause (`{"errorType": …, "errorMessage": …}`).
fn cause_message(cause: &str) -> Option<String> {
    let parsed: serde_json::Value = serde_json::from_str(cause).ok()?;
    parsed
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .map(|m| m.chars().take(160).collect())
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e9 {
        format!("{value:.0}")
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// `error-rate   10.05 %  max 2 %, ≤ blue + 1 (blue 0.20 %)  n=153  FAIL: …`
pub fn describe_metric(metric: &MetricResult) -> String {
    let unit = if metric.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", metric.unit)
    };
    let value = metric
        .value
        .map(|v| format!("{}{unit}", number(v)))
        .unwrap_or_else(|| "no data".to_string());
    let mut limits = Vec::new();
    if let Some(max) = metric.max {
        limits.push(format!("max {}{unit}", number(max)));
    }
    if let Some(min) = metric.min {
        limits.push(format!("min {}{unit}", number(min)));
    }
    if let Some(increase) = metric.max_increase_over_baseline {
        let blue = metric
            .baseline
            .and_then(|b| b.value)
            .map(|v| format!("{}{unit}", number(v)))
            .unwrap_or_else(|| "no data".to_string());
        limits.push(format!("≤ blue + {} (blue {blue})", number(increase)));
    }
    let verdict = metric.verdict.to_string();
    let mut text = format!(
        "{:<6} {:<11} {:>10}   {:<38} n={}",
        verdict,
        metric.name,
        value,
        limits.join(", "),
        metric.samples
    );
    if metric.verdict != sluice_core::Verdict::Pass {
        text.push_str(&format!("  — {}", metric.reason));
    }
    text
}

fn describe_decision(decision: &Decision, step_count: usize) -> String {
    match decision {
        Decision::Advance { next_step } => {
            if step_count > 0 {
                format!("advance to step {}/{step_count}", next_step + 1)
            } else {
                format!("advance to step {}", next_step + 1)
            }
        }
        Decision::Promote => "promote".to_string(),
        Decision::Extend {
            bake_seconds,
            reason,
        } => {
            format!("bake {bake_seconds} s more and judge again ({reason})")
        }
        Decision::AwaitApproval { reason } => format!("wait for approval ({reason})"),
        Decision::RollBack { reason } => format!("roll back: {reason}"),
    }
}

fn describe_profile(profile: VersionProfile) -> String {
    format!(
        "{} req/s at 100 %, {}% errors, {} ms",
        number(profile.requests_per_second),
        number(profile.error_percent),
        number(profile.latency_ms)
    )
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn relative(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

fn line(out: &mut impl Write, text: String) {
    // A closed stdout (`| head`) must not stop the deployment.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn summary(out: &mut impl Write, scenario: &Scenario, report: &DemoReport, runner: &LocalRunner) {
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
        }
        None => line(out, "deployment  none was written".to_string()),
    }
    line(
        out,
        format!(
            "traffic     blue {} / green {} → green {:.1} % (read back from Route 53)",
            report.weights.blue(),
            report.weights.green(),
            report.weights.green_percent()
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
    let analyses: Vec<(usize, &sluice_core::Verdict, &Vec<MetricResult>)> = report
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
            .map(|m| {
                format!(
                    "{} {}",
                    m.name,
                    m.value
                        .map(|v| format!(
                            "{}{}",
                            number(v),
                            if m.unit.is_empty() {
                                String::new()
                            } else {
                                format!(" {}", m.unit)
                            }
                        ))
                        .unwrap_or_else(|| "no data".to_string())
                )
            })
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
                "expected    {} with green at {}% → as expected",
                scenario.expect.status.to_string().to_uppercase(),
                number(scenario.expect.green_percent)
            ),
        );
    } else {
        for problem in &report.mismatches {
            line(out, format!("UNEXPECTED  {problem}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_valid_deployment_ids() {
        let name = execution_name("checkout-api", "v2.0.0", "bad-canary");
        assert_eq!(name, "checkout-api-v2-0-0-bad-canary");
        assert!(sluice_core::DeploymentId::parse(name).is_ok());
    }

    #[test]
    fn scenarios_have_unique_names_and_valid_requests() {
        let names: BTreeSet<&str> = scenarios().iter().map(|s| s.name).collect();
        assert_eq!(names.len(), scenarios().len());
        assert!(scenario("healthy").is_some());
        assert!(scenario("bad-canary").is_some());
        assert!(scenario("nope").is_none());
    }

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
