//! validate: the state machine's first step. Checks a deployment request (every problem, each
//! naming its field), the hosted zone, both weighted records and the alarms; takes the
//! service's lock and writes the deployment record. Returns the cursor of the first step.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::Value;
use sluice_core::workflow::{Cursor, ValidateRequest, validate_deployment};
use sluice_handler::{HandlerError, Ports, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Cursor, HandlerError> {
    let input: ValidateRequest = parse_event(event)?;
    let span = tracing::info_span!("deployment", deployment_id = %input.execution_name);
    let cursor = validate_deployment(
        ports.store(),
        ports.router(),
        ports.alarms(),
        ports.notifier(),
        ports.clock(),
        input,
    )
    .instrument(span)
    .await?;
    Ok(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::ports::{Deployments, ServiceConfigs, ServiceLocks};
    use sluice_core::workflow::ErrorName;
    use sluice_core::{DeploymentSpec, Status};
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{MemoryPorts, sample_event};

    fn sample_ports() -> MemoryPorts {
        let request = sample_event("manual-start");
        MemoryPorts::ready_for(&DeploymentSpec::from_json(&request).unwrap())
    }

    #[tokio::test]
    async fn the_sample_event_starts_a_deployment() {
        let ports = sample_ports();
        let cursor = handle(&ports, sample_event("validate")).await.unwrap();
        assert_eq!(serde_json::to_value(&cursor).unwrap(), {
            let mut expected = sample_event("shift-traffic");
            expected["pollSeconds"] = json!(5);
            expected
        });
        let deployment = ports.store.only_deployment();
        assert_eq!(deployment.status, Status::Shifting);
        assert_eq!(
            deployment.execution_arn.as_deref(),
            sample_event("validate")["executionArn"].as_str()
        );
        // 40 rps × 1 % × 300 s = 120 samples ≥ 50: no warning for the sample.
        assert!(deployment.warnings.is_empty(), "{:?}", deployment.warnings);
    }

    #[tokio::test]
    async fn the_service_defaults_sample_resolves_against_the_stored_config() {
        let ports = sample_ports();
        let mut defaults = sample_event("manual-start");
        defaults.as_object_mut().unwrap().remove("version");
        ports
            .store
            .put_service_config("checkout-api", &defaults)
            .await
            .unwrap();
        let event = json!({"request": sample_event("service-defaults-start"), "executionName": "checkout-api-v2-5-0"});
        handle(&ports, event).await.unwrap();
        assert_eq!(ports.store.only_deployment().spec.version, "v2.5.0");
    }

    #[tokio::test]
    async fn invalid_requests_fail_as_sluice_invalid_naming_fields() {
        let ports = sample_ports();
        let mut event = sample_event("validate");
        event["request"]["strategy"]["steps"] = json!([1, 50, 25, 100]);
        event["request"]["version"] = json!("");
        let error = handle(&ports, event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        let message = error.to_string();
        assert!(message.contains("version: is required"), "{message}");
        assert!(
            message.contains("strategy.steps[2]: steps must increase (25 after 50)"),
            "{message}"
        );
        assert!(ports.store.deployments().is_empty());
    }

    #[tokio::test]
    async fn a_malformed_event_names_the_event_field() {
        let error = handle(&sample_ports(), json!({"request": {}}))
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(
            error
                .to_string()
                .starts_with("event: missing field `executionName`"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_second_execution_for_the_service_is_a_conflict() {
        let ports = sample_ports();
        handle(&ports, sample_event("validate")).await.unwrap();
        let mut second = sample_event("validate");
        second["executionName"] = json!("checkout-api-v2-4-1");
        let error = handle(&ports, second).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Conflict);
        assert!(error.to_string().contains("checkout-api-v2-4-0"), "{error}");
    }

    #[tokio::test]
    async fn on_moto_it_writes_the_record_and_the_lock_and_leaves_traffic_alone() {
        let world = MotoWorld::start().await;
        let event = json!({"request": world.request, "executionName": "moto-validate-1"});
        let cursor = handle(&world.ports, event.clone()).await.unwrap();
        let stored = world
            .ports
            .store()
            .get(&cursor.deployment)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stored.status, stored.revision), (Status::Shifting, 1));
        assert_eq!(stored.plan.steps.len(), 3);
        let lock = world
            .ports
            .store()
            .lock(&world.service)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lock.deployment, cursor.deployment);
        assert_eq!(world.weights().await, sluice_core::WeightPair::ALL_STABLE);
        // The same execution again: the same deployment, still one history event.
        assert_eq!(handle(&world.ports, event).await.unwrap(), cursor);
        assert_eq!(
            world
                .ports
                .store()
                .history(&cursor.deployment.id)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn on_moto_an_unknown_zone_is_named_and_nothing_is_written() {
        let world = MotoWorld::start().await;
        let mut request = world.request.clone();
        request["hostedZoneId"] = json!("ZDOESNOTEXIST");
        let error = handle(
            &world.ports,
            json!({"request": request, "executionName": "moto-validate-2"}),
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(
            error
                .to_string()
                .contains("hostedZoneId: hosted zone ZDOESNOTEXIST does not exist"),
            "{error}"
        );
        assert!(
            world
                .ports
                .store()
                .lock(&world.service)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            world
                .ports
                .store()
                .list(&world.service, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
