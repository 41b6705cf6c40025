//! Reading and saving the deployment record under the state machine's fence, and notifying
//! about what was saved.

use super::error::WorkflowError;
use crate::deployment::{Deployment, DeploymentId, HistoryEvent};
use crate::plan::Step;
use crate::ports::{
    AlarmState, AlarmStates, DeploymentKey, Deployments, DeploymentsError, Notification, Notifier,
    NotifyError,
};

/// Reads the deployment a cursor points at, failing with `NotFound` when it does not exist.
pub(super) async fn load(
    store: &impl Deployments,
    key: &DeploymentKey,
) -> Result<Deployment, WorkflowError> {
    store
        .get(key)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(key.id.to_string()))
}

/// The plan's step `index`, or `BadInput` naming the step when the plan has no such step.
pub(super) fn step_of(deployment: &Deployment, index: usize) -> Result<Step, WorkflowError> {
    deployment
        .plan
        .step(index)
        .cloned()
        .ok_or_else(|| WorkflowError::BadInput {
            what: "step".into(),
            message: format!(
                "deployment {} has {} steps, there is no step {index}",
                deployment.id,
                deployment.plan.steps.len()
            ),
        })
}

/// Fails with `Fenced` unless the state machine still drives the deployment.
pub(super) fn ensure_driven(deployment: &Deployment) -> Result<(), WorkflowError> {
    if deployment.is_driven_by_state_machine() {
        Ok(())
    } else {
        Err(fenced(deployment))
    }
}

pub(super) fn fenced(deployment: &Deployment) -> WorkflowError {
    WorkflowError::Fenced {
        id: deployment.id.clone(),
        status: deployment.status,
        by: deployment.controller.describe(),
    }
}

/// Saves a change the state machine made. When the revision moved underneath, the record is
/// read again: if someone took the deployment over the answer is `Fenced`, otherwise the
/// conflict is returned for the state machine to retry.
pub(super) async fn save_driven(
    store: &impl Deployments,
    deployment: &Deployment,
    event: &HistoryEvent,
) -> Result<(), WorkflowError> {
    match store.save(deployment, event).await {
        Ok(()) => Ok(()),
        Err(conflict @ DeploymentsError::RevisionConflict { .. }) => {
            let current = load(store, &DeploymentKey::of(deployment)).await?;
            ensure_driven(&current)?;
            Err(conflict.into())
        }
        Err(other) => Err(other.into()),
    }
}

/// Publishes a notification; a failure is logged, not returned, because the state change it
/// reports is already stored and retrying the step would repeat it.
pub(super) async fn notify(
    notifier: &impl Notifier,
    deployment: &Deployment,
    message: impl Into<String>,
) {
    let notification = Notification::of(deployment, message);
    if let Err(error) = notifier.notify(&notification).await {
        log_notify_failure(&deployment.id, &error);
    }
}

fn log_notify_failure(id: &DeploymentId, error: &NotifyError) {
    tracing::warn!(deployment_id = %id, %error, "notification not sent");
}

/// The deployment's armed brake alarms (the service's and the canary slot's) found in ALARM,
/// so a lost notification still stops a bad release. A hotfix, which may start while its alarm
/// fires, is not held back by them.
pub(super) async fn firing_alarms(
    alarms: &impl AlarmStates,
    deployment: &Deployment,
) -> Result<Vec<String>, WorkflowError> {
    if deployment.spec.hotfix {
        return Ok(Vec::new());
    }
    let names: Vec<String> = deployment
        .spec
        .brake_alarms(&deployment.roles)
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(alarms
        .alarm_states(&names)
        .await?
        .into_iter()
        .filter(|status| status.state == Some(AlarmState::Alarm))
        .map(|status| status.name)
        .collect())
}
