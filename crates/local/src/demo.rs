//! The demo: a whole deployment through the real state machine on simulated traffic, with its
//! progress printed live from the deployment's DynamoDB history and the execution history, and
//! a one-screen summary at the end.
//!
//! A [`Scenario`] is data: how blue and green behave, the request, how the deployment starts
//! ([`Start`]), what happens during it ([`Cue`]s: change a version's behaviour, force the
//! alarm) and what the outcome must be ([`Expectation`]). A new scenario is a new value in
//! [`scenarios`], plus a [`Start`] or [`Action`] variant where it needs a new kind of step.
//!
//! Besides the deployment's history, the progress shows what the runner did around it: the
//! alarm evaluator's state changes (and the topic notified) and what `emergency-rollback`
//! answered each SNS delivery.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_core::analysis::{Decision, MetricResult};
use sluice_core::deployment::EventKind;
use sluice_core::{Controller, Deployment, HistoryEvent, Status, WeightPair};

use crate::alarms::AlarmTransition;
use crate::environment::{DeploymentRequest, LocalEnvironment};
use crate::error::{LocalError, Result};
use crate::execution::{Execution, ExecutionEvent};
use crate::router::{Invocation, InvocationOutcome, InvocationSource};
use crate::runner::{EMERGENCY_ROLLBACK_FUNCTION, LocalRunner, RunnerOptions};
use crate::traffic::{TrafficProfile, VersionProfile};

/// The function that turns release tags into deployments.
pub const RELEASE_TRIGGER_FUNCTION: &str = "release-trigger";

/// How the deployment is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// StartExecution with the request, named after the service, version and scenario.
    StartExecution,
    /// As a release does: the service's CONFIG item (the request without a version) is
    /// registered with a `release` section naming `repository`, then a CodeCommit tag event
    /// for the request's version is delivered to the real `release-trigger` function, which
    /// starts the execution (named by service and version).
    ReleaseTag { repository: &'static str },
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
    /// The error the execution ended with: DescribeExecution's, or else that of its
    /// `ExecutionFailed`/`ExecutionAborted` event. A stopped (ABORTED) execution may have
    /// none: moto drops the error and cause StopExecution gives.
    pub execution_error: Option<&'static str>,
    /// The environment's alarm took the deployment over: the record's controller is the
    /// alarm, its outcome names the alarm, and its rollback says how long the alarm took to
    /// reach traffic.
    pub taken_over_by_alarm: bool,
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
            taken_over_by_alarm: false,
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
            taken_over_by_alarm: false,
        },
        timeout: Duration::from_secs(120),
    }
}

/// Green turns bad once step 2 (25 %) is live; the runner's alarm evaluator sees green's
/// errors cross the alarm's threshold and notifies the alarm topic, and `emergency-rollback`
/// takes the deployment over during step 2's bake: 100 % blue, the execution stopped.
pub fn alarm() -> Scenario {
    Scenario {
        name: "alarm",
        about: "green starts failing half its requests once step 2 (25 %) is live: the alarm on green's errors fires and the emergency rollback takes over mid-bake (100 % blue, execution ABORTED)",
        traffic: TrafficProfile {
            blue: VersionProfile::healthy(),
            green: VersionProfile::new(1000.0, 0.3, 130.0),
        },
        // Bakes long enough that the alarm (a couple of seconds of 125 errors/s against more
        // than 200 in 10 s) fires well before step 2's analysis would catch the errors: this
        // scenario shows the alarm path, not the analysis.
        request: DeploymentRequest::new(DEMO_VERSION).bake_seconds(8),
        start: Start::StartExecution,
        cues: vec![Cue {
            when: When::StepLive(1),
            action: Action::SetGreen(VersionProfile::healthy().with_errors(50.0)),
        }],
        expect: Expectation {
            status: Status::RolledBack,
            green_percent: 0.0,
            execution_status: "ABORTED",
            execution_error: Some("Sluice.TakenOver"),
            taken_over_by_alarm: true,
        },
        timeout: Duration::from_secs(120),
    }
}

/// The repository whose tags release the demo's service.
pub const DEMO_REPOSITORY: &str = "checkout-api";

/// A release tag starts the deployment: CodeCommit's tag event through `release-trigger`.
pub fn release_tag() -> Scenario {
    Scenario {
        name: "release-tag",
        about: "a CodeCommit tag v2.0.0 on the service's repository goes through release-trigger, which starts the deployment from the service's CONFIG; green is healthy and promoted to 100 %",
        start: Start::ReleaseTag {
            repository: DEMO_REPOSITORY,
        },
        ..healthy()
    }
}

/// Every scenario `demo --scenario` knows, in the order `scripts/demo` runs them.
pub fn scenarios() -> Vec<Scenario> {
    vec![healthy(), bad_canary(), alarm(), release_tag()]
}

/// The EventBridge event CodeCommit sends when a tag is created (the shape of
/// `events/release-trigger-codecommit.json`).
pub fn codecommit_tag_event(repository: &str, tag: &str, event_id: &str) -> Value {
    json!({
        "version": "0",
        "id": event_id,
        "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit",
        "account": sluice_testkit::moto::ACCOUNT_ID,
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": sluice_testkit::moto::REGION,
        "resources": [format!(
            "arn:aws:codecommit:{}:{}:{repository}",
            sluice_testkit::moto::REGION,
            sluice_testkit::moto::ACCOUNT_ID
        )],
        "detail": {
            "callerUserArn": format!("arn:aws:iam::{}:user/release-bot", sluice_testkit::moto::ACCOUNT_ID),
            "commitId": "7f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
            "event": "referenceCreated",
            "referenceFullName": format!("refs/tags/{tag}"),
            "referenceName": tag,
            "referenceType": "tag",
            "repositoryId": "12345678-1234-1234-1234-123456789012",
            "repositoryName": repository,
        }
    })
}

/// The execution a `release-trigger` answer started (or found already started): its name
/// and ARN. Any other answer (ignored, an error) is an error naming it.
pub fn started_execution(outcome: &InvocationOutcome) -> Result<(String, String)> {
    let trigger_error = |message: String| LocalError::Trigger {
        function: RELEASE_TRIGGER_FUNCTION.to_string(),
        message,
    };
    let output = match outcome {
        InvocationOutcome::Succeeded { output } => output,
        other => return Err(trigger_error(format!("it answered {other:?}"))),
    };
    output
        .get("outcomes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| matches!(o["outcome"].as_str(), Some("started" | "already-started")))
        .and_then(|o| {
            Some((
                o.get("executionName")?.as_str()?.to_string(),
                o.get("executionArn")?.as_str()?.to_string(),
            ))
        })
        .ok_or_else(|| trigger_error(format!("it answered {output}")))
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
    /// The idempotency keys release triggers left in the table (`TRIGGER#...`).
    pub trigger_keys: Vec<String>,
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

    let deployment_started = Instant::now();
    let (name, execution_arn) = start(scenario, &runner, &env, out).await?;
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
    let trigger_keys = runner
        .table_keys()
        .await?
        .into_iter()
        .map(|(pk, _)| pk)
        .filter(|pk| pk.starts_with("TRIGGER#"))
        .collect();
    let report = DemoReport {
        scenario: scenario.name,
        mismatches: mismatches(
            &scenario.expect,
            env.alarm(),
            deployment.as_ref(),
            &history,
            &execution,
            weights,
        ),
        execution,
        deployment,
        history,
        weights,
        lock_released,
        trigger_keys,
        elapsed: started.elapsed(),
        deployment_elapsed,
    };
    summary(out, scenario, &report, &runner);
    runner.shutdown().await;
    Ok(report)
}

/// Starts the scenario's deployment as its [`Start`] says; returns the execution's name (the
/// deployment id) and ARN.
async fn start(
    scenario: &Scenario,
    runner: &LocalRunner,
    env: &LocalEnvironment,
    out: &mut (impl Write + Send),
) -> Result<(String, String)> {
    match scenario.start {
        Start::StartExecution => {
            let request = scenario.request.to_json(env);
            let name = execution_name(env.service(), &scenario.request.version, scenario.name);
            let arn = runner.start_deployment(&name, &request).await?;
            line(
                out,
                format!("StartExecution {name} on {}", env.names.state_machine),
            );
            Ok((name, arn))
        }
        Start::ReleaseTag { repository } => {
            let config = scenario.request.service_config(env, &[repository]);
            runner.put_service_config(&config).await?;
            line(
                out,
                format!(
                    "CONFIG of {} (SERVICE#{} / CONFIG): its deployment request without a version (each tag names one); release.repositories = [{repository}]",
                    env.service(),
                    env.service()
                ),
            );
            let tag = &scenario.request.version;
            let event_id = chrono::Utc::now()
                .format("demo-%Y%m%d-%H%M%S%.3f")
                .to_string();
            let event = codecommit_tag_event(repository, tag, &event_id);
            line(
                out,
                format!(
                    "CodeCommit: tag {tag} created in {repository} → EventBridge event {event_id} → {RELEASE_TRIGGER_FUNCTION}"
                ),
            );
            let outcome = runner.invoke(RELEASE_TRIGGER_FUNCTION, &event).await;
            let (name, arn) = started_execution(&outcome)?;
            line(
                out,
                format!(
                    "{RELEASE_TRIGGER_FUNCTION}: {} {tag} → StartExecution {name} on {}",
                    env.service(),
                    env.names.state_machine
                ),
            );
            Ok((name, arn))
        }
    }
}

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

fn mismatches(
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
    shown_alarm_transitions: usize,
    shown_emergency_answers: usize,
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
            shown_alarm_transitions: 0,
            shown_emergency_answers: 0,
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
        let shown_seq = self.shown_seq;
        for event in history.iter().filter(|e| e.seq > shown_seq) {
            self.shown_seq = event.seq;
            for text in self.describe(event) {
                line(out, text);
            }
            self.play_cues(out, runner, event).await?;
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
            EventKind::RolledBack {
                weights,
                alarm_to_traffic_ms,
                ..
            } => vec![format!(
                "{t}  rolled back   weights blue {} / green {}{}",
                weights.blue(),
                weights.green(),
                alarm_to_traffic_ms
                    .map(|ms| format!(" · alarm to 100 % blue in {ms} ms"))
                    .unwrap_or_default()
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
                                .map(|ms| format!(" (alarm to 100 % blue in {ms} ms)"))
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
            if d.controller != Controller::StateMachine {
                line(
                    out,
                    format!(
                        "taken over  by {}{}",
                        d.controller.describe(),
                        alarm_to_traffic_ms(&report.history)
                            .map(|ms| format!(
                                " · {ms} ms from the alarm's state change to Route 53 accepting 100 % blue"
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
                number(scenario.expect.green_percent),
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
        for name in ["healthy", "bad-canary", "alarm", "release-tag"] {
            assert!(scenario(name).is_some(), "{name}");
        }
        assert!(scenario("nope").is_none());
    }

    #[test]
    fn the_alarm_scenario_turns_green_bad_after_its_first_step_and_expects_the_takeover() {
        let alarm = alarm();
        assert_eq!(alarm.cues.len(), 1);
        assert_eq!(alarm.cues[0].when, When::StepLive(1));
        let Action::SetGreen(bad) = alarm.cues[0].action else {
            panic!("{:?}", alarm.cues[0].action);
        };
        // At step 2 (25 % of 1000 requests a second), more errors than the environment's
        // alarm allows (200 in 10 s) within 2 s: the alarm fires well inside the bake.
        let errors_per_second =
            bad.requests_per_second * alarm.request.steps[1] / 100.0 * bad.error_percent / 100.0;
        let settings = crate::AlarmSettings::default();
        assert!(
            2.0 * errors_per_second > settings.threshold,
            "{errors_per_second}"
        );
        assert!(
            alarm.request.bake_seconds >= 2 * 3,
            "{}",
            alarm.request.bake_seconds
        );
        assert_eq!(alarm.expect.execution_status, "ABORTED");
        assert!(alarm.expect.taken_over_by_alarm);
    }

    #[test]
    fn the_codecommit_event_has_the_sample_events_shape_and_starts_a_release() {
        let sample: Value = serde_json::from_str(include_str!(
            "../../../events/release-trigger-codecommit.json"
        ))
        .unwrap();
        let event = codecommit_tag_event("checkout-api", "v2.0.0", "e-1");
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys(&event), keys(&sample));
        assert_eq!(keys(&event["detail"]), keys(&sample["detail"]));
        let incoming = sluice_core::release::from_eventbridge(&event).unwrap();
        let sluice_core::release::Incoming::Release(release) = incoming else {
            panic!("{incoming:?}");
        };
        assert_eq!(
            (
                release.repository.as_str(),
                release.tag.as_str(),
                release.event_id.as_str()
            ),
            ("checkout-api", "v2.0.0", "e-1")
        );
    }

    #[test]
    fn release_trigger_answers_name_the_execution_they_started() {
        let started = InvocationOutcome::Succeeded {
            output: json!({"outcomes": [{"outcome": "started", "service": "checkout-api",
                "version": "v2.0.0", "executionName": "checkout-api-v2-0-0-1a2b3c4d",
                "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sluice-deployment:checkout-api-v2-0-0-1a2b3c4d"}]}),
        };
        let (name, arn) = started_execution(&started).unwrap();
        assert_eq!(name, "checkout-api-v2-0-0-1a2b3c4d");
        assert!(arn.ends_with(&name));
        let ignored = InvocationOutcome::Succeeded {
            output: json!({"outcomes": [{"outcome": "ignored", "reason": "no service is released from repository x"}]}),
        };
        let error = started_execution(&ignored).unwrap_err().to_string();
        assert!(
            error.starts_with("release-trigger did not start a deployment: it answered")
                && error.contains("no service is released from repository x"),
            "{error}"
        );
    }

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
