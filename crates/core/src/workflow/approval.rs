use serde::{Deserialize, Serialize};

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::record::{ensure_driven, fenced, load, notify, save_driven};
use crate::deployment::{EventKind, Status};
use crate::ports::{Clock, Deployments, Notifier};

/// What AwaitApproval receives: the cursor and the task token the state machine waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub cursor: Cursor,
    pub task_token: String,
}

/// Stores the task token on the deployment, so an operator's approve or reject can answer it,
/// and tells the operators a decision is awaited. The state machine then waits for the answer.
pub async fn await_approval(
    store: &impl Deployments,
    notifier: &impl Notifier,
    clock: &impl Clock,
    request: ApprovalRequest,
) -> Result<(), WorkflowError> {
    let mut deployment = load(store, &request.cursor.deployment).await?;
    ensure_driven(&deployment)?;
    if deployment.status != Status::AwaitingApproval {
        return Err(WorkflowError::BadInput {
            what: "cursor".into(),
            message: format!(
                "deployment {} is {}, not awaiting approval",
                deployment.id, deployment.status
            ),
        });
    }
    if deployment.task_token.as_deref() == Some(request.task_token.as_str()) {
        return Ok(());
    }
    let reason = request
        .cursor
        .reason
        .clone()
        .unwrap_or_else(|| "approval requested".into());
    deployment.task_token = Some(request.task_token);
    // A new wait: an earlier approval's answer is no longer one to send again.
    deployment.approved_token = None;
    let event = deployment
        .transition(
            Status::AwaitingApproval,
            clock.now(),
            EventKind::ApprovalRequested {
                step: request.cursor.step,
                reason: reason.clone(),
            },
        )
        .map_err(|_| fenced(&deployment))?;
    save_driven(store, &deployment, &event).await?;
    notify(
        notifier,
        &deployment,
        format!(
            "waiting for approval at step {} of {}: {reason} (sluice approve {id} / sluice reject {id})",
            request.cursor.step + 1,
            request.cursor.step_count,
            id = deployment.id
        ),
    )
    .await;
    Ok(())
}
