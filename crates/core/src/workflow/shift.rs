use super::cursor::Cursor;
use super::error::WorkflowError;
use super::lease::renew_lease;
use super::record::{ensure_driven, fenced, load, save_driven, step_of};
use super::verify::save_after_write;
use crate::deployment::{EventKind, Status, TrafficState};
use crate::ports::{Clock, Deployments, Notifier, RecordSet, ServiceLocks, TrafficRouter};

/// Sets the weights of the cursor's step: both records in one change. The step is claimed in
/// the record before Route 53 is touched, and the change is recorded after; if a takeover took
/// the deployment in between, Route 53 is made to carry what the record now says (stable, or the
/// canary once promoted), verified, and the answer is `Fenced`: a late shift can never leave
/// traffic split under a record that says otherwise.
pub async fn shift_traffic(
    store: &(impl Deployments + ServiceLocks),
    router: &impl TrafficRouter,
    notifier: &impl Notifier,
    clock: &impl Clock,
    cursor: Cursor,
) -> Result<Cursor, WorkflowError> {
    let mut deployment = load(store, &cursor.deployment).await?;
    ensure_driven(&deployment)?;
    let step = step_of(&deployment, cursor.step)?;
    // WaitForSync follows at once: the lease covers its retries.
    renew_lease(store, &deployment, clock.now(), chrono::Duration::zero()).await?;

    // Already shifted by an earlier try of this step: hand back the change it made.
    if deployment.status == Status::Shifting
        && deployment.step == Some(step.index)
        && let Some(traffic) = deployment
            .traffic
            .as_ref()
            .filter(|t| t.weights == step.weights)
    {
        return Ok(Cursor {
            change_id: Some(traffic.change_id.clone()),
            in_sync: false,
            sync_polls: 0,
            percent: step.percent,
            ..cursor
        });
    }

    let now = clock.now();
    deployment.step = Some(step.index);
    let claim = deployment
        .transition(
            Status::Shifting,
            now,
            EventKind::ShiftStarted {
                step: step.index,
                asked_percent: step.percent,
                weights: step.weights,
            },
        )
        .map_err(|_| fenced(&deployment))?;
    save_driven(store, &deployment, &claim).await?;

    let records = RecordSet::of(&deployment);
    let change = router.set_weights(&records, step.weights).await?;

    let changed_at = clock.now();
    deployment.traffic = Some(TrafficState {
        asked_percent: step.percent,
        weights: step.weights,
        canary_share: step.canary_share,
        change_id: change.0.clone(),
        changed_at,
        live_at: None,
    });
    let shifted = deployment
        .transition(
            Status::Shifting,
            changed_at,
            EventKind::TrafficShifted {
                step: step.index,
                asked_percent: step.percent,
                weights: step.weights,
                canary_share: step.canary_share,
                change_id: change.0.clone(),
            },
        )
        .map_err(|_| fenced(&deployment))?;
    save_after_write(
        store,
        router,
        notifier,
        clock,
        &deployment,
        &shifted,
        "shifting",
    )
    .await?;
    tracing::info!(
        deployment_id = %deployment.id,
        step = step.index,
        percent = step.percent,
        stable = step.weights.stable(),
        canary = step.weights.canary(),
        change_id = %change,
        "traffic shifted"
    );
    Ok(Cursor {
        percent: step.percent,
        change_id: Some(change.0),
        in_sync: false,
        sync_polls: 0,
        analyze_at: None,
        decision: None,
        reason: None,
        ..cursor
    })
}
