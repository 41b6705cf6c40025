use std::time::Duration;

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::queue::after_end;
use super::record::{ensure_driven, fenced, firing_alarms, load, notify, save_driven};
use super::verify::save_after_write;
use crate::analysis::{Decision, DecisionAction};
use crate::deployment::{Controller, Deployment, EventKind, Outcome, Status, TrafficState};
use crate::plan::WeightPair;
use crate::ports::{
    AlarmStates, Clock, Deployments, Notifier, Orchestrator, RecordSet, ServiceLocks,
    ServiceStates, TrafficRouter,
};

/// How long finalize waits for its 100 % change to be in sync.
pub const PROMOTION_SYNC_TIMEOUT: Duration = Duration::from_secs(300);

/// Puts 100 % on the canary slot, marks the deployment promoted, releases the lock and
/// notifies. The stable slot's record stays, at weight 0, so reverting is one weight change.
/// Running it again on a promoted deployment changes nothing but finishing what its end left
/// undone (the lock, the queued release). Last, the service's queued release starts.
///
/// The armed alarms are read first: one in ALARM (its notification lost, say) is a failed
/// analysis, recorded as the start of a rollback and answered with an error the state
/// machine's Catch routes to Rollback. The promotion is then claimed in the record before
/// Route 53 is touched, so a takeover that came first fences it without any write; one that
/// comes after the claim fences the final record, and Route 53 is made to carry what the
/// record says, verified.
pub async fn finalize(
    store: &(impl Deployments + ServiceLocks + ServiceStates),
    router: &impl TrafficRouter,
    alarms: &impl AlarmStates,
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
    if !promotable || !deployment.status.can_become(Status::Promoted) {
        return Err(WorkflowError::BadInput {
            what: "deployment".into(),
            message: format!(
                "deployment {} cannot be promoted: no analysis decided promotion (status {})",
                deployment.id, deployment.status
            ),
        });
    }
    if let Some(alarm) = firing_alarms(alarms, &deployment).await?.first() {
        let reason = format!("alarm {alarm} is in ALARM");
        return Err(refuse_promotion(store, clock, &mut deployment, reason).await);
    }

    let claim = deployment
        .transition(
            deployment.status,
            clock.now(),
            EventKind::PromotionStarted {
                weights: WeightPair::ALL_CANARY,
            },
        )
        .map_err(|_| fenced(&deployment))?;
    save_driven(store, &deployment, &claim).await?;

    let records = RecordSet::of(&deployment);
    let change = router.set_weights(&records, WeightPair::ALL_CANARY).await?;
    router
        .wait_for_sync(&change, PROMOTION_SYNC_TIMEOUT)
        .await?;

    let now = clock.now();
    deployment.traffic = Some(TrafficState::all_canary(change.0.clone(), now));
    deployment.outcome = Some(Outcome {
        reason: "every step passed analysis".into(),
        at: now,
    });
    deployment.task_token = None;
    deployment.approved_token = None;
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
    save_after_write(
        store,
        router,
        notifier,
        clock,
        &deployment,
        &event,
        "promoting",
    )
    .await?;
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

/// An armed alarm fires at promotion: the rollback starts in the record with the alarm as its
/// reason (the Rollback step the state machine goes to next finishes it), and the error to
/// answer with. A failed write is answered instead (Fenced, or a conflict to retry).
async fn refuse_promotion(
    store: &impl Deployments,
    clock: &impl Clock,
    deployment: &mut Deployment,
    alarm: String,
) -> WorkflowError {
    let reason = format!("{alarm} at promotion: treated as a failed analysis");
    tracing::warn!(deployment_id = %deployment.id, %reason, "not promoting");
    let event = match deployment.transition(
        Status::RollingBack,
        clock.now(),
        EventKind::RollbackStarted {
            reason: reason.clone(),
            controller: Controller::StateMachine,
        },
    ) {
        Ok(event) => event,
        Err(_) => return fenced(deployment),
    };
    if let Err(error) = save_driven(store, deployment, &event).await {
        return error;
    }
    WorkflowError::AlarmFiring {
        id: deployment.id.clone(),
        reason,
    }
}
