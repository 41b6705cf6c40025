use std::time::Duration;

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::queue::after_end;
use super::record::{ensure_driven, fenced, load, notify, save_driven};
use crate::analysis::{Decision, DecisionAction};
use crate::deployment::{EventKind, Outcome, Status, TrafficState};
use crate::plan::WeightPair;
use crate::ports::{
    Clock, Deployments, Notifier, Orchestrator, RecordSet, ServiceLocks, ServiceStates,
    TrafficRouter,
};

const SYNC_TIMEOUT: Duration = Duration::from_secs(300);

/// Puts 100 % on the canary slot, marks the deployment promoted, releases the lock and notifies. The stable slot's
/// record stays, at weight 0, so reverting is one weight change. Running it again on a
/// promoted deployment changes nothing but finishing what its end left undone (the lock, the
/// queued release). Last, the service's queued release starts.
pub async fn finalize(
    store: &(impl Deployments + ServiceLocks + ServiceStates),
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    orchestrator: &impl Orchestrator,
    clock: &impl Clock,
    cursor: Cursor,
) -> Result<Cursor, WorkflowError> {
    let mut deployment = load(store, &cursor.deployment).await?;
    if deployment.status == Status::Promoted {
        after_end(
            store,
            orchestrator,
            clock,
            &deployment.service,
            &deployment.id,
        )
        .await?;
        return Ok(cursor);
    }
    ensure_driven(&deployment)?;
    // Promotion follows an analysis that decided it: the last step passed, or an operator
    // asked to skip the rest and the step passed, or an approval said so.
    let promotable = deployment
        .last_analysis
        .as_ref()
        .is_some_and(|mark| mark.decision == Decision::Promote);
    if !promotable {
        return Err(WorkflowError::BadInput {
            what: "deployment".into(),
            message: format!(
                "deployment {} cannot be promoted: no analysis decided promotion (status {})",
                deployment.id, deployment.status
            ),
        });
    }
    let records = RecordSet::of(&deployment);
    let change = router.set_weights(&records, WeightPair::ALL_CANARY).await?;
    router.wait_for_sync(&change, SYNC_TIMEOUT).await?;

    let now = clock.now();
    deployment.traffic = Some(TrafficState::all_canary(change.0.clone(), now));
    deployment.outcome = Some(Outcome {
        reason: "every step passed analysis".into(),
        at: now,
    });
    deployment.task_token = None;
    let event = deployment
        .transition(
            Status::Promoted,
            now,
            EventKind::Promoted {
                weights: WeightPair::ALL_CANARY,
                change_id: change.0,
            },
        )
        .map_err(|_| fenced(&deployment))?;
    if let Err(error) = save_driven(store, &deployment, &event).await {
        if let WorkflowError::Fenced { id, by, .. } = &error {
            // Taken over while the canary went to 100 %: put stable back ourselves.
            tracing::warn!(deployment_id = %id, %by, "taken over while promoting; restoring 100% stable");
            router.set_weights(&records, WeightPair::ALL_STABLE).await?;
        }
        return Err(error);
    }
    store
        .release_lock(&deployment.service, &deployment.id)
        .await?;
    tracing::info!(deployment_id = %deployment.id, canary = %deployment.roles.canary, "promoted: canary 100%");
    notify(
        notifier,
        &deployment,
        format!(
            "{} {} promoted: canary {} 100%",
            deployment.service, deployment.spec.version, deployment.roles.canary
        ),
    )
    .await;
    after_end(
        store,
        orchestrator,
        clock,
        &deployment.service,
        &deployment.id,
    )
    .await?;
    Ok(Cursor {
        decision: Some(DecisionAction::Promote),
        ..cursor
    })
}
