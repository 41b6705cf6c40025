use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::lease::{hook_wait, lease_until};
use super::record::notify;
use crate::deployment::{Deployment, DeploymentId, EventKind, Status};
use crate::ports::{
    AlarmState, AlarmStates, Clock, DeploymentKey, Deployments, DeploymentsError, LockError,
    Notifier, RecordSet, RouterError, ServiceConfigs, ServiceLock, ServiceLocks, ServiceStates,
    SlotRecord, TrafficRouter, WeightedRecord,
};
use crate::slots::SlotRoles;
use crate::spec::{DeploymentSpec, FieldError, SpecErrors, ValidationContext, merge_over_defaults};

/// What Validate receives: the request as sent and the execution it runs in.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateRequest {
    pub request: Value,
    /// The execution name, which becomes the deployment id.
    pub execution_name: String,
    pub execution_arn: Option<String>,
}

/// Checks a deployment request against its spec rules and the real world (zone, records, one
/// slot carrying the traffic, alarms), takes the service's lock and writes the deployment record.
///
/// Nothing is written until every check passed. Run again for the same execution, it returns
/// the deployment it created the first time.
pub async fn validate_deployment(
    store: &(impl ServiceConfigs + ServiceLocks + ServiceStates + Deployments),
    router: &impl TrafficRouter,
    alarms: &impl AlarmStates,
    notifier: &impl Notifier,
    clock: &impl Clock,
    input: ValidateRequest,
) -> Result<Cursor, WorkflowError> {
    let id = DeploymentId::parse(&input.execution_name).map_err(|e| WorkflowError::BadInput {
        what: "executionName".into(),
        message: e.to_string(),
    })?;
    let spec = check_request(store, router, &input.request).await?;

    // A retry of this very execution: the lock names it, and maybe the record exists.
    let held = store.lock(&spec.service).await?;
    // Another deployment holds the service: a conflict, checked before the world, whose
    // records that deployment may already have moved (it would read as "both slots receive
    // traffic").
    if let Some(other) = held
        .as_ref()
        .filter(|lock| lock.deployment.id != id && lock.lease_until >= clock.now())
    {
        return Err(WorkflowError::Conflict {
            service: spec.service.clone(),
            holder: other.deployment.id.clone(),
            lease_until: other.lease_until,
        });
    }
    let own_lock = held.filter(|lock| lock.deployment.id == id);
    if let Some(lock) = &own_lock
        && let Some(existing) = store.get(&lock.deployment).await?
    {
        return Ok(Cursor::at(&existing, 0));
    }

    let roles = check_world(router, alarms, store, &spec).await?;

    let now = clock.now();
    let started_at = own_lock.map(|l| l.deployment.started_at).unwrap_or(now);
    let mut deployment = Deployment::new(id.clone(), spec, input.execution_arn, started_at);
    deployment.roles = roles;
    let key = DeploymentKey::of(&deployment);
    let lock = ServiceLock {
        deployment: key.clone(),
        // The pre-traffic hook (if any) and the first shift follow.
        lease_until: lease_until(now, hook_wait(&deployment)),
        alarms: deployment
            .spec
            .brake_alarms(&deployment.roles)
            .into_iter()
            .map(|(_, alarm)| alarm)
            .collect(),
    };
    store
        .acquire_lock(&lock, now)
        .await
        .map_err(|error| match error {
            LockError::LockHeld {
                service,
                holder,
                lease_until,
            } => WorkflowError::Conflict {
                service,
                holder,
                lease_until,
            },
            other => other.into(),
        })?;

    let event = deployment.transition(
        Status::Shifting,
        now,
        EventKind::Started {
            version: deployment.spec.version.clone(),
            steps: deployment.plan.steps.iter().map(|s| s.percent).collect(),
            warnings: deployment.warnings.clone(),
        },
    );
    let event = event.map_err(|e| WorkflowError::Internal {
        id: id.to_string(),
        message: e.to_string(),
    })?;
    match store.create(&deployment, &event).await {
        Ok(()) => {}
        // An earlier try of this execution wrote it (its answer lost, or two tries raced),
        // maybe under another start time: go on with the record that exists, never with one
        // that does not.
        Err(DeploymentsError::AlreadyExists { .. }) => {
            return resume_existing(store, &id, lock, now).await;
        }
        // The lock stays: a failed create may have taken effect (a timeout after the commit),
        // and the retry finds it by the lock's key; if none comes, the reconciler frees it.
        Err(other) => return Err(other.into()),
    }
    for warning in &deployment.warnings {
        tracing::warn!(deployment_id = %id, field = %warning.field, "{}", warning.message);
    }
    clear_own_queue_entry(store, &deployment).await;
    let plan: Vec<String> = deployment
        .plan
        .steps
        .iter()
        .map(|s| format!("{}%", s.percent))
        .collect();
    notify(
        notifier,
        &deployment,
        format!(
            "deployment of {} {} started on canary {} (stable {}): {}",
            deployment.service,
            deployment.spec.version,
            deployment.roles.canary,
            deployment.roles.stable,
            plan.join(" → ")
        ),
    )
    .await;
    Ok(Cursor::at(&deployment, 0))
}

/// The cursor of the record an earlier try of this execution created (found by id: its key
/// may name another start time), with the lock naming that record. An ended record is handed
/// back as it is, its lock (taken by this try) released; the next step finds it ended.
async fn resume_existing(
    store: &(impl ServiceLocks + Deployments),
    id: &DeploymentId,
    mut lock: ServiceLock,
    now: DateTime<Utc>,
) -> Result<Cursor, WorkflowError> {
    let existing = store
        .find(id)
        .await?
        .ok_or_else(|| WorkflowError::Internal {
            id: id.to_string(),
            message: "creating the record answered that it exists, yet none is found by its id"
                .into(),
        })?;
    let key = DeploymentKey::of(&existing);
    if existing.status.is_terminal() {
        store.release_lock(&key.service, id).await?;
    } else if lock.deployment != key {
        lock.deployment = key;
        store.acquire_lock(&lock, now).await?;
    }
    Ok(Cursor::at(&existing, 0))
}

/// The request laid over the service's stored defaults, parsed and normalised.
async fn resolve_spec(
    store: &impl ServiceConfigs,
    request: &Value,
) -> Result<DeploymentSpec, WorkflowError> {
    let Some(object) = request.as_object() else {
        return Err(SpecErrors(vec![FieldError {
            field: "request".into(),
            message: "must be a JSON object".into(),
        }])
        .into());
    };
    let service = object
        .get("service")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    let merged = if service.is_empty() {
        request.clone()
    } else {
        match store.service_config(service).await? {
            Some(defaults) => merge_over_defaults(&defaults, request),
            None => request.clone(),
        }
    };
    Ok(DeploymentSpec::from_json(&merged)?)
}

/// A request as Validate reads it: laid over the service's stored defaults, parsed, and
/// checked against every spec rule and the hosted zone (its existence, the record name inside
/// its domain). Every problem is reported at once, each naming its field. The `sluice` CLI runs
/// the same check before it starts anything.
pub async fn check_request(
    store: &impl ServiceConfigs,
    router: &impl TrafficRouter,
    request: &Value,
) -> Result<DeploymentSpec, WorkflowError> {
    let spec = resolve_spec(store, request).await?;
    let mut problems = Vec::new();
    let mut context = ValidationContext::default();
    if !spec.hosted_zone_id.is_empty() {
        match router.zone_domain(&spec.hosted_zone_id).await {
            Ok(domain) => context.zone_domain = Some(domain),
            Err(RouterError::ZoneNotFound { zone }) => problems.push(FieldError {
                field: "hostedZoneId".into(),
                message: format!("hosted zone {zone} does not exist"),
            }),
            Err(other) => return Err(other.into()),
        }
    }
    if let Err(SpecErrors(spec_problems)) = spec.validate(&context) {
        problems.extend(spec_problems);
    }
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(SpecErrors(problems).into())
    }
}

/// The records and alarms a valid spec names, checked against the world and the service's
/// state item, reported together; on success, the roles the live weights give the slots. Validate runs it before it takes the
/// lock, and `sluice start` before it starts anything.
pub async fn check_world(
    router: &impl TrafficRouter,
    alarms: &impl AlarmStates,
    states: &impl ServiceStates,
    spec: &DeploymentSpec,
) -> Result<SlotRoles, WorkflowError> {
    let mut problems = Vec::new();
    let roles = check_records(router, spec, &mut problems).await?;
    // Route 53 is the truth for traffic; the state item must agree with it, or one of them
    // was changed behind sluice's back.
    if let Some(roles) = &roles
        && let Some(state) = states.service_state(&spec.service).await?
        && let Some(disagreement) = state.disagreement(roles)
    {
        problems.push(FieldError {
            field: "slots".into(),
            message: disagreement,
        });
    }
    // Which alarms arm the brake depends on the roles: without them there is nothing to check.
    if let Some(roles) = &roles {
        check_alarms(alarms, spec, &spec.brake_alarms(roles), &mut problems).await?;
    }
    match roles {
        Some(roles) if problems.is_empty() => Ok(roles),
        _ => Err(SpecErrors(problems).into()),
    }
}

/// Reads both slots' records and decides the roles: the slot carrying all traffic is stable,
/// the one at weight 0 the canary. Anything else, and any record whose target or TTL is not
/// the slot's, is a problem that says what to do.
async fn check_records(
    router: &impl TrafficRouter,
    spec: &DeploymentSpec,
    problems: &mut Vec<FieldError>,
) -> Result<Option<SlotRoles>, WorkflowError> {
    let Some(stored_order) = spec.slot_roles() else {
        problems.push(FieldError {
            field: "slots".into(),
            message: "exactly two slots are needed".into(),
        });
        return Ok(None);
    };
    let records = RecordSet::with_roles(spec, &stored_order);
    let found = router.read_weights(&records).await?;
    let describe = records.describe();
    let mut missing = false;
    for (slot, record) in [
        (&records.stable, &found.stable),
        (&records.canary, &found.canary),
    ] {
        match record {
            None => {
                missing = true;
                problems.push(FieldError {
                    field: format!("slots.{}", slot.slot),
                    message: format!(
                        "no weighted record with set identifier {} for {describe}: create both \
                         slots' records (one at weight 1, the other at 0) before deploying",
                        slot.slot
                    ),
                });
            }
            Some(live) => check_live_record(spec, slot, live, &describe, problems),
        }
    }
    if missing {
        return Ok(None);
    }
    let (first, second) = (&records.stable.slot, &records.canary.slot);
    let weight = |r: &Option<WeightedRecord>| r.as_ref().map(|r| r.weight).unwrap_or(0);
    let roles = match (weight(&found.stable), weight(&found.canary)) {
        (0, 0) => {
            problems.push(FieldError {
                field: "recordName".into(),
                message: format!(
                    "slots {first} and {second} both have weight 0 on {describe}: Route 53 \
                     splits traffic evenly. Set the slot that runs the current version to \
                     weight 1 (e.g. `sluice abort` of the last deployment, or by hand) first"
                ),
            });
            None
        }
        (_, 0) => Some(stored_order),
        (0, _) => Some(stored_order.swapped()),
        (a, b) => {
            problems.push(FieldError {
                field: "recordName".into(),
                message: format!(
                    "slots {first} (weight {a}) and {second} (weight {b}) both receive traffic \
                     on {describe}: a deployment starts with one slot carrying all of it. Finish \
                     or roll back the deployment that split it (`sluice status`), or put one \
                     slot at weight 0"
                ),
            });
            None
        }
    };
    Ok(roles)
}

/// A live record must point where its slot says and keep the spec's TTL: a deployment would
/// otherwise rewrite production's stable record on its first shift.
fn check_live_record(
    spec: &DeploymentSpec,
    slot: &SlotRecord,
    live: &WeightedRecord,
    describe: &str,
    problems: &mut Vec<FieldError>,
) {
    let normal = |t: &str| t.trim().trim_end_matches('.').to_ascii_lowercase();
    if normal(&live.target) != normal(&slot.target) {
        problems.push(FieldError {
            field: format!("slots.{}.target", slot.slot),
            message: format!(
                "is {:?} but the live record {} of {describe} points at {:?}: correct the \
                 service's CONFIG (or the request), or the record, so they agree",
                slot.target, slot.slot, live.target
            ),
        });
    }
    if let Some(ttl) = live.ttl_seconds
        && ttl != spec.ttl_seconds
    {
        problems.push(FieldError {
            field: "ttlSeconds".into(),
            message: format!(
                "is {} but the live record {} of {describe} has TTL {ttl}: make them agree",
                spec.ttl_seconds, slot.slot
            ),
        });
    }
}

/// The alarms that will arm this deployment's brake (`brake`: field and name) must exist and
/// be quiet, unless it is a hotfix.
async fn check_alarms(
    alarms: &impl AlarmStates,
    spec: &DeploymentSpec,
    brake: &[(String, String)],
    problems: &mut Vec<FieldError>,
) -> Result<(), WorkflowError> {
    if brake.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = brake.iter().map(|(_, name)| name.clone()).collect();
    let states = alarms.alarm_states(&names).await?;
    for ((field, _), status) in brake.iter().zip(states.iter()) {
        match status.state {
            None => problems.push(FieldError {
                field: field.clone(),
                message: format!("CloudWatch alarm {:?} does not exist", status.name),
            }),
            Some(AlarmState::Alarm) if !spec.hotfix => problems.push(FieldError {
                field: field.clone(),
                message: format!(
                    "CloudWatch alarm {:?} is already in ALARM; resolve it first, or set hotfix: true to deploy anyway",
                    status.name
                ),
            }),
            Some(_) => {}
        }
    }
    Ok(())
}

/// A started deployment is no longer waiting: a queued entry of its own version is taken off
/// the queue (the end step that started it does the same; this covers a crash in between).
/// A failure is logged, not returned: the entry is harmless, starting it again finds this
/// execution.
async fn clear_own_queue_entry(store: &impl ServiceStates, deployment: &Deployment) {
    let version = &deployment.spec.version;
    if let Err(error) = store
        .update_service_state(&deployment.service, |state| state.clear_queued(version))
        .await
    {
        tracing::warn!(deployment_id = %deployment.id, %error, "queued entry of this version not cleared");
    }
}
