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

mod expectations;
mod progress;
mod release;
mod scenarios;
mod summary;

use std::io::Write;
use std::time::{Duration, Instant};

use sluice_core::{Deployment, HistoryEvent, WeightPair};

pub use expectations::{alarm_to_traffic_ms, end_error};
pub use release::{RELEASE_TRIGGER_FUNCTION, codecommit_tag_event, started_execution};
pub use scenarios::{
    Action, Cue, DEMO_REPOSITORY, DEMO_VERSION, Expectation, Scenario, Start, When, alarm,
    bad_canary, execution_name, healthy, release_tag, scenario, scenarios,
};

use crate::error::Result;
use crate::execution::Execution;
use crate::runner::{LocalRunner, RunnerOptions};

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
            progress::describe_profile(scenario.traffic.blue),
            progress::describe_profile(scenario.traffic.green)
        ),
    );

    let deployment_started = Instant::now();
    let (name, execution_arn) = release::start(scenario, &runner, &env, out).await?;
    line(out, String::new());

    let mut watcher = progress::ProgressWatcher::new(deployment_started, scenario.cues.clone());
    let deadline = deployment_started + scenario.timeout;
    let execution = loop {
        let execution = runner.execution(&execution_arn).await?;
        let history = runner.deployment_history(&name).await.unwrap_or_default();
        let deployment = runner.deployment(&name).await.ok().flatten();
        watcher
            .show(out, &runner, deployment.as_ref(), &history, &execution)
            .await?;
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
    let deployment = runner.deployment(&name).await?;
    watcher
        .show(out, &runner, deployment.as_ref(), &history, &execution)
        .await?;

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
        mismatches: expectations::mismatches(
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
    summary::summary(out, scenario, &report, &runner);
    runner.shutdown().await;
    Ok(report)
}

pub(super) fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

pub(super) fn relative(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

pub(super) fn line(out: &mut impl Write, text: String) {
    // A closed stdout (`| head`) must not stop the deployment.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
