//! What operators do to a running deployment (the `sluice` CLI): pause and resume at a step
//! boundary, promote early, approve a deployment held for approval. Aborting and rejecting go
//! through the same fenced takeover as an emergency rollback ([`super::Takeover`]).

use serde_json::Value;

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::record::{ensure_driven, fenced, load, notify, save_driven};
use crate::analysis::Decision;
use crate::deployment::{Deployment, EventKind, Status};
use crate::ports::{
    Clock, DeploymentKey, Deployments, DeploymentsError, Notifier, Orchestrator, OrchestratorError,
};

/// What an operator request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorOutcome {
    /// Recorded; the deployment acts on it at its next analysis.
    Requested,
    /// The deployment was waiting; it carries on now.
    Resumed { decision: String },
    /// Nothing to do (already requested, or not paused).
    Unchanged(String),
}

/// Records a request on a running deployment (one conditional write, retried on a race).
async fn record_request(
    store: &impl Deployments,
    clock: &impl Clock,
    key: &DeploymentKey,
    who: &str,
    request: &str,
    change: impl Fn(&mut Deployment) -> bool,
) -> Result<OperatorOutcome, WorkflowError> {
    for _ in 0..5 {
        let mut deployment = load(store, key).await?;
        ensure_driven(&deployment)?;
        if !change(&mut deployment) {
            return Ok(OperatorOutcome::Unchanged(format!(
                "{request} was already requested"
            )));
        }
        let status = deployment.status;
        let event = deployment
            .transition(
                status,
                clock.now(),
                EventKind::OperatorRequested {
                    by: who.into(),
                    request: request.into(),
                },
            )
            .map_err(|_| fenced(&deployment))?;
        match store.save(&deployment, &event).await {
            Ok(()) => return Ok(OperatorOutcome::Requested),
            Err(DeploymentsError::RevisionConflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(WorkflowError::Internal {
        id: key.id.to_string(),
        message: format!("{request} not recorded: the record kept changing"),
    })
}

/// Holds the deployment at its next step boundary, until `resume`.
pub async fn request_pause(
    store: &impl Deployments,
    clock: &impl Clock,
    key: &DeploymentKey,
    who: &str,
) -> Result<OperatorOutcome, WorkflowError> {
    record_request(store, clock, key, who, "pause", |d| {
        let changed = d.requests.pause.is_none();
        d.requests.pause = Some(who.to_string());
        changed
    })
    .await
}

/// Skips the remaining steps once the current analysis passes.
pub async fn request_promotion(
    store: &impl Deployments,
    clock: &impl Clock,
    key: &DeploymentKey,
    who: &str,
) -> Result<OperatorOutcome, WorkflowError> {
    record_request(store, clock, key, who, "promotion", |d| {
        let changed = d.requests.promote.is_none();
        d.requests.promote = Some(who.to_string());
        changed
    })
    .await
}

/// Lets a deployment held for approval (an approval gate, a pause, an inconclusive analysis
/// whose spec says pause) carry on: with the decision that was held back, or as if the step
/// had passed. A pause not yet reached is simply withdrawn.
///
/// The approval is recorded first (conditional on the revision read), then the waiting task is
/// answered: a failed write sends nothing, and a failed answer leaves a record that lets the
/// state machine's next step go on once it is answered. Running `approve` again sends that
/// answer again; an answer the state machine already took changes nothing.
pub async fn approve(
    store: &impl Deployments,
    orchestrator: &impl Orchestrator,
    notifier: &impl Notifier,
    clock: &impl Clock,
    key: &DeploymentKey,
    who: &str,
    comment: Option<String>,
) -> Result<OperatorOutcome, WorkflowError> {
    let mut deployment = load(store, key).await?;
    ensure_driven(&deployment)?;
    if deployment.status != Status::AwaitingApproval {
        if deployment.requests.pause.is_some() {
            return record_request(store, clock, key, who, "resume", |d| {
                d.requests.pause.take().is_some()
            })
            .await;
        }
        if deployment.status == Status::Analyzing
            && let Some(token) = deployment.approved_token.clone()
        {
            return answer_again(orchestrator, &deployment, &token, who).await;
        }
        return Ok(OperatorOutcome::Unchanged(format!(
            "deployment {} is {}, not waiting for approval",
            deployment.id, deployment.status
        )));
    }
    let Some(token) = deployment.task_token.clone() else {
        return Err(WorkflowError::BadInput {
            what: "deployment".into(),
            message: format!(
                "deployment {} is about to wait for approval but the state machine has not reached the gate yet; try again in a moment",
                deployment.id
            ),
        });
    };
    let mark = deployment.last_analysis.clone();
    let step = mark
        .as_ref()
        .map(|m| m.step)
        .or(deployment.step)
        .unwrap_or(0);
    let decision = match mark.as_ref().and_then(|m| m.held.clone()) {
        Some(held) => held,
        None if deployment.plan.is_last(step) => Decision::Promote,
        None => Decision::Advance {
            next_step: step + 1,
        },
    };
    let output = approved_cursor(&deployment, step, &decision, who)?;

    deployment.task_token = None;
    deployment.approved_token = Some(token.clone());
    deployment.requests.pause = None;
    if let Some(mark) = deployment.last_analysis.as_mut() {
        mark.decision = decision.clone();
        mark.held = None;
    }
    let event = deployment
        .transition(
            Status::Analyzing,
            clock.now(),
            EventKind::Approved {
                by: who.into(),
                comment,
            },
        )
        .map_err(|_| fenced(&deployment))?;
    save_driven(store, &deployment, &event).await?;

    if let Err(error) = orchestrator.send_task_success(&token, &output).await {
        tracing::warn!(deployment_id = %deployment.id, %error, "approval recorded, but its answer did not reach the state machine; `sluice approve` again sends it");
        return Err(error.into());
    }
    notify(
        notifier,
        &deployment,
        format!("approved by {who}: {}", decision.action()),
    )
    .await;
    Ok(OperatorOutcome::Resumed {
        decision: decision.action().to_string(),
    })
}

/// The cursor an approval answers the waiting task with: the decision carried out, at the step
/// it leads to.
fn approved_cursor(
    deployment: &Deployment,
    step: usize,
    decision: &Decision,
    who: &str,
) -> Result<Value, WorkflowError> {
    let mut cursor = Cursor::at(deployment, step);
    cursor.decision = Some(decision.action());
    if let Decision::Advance { next_step } = decision {
        cursor = Cursor {
            decision: cursor.decision,
            ..Cursor::at(deployment, *next_step)
        };
    }
    cursor.reason = Some(format!("approved by {who}"));
    serde_json::to_value(&cursor).map_err(|e| WorkflowError::Internal {
        id: deployment.id.to_string(),
        message: e.to_string(),
    })
}

/// Sends the answer of an approval already recorded whose first answer may not have arrived.
/// A token the state machine has already spent means it did.
async fn answer_again(
    orchestrator: &impl Orchestrator,
    deployment: &Deployment,
    token: &str,
    who: &str,
) -> Result<OperatorOutcome, WorkflowError> {
    let Some(mark) = deployment.last_analysis.as_ref() else {
        return Err(WorkflowError::Internal {
            id: deployment.id.to_string(),
            message: "an approval is recorded without the analysis it approved".into(),
        });
    };
    let output = approved_cursor(deployment, mark.step, &mark.decision, who)?;
    match orchestrator.send_task_success(token, &output).await {
        Ok(()) => Ok(OperatorOutcome::Resumed {
            decision: mark.decision.action().to_string(),
        }),
        Err(OrchestratorError::TaskTokenInvalid { .. }) => Ok(OperatorOutcome::Unchanged(format!(
            "deployment {}: the approval is recorded and the state machine already has its answer",
            deployment.id
        ))),
        Err(other) => Err(other.into()),
    }
}
