//! reconcile: run by EventBridge when an execution of the deployment state machine ends FAILED,
//! TIMED_OUT or ABORTED ("Step Functions Execution Status Change"), and on a schedule. Whatever
//! still holds a service's lock for an execution that no longer runs is taken over, returned
//! to 100 % stable, recorded and released; a lock without a deployment record is released and
//! noted in the service's state. The status event reconciles the service the execution
//! deployed; the schedule sweeps every held lock (and catches an event EventBridge dropped:
//! its delivery is best effort).

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::{Value, json};
use sluice_core::workflow::{ExecutionEnded, ReconcileOutcome, Reconciler, WorkflowError};
use sluice_handler::{Configured, HandlerError, HandlerPorts, Ports, parse_event};

const STATUS_CHANGE: &str = "Step Functions Execution Status Change";
const SCHEDULED: &str = "Scheduled Event";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::init_logs();
    let ports = HandlerPorts::from_env().await?;
    ports.config().require_state_machine()?;
    sluice_handler::serve(ports, handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Value, HandlerError> {
    let reconciler = Reconciler {
        store: ports.store(),
        router: ports.router(),
        orchestrator: ports.orchestrator(),
        notifier: ports.notifier(),
        clock: ports.clock(),
    };
    let kind = event
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let outcomes = match kind {
        STATUS_CHANGE => {
            let ended: ExecutionEnded = parse_event(event["detail"].clone()).map_err(|e| {
                let HandlerError::BadEvent { field, message } = e else {
                    return e;
                };
                HandlerError::BadEvent {
                    field: field.replacen("event", "event.detail", 1),
                    message,
                }
            })?;
            let span = tracing::info_span!("execution ended", execution = %ended.execution_arn, status = ended.status.name());
            let _entered = span.enter();
            reconciler.on_execution_end(&ended).await?
        }
        SCHEDULED => reconciler.sweep().await?,
        other => {
            return Err(HandlerError::BadEvent {
                field: "event.detail-type".into(),
                message: format!("{other:?} is neither {STATUS_CHANGE:?} nor {SCHEDULED:?}"),
            });
        }
    };
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            ReconcileOutcome::Failed { service, error } => Some(format!("{service}: {error}")),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        // Failing the invocation makes EventBridge retry it and shows in the function's errors.
        return Err(WorkflowError::Internal {
            id: "reconcile".into(),
            message: format!("not reconciled: {}", failed.join("; ")),
        }
        .into());
    }
    Ok(json!({ "outcomes": outcomes }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::ports::{Orchestrator, RecordSet};
    use sluice_core::workflow::ErrorName;
    use sluice_core::{Controller, Status, WeightPair};
    use sluice_testkit::memory::{MemoryPorts, sample_event, sample_world};
    use sluice_testkit::steps::shifted;

    /// The sample deployment at its first step, its execution ended as the sample event says.
    async fn abandoned() -> MemoryPorts {
        let (ports, cursor) = sample_world().await;
        let name = "checkout-api-v2-4-0";
        ports
            .orchestrator
            .start_execution(
                name,
                &json!({"service": "checkout-api", "version": "v2.4.0"}),
            )
            .await
            .unwrap();
        shifted(&ports, cursor).await;
        ports
            .orchestrator
            .stop_execution(name, "Lambda.Unknown", "timed out")
            .await
            .unwrap();
        ports
    }

    #[tokio::test]
    async fn the_sample_status_change_returns_the_abandoned_deployment_to_stable() {
        let ports = abandoned().await;
        let deployment = ports.store.only_deployment();
        assert_ne!(
            ports.router.weights(&RecordSet::of(&deployment)),
            WeightPair::ALL_STABLE
        );
        let answer = handle(&ports, sample_event("reconcile")).await.unwrap();
        assert_eq!(answer["outcomes"][0]["outcome"], "rolled-back", "{answer}");
        let deployment = ports.store.only_deployment();
        assert_eq!(deployment.status, Status::RolledBack);
        assert_eq!(deployment.controller, Controller::Reconciler);
        assert_eq!(
            ports.router.weights(&RecordSet::of(&deployment)),
            WeightPair::ALL_STABLE
        );
        assert!(ports.store.lock_of("checkout-api").is_none());
    }

    #[tokio::test]
    async fn the_schedule_sweeps_every_held_lock() {
        let ports = abandoned().await;
        let answer = handle(&ports, sample_event("reconcile-schedule"))
            .await
            .unwrap();
        assert_eq!(answer["outcomes"][0]["outcome"], "rolled-back", "{answer}");
        assert!(ports.store.lock_of("checkout-api").is_none());
        // Nothing left: the next run finds no lock.
        let again = handle(&ports, sample_event("reconcile-schedule"))
            .await
            .unwrap();
        assert_eq!(again["outcomes"], json!([]));
    }

    #[tokio::test]
    async fn an_event_of_another_kind_is_named() {
        let mut event = sample_event("reconcile-schedule");
        event["detail-type"] = json!("EC2 Instance State-change Notification");
        let error = handle(&MemoryPorts::new(), event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(
            error.to_string().starts_with("event.detail-type:"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_status_change_without_an_execution_is_named() {
        let mut event = sample_event("reconcile");
        event["detail"]
            .as_object_mut()
            .unwrap()
            .remove("executionArn");
        let error = handle(&MemoryPorts::new(), event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(error.to_string().starts_with("event.detail"), "{error}");
    }
}
