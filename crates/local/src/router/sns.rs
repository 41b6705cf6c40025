//! The SNS bridge: moto delivers a topic's notifications to the router's `http` endpoints
//! (`/sns/function/<name>`, `/sns/recorder`); each is recorded and, for a function, turned into
//! the SNS Lambda event and invoked asynchronously, as SNS does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sns::{SnsEvent, SnsMessage, SnsRecord};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::instrument::WithSubscriber;

use super::invoke::{InvocationOutcome, InvocationSource, Invoker};
use crate::function_names::binary_of;
use crate::sync::locked;

/// What a topic's `http` subscription at this router leads to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionTarget {
    /// Invoke this function binary with the SNS Lambda event.
    Function(String),
    /// Only record the notification (see [`super::LambdaRouter::sns_deliveries`]).
    Recorder,
}

impl SubscriptionTarget {
    /// The router path that receives the notifications.
    pub fn path(&self) -> String {
        match self {
            SubscriptionTarget::Function(name) => format!("/sns/function/{name}"),
            SubscriptionTarget::Recorder => "/sns/recorder".to_string(),
        }
    }
}

/// One SNS notification moto delivered to the router.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsDelivery {
    pub target: SubscriptionTarget,
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    pub received_at: DateTime<Utc>,
}

/// The deliveries so far and the subscriptions they arrive through.
#[derive(Default)]
pub(super) struct SnsBridge {
    deliveries: Mutex<Vec<SnsDelivery>>,
    /// (topic ARN, target) → subscription ARN, for the events' `EventSubscriptionArn`.
    subscriptions: Mutex<HashMap<(String, SubscriptionTarget), String>>,
}

impl SnsBridge {
    pub(super) fn deliveries(&self) -> Vec<SnsDelivery> {
        locked(&self.deliveries).clone()
    }

    pub(super) fn register_subscription(
        &self,
        topic_arn: &str,
        target: SubscriptionTarget,
        subscription_arn: &str,
    ) {
        locked(&self.subscriptions).insert(
            (topic_arn.to_string(), target),
            subscription_arn.to_string(),
        );
    }
}

/// The bridge's state for its handlers: where deliveries are kept, who runs the functions.
#[derive(Clone)]
struct BridgeState {
    bridge: Arc<SnsBridge>,
    invoker: Arc<Invoker>,
}

/// The endpoints SNS subscriptions deliver to.
pub(super) fn routes(bridge: Arc<SnsBridge>, invoker: Arc<Invoker>) -> Router {
    Router::new()
        .route("/sns/function/{function}", post(sns_to_function))
        .route("/sns/recorder", post(sns_to_recorder))
        .with_state(BridgeState { bridge, invoker })
}

async fn sns_to_function(
    State(state): State<BridgeState>,
    Path(function): Path<String>,
    body: Bytes,
) -> StatusCode {
    sns_delivery(&state, SubscriptionTarget::Function(function), &body)
}

async fn sns_to_recorder(State(state): State<BridgeState>, body: Bytes) -> StatusCode {
    sns_delivery(&state, SubscriptionTarget::Recorder, &body)
}

/// The wait before each retry of a failed asynchronous invocation (`None`: the last
/// attempt): Lambda's two retries, shortened.
const ASYNC_RETRY_DELAYS: [Option<Duration>; 3] = [
    Some(Duration::from_secs(1)),
    Some(Duration::from_secs(2)),
    None,
];

/// Answers moto at once (it delivers inside the Publish call, which would otherwise wait for
/// the function) and invokes the function asynchronously, as SNS does.
fn sns_delivery(state: &BridgeState, target: SubscriptionTarget, body: &[u8]) -> StatusCode {
    let envelope: Value = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) => {
            tracing::warn!(%error, ?target, "SNS delivery is not JSON; ignored");
            return StatusCode::BAD_REQUEST;
        }
    };
    let kind = envelope.get("Type").and_then(Value::as_str).unwrap_or("");
    if kind != "Notification" {
        // moto sends no confirmations; a real SubscriptionConfirmation needs no answer here.
        tracing::info!(
            kind,
            ?target,
            "SNS message that is not a notification; ignored"
        );
        return StatusCode::OK;
    }
    let text = |key: &str| {
        envelope
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let topic_arn = text("TopicArn").unwrap_or_default();
    locked(&state.bridge.deliveries).push(SnsDelivery {
        target: target.clone(),
        topic_arn: topic_arn.clone(),
        subject: text("Subject"),
        message: text("Message").unwrap_or_default(),
        received_at: Utc::now(),
    });
    let SubscriptionTarget::Function(function) = target.clone() else {
        return StatusCode::OK;
    };
    let subscription_arn = locked(&state.bridge.subscriptions)
        .get(&(topic_arn.clone(), target))
        .cloned()
        .unwrap_or_else(|| format!("{topic_arn}:local"));
    let event = sns_lambda_event(&envelope, &subscription_arn);
    let body: Bytes = serde_json::to_vec(&event).unwrap_or_default().into();
    let invoker = state.invoker.clone();
    tokio::spawn(
        async move {
            let binary = binary_of(&function).to_string();
            // Lambda retries a failed asynchronous invocation twice (after about 1 and 2
            // minutes in AWS; seconds here).
            for (attempt, delay) in ASYNC_RETRY_DELAYS.iter().enumerate() {
                let (_, outcome) = invoker
                    .invoke(
                        &binary,
                        body.clone(),
                        InvocationSource::Sns {
                            topic_arn: topic_arn.clone(),
                        },
                    )
                    .await;
                let failed = matches!(
                    outcome,
                    InvocationOutcome::FunctionError { .. } | InvocationOutcome::Unreachable { .. }
                );
                if !failed {
                    return;
                }
                let Some(delay) = delay else {
                    tracing::warn!(function = %binary, attempts = attempt + 1, "asynchronous invocation failed every attempt");
                    return;
                };
                tracing::info!(function = %binary, ?delay, "asynchronous invocation failed; Lambda retries it");
                tokio::time::sleep(*delay).await;
            }
        }
        .with_current_subscriber(),
    );
    StatusCode::OK
}

/// The event Lambda receives from an SNS subscription, for one notification as moto delivers
/// it to an `http` endpoint (`SigningCertURL` there, `SigningCertUrl` in the event).
pub fn sns_lambda_event(envelope: &Value, subscription_arn: &str) -> SnsEvent {
    let text = |key: &str| {
        envelope
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut message = SnsMessage::default();
    message.sns_message_type = text("Type");
    message.message_id = text("MessageId");
    message.topic_arn = text("TopicArn");
    message.subject = envelope
        .get("Subject")
        .and_then(Value::as_str)
        .map(str::to_string);
    message.timestamp = DateTime::parse_from_rfc3339(&text("Timestamp"))
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    message.signature_version = text("SignatureVersion");
    message.signature = text("Signature");
    message.signing_cert_url = text("SigningCertURL");
    message.unsubscribe_url = text("UnsubscribeURL");
    message.message = text("Message");
    let mut record = SnsRecord::default();
    record.event_source = "aws:sns".to_string();
    record.event_version = "1.0".to_string();
    record.event_subscription_arn = subscription_arn.to_string();
    record.sns = message;
    let mut event = SnsEvent::default();
    event.records = vec![record];
    event
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sns_deliveries_become_the_lambda_sns_event() {
        let envelope = json!({
            "Type": "Notification", "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:alarms",
            "Message": "{\"AlarmName\": \"a\"}", "Timestamp": "2026-11-25T23:42:21.578Z",
            "SignatureVersion": "1", "Signature": "sig",
            "SigningCertURL": "https://example/cert.pem",
            "UnsubscribeURL": "https://example/?Action=Unsubscribe", "Subject": "ALARM: a"
        });
        let event = sns_lambda_event(&envelope, "arn:aws:sns:us-east-1:123456789012:alarms:s-1");
        let json = serde_json::to_value(&event).unwrap();
        let record = &json["Records"][0];
        assert_eq!(record["EventSource"], "aws:sns");
        assert_eq!(record["EventVersion"], "1.0");
        assert_eq!(
            record["EventSubscriptionArn"],
            "arn:aws:sns:us-east-1:123456789012:alarms:s-1"
        );
        let sns = &record["Sns"];
        assert_eq!(sns["Type"], "Notification");
        assert_eq!(sns["Subject"], "ALARM: a");
        assert_eq!(sns["SigningCertUrl"], "https://example/cert.pem");
        assert_eq!(sns["UnsubscribeUrl"], "https://example/?Action=Unsubscribe");
        assert_eq!(sns["MessageAttributes"], json!({}));
        assert_eq!(sns["Timestamp"], "2026-11-25T23:42:21.578Z");
        // What a function reading it with aws_lambda_events gets back.
        let parsed: SnsEvent = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.records[0].sns.message, "{\"AlarmName\": \"a\"}");
    }
}
