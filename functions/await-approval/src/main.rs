//! await-approval: the state machine is about to wait for an operator (an approval gate, a
//! pause, or an inconclusive analysis whose spec says pause). Stores the task token it waits
//! on with the deployment, so `sluice approve` / `sluice reject` can answer it, and notifies.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::{Value, json};
use sluice_core::workflow::{ApprovalRequest, await_approval};
use sluice_handler::{HandlerError, Ports, deployment_span, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Value, HandlerError> {
    let request: ApprovalRequest = parse_event(event)?;
    let span = deployment_span(&request.cursor.deployment.id);
    await_approval(ports.store(), ports.notifier(), ports.clock(), request)
        .instrument(span)
        .await?;
    Ok(json!({"awaiting": true}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Status;
    use sluice_core::workflow::ErrorName;
    use sluice_testkit::memory::{sample_event, sample_world};

    #[tokio::test]
    async fn the_sample_event_stores_the_token_once_the_analysis_asked_for_approval() {
        let (ports, _) = sample_world().await;
        let mut deployment = ports.store.only_deployment();
        deployment.status = Status::AwaitingApproval;
        ports.store.replace(deployment);
        handle(&ports, sample_event("await-approval"))
            .await
            .unwrap();
        let stored = ports.store.only_deployment();
        assert_eq!(
            stored.task_token.as_deref(),
            sample_event("await-approval")["taskToken"].as_str()
        );
    }

    #[tokio::test]
    async fn a_missing_token_names_the_field() {
        let (ports, _) = sample_world().await;
        let mut event = sample_event("await-approval");
        event.as_object_mut().unwrap().remove("taskToken");
        let error = handle(&ports, event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(error.to_string().contains("taskToken"), "{error}");
    }
}
