//! `sluice watch`: follows a deployment by polling its record (strongly consistent) and, when
//! its revision moves, its history; prints every new event and keeps a live line with the
//! step, the share, the bake countdown and what it waits for. Ends with the deployment.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sluice_core::deployment::{Deployment, DeploymentId, Status};
use sluice_core::ports::{Clock, DeploymentKey, Deployments, Orchestrator, ServiceLocks};
use sluice_core::timeline::{Timeline, text};

use crate::args::Output;
use crate::backend::{Ports, execution_ended};
use crate::error::{CliError, exit};
use crate::render;

/// Which deployment to watch.
#[derive(Debug, Clone)]
pub enum Target {
    Id(String),
    /// The service's deployment in progress, or its latest one.
    Service(String),
}

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub interval: Duration,
    pub timeout: Option<Duration>,
    pub output: Output,
}

/// How often the execution itself is looked at, to notice one that ended without the record
/// saying so (a rollback that failed, an execution stopped from the console).
const EXECUTION_CHECK_EVERY: Duration = Duration::from_secs(5);
/// How long a record may stay unfinished after its execution ended: a takeover stops the
/// execution first and records the outcome a moment later.
const ENDED_EXECUTION_GRACE: Duration = Duration::from_secs(15);

/// The exit code of a deployment that ended in `status`.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Promoted => exit::OK,
        Status::RolledBack => exit::ROLLED_BACK,
        _ => exit::FAILED,
    }
}

/// A bar for the live line: a spinner, green's share as a bar, and the message.
pub fn progress_bar(output: Output) -> ProgressBar {
    if output == Output::Json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(100);
    let style = ProgressStyle::with_template("{spinner:.cyan} [{bar:24.green/blue}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("█▓░");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub async fn watch(
    ports: &impl Ports,
    target: Target,
    options: &WatchOptions,
    out: &mut (dyn Write + Send),
    bar: &ProgressBar,
) -> Result<u8, CliError> {
    let started = Instant::now();
    let key = resolve(ports, &target, options, bar, started).await?;
    let id = key.id.clone();
    let mut seen_revision = 0;
    let mut printed_seq = 0;
    let mut history = Vec::new();
    let mut last_execution_check: Option<Instant> = None;
    let mut execution_ended_at: Option<(Instant, String, String)> = None;
    loop {
        let deployment = ports
            .store()
            .get(&key)
            .await?
            .ok_or_else(|| CliError::NotFound(id.to_string()))?;
        if deployment.revision != seen_revision {
            seen_revision = deployment.revision;
            history = ports.store().history(&id).await?;
            let already = printed_seq;
            for event in history.iter().filter(|e| e.seq > already) {
                printed_seq = event.seq;
                match options.output {
                    Output::Text => {
                        let lines = render::event_lines(&deployment, event);
                        bar.suspend(|| -> std::io::Result<()> {
                            for line in lines {
                                writeln!(out, "{line}")?;
                            }
                            out.flush()
                        })?;
                    }
                    Output::Json => {
                        let line = json!({"type": "event", "deploymentId": id, "event": event});
                        writeln!(out, "{line}")?;
                        out.flush()?;
                    }
                }
            }
        }
        // The history only moves with the revision: one read of the record per tick.
        let timeline = Timeline::build(&deployment, &history);
        if deployment.status.is_terminal() {
            bar.finish_and_clear();
            finish(
                &deployment,
                &timeline,
                options.output,
                out,
                ports.clock().now(),
            )?;
            return Ok(exit_code(deployment.status));
        }
        bar.set_position(timeline.current_share().round().clamp(0.0, 100.0) as u64);
        bar.set_message(live_line(&deployment, &timeline, ports.clock().now()));

        if let Some(arn) = &deployment.execution_arn
            && last_execution_check.is_none_or(|t| t.elapsed() >= EXECUTION_CHECK_EVERY)
        {
            last_execution_check = Some(Instant::now());
            match execution_ended(ports, arn).await? {
                Some((status, cause)) => match &execution_ended_at {
                    Some((since, status, cause)) if since.elapsed() >= ENDED_EXECUTION_GRACE => {
                        bar.finish_and_clear();
                        return stale(&deployment, status, cause, options.output, out);
                    }
                    Some(_) => {}
                    None => execution_ended_at = Some((Instant::now(), status, cause)),
                },
                None => execution_ended_at = None,
            }
        }
        if let Some(timeout) = options.timeout
            && started.elapsed() >= timeout
        {
            bar.finish_and_clear();
            return Err(CliError::WatchTimeout {
                id: id.to_string(),
                seconds: timeout.as_secs(),
                status: deployment.status.to_string(),
            });
        }
        ports.clock().sleep(options.interval).await;
    }
}

/// Finds the deployment to watch, waiting for a just-started execution to write its record.
async fn resolve(
    ports: &impl Ports,
    target: &Target,
    options: &WatchOptions,
    bar: &ProgressBar,
    started: Instant,
) -> Result<DeploymentKey, CliError> {
    match target {
        Target::Service(service) => {
            if let Some(lock) = ports.store().lock(service).await? {
                return Ok(lock.deployment);
            }
            let latest = ports.store().list(service, 1).await?;
            latest
                .first()
                .map(sluice_core::ports::DeploymentKey::of)
                .ok_or_else(|| CliError::NoDeployments(service.clone()))
        }
        Target::Id(text) => {
            let id = DeploymentId::parse(text.as_str()).map_err(|e| CliError::BadArgument {
                what: "deployment id".into(),
                message: e.to_string(),
            })?;
            bar.set_message(format!("waiting for deployment {id} to be validated"));
            let arn = ports.orchestrator().execution_arn(id.as_str());
            loop {
                if let Some(deployment) = ports.store().find(&id).await? {
                    return Ok(DeploymentKey::of(&deployment));
                }
                match &arn {
                    Some(arn) => {
                        if let Some((status, cause)) = execution_ended(ports, arn).await? {
                            // The record may have been written just before the end; look once more.
                            if let Some(deployment) = ports.store().find(&id).await? {
                                return Ok(DeploymentKey::of(&deployment));
                            }
                            bar.finish_and_clear();
                            return Err(CliError::ExecutionEnded {
                                execution: arn.clone(),
                                status,
                                cause,
                            });
                        }
                    }
                    // Without the state machine nothing tells a slow start from a wrong id.
                    None if started.elapsed() >= Duration::from_secs(60) => {
                        return Err(CliError::NotFound(id.to_string()));
                    }
                    None => {}
                }
                if let Some(timeout) = options.timeout
                    && started.elapsed() >= timeout
                {
                    return Err(CliError::WatchTimeout {
                        id: id.to_string(),
                        seconds: timeout.as_secs(),
                        status: "not started".into(),
                    });
                }
                ports.clock().sleep(options.interval).await;
            }
        }
    }
}

/// The live line: where the deployment is and what it waits for.
pub fn live_line(
    deployment: &Deployment,
    timeline: &Timeline,
    now: chrono::DateTime<Utc>,
) -> String {
    let steps = deployment.plan.steps.len();
    let mut parts = vec![format!(
        "{} {}",
        deployment.service, deployment.spec.version
    )];
    if let Some(step) = deployment.step {
        parts.push(format!("step {}/{steps}", step + 1));
    }
    let share = render::percent(timeline.current_share());
    let canary = text::canary(&deployment.roles);
    match deployment.traffic.as_ref() {
        Some(traffic) => parts.push(format!(
            "{canary} {share} (weights {}/{})",
            traffic.weights.stable(),
            traffic.weights.canary()
        )),
        None => parts.push(format!("{canary} {share}")),
    }
    let doing = match deployment.status {
        Status::Baking => match timeline.analysis_due {
            Some(due) if due > now => format!(
                "baking, analysis in {}",
                render::duration(due - now + chrono::Duration::milliseconds(999))
            ),
            Some(_) => "analysis due".into(),
            None => "waiting for the record to go live".into(),
        },
        Status::Shifting => "shifting traffic, waiting for Route 53".into(),
        Status::Analyzing => "analyzing".into(),
        Status::AwaitingApproval => {
            if deployment.requests.pause.is_some() {
                format!("paused (sluice resume {})", deployment.id)
            } else {
                format!(
                    "waiting for approval (sluice approve/reject {})",
                    deployment.id
                )
            }
        }
        Status::RollingBack => "rolling back".into(),
        other => other.to_string(),
    };
    parts.push(doing);
    if let Some(who) = &deployment.requests.pause
        && deployment.status != Status::AwaitingApproval
    {
        parts.push(format!("pause asked by {who}"));
    }
    if let Some(who) = &deployment.requests.promote {
        parts.push(format!("promotion asked by {who}"));
    }
    parts.push(format!(
        "{} elapsed",
        render::duration(timeline.duration(now))
    ));
    parts.join(" · ")
}

fn finish(
    deployment: &Deployment,
    timeline: &Timeline,
    output: Output,
    out: &mut (dyn Write + Send),
    now: chrono::DateTime<Utc>,
) -> Result<(), CliError> {
    let took = render::duration(timeline.duration(now));
    match output {
        Output::Text => {
            let reason = timeline.outcome.clone().unwrap_or_default();
            let line = match deployment.status {
                Status::Promoted => format!(
                    "✓ {} {} promoted in {took}: {} 100%",
                    deployment.service,
                    deployment.spec.version,
                    text::canary(&deployment.roles)
                ),
                Status::RolledBack => format!(
                    "✗ {} {} rolled back after {took}: {reason}",
                    deployment.service, deployment.spec.version
                ),
                _ => format!(
                    "✗ {} {} failed after {took}: {reason}",
                    deployment.service, deployment.spec.version
                ),
            };
            writeln!(out, "{line}")?;
        }
        Output::Json => {
            let line = json!({
                "type": "result",
                "deploymentId": deployment.id,
                "status": deployment.status,
                "outcome": timeline.outcome,
                "canaryShare": timeline.current_share(),
                "durationSeconds": timeline.duration(now).num_seconds(),
                "exitCode": exit_code(deployment.status),
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The execution ended but the record never did: the deployment is stuck where it was.
fn stale(
    deployment: &Deployment,
    status: &str,
    cause: &str,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    match output {
        Output::Text => writeln!(
            out,
            "✗ execution ended {status} but deployment {} is still {} at {} {}: {cause}\n  \
             return traffic to {} with `sluice abort {}`",
            deployment.id,
            deployment.status,
            text::canary(&deployment.roles),
            render::percent(deployment.current_canary_share()),
            text::stable(&deployment.roles),
            deployment.id
        )?,
        Output::Json => writeln!(
            out,
            "{}",
            json!({
                "type": "result",
                "deploymentId": deployment.id,
                "status": deployment.status,
                "executionStatus": status,
                "outcome": cause,
                "canaryShare": deployment.current_canary_share(),
                "exitCode": exit::FAILED,
            })
        )?,
    }
    Ok(exit::FAILED)
}
