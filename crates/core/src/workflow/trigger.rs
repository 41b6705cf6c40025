use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::WorkflowError;
use crate::ports::{
    Clock, Orchestrator, OrchestratorError, QueueWrite, ServiceConfigs, ServiceStates,
    TriggerClaim, TriggerLedger, TriggerRecord,
};
use crate::release::{ReleaseEvent, execution_name, releases, version_of_tag};
use crate::service_state::{QueueChange, QueuedRelease};
use crate::spec::ReleaseSpec;

/// How long an event's idempotency key is kept: longer than EventBridge and GitHub redeliver.
const TRIGGER_KEY_DAYS: i64 = 7;

/// What a release event led to, for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum TriggerOutcome {
    #[serde(rename_all = "camelCase")]
    Started {
        service: String,
        version: String,
        execution_name: String,
        execution_arn: String,
        /// A queued release of another version this newer one replaced.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        superseded: Option<String>,
    },
    /// The service was deploying: the release waits in its state item and starts when that
    /// deployment ends.
    #[serde(rename_all = "camelCase")]
    Queued {
        service: String,
        version: String,
        execution_name: String,
        /// The queued release of another version this one replaced (latest wins).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        superseded: Option<String>,
    },
    /// A repeated delivery, or the same release from another source: the deployment it started
    /// the first time.
    #[serde(rename_all = "camelCase")]
    AlreadyStarted {
        service: String,
        version: String,
        execution_name: String,
        execution_arn: String,
    },
    /// The execution name of this release is taken by a deployment started with another
    /// request (`sluice start` with other settings): nothing new is started, and redeliveries
    /// find that execution.
    #[serde(rename_all = "camelCase")]
    DuplicateName {
        service: String,
        version: String,
        execution_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_arn: Option<String>,
        message: String,
    },
    Ignored {
        reason: String,
    },
}

/// Starts the deployment a release tag asks for, exactly once: the services whose release
/// spec names the tag's repository, at the version the tag names. Each start is recorded under
/// the delivery's idempotency key first and uses an execution name derived from service and
/// version, so neither a repeated delivery nor the same tag from two sources starts a second
/// deployment. While the service deploys, the release is queued instead (latest wins) and
/// starts when that deployment ends. The services are found through the repository index
/// (never by reading every config); each is checked against the tag's repository again.
pub async fn trigger_release(
    store: &(impl ServiceConfigs + TriggerLedger + ServiceStates),
    orchestrator: &impl Orchestrator,
    clock: &impl Clock,
    event: ReleaseEvent,
) -> Result<Vec<TriggerOutcome>, WorkflowError> {
    let mut outcomes = Vec::new();
    for (service, config) in store.services_released_from(&event.repository).await? {
        let Some(release) = config.get("release") else {
            continue;
        };
        let release: ReleaseSpec = match serde_json::from_value(release.clone()) {
            Ok(release) => release,
            Err(error) => {
                tracing::warn!(%service, %error, "service config has an unreadable release section; skipped");
                continue;
            }
        };
        if !releases(&release, &event.repository) {
            continue;
        }
        let Some(version) = version_of_tag(&event.tag, release.tag_pattern.as_deref()) else {
            let reason = format!(
                "tag {:?} of {} is not a release of {service} (tag pattern {})",
                event.tag,
                event.repository,
                release.tag_pattern.as_deref().unwrap_or("semantic version")
            );
            tracing::info!(%service, "{reason}");
            outcomes.push(TriggerOutcome::Ignored { reason });
            continue;
        };
        outcomes.push(start_once(store, orchestrator, clock, &event, &service, &version).await?);
    }
    if outcomes.is_empty() {
        let reason = format!(
            "no service is released from repository {}",
            event.repository
        );
        tracing::info!("{reason}");
        outcomes.push(TriggerOutcome::Ignored { reason });
    }
    Ok(outcomes)
}

async fn start_once(
    store: &(impl TriggerLedger + ServiceStates),
    orchestrator: &impl Orchestrator,
    clock: &impl Clock,
    event: &ReleaseEvent,
    service: &str,
    version: &str,
) -> Result<TriggerOutcome, WorkflowError> {
    let name = execution_name(service, version);
    let key = format!("{}#{service}", event.trigger_key());
    let now = clock.now();
    let record = TriggerRecord {
        execution_name: name.clone(),
        execution_arn: None,
        seen_at: now,
    };
    let claim = store
        .claim_trigger(&key, &record, now + Duration::days(TRIGGER_KEY_DAYS))
        .await?;
    if let TriggerClaim::Seen(TriggerRecord {
        execution_arn: Some(arn),
        execution_name,
        ..
    }) = &claim
    {
        tracing::info!(%service, %version, execution = %execution_name, "repeated delivery; already started");
        return Ok(TriggerOutcome::AlreadyStarted {
            service: service.into(),
            version: version.into(),
            execution_name: execution_name.clone(),
            execution_arn: arn.clone(),
        });
    }
    // New, or claimed by a delivery that failed before starting (or that queued it).
    let request = json!({"service": service, "version": version});
    if let Some(arn) = existing_execution(orchestrator, &name).await? {
        store.complete_trigger(&key, &arn).await?;
        tracing::info!(%service, %version, execution = %name, "this release was started already");
        return Ok(TriggerOutcome::AlreadyStarted {
            service: service.into(),
            version: version.into(),
            execution_name: name,
            execution_arn: arn,
        });
    }
    let release = QueuedRelease {
        version: version.to_string(),
        request: request.clone(),
        execution_name: name.clone(),
        source: key.clone(),
        queued_at: now,
    };
    if let QueueWrite::Queued(change) = store.queue_release(service, &release, now).await? {
        let superseded = match change {
            QueueChange::Replaced { superseded } => Some(superseded.version),
            QueueChange::Queued | QueueChange::AlreadyQueued => None,
        };
        tracing::info!(%service, %version, execution = %name, ?superseded, "service is deploying; release queued");
        return Ok(TriggerOutcome::Queued {
            service: service.into(),
            version: version.into(),
            execution_name: name,
            superseded,
        });
    }
    // Nothing holds the lock: start it (a name already used returns that execution).
    let started = match orchestrator.start_execution(&name, &request).await {
        Ok(started) => started,
        // Started meanwhile with another request (`sluice start` with other settings): that
        // deployment is this release's; starting nothing more is the answer, not a failure.
        Err(OrchestratorError::NameTakenWithOtherInput { .. }) => {
            let execution_arn = orchestrator.execution_arn(&name);
            if let Some(arn) = &execution_arn {
                store.complete_trigger(&key, arn).await?;
            }
            let message = format!(
                "execution {name} exists with another request (started otherwise, e.g. by \
                 `sluice start` with other settings); this release is not started again"
            );
            tracing::info!(%service, %version, execution = %name, "{message}");
            return Ok(TriggerOutcome::DuplicateName {
                service: service.into(),
                version: version.into(),
                execution_name: name,
                execution_arn,
                message,
            });
        }
        Err(other) => return Err(other.into()),
    };
    store.complete_trigger(&key, &started.arn).await?;
    tracing::info!(%service, %version, execution = %name, already_existed = started.already_existed, "release deployment started");
    let (service, version) = (service.to_string(), version.to_string());
    if started.already_existed {
        return Ok(TriggerOutcome::AlreadyStarted {
            service,
            version,
            execution_name: name,
            execution_arn: started.arn,
        });
    }
    // Newer than whatever still waits in the queue (left there by an end step that failed to
    // start it): that one will not start after this.
    let superseded = store
        .update_service_state(&service, |state| {
            state.supersede_queued(&version, now).is_some()
        })
        .await?
        .superseded
        .last()
        .filter(|s| s.superseded_by == version && s.superseded_at == now)
        .map(|s| s.version.clone());
    Ok(TriggerOutcome::Started {
        service,
        version,
        execution_name: name,
        execution_arn: started.arn,
        superseded,
    })
}

/// The ARN of the execution named `name` when it exists (started by an earlier delivery, by
/// the queue, or by `sluice start`).
async fn existing_execution(
    orchestrator: &impl Orchestrator,
    name: &str,
) -> Result<Option<String>, WorkflowError> {
    let Some(arn) = orchestrator.execution_arn(name) else {
        return Ok(None);
    };
    match orchestrator.execution_status(&arn).await {
        Ok(_) => Ok(Some(arn)),
        Err(OrchestratorError::ExecutionNotFound { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}
