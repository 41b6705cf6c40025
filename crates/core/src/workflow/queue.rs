//! The release queue: a release that arrives while its service deploys waits in the service's
//! state item and starts when that deployment ends. Every step that ends a deployment calls
//! [`after_end`], also when it runs again on a deployment that has ended already, so a crash
//! between the end and the start is covered by the retry of the end step.

use serde::{Deserialize, Serialize};

use super::error::WorkflowError;
use crate::deployment::DeploymentId;
use crate::ports::{Clock, Orchestrator, OrchestratorError, ServiceLocks, ServiceStates};

/// What became of the queued release when a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum QueuedStart {
    /// Nothing was queued.
    Nothing,
    /// Another deployment holds the lock already; the release stays queued for its end.
    StillQueued {
        version: String,
        holder: DeploymentId,
    },
    /// Started (or found started: its name is derived from service and version) and taken
    /// off the queue.
    #[serde(rename_all = "camelCase")]
    Started {
        version: String,
        execution_name: String,
        execution_arn: Option<String>,
        already_existed: bool,
    },
    /// Step Functions refused it for good; it stays queued for an operator to see.
    Refused { version: String, reason: String },
}

/// Starts the service's queued release, if any, once its lock is free: idempotent (the
/// execution name is the queued one, and an execution that exists already counts as started),
/// and taken off the queue only if it is still that version. A passing failure is returned
/// (the end step is retried and calls this again); a refusal is logged and leaves it queued.
pub async fn start_queued(
    store: &(impl ServiceStates + ServiceLocks),
    orchestrator: &impl Orchestrator,
    clock: &impl Clock,
    service: &str,
) -> Result<QueuedStart, WorkflowError> {
    let Some(queued) = store
        .service_state(service)
        .await?
        .and_then(|state| state.queued)
    else {
        return Ok(QueuedStart::Nothing);
    };
    let version = queued.version.clone();
    if let Some(lock) = store.lock(service).await?
        && lock.lease_until >= clock.now()
    {
        tracing::info!(%service, %version, holder = %lock.deployment.id, "queued release waits for the deployment holding the lock");
        return Ok(QueuedStart::StillQueued {
            version,
            holder: lock.deployment.id,
        });
    }
    let name = queued.execution_name.clone();
    let (execution_arn, already_existed) = match orchestrator
        .start_execution(&name, &queued.request)
        .await
    {
        Ok(started) => (Some(started.arn), started.already_existed),
        // The name is derived from service and version: this release was started already.
        Err(OrchestratorError::NameTakenWithOtherInput { .. }) => {
            (orchestrator.execution_arn(&name), true)
        }
        Err(error) if error.is_retryable() => return Err(error.into()),
        Err(error) => {
            let reason = error.to_string();
            tracing::error!(%service, %version, execution = %name, %reason, "queued release not started; it stays queued");
            return Ok(QueuedStart::Refused { version, reason });
        }
    };
    store
        .update_service_state(service, |state| state.clear_queued(&version))
        .await?;
    tracing::info!(%service, %version, execution = %name, already_existed, "queued release started");
    Ok(QueuedStart::Started {
        version,
        execution_name: name,
        execution_arn,
        already_existed,
    })
}

/// What every path that ends a deployment does last, and again when it finds the deployment
/// ended: releases the service's lock if the deployment still holds it, then starts the queued
/// release.
pub(super) async fn after_end(
    store: &(impl ServiceStates + ServiceLocks),
    orchestrator: &impl Orchestrator,
    clock: &impl Clock,
    service: &str,
    deployment: &DeploymentId,
) -> Result<QueuedStart, WorkflowError> {
    store.release_lock(service, deployment).await?;
    start_queued(store, orchestrator, clock, service).await
}
