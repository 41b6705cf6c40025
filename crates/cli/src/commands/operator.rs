//! The operator actions: pause, resume, promote, abort, approve and reject.

use std::io::Write;

use serde::Serialize;
use sluice_core::deployment::{Controller, Deployment, DeploymentId, Status};
use sluice_core::ports::{Clock, DeploymentKey, Deployments};
use sluice_core::timeline::text;
use sluice_core::workflow::{
    OperatorOutcome, Takeover, TakeoverOutcome, approve, request_pause, request_promotion,
};

use super::find;
use crate::args::Output;
use crate::backend::Ports;
use crate::error::{CliError, exit};

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
        TakeoverOutcome::Refused { reason, .. } => ("refused", reason),
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
