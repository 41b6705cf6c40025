//! The commands other than watch and report: start, status, history, show, and the operator
//! actions. Each takes the ports, writes what it has to say to `out`, and returns its exit
//! code.

use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};
use sluice_core::deployment::{Controller, Deployment, DeploymentId, Status};
use sluice_core::ports::{
    Clock, DeploymentKey, Deployments, Orchestrator, OrchestratorError, QueueWrite, ServiceConfigs,
    ServiceLocks, ServiceStates,
};
use sluice_core::service_state::{QueueChange, QueuedRelease, ServiceState};
use sluice_core::timeline::{Timeline, text};
use sluice_core::workflow::{
    OperatorOutcome, Takeover, TakeoverOutcome, WorkflowError, approve, check_world, request_pause,
    request_promotion,
};

use crate::args::Output;
use crate::backend::Ports;
use crate::error::{CliError, exit};
use crate::print;
use crate::request::{Assignment, attempt_name, build_request, validate};
use crate::rows::{ActiveRow, HistoryRow};

// ---------------------------------------------------------------------------------------------
// start

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

// ---------------------------------------------------------------------------------------------
// status, history, show

/// The deployments in progress: every service's lock holder and unfinished recent records.
pub async fn active(ports: &impl Ports, service: Option<&str>) -> Result<Vec<ActiveRow>, CliError> {
    let services = match service {
        Some(service) => vec![service.to_string()],
        None => crate::backend::services(ports).await?,
    };
    let mut rows = Vec::new();
    for service in services {
        let mut found: Vec<Deployment> = ports
            .store()
            .list(&service, 10)
            .await?
            .into_iter()
            .filter(|d| !d.status.is_terminal())
            .collect();
        if let Some(lock) = ports.store().lock(&service).await?
            && !found.iter().any(|d| d.id == lock.deployment.id)
            && let Some(holder) = ports.store().get(&lock.deployment).await?
            && !holder.status.is_terminal()
        {
            found.push(holder);
        }
        rows.extend(found.iter().map(ActiveRow::of));
    }
    rows.sort_by(|a, b| (&a.service, a.started_at).cmp(&(&b.service, b.started_at)));
    Ok(rows)
}

/// The state items (stable slot, versions, last deployment, queued release) of `service`, or
/// of every service that has one.
pub async fn service_states(
    ports: &impl Ports,
    service: Option<&str>,
) -> Result<Vec<ServiceState>, CliError> {
    let services = match service {
        Some(service) => vec![service.to_string()],
        None => crate::backend::services(ports).await?,
    };
    let mut states = Vec::new();
    for service in services {
        states.extend(ports.store().service_state(&service).await?);
    }
    Ok(states)
}

/// `status -o json`: the deployments in progress and the services' state items.
#[derive(Debug, Serialize)]
struct StatusJson<'a> {
    deployments: &'a [ActiveRow],
    services: &'a [ServiceState],
}

pub async fn status(
    ports: &impl Ports,
    service: Option<&str>,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let rows = active(ports, service).await?;
    let states = service_states(ports, service).await?;
    if output == Output::Json {
        let body = StatusJson {
            deployments: &rows,
            services: &states,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(exit::OK);
    }
    let now = ports.clock().now();
    write!(out, "{}", print::status(&rows, service, now))?;
    if !states.is_empty() {
        write!(out, "\n{}", print::service_states(&states))?;
    }
    Ok(exit::OK)
}

pub async fn history_rows(
    ports: &impl Ports,
    service: &str,
    limit: usize,
) -> Result<Vec<HistoryRow>, CliError> {
    let now = ports.clock().now();
    Ok(ports
        .store()
        .list(service, limit)
        .await?
        .iter()
        .map(|d| {
            let ended_at = d
                .status
                .is_terminal()
                .then(|| d.outcome.as_ref().map(|o| o.at).unwrap_or(d.updated_at));
            HistoryRow {
                deployment_id: d.id.to_string(),
                version: d.spec.version.clone(),
                roles: d.roles.clone(),
                status: d.status,
                started_at: d.started_at,
                ended_at,
                duration_seconds: (ended_at.unwrap_or(now) - d.started_at).num_seconds(),
                outcome: d.outcome.as_ref().map(|o| o.reason.clone()),
                controller: d.controller.clone(),
            }
        })
        .collect())
}

/// `history -o json`: the service's state item and its deployments.
#[derive(Debug, Serialize)]
struct HistoryJson<'a> {
    state: Option<&'a ServiceState>,
    deployments: &'a [HistoryRow],
}

pub async fn history(
    ports: &impl Ports,
    service: &str,
    limit: usize,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let rows = history_rows(ports, service, limit).await?;
    let state = ports.store().service_state(service).await?;
    if output == Output::Json {
        let body = HistoryJson {
            state: state.as_ref(),
            deployments: &rows,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(exit::OK);
    }
    if let Some(state) = &state {
        writeln!(
            out,
            "{}",
            print::service_states(std::slice::from_ref(state))
        )?;
    }
    write!(out, "{}", print::history(&rows, service))?;
    Ok(exit::OK)
}

/// A deployment by id, or `NotFound`.
pub async fn find(store: &impl Deployments, id: &str) -> Result<Deployment, CliError> {
    let parsed = DeploymentId::parse(id).map_err(|e| CliError::BadArgument {
        what: "deployment id".into(),
        message: e.to_string(),
    })?;
    store
        .find(&parsed)
        .await?
        .ok_or_else(|| CliError::NotFound(id.to_string()))
}

/// A deployment and its timeline.
pub async fn timeline(ports: &impl Ports, id: &str) -> Result<(Deployment, Timeline), CliError> {
    let found = find(ports.store(), id).await?;
    // `find` may lag a write; the keyed read is strongly consistent.
    let deployment = ports
        .store()
        .get(&DeploymentKey::of(&found))
        .await?
        .unwrap_or(found);
    let history = ports.store().history(&deployment.id).await?;
    let timeline = Timeline::build(&deployment, &history);
    Ok((deployment, timeline))
}

pub async fn show(
    ports: &impl Ports,
    id: &str,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let (deployment, timeline) = timeline(ports, id).await?;
    if output == Output::Json {
        let body = json!({"deployment": deployment, "timeline": timeline});
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(exit::OK);
    }
    let history = ports.store().history(&deployment.id).await?;
    let now = ports.clock().now();
    write!(
        out,
        "{}",
        print::show(&deployment, &timeline, &history, now)
    )?;
    Ok(exit::OK)
}

// ---------------------------------------------------------------------------------------------
// operator actions

/// What an operator action did, for people and scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub deployment_id: String,
    pub action: &'static str,
    /// `requested`, `resumed`, `unchanged`, `rolled-back`, `already-rolled-back`,
    /// `promoted`, `already-ended`.
    pub result: &'static str,
    pub message: String,
}

fn print_action(
    result: &ActionResult,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string(result)?)?,
        Output::Text => writeln!(out, "{}", result.message)?,
    }
    Ok(exit::OK)
}

fn from_operator(
    id: &DeploymentId,
    action: &'static str,
    outcome: OperatorOutcome,
    done: String,
) -> ActionResult {
    let (result, message) = match outcome {
        OperatorOutcome::Requested => ("requested", done),
        OperatorOutcome::Resumed { decision } => {
            ("resumed", format!("deployment {id} carries on: {decision}"))
        }
        OperatorOutcome::Unchanged(why) => ("unchanged", format!("nothing to do: {why}")),
    };
    ActionResult {
        deployment_id: id.to_string(),
        action,
        result,
        message,
    }
}

fn from_takeover(
    deployment: &Deployment,
    action: &'static str,
    outcome: TakeoverOutcome,
) -> ActionResult {
    let id = &deployment.id;
    let (stable, canary) = (
        text::stable(&deployment.roles),
        text::canary(&deployment.roles),
    );
    let (result, message) = match outcome {
        TakeoverOutcome::RolledBack { to_traffic_ms, .. } => (
            "rolled-back",
            format!(
                "deployment {id} rolled back: {stable} 100%{}, execution stopped",
                to_traffic_ms
                    .map(|ms| format!(" ({ms} ms after the request)"))
                    .unwrap_or_default()
            ),
        ),
        TakeoverOutcome::AlreadyRolledBack { .. } => (
            "already-rolled-back",
            format!("deployment {id} was already rolled back"),
        ),
        TakeoverOutcome::Promoted { .. } => (
            "promoted",
            format!(
                "deployment {id} promoted: {canary} 100%, remaining steps skipped, execution stopped"
            ),
        ),
        TakeoverOutcome::AlreadyEnded { status, .. } => (
            "already-ended",
            format!("deployment {id} had already ended: {status}"),
        ),
        TakeoverOutcome::Ignored { .. } | TakeoverOutcome::NothingActive { .. } => {
            ("unchanged", format!("deployment {id}: nothing to do"))
        }
    };
    ActionResult {
        deployment_id: id.to_string(),
        action,
        result,
        message,
    }
}

/// The emergency path's takeover over the CLI's ports.
type PortsTakeover<'a, P> = Takeover<
    'a,
    <P as Ports>::Store,
    <P as Ports>::Router,
    <P as Ports>::Orchestrator,
    <P as Ports>::Notifier,
    <P as Ports>::Clock,
>;

fn takeover<P: Ports>(ports: &P) -> PortsTakeover<'_, P> {
    Takeover {
        store: ports.store(),
        router: ports.router(),
        orchestrator: ports.orchestrator(),
        notifier: ports.notifier(),
        clock: ports.clock(),
    }
}

pub async fn pause(
    ports: &impl Ports,
    id: &str,
    who: &str,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let deployment = find(ports.store(), id).await?;
    let key = DeploymentKey::of(&deployment);
    let outcome = request_pause(ports.store(), ports.clock(), &key, who).await?;
    let done = format!(
        "pause requested: deployment {} holds at its next step boundary (after the current step's analysis); \
         `sluice resume {}` carries on",
        deployment.id, deployment.id
    );
    print_action(
        &from_operator(&deployment.id, "pause", outcome, done),
        output,
        out,
    )
}

pub async fn resume(
    ports: &impl Ports,
    id: &str,
    who: &str,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let deployment = find(ports.store(), id).await?;
    if deployment.requests.pause.is_none() {
        let why = if deployment.status == Status::AwaitingApproval {
            format!(
                "deployment {} waits for approval, not after a pause: `sluice approve {}` or `sluice reject {}`",
                deployment.id, deployment.id, deployment.id
            )
        } else {
            format!(
                "deployment {} is not paused ({})",
                deployment.id, deployment.status
            )
        };
        let result = from_operator(
            &deployment.id,
            "resume",
            OperatorOutcome::Unchanged(why),
            String::new(),
        );
        return print_action(&result, output, out);
    }
    let key = DeploymentKey::of(&deployment);
    let outcome = approve(
        ports.store(),
        ports.orchestrator(),
        ports.notifier(),
        ports.clock(),
        &key,
        who,
        None,
    )
    .await?;
    let done = format!(
        "pause withdrawn: deployment {} will not stop at its next step boundary",
        deployment.id
    );
    print_action(
        &from_operator(&deployment.id, "resume", outcome, done),
        output,
        out,
    )
}

pub async fn promote(
    ports: &impl Ports,
    id: &str,
    who: &str,
    force: bool,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let deployment = find(ports.store(), id).await?;
    let key = DeploymentKey::of(&deployment);
    if force {
        let outcome = takeover(ports).promote_now(&key, who).await?;
        return print_action(&from_takeover(&deployment, "promote", outcome), output, out);
    }
    let outcome = request_promotion(ports.store(), ports.clock(), &key, who).await?;
    let mut done = format!(
        "promotion requested: deployment {} goes to {} 100% once the current step's analysis passes",
        deployment.id,
        text::canary(&deployment.roles)
    );
    if deployment.status == Status::AwaitingApproval {
        done.push_str(&format!(
            "; it is waiting for an operator now: `sluice approve {}` lets it carry on",
            deployment.id
        ));
    }
    print_action(
        &from_operator(&deployment.id, "promote", outcome, done),
        output,
        out,
    )
}

pub async fn abort(
    ports: &impl Ports,
    id: &str,
    who: &str,
    reason: Option<&str>,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let deployment = find(ports.store(), id).await?;
    let why = match reason {
        Some(reason) => format!("aborted by {who}: {reason}"),
        None => format!("aborted by {who}"),
    };
    let outcome = takeover(ports)
        .take_over(
            &DeploymentKey::of(&deployment),
            Controller::Operator { who: who.into() },
            &why,
            Some(ports.clock().now()),
        )
        .await?;
    print_action(&from_takeover(&deployment, "abort", outcome), output, out)
}

pub async fn approve_deployment(
    ports: &impl Ports,
    id: &str,
    who: &str,
    comment: Option<String>,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let deployment = find(ports.store(), id).await?;
    let outcome = approve(
        ports.store(),
        ports.orchestrator(),
        ports.notifier(),
        ports.clock(),
        &DeploymentKey::of(&deployment),
        who,
        comment,
    )
    .await?;
    let done = format!("pause withdrawn: deployment {} carries on", deployment.id);
    print_action(
        &from_operator(&deployment.id, "approve", outcome, done),
        output,
        out,
    )
}

pub async fn reject(
    ports: &impl Ports,
    id: &str,
    who: &str,
    reason: Option<&str>,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let deployment = find(ports.store(), id).await?;
    let key = DeploymentKey::of(&deployment);
    let current = ports.store().get(&key).await?.unwrap_or(deployment);
    if current.status != Status::AwaitingApproval {
        return Err(CliError::WrongState {
            id: current.id.to_string(),
            message: format!(
                "is {}, not waiting for approval; to stop it anyway: `sluice abort {}`",
                current.status, current.id
            ),
        });
    }
    let why = match reason {
        Some(reason) => format!("rejected by {who}: {reason}"),
        None => format!("rejected by {who}"),
    };
    let outcome = takeover(ports)
        .take_over(
            &key,
            Controller::Operator { who: who.into() },
            &why,
            Some(ports.clock().now()),
        )
        .await?;
    print_action(&from_takeover(&current, "reject", outcome), output, out)
}
