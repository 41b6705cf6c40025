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
mod output;
mod progress;
mod release;
mod report;
mod scenarios;
mod summary;
mod train;

use std::io::Write;
use std::time::{Duration, Instant};

pub use expectations::{alarm_to_traffic_ms, end_error};
pub use release::{RELEASE_TRIGGER_FUNCTION, codecommit_tag_event, started_execution};
pub use report::DemoReport;
pub use scenarios::{
    Action, Cue, DEMO_REPOSITORY, DEMO_VERSION, Expectation, Scenario, Start, When, alarm,
    bad_canary, execution_name, healthy, release_tag, release_train, scenario, scenarios,
};
pub use train::{TrainRelease, train_releases};

use crate::error::Result;

use crate::runner::{LocalRunner, RunnerOptions};
use output::{line, relative, secs};

/// Runs `scenario` on a fresh local runner, printing its progress to `out`.
pub async fn run(scenario: &Scenario, out: &mut (impl Write + Send)) -> Result<DemoReport> {
    if let Start::ReleaseTrain { repository } = scenario.start {
        return train::run(scenario, repository, out).await;
    }
    let started = Instant::now();
    let runner = start_runner(scenario, out).await?;
    let env = runner.environment().clone();

    let deployment_started = Instant::now();
    let (name, execution_arn) = release::start(scenario, &runner, &env, out).await?;
    line(out, String::new());

    let mut watcher = progress::ProgressWatcher::new(deployment_started, scenario.cues.clone());
    let followed = follow(
        &runner,
        &name,
        &execution_arn,
        &mut watcher,
        deployment_started + scenario.timeout,
        scenario.timeout,
        None,
        out,
    )
    .await?;
    let deployment_elapsed = deployment_started.elapsed();
    let Followed {
        execution,
        deployment,
        history,
        ..
    } = followed;

    let weights = runner.weights().await?;
    let lock_released = runner.lock().await?.is_none();
    let trigger_keys = trigger_keys(&runner).await?;
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

/// Starts a fresh local runner for `scenario`, saying what it builds and starts and what the
/// environment and the simulated traffic are.
async fn start_runner(scenario: &Scenario, out: &mut (impl Write + Send)) -> Result<LocalRunner> {
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
            "environment: zone {} · {} → slot blue {} / slot green {} · table {} · alarm {} → topic {}",
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
    Ok(runner)
}

/// A release tag delivered to `release-trigger` while a deployment runs, once its step
/// `step_live` is live.
struct TagMidRun {
    step_live: usize,
    tag: String,
    event: serde_json::Value,
}

/// How a followed deployment ended, and what a tag delivered meanwhile was answered.
struct Followed {
    execution: crate::execution::Execution,
    deployment: Option<sluice_core::Deployment>,
    history: Vec<sluice_core::HistoryEvent>,
    tagged: Option<crate::router::InvocationOutcome>,
}

/// Prints the deployment's progress until its execution ends (or `deadline` passes),
/// delivering `tag_mid_run` when its step is live.
#[allow(clippy::too_many_arguments)]
async fn follow(
    runner: &LocalRunner,
    name: &str,
    execution_arn: &str,
    watcher: &mut progress::ProgressWatcher,
    deadline: Instant,
    timeout: Duration,
    tag_mid_run: Option<&TagMidRun>,
    out: &mut (impl Write + Send),
) -> Result<Followed> {
    let mut tagged = None;
    let execution = loop {
        let execution = runner.execution(execution_arn).await?;
        let history = runner.deployment_history(name).await.unwrap_or_default();
        let deployment = runner.deployment(name).await.ok().flatten();
        watcher
            .show(out, runner, deployment.as_ref(), &history, &execution)
            .await?;
        if let Some(tag) = tag_mid_run
            && tagged.is_none()
            && history.iter().any(|e| {
                matches!(e.kind, sluice_core::deployment::EventKind::StepLive { step, .. } if step == tag.step_live)
            })
        {
            let outcome = runner.invoke(RELEASE_TRIGGER_FUNCTION, &tag.event).await;
            line(
                out,
                format!(
                    "{:>6.1}s  ▶ tag {} while this deployment runs → {RELEASE_TRIGGER_FUNCTION}: {}",
                    secs(watcher.elapsed()),
                    tag.tag,
                    release::describe_trigger_answer(&outcome)
                ),
            );
            tagged = Some(outcome);
        }
        if !execution.is_running() {
            break execution;
        }
        if Instant::now() > deadline {
            line(
                out,
                format!("the deployment did not finish within {timeout:?}"),
            );
            break execution;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The last writes may land after the execution ends (none should, but show them if so).
    let history = runner.deployment_history(name).await.unwrap_or_default();
    let deployment = runner.deployment(name).await?;
    watcher
        .show(out, runner, deployment.as_ref(), &history, &execution)
        .await?;
    Ok(Followed {
        execution,
        deployment,
        history,
        tagged,
    })
}

/// The idempotency keys release triggers left in the table (`TRIGGER#...`).
async fn trigger_keys(runner: &LocalRunner) -> Result<Vec<String>> {
    Ok(runner
        .table_keys()
        .await?
        .into_iter()
        .map(|(pk, _)| pk)
        .filter(|pk| pk.starts_with("TRIGGER#"))
        .collect())
}
