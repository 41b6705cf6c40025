//! release-trigger: starts a deployment when a release is tagged. Takes a CodeCommit tag
//! creation or an ECR image push (EventBridge events), or a GitHub `create`/`release` webhook
//! through a Lambda function URL (its `X-Hub-Signature-256` HMAC checked; a bad or missing
//! signature answers 401 and starts nothing). The repository names the service (its CONFIG
//! item's `release` section), the tag names the version; the execution name is derived from
//! both and an idempotency key is recorded first, so repeated deliveries start nothing new.
//!
//! The webhook secret comes from `SLUICE_WEBHOOK_SECRET` (local runs) or the SSM parameter
//! named by `SLUICE_WEBHOOK_SECRET_PARAMETER`, read once at cold start.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};
use sluice_core::release::{Incoming, IncomingError, from_eventbridge, from_github};
use sluice_core::workflow::{ErrorName, TriggerOutcome, trigger_release};
use sluice_handler::{Configured, HandlerError, HandlerPorts, Ports};

/// The secret GitHub signs webhooks with; empty when none is configured (then every webhook is
/// refused).
struct WebhookSecret(Vec<u8>);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::init_logs();
    let sdk = sluice_aws::config::load().await;
    let ports = HandlerPorts::new(sluice_handler::Config::from_env()?, &sdk);
    ports.config().require_state_machine()?;
    let secret = match (
        std::env::var("SLUICE_WEBHOOK_SECRET"),
        std::env::var("SLUICE_WEBHOOK_SECRET_PARAMETER"),
    ) {
        (Ok(secret), _) if !secret.is_empty() => WebhookSecret(secret.into_bytes()),
        (_, Ok(name)) if !name.is_empty() => WebhookSecret(
            sluice_aws::ssm::read_secret(&sdk, &name)
                .await?
                .into_bytes(),
        ),
        _ => WebhookSecret(Vec::new()),
    };
    let secret: &'static WebhookSecret = Box::leak(Box::new(secret));
    sluice_handler::serve(ports, move |ports, event| handle(ports, secret, event)).await
}

async fn handle(
    ports: &impl Ports,
    secret: &WebhookSecret,
    event: Value,
) -> Result<Value, HandlerError> {
    if event.get("requestContext").is_some() {
        return Ok(webhook(ports, secret, &event).await);
    }
    let incoming = from_eventbridge(&event).map_err(bad_event)?;
    let outcomes = act(ports, incoming).await?;
    Ok(json!({ "outcomes": outcomes }))
}

async fn act(ports: &impl Ports, incoming: Incoming) -> Result<Vec<TriggerOutcome>, HandlerError> {
    match incoming {
        Incoming::Ignored(reason) => {
            tracing::info!(%reason, "event ignored");
            Ok(vec![TriggerOutcome::Ignored { reason }])
        }
        Incoming::Release(event) => {
            let span = tracing::info_span!("release", repository = %event.repository, tag = %event.tag, source = event.source.as_str());
            let _entered = span.enter();
            Ok(trigger_release(ports.store(), ports.orchestrator(), ports.clock(), event).await?)
        }
    }
}

fn bad_event(error: IncomingError) -> HandlerError {
    match error {
        IncomingError::Malformed { field, message } => HandlerError::BadEvent {
            field: format!("event.{field}"),
            message,
        },
        IncomingError::Unauthorized(message) => HandlerError::BadEvent {
            field: "event".into(),
            message,
        },
    }
}

/// A function URL request: the answer is an HTTP response, never a Lambda error, so GitHub
/// sees a status it understands.
async fn webhook(ports: &impl Ports, secret: &WebhookSecret, event: &Value) -> Value {
    let headers: BTreeMap<String, String> = event
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let raw = event
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if event
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        match base64::engine::general_purpose::STANDARD.decode(raw) {
            Ok(bytes) => bytes,
            Err(error) => {
                return http(
                    400,
                    json!({"message": format!("body: not base64: {error}")}),
                );
            }
        }
    } else {
        raw.as_bytes().to_vec()
    };
    let incoming = match from_github(&headers, &body, &secret.0) {
        Ok(incoming) => incoming,
        Err(IncomingError::Unauthorized(message)) => {
            tracing::warn!(%message, "webhook refused");
            return http(401, json!({"message": message}));
        }
        Err(error @ IncomingError::Malformed { .. }) => {
            return http(400, json!({"message": error.to_string()}));
        }
    };
    match act(ports, incoming).await {
        Ok(outcomes) => {
            let started = outcomes
                .iter()
                .any(|o| matches!(o, TriggerOutcome::Started { .. }));
            http(
                if started { 202 } else { 200 },
                json!({"outcomes": outcomes}),
            )
        }
        Err(error) => {
            tracing::error!(%error, "webhook not handled");
            // 5xx makes GitHub show the failure; it can be redelivered from its UI.
            http(
                if error.error_name() == ErrorName::Retryable {
                    503
                } else {
                    500
                },
                json!({"message": error.to_string()}),
            )
        }
    }
}

fn http(status: u16, body: Value) -> Value {
    json!({"statusCode": status, "headers": {"content-type": "application/json"}, "body": body.to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::ports::{ExecutionStatus, Orchestrator, ServiceConfigs};
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{MemoryPorts, sample_event};

    const SAMPLE_SECRET: &[u8] = b"sample-webhook-secret";

    async fn registered() -> MemoryPorts {
        let ports = MemoryPorts::new();
        let mut defaults = sample_event("manual-start");
        defaults.as_object_mut().unwrap().remove("version");
        defaults["release"] = json!({"repositories": ["checkout-api"]});
        ports
            .store
            .put_service_config("checkout-api", &defaults)
            .await
            .unwrap();
        ports
    }

    fn secret() -> WebhookSecret {
        WebhookSecret(SAMPLE_SECRET.to_vec())
    }

    #[tokio::test]
    async fn each_sample_source_starts_the_same_single_deployment() {
        let ports = registered().await;
        let first = handle(
            &ports,
            &secret(),
            sample_event("release-trigger-codecommit"),
        )
        .await
        .unwrap();
        assert_eq!(first["outcomes"][0]["outcome"], "started");
        assert_eq!(first["outcomes"][0]["version"], "v2.4.0");
        let ecr = handle(&ports, &secret(), sample_event("release-trigger-ecr"))
            .await
            .unwrap();
        assert_eq!(ecr["outcomes"][0]["outcome"], "already-started");
        let github = handle(&ports, &secret(), sample_event("release-trigger-github"))
            .await
            .unwrap();
        assert_eq!(github["statusCode"], 200);
        assert!(github["body"].as_str().unwrap().contains("already-started"));
        let executions = ports.orchestrator.executions();
        assert_eq!(executions.len(), 1);
        assert_eq!(
            (executions[0].1.clone(), executions[0].2),
            (
                json!({"service": "checkout-api", "version": "v2.4.0"}),
                ExecutionStatus::Running
            )
        );
    }

    #[tokio::test]
    async fn a_wrongly_signed_webhook_is_401_and_starts_nothing() {
        let ports = registered().await;
        let mut event = sample_event("release-trigger-github");
        event["headers"]["x-hub-signature-256"] = json!(format!("sha256={}", "0".repeat(64)));
        let answer = handle(&ports, &secret(), event.clone()).await.unwrap();
        assert_eq!(answer["statusCode"], 401);
        event["headers"]
            .as_object_mut()
            .unwrap()
            .remove("x-hub-signature-256");
        assert_eq!(
            handle(&ports, &secret(), event).await.unwrap()["statusCode"],
            401
        );
        // The sample's signature under another secret is just as wrong.
        let answer = handle(
            &ports,
            &WebhookSecret(b"other".to_vec()),
            sample_event("release-trigger-github"),
        )
        .await
        .unwrap();
        assert_eq!(answer["statusCode"], 401);
        assert!(ports.orchestrator.executions().is_empty());
    }

    #[tokio::test]
    async fn a_base64_body_is_decoded_before_the_signature_is_checked() {
        let ports = registered().await;
        let mut event = sample_event("release-trigger-github");
        let body = event["body"].as_str().unwrap().to_string();
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        event["isBase64Encoded"] = json!(true);
        let answer = handle(&ports, &secret(), event).await.unwrap();
        assert_eq!(answer["statusCode"], 202, "{answer}");
    }

    #[tokio::test]
    async fn a_malformed_eventbridge_event_names_the_field() {
        let mut event = sample_event("release-trigger-codecommit");
        event["detail"]["referenceName"] = json!("");
        let error = handle(&registered().await, &secret(), event)
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert_eq!(
            error.to_string(),
            "event.detail.referenceName: is missing or empty"
        );
    }

    #[tokio::test]
    async fn on_moto_the_same_event_twenty_times_writes_one_idempotency_key_and_starts_one_execution()
     {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let definition = json!({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": true}}}).to_string();
        let machine = world
            .provisioner
            .state_machine(
                &sluice_testkit::unique_name("release"),
                &definition,
                "arn:aws:iam::123456789012:role/sluice",
            )
            .await
            .unwrap();
        let mut config = p.config().clone();
        config.state_machine_arn = Some(machine.clone());
        let ports = HandlerPorts::new(config, &world.sdk);
        let defaults = MotoWorld::deployment("v2.0.0")
            .service_config(&world, &[&format!("{}-repo", world.service)]);
        ports
            .store()
            .put_service_config(&world.service, &defaults)
            .await
            .unwrap();
        let mut event = sample_event("release-trigger-codecommit");
        event["id"] = json!(sluice_testkit::unique_name("event"));
        event["detail"]["repositoryName"] = json!(format!("{}-repo", world.service));
        let mut arns = Vec::new();
        for _ in 0..20 {
            let answer = handle(&ports, &secret(), event.clone()).await.unwrap();
            arns.push(
                answer["outcomes"][0]["executionArn"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        arns.dedup();
        assert_eq!(arns.len(), 1);
        let listed = world
            .provisioner
            .sfn()
            .list_executions()
            .state_machine_arn(&machine)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.executions().len(), 1);
        assert_eq!(
            ports
                .orchestrator()
                .execution_status(&arns[0])
                .await
                .unwrap(),
            ExecutionStatus::Running
        );
    }
}
