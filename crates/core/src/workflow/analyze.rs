use chrono::{DateTime, Utc};

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::lease::{hook_wait, renew_lease};
use super::record::{ensure_driven, fenced, firing_alarms, load, save_driven};
use crate::analysis::{
    Decision, Verdict, analysis_queries, decide, judge, overall_verdict, verdict_reasons,
    with_operator_requests,
};
use crate::deployment::{AnalysisMark, Deployment, EventKind, Status};
use crate::metrics::TimeWindow;
use crate::ports::{AlarmStates, Clock, Deployments, MetricSource, ServiceLocks};
use crate::spec::APPROVAL_TIMEOUT_SECONDS;

/// Judges the step over its live window (from the moment it went live until now), stores the
/// analysis with every value, threshold and sample count, and returns the decision for the
/// state machine to route on. An armed alarm of the deployment found in ALARM fails the
/// analysis and rolls back, its name in the reason: a missed alarm notification does not let
/// a bad release through. A retry of an analysis already stored returns its decision. The
/// lock's lease is extended past what the decision waits for (a bake, an approval, a hook).
pub async fn analyze_step(
    store: &(impl Deployments + ServiceLocks),
    metrics: &impl MetricSource,
    alarms: &impl AlarmStates,
    clock: &impl Clock,
    cursor: Cursor,
) -> Result<Cursor, WorkflowError> {
    let mut deployment = load(store, &cursor.deployment).await?;
    ensure_driven(&deployment)?;
    let due_at = cursor.analyze_at.ok_or_else(|| WorkflowError::BadInput {
        what: "analyzeAt".into(),
        message: "the cursor has no analysis time; wait for sync first".into(),
    })?;
    if let Some(mark) = &deployment.last_analysis
        && mark.step == cursor.step
        && mark.due_at == due_at
    {
        renew_for(store, &deployment, &mark.decision, clock.now()).await?;
        return Ok(routed(&deployment, cursor, &mark.decision, clock));
    }
    let live_at = deployment
        .traffic
        .as_ref()
        .and_then(|t| t.live_at)
        .filter(|_| deployment.step == Some(cursor.step))
        .ok_or_else(|| WorkflowError::BadInput {
            what: "step".into(),
            message: format!(
                "step {} of deployment {} is not live",
                cursor.step, deployment.id
            ),
        })?;

    let now = clock.now();
    let window = TimeWindow {
        start: live_at,
        end: now.max(live_at),
    };
    let analysis = &deployment.spec.analysis;
    let queries = analysis_queries(&deployment.spec, &deployment.roles);
    let series = metrics.fetch(&queries, window).await?;
    let results = judge(&deployment.spec, &deployment.roles, &series);
    let alarming = firing_alarms(alarms, &deployment).await?;
    let mut verdict = overall_verdict(&results);
    let mut reasons = verdict_reasons(&results, verdict);
    let mut counters = deployment.counters;
    let decision = if alarming.is_empty() {
        decide(
            analysis,
            deployment.spec.approval,
            &deployment.plan,
            cursor.step,
            verdict,
            &reasons,
            &mut counters,
        )
    } else {
        // The alarm is the brake: no re-judging the step while it fires.
        verdict = Verdict::Fail;
        counters.failures += 1;
        reasons = format!(
            "CloudWatch alarm {} in ALARM; {reasons}",
            alarming.join(", ")
        );
        Decision::RollBack {
            reason: format!("analysis of step {} failed: {reasons}", cursor.step + 1),
        }
    };
    let (decision, held) = with_operator_requests(
        decision,
        verdict,
        &deployment.requests,
        deployment.spec.approval,
    );
    let next_status = match decision {
        Decision::Extend { .. } => Status::Baking,
        Decision::AwaitApproval { .. } => Status::AwaitingApproval,
        Decision::Advance { .. } | Decision::Promote | Decision::RollBack { .. } => {
            Status::Analyzing
        }
    };
    deployment.counters = counters;
    deployment.last_analysis = Some(AnalysisMark {
        step: cursor.step,
        due_at,
        verdict,
        decision: decision.clone(),
        held,
    });
    let event = deployment
        .transition(
            next_status,
            now,
            EventKind::Analyzed {
                step: cursor.step,
                window,
                verdict,
                metrics: results,
                decision: decision.clone(),
            },
        )
        .map_err(|_| fenced(&deployment))?;
    save_driven(store, &deployment, &event).await?;
    renew_for(store, &deployment, &decision, now).await?;
    tracing::info!(
        deployment_id = %deployment.id,
        step = cursor.step,
        %verdict,
        decision = decision.action().as_str(),
        "{reasons}"
    );
    Ok(routed(&deployment, cursor, &decision, clock))
}

/// Extends the lock's lease past the longest wait before the step after `decision`: the bake
/// of an extension, an approval (and the post-traffic hook after it), or the hook before
/// Finalize.
async fn renew_for(
    store: &impl ServiceLocks,
    deployment: &Deployment,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<(), WorkflowError> {
    let wait = match decision {
        Decision::Advance { .. } | Decision::RollBack { .. } => chrono::Duration::zero(),
        Decision::Extend { bake_seconds, .. } => {
            chrono::Duration::seconds(i64::from(*bake_seconds))
        }
        Decision::AwaitApproval { .. } => {
            chrono::Duration::seconds(APPROVAL_TIMEOUT_SECONDS as i64) + hook_wait(deployment)
        }
        Decision::Promote => hook_wait(deployment),
    };
    renew_lease(store, deployment, now, wait).await
}

/// The cursor the state machine routes on after `decision`.
fn routed(
    deployment: &crate::deployment::Deployment,
    cursor: Cursor,
    decision: &Decision,
    clock: &impl Clock,
) -> Cursor {
    let reason = match decision {
        Decision::Extend { reason, .. }
        | Decision::AwaitApproval { reason }
        | Decision::RollBack { reason } => Some(reason.clone()),
        Decision::Advance { .. } | Decision::Promote => None,
    };
    let mut next = Cursor {
        decision: Some(decision.action()),
        reason,
        ..cursor
    };
    match decision {
        Decision::Advance { next_step } => {
            next.step = *next_step;
            next.percent = deployment
                .plan
                .step(*next_step)
                .map(|s| s.percent)
                .unwrap_or(100.0);
            next.change_id = None;
            next.in_sync = false;
            next.sync_polls = 0;
            next.analyze_at = None;
        }
        Decision::Extend { bake_seconds, .. } => {
            next.analyze_at =
                Some(clock.now() + chrono::Duration::seconds(i64::from(*bake_seconds)));
        }
        Decision::Promote | Decision::AwaitApproval { .. } | Decision::RollBack { .. } => {}
    }
    next
}
