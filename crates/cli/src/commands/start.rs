//! `sluice start`: the request checked as Validate checks it, the world checked, then started
//! (or queued behind the running deployment).

use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};
use sluice_core::ports::{
    Clock, Deployments, Orchestrator, OrchestratorError, QueueWrite, ServiceConfigs, ServiceLocks,
    ServiceStates,
};
use sluice_core::service_state::{QueueChange, QueuedRelease};
use sluice_core::workflow::{WorkflowError, check_world};

use crate::args::Output;
use crate::backend::Ports;
use crate::error::{CliError, exit};
use crate::request::{Assignment, attempt_name, build_request, validate};

/// What `sluice start` asks for.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub service: String,
    pub version: String,
    pub spec_file: Option<Value>,
    pub assignments: Vec<Assignment>,
    /// `--queue`, by whom: while the service deploys, queue the release instead of refusing.
    pub queue: Option<String>,
}

/// What `sluice start --queue` did while the service was deploying.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    pub service: String,
    pub version: String,
    /// The deployment id it will start as.
    pub execution_name: String,
    /// Whose deployment it waits for.
    pub behind: String,
    /// The queued version this one replaced (latest wins).
    pub superseded: Option<String>,
    pub queued: bool,
}

/// What `sluice start` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub deployment_id: String,
    pub execution_arn: String,
    /// The same request was already running under this name; nothing new was started.
    pub already_running: bool,
}

/// How many names `start` tries before giving up (ended executions keep theirs for 90 days).
const NAME_ATTEMPTS: usize = 20;

pub async fn start(
    ports: &impl Ports,
    request: &StartRequest,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    if request.queue.is_some()
        && ports
            .store()
            .service_config(&request.service)
            .await?
            .is_none()
    {
        return Err(CliError::QueueWithoutConfig(request.service.clone()));
    }
    let body = build_request(
        request.spec_file.clone(),
        &request.service,
        &request.version,
        &request.assignments,
    )?;
    let spec = match validate(ports.store(), ports.router(), &body).await {
        Ok(spec) => spec,
        Err(CliError::Invalid(errors)) => {
            report_invalid(&errors, output, out)?;
            return Ok(exit::INVALID);
        }
        Err(other) => return Err(other),
    };
    if let Err(errors) = check_world_when_idle(ports, &spec).await? {
        report_invalid(&errors, output, out)?;
        return Ok(exit::INVALID);
    }
    let started = match start_execution(ports, &spec.service, &spec.version, &body, request).await?
    {
        StartOutcome::Started(started) => started,
        StartOutcome::Queued(queued) => {
            match output {
                Output::Json => writeln!(out, "{}", serde_json::to_string(&queued)?)?,
                Output::Text => {
                    writeln!(
                        out,
                        "queued: {} {} starts as deployment {} when {} ends",
                        queued.service, queued.version, queued.execution_name, queued.behind
                    )?;
                    if let Some(old) = &queued.superseded {
                        writeln!(out, "  it replaces the queued {old} (superseded)")?;
                    }
                }
            }
            return Ok(exit::OK);
        }
    };
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string(&started)?)?,
        Output::Text => {
            let verb = if started.already_running {
                "already running"
            } else {
                "started"
            };
            writeln!(
                out,
                "{verb}: {} {} as deployment {}\n  execution {}\n  follow it:  sluice watch {}",
                spec.service,
                spec.version,
                started.deployment_id,
                started.execution_arn,
                started.deployment_id
            )?;
        }
    }
    Ok(exit::OK)
}

/// The world checks Validate runs (both slots' records, their targets and TTL, one slot carrying
/// all traffic, the alarms), so a request that would fail there is refused before anything
/// starts. Skipped while another deployment holds the service: its traffic is split on purpose,
/// and the lock check that follows answers for it.
async fn check_world_when_idle(
    ports: &impl Ports,
    spec: &sluice_core::DeploymentSpec,
) -> Result<Result<(), sluice_core::SpecErrors>, CliError> {
    let now = ports.clock().now();
    if let Some(lock) = ports.store().lock(&spec.service).await?
        && lock.lease_until > now
    {
        return Ok(Ok(()));
    }
    match check_world(ports.router(), ports.alarms(), ports.store(), spec).await {
        Ok(roles) => {
            tracing::info!(service = %spec.service, %roles, "the world is ready for a deployment");
            Ok(Ok(()))
        }
        Err(WorkflowError::Invalid(errors)) => Ok(Err(errors)),
        Err(other) => Err(other.into()),
    }
}

fn report_invalid(
    errors: &sluice_core::SpecErrors,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    match output {
        Output::Json => writeln!(out, "{}", json!({"valid": false, "errors": errors.0}))?,
        Output::Text => {
            let count = errors.0.len();
            writeln!(
                out,
                "the deployment request has {count} problem{}; nothing was started:",
                if count == 1 { "" } else { "s" }
            )?;
            for error in &errors.0 {
                writeln!(out, "  {}: {}", error.field, error.message)?;
            }
        }
    }
    Ok(())
}

enum StartOutcome {
    Started(Started),
    Queued(Queued),
}

/// Refuses while another deployment of the service runs (or, with `--queue`, queues the
/// release behind it), then starts the execution under the first free attempt name of the
/// version.
async fn start_execution(
    ports: &impl Ports,
    service: &str,
    version: &str,
    body: &Value,
    request: &StartRequest,
) -> Result<StartOutcome, CliError> {
    let store = ports.store();
    let now = ports.clock().now();
    let recent = store.list(service, 200).await?;
    let earlier = recent.iter().filter(|d| d.spec.version == version).count();
    if let Some(who) = &request.queue {
        let release = QueuedRelease {
            version: version.to_string(),
            request: body.clone(),
            execution_name: attempt_name(service, version, earlier + 1),
            source: format!("cli:{who}"),
            queued_at: now,
        };
        // Queued only while the lock is held, checked in the same write; otherwise started.
        if let Some(lock) = store.lock(service).await?
            && lock.deployment.id.as_str() != release.execution_name
            && let QueueWrite::Queued(change) = store.queue_release(service, &release, now).await?
        {
            return Ok(StartOutcome::Queued(Queued {
                service: service.to_string(),
                version: version.to_string(),
                execution_name: release.execution_name,
                behind: lock.deployment.id.to_string(),
                superseded: match change {
                    QueueChange::Replaced { superseded } => Some(superseded.version),
                    QueueChange::Queued | QueueChange::AlreadyQueued => None,
                },
                queued: true,
            }));
        }
    }
    if let Some(lock) = store.lock(service).await?
        && lock.lease_until > now
        && let Some(holder) = store.get(&lock.deployment).await?
        && !holder.status.is_terminal()
    {
        // Starting what already runs is answered with it rather than refused.
        if holder.spec.version == version
            && let Some(arn) = holder.execution_arn.clone()
        {
            return Ok(StartOutcome::Started(Started {
                deployment_id: holder.id.to_string(),
                execution_arn: arn,
                already_running: true,
            }));
        }
        return Err(CliError::Conflict {
            service: service.into(),
            holder: holder.id.to_string(),
            status: holder.status.to_string(),
        });
    }
    let first = earlier + 1;
    for attempt in first..first + NAME_ATTEMPTS {
        let name = attempt_name(service, version, attempt);
        match ports.orchestrator().start_execution(&name, body).await {
            Ok(execution) => {
                tracing::info!(%name, arn = %execution.arn, already_existed = execution.already_existed, "execution started");
                // Newer than a release still waiting in the queue: that one will not start.
                store
                    .update_service_state(service, |state| {
                        state.supersede_queued(version, now).is_some()
                    })
                    .await?;
                return Ok(StartOutcome::Started(Started {
                    deployment_id: name,
                    execution_arn: execution.arn,
                    already_running: execution.already_existed,
                }));
            }
            // An ended execution (or another request) holds the name: the next attempt.
            Err(OrchestratorError::NameTakenWithOtherInput { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(CliError::NoExecutionName {
        service: service.into(),
        version: version.into(),
        tries: NAME_ATTEMPTS,
    })
}
