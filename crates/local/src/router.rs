//! The router on moto's `MOTO_PORT`: every AWS call moto's Step Functions interpreter makes
//! arrives here. Lambda Invoke runs the real function binary through `cargo lambda watch`;
//! `/sns/...` receives moto's SNS `http` deliveries and turns them into SNS Lambda events;
//! everything else is proxied to moto unchanged.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_lambda_events::sns::{SnsEvent, SnsMessage, SnsRecord};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber;

use crate::workspace::binary_of;

/// Lambda's header for a function error; its presence is what makes the state machine see
/// `errorType` as the error name.
pub const FUNCTION_ERROR_HEADER: &str = "x-amz-function-error";
/// The error type of a function that failed without saying why (crashed, answered garbage).
pub const UNKNOWN_FUNCTION_ERROR: &str = "Runtime.Unknown";

/// How long one function invocation may take (Lambda's own maximum).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(900);
/// How long one proxied call to moto may take.
const PROXY_TIMEOUT: Duration = Duration::from_secs(120);

/// Headers that describe one hop of a connection and must not be forwarded.
const HOP_HEADERS: [&str; 6] = [
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
];

/// Who asked for an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvocationSource {
    /// A Lambda Invoke call: moto's state machine, or anyone using the Lambda API.
    Invoke,
    /// An SNS notification delivered to the function's subscription.
    Sns { topic_arn: String },
    /// [`LambdaRouter::invoke`] from Rust (tests, scenarios).
    Direct,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationOutcome {
    Succeeded {
        output: Value,
    },
    /// The function (or an injected fault, `injected`) answered with an error.
    FunctionError {
        error_type: String,
        error_message: String,
        injected: bool,
    },
    /// No such function binary in the workspace.
    NotFound,
    /// cargo lambda watch could not be reached.
    Unreachable {
        message: String,
    },
}

impl InvocationOutcome {
    pub fn error_type(&self) -> Option<&str> {
        match self {
            InvocationOutcome::FunctionError { error_type, .. } => Some(error_type),
            _ => None,
        }
    }
}

/// One invocation the router handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub function: String,
    pub source: InvocationSource,
    pub at: DateTime<Utc>,
    pub duration: Duration,
    /// The payload (a JSON string value when it was not JSON).
    pub input: Value,
    pub outcome: InvocationOutcome,
}

/// What a topic's `http` subscription at this router leads to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionTarget {
    /// Invoke this function binary with the SNS Lambda event.
    Function(String),
    /// Only record the notification (see [`LambdaRouter::sns_deliveries`]).
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

/// An invocation held before it runs (see [`LambdaRouter::hold_next`]): the router tells the
/// [`Hold`] when it arrives, with its payload, and waits for the hold to be released.
struct PendingHold {
    arrived: tokio::sync::oneshot::Sender<Value>,
    release: tokio::sync::oneshot::Receiver<()>,
}

/// The caller's side of a held invocation. The invocation waits, before its function runs,
/// until [`Hold::release`] or until this is dropped, so a test that fails half way never
/// leaves an execution hanging on it.
#[derive(Debug)]
pub struct Hold {
    function: String,
    arrived: Option<tokio::sync::oneshot::Receiver<Value>>,
    release: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Why a held invocation did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("no invocation of {function} arrived within {waited:?} to be held")]
    NotArrived { function: String, waited: Duration },
    #[error("the hold on {function} was already used: it arrives once")]
    AlreadyArrived { function: String },
    #[error("the router stopped before an invocation of {function} arrived")]
    RouterStopped { function: String },
}

impl Hold {
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Waits up to `timeout` for the held invocation to arrive and returns its payload; the
    /// invocation then waits for [`Hold::release`].
    pub async fn arrived(&mut self, timeout: Duration) -> Result<Value, HoldError> {
        let Some(arrived) = self.arrived.as_mut() else {
            return Err(HoldError::AlreadyArrived {
                function: self.function.clone(),
            });
        };
        let payload = match tokio::time::timeout(timeout, arrived).await {
            Ok(Ok(payload)) => payload,
            Ok(Err(_)) => {
                return Err(HoldError::RouterStopped {
                    function: self.function.clone(),
                });
            }
            Err(_) => {
                return Err(HoldError::NotArrived {
                    function: self.function.clone(),
                    waited: timeout,
                });
            }
        };
        self.arrived = None;
        Ok(payload)
    }

    /// Lets the held invocation run (or, if it has not arrived yet, pass when it does).
    pub fn release(mut self) {
        if let Some(release) = self.release.take() {
            // A closed receiver: the invocation is already gone (the router stopped).
            let _ = release.send(());
        }
    }
}

/// A function error to answer instead of running the function.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    error_type: String,
    error_message: String,
}

/// The router's shared state; cheap to clone.
#[derive(Clone)]
pub struct LambdaRouter {
    shared: Arc<Shared>,
}

struct Shared {
    moto_endpoint: String,
    lambda_endpoint: String,
    functions: BTreeSet<String>,
    http: reqwest::Client,
    faults: Mutex<HashMap<String, VecDeque<Fault>>>,
    holds: Mutex<HashMap<String, VecDeque<PendingHold>>>,
    invocations: Mutex<Vec<Invocation>>,
    deliveries: Mutex<Vec<SnsDelivery>>,
    /// (topic ARN, target) → subscription ARN, for the events' `EventSubscriptionArn`.
    subscriptions: Mutex<HashMap<(String, SubscriptionTarget), String>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays usable after a panic elsewhere: each critical section is one push or pop.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A reply in Lambda Invoke's terms.
struct LambdaReply {
    status: StatusCode,
    function_error: bool,
    error_type_header: Option<&'static str>,
    body: Vec<u8>,
}

impl IntoResponse for LambdaReply {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.function_error {
            headers.insert(
                HeaderName::from_static(FUNCTION_ERROR_HEADER),
                HeaderValue::from_static("Unhandled"),
            );
        }
        if let Some(error_type) = self.error_type_header {
            headers.insert(
                HeaderName::from_static("x-amzn-errortype"),
                HeaderValue::from_static(error_type),
            );
        }
        response
    }
}

impl LambdaRouter {
    /// A router for `functions` (binary names) run by cargo lambda watch at
    /// `lambda_endpoint`, proxying everything else to `moto_endpoint`.
    pub fn new(
        moto_endpoint: impl Into<String>,
        lambda_endpoint: impl Into<String>,
        functions: impl IntoIterator<Item = String>,
    ) -> Result<LambdaRouter, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Loopback only: never through a proxy from the environment.
            .no_proxy()
            // A proxy hands redirects back to its caller.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(LambdaRouter {
            shared: Arc::new(Shared {
                moto_endpoint: moto_endpoint.into(),
                lambda_endpoint: lambda_endpoint.into(),
                functions: functions.into_iter().collect(),
                http,
                faults: Mutex::new(HashMap::new()),
                holds: Mutex::new(HashMap::new()),
                invocations: Mutex::new(Vec::new()),
                deliveries: Mutex::new(Vec::new()),
                subscriptions: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The axum app: invoke, SNS bridge, and the proxy to moto for everything else.
    pub fn app(&self) -> Router {
        Router::new()
            .route(
                "/2015-03-31/functions/{function}/invocations",
                post(invoke_endpoint),
            )
            .route("/sns/function/{function}", post(sns_to_function))
            .route("/sns/recorder", post(sns_to_recorder))
            .fallback(proxy_to_moto)
            .with_state(self.clone())
    }

    pub fn functions(&self) -> &BTreeSet<String> {
        &self.shared.functions
    }

    /// The next `count` invocations of `function` answer with `error_type` without running it.
    pub fn fail_next(&self, function: &str, count: usize, error_type: &str, error_message: &str) {
        let mut faults = locked(&self.shared.faults);
        let queue = faults.entry(function.to_string()).or_default();
        for n in 1..=count {
            queue.push_back(Fault {
                error_type: error_type.to_string(),
                error_message: format!(
                    "{error_message} (injected by sluice-local, {n} of {count})"
                ),
            });
        }
    }

    /// Holds the next invocation of `function` that has no hold yet (each hold takes one
    /// invocation, in order): it waits before the function runs (and before any fault from
    /// [`LambdaRouter::fail_next`]) until the returned [`Hold`] is released or dropped. This is
    /// how tests put something (an alarm) between a state machine entering a task and the
    /// task acting.
    pub fn hold_next(&self, function: &str) -> Hold {
        let (arrived_tx, arrived_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel();
        locked(&self.shared.holds)
            .entry(function.to_string())
            .or_default()
            .push_back(PendingHold {
                arrived: arrived_tx,
                release: release_rx,
            });
        Hold {
            function: function.to_string(),
            arrived: Some(arrived_rx),
            release: Some(release_tx),
        }
    }

    /// Every invocation of `function` so far, oldest first.
    pub fn invocations(&self, function: &str) -> Vec<Invocation> {
        locked(&self.shared.invocations)
            .iter()
            .filter(|i| i.function == function)
            .cloned()
            .collect()
    }

    /// Every invocation so far, oldest first.
    pub fn all_invocations(&self) -> Vec<Invocation> {
        locked(&self.shared.invocations).clone()
    }

    /// Every SNS notification delivered to the router so far.
    pub fn sns_deliveries(&self) -> Vec<SnsDelivery> {
        locked(&self.shared.deliveries).clone()
    }

    /// Remembers which subscription ARN delivers `topic_arn` to `target`.
    pub fn register_subscription(
        &self,
        topic_arn: &str,
        target: SubscriptionTarget,
        subscription_arn: &str,
    ) {
        locked(&self.shared.subscriptions).insert(
            (topic_arn.to_string(), target),
            subscription_arn.to_string(),
        );
    }

    /// Invokes `function` with `payload` as Lambda would (faults included), and returns how it
    /// ended.
    pub async fn invoke(&self, function: &str, payload: &Value) -> InvocationOutcome {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let (_, outcome) = self
            .shared
            .invoke(binary_of(function), body.into(), InvocationSource::Direct)
            .await;
        outcome
    }
}

impl Shared {
    async fn invoke(
        &self,
        binary: &str,
        body: Bytes,
        source: InvocationSource,
    ) -> (LambdaReply, InvocationOutcome) {
        let started = Instant::now();
        let at = Utc::now();
        let input: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        self.wait_if_held(binary, &input).await;
        let (reply, outcome) = self.run(binary, body).await;
        let duration = started.elapsed();
        match &outcome {
            InvocationOutcome::Succeeded { .. } => {
                tracing::info!(
                    function = binary,
                    ?source,
                    ?duration,
                    "invocation succeeded"
                );
            }
            other => {
                tracing::warn!(function = binary, ?source, ?duration, outcome = ?other, "invocation failed")
            }
        }
        locked(&self.invocations).push(Invocation {
            function: binary.to_string(),
            source,
            at,
            duration,
            input,
            outcome: outcome.clone(),
        });
        (reply, outcome)
    }

    /// Waits for the release of the oldest pending hold on `binary`, if there is one.
    async fn wait_if_held(&self, binary: &str, input: &Value) {
        let hold = locked(&self.holds)
            .get_mut(binary)
            .and_then(VecDeque::pop_front);
        let Some(hold) = hold else {
            return;
        };
        tracing::info!(function = binary, "invocation held until released");
        let held = Instant::now();
        // Whoever holds it may have given up already; then the release below is immediate.
        let _ = hold.arrived.send(input.clone());
        // Released, or the hold was dropped: either way the invocation goes on.
        let _ = hold.release.await;
        tracing::info!(function = binary, held_for = ?held.elapsed(), "held invocation released");
    }

    async fn run(&self, binary: &str, body: Bytes) -> (LambdaReply, InvocationOutcome) {
        if !self.functions.contains(binary) {
            // What Lambda answers for a missing function.
            let message = format!(
                "Function not found: {} (the workspace has {})",
                crate::workspace::function_arn(binary),
                self.functions
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let reply = LambdaReply {
                status: StatusCode::NOT_FOUND,
                function_error: false,
                error_type_header: Some("ResourceNotFoundException"),
                body: json!({"Type": "User", "message": message})
                    .to_string()
                    .into(),
            };
            return (reply, InvocationOutcome::NotFound);
        }
        let fault = locked(&self.faults)
            .get_mut(binary)
            .and_then(VecDeque::pop_front);
        if let Some(fault) = fault {
            let body = json!({"errorType": fault.error_type, "errorMessage": fault.error_message});
            return (
                function_error_reply(body.to_string().into_bytes()),
                InvocationOutcome::FunctionError {
                    error_type: fault.error_type,
                    error_message: fault.error_message,
                    injected: true,
                },
            );
        }

        let url = format!(
            "{}/2015-03-31/functions/{binary}/invocations",
            self.lambda_endpoint
        );
        let sent = self
            .http
            .post(&url)
            .timeout(INVOKE_TIMEOUT)
            .body(body)
            .send()
            .await;
        let answered = match sent {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|body| (status, body))
            }
            Err(error) => Err(error),
        };
        match answered {
            Ok((status, body)) => lambda_reply(status, body.to_vec()),
            Err(error) => {
                let message = format!("cargo lambda watch at {url} did not answer: {error}");
                // A Lambda service failure, not a function error: moto fails the task.
                let reply = LambdaReply {
                    status: StatusCode::BAD_GATEWAY,
                    function_error: false,
                    error_type_header: Some("ServiceException"),
                    body: json!({"Type": "Service", "message": message})
                        .to_string()
                        .into(),
                };
                (reply, InvocationOutcome::Unreachable { message })
            }
        }
    }
}

fn function_error_reply(body: Vec<u8>) -> LambdaReply {
    LambdaReply {
        status: StatusCode::OK,
        function_error: true,
        error_type_header: None,
        body,
    }
}

/// Lambda's answer for what cargo lambda watch answered: 200 passes through; a function error
/// (cargo lambda's HTTP 500 with `errorType`/`errorMessage`) becomes 200 with
/// `X-Amz-Function-Error: Unhandled` and the same body, which is what lets the state machine
/// see our `Sluice.*` error names (any other status would surface as a generic `Exception`).
fn lambda_reply(status: StatusCode, body: Vec<u8>) -> (LambdaReply, InvocationOutcome) {
    if status == StatusCode::OK {
        let output = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        let reply = LambdaReply {
            status,
            function_error: false,
            error_type_header: None,
            body,
        };
        return (reply, InvocationOutcome::Succeeded { output });
    }
    let parsed: Option<(String, String)> =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            let error_type = v.get("errorType")?.as_str()?.to_string();
            let message = v
                .get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Some((error_type, message))
        });
    let (error_type, error_message, body) = match parsed {
        Some((error_type, message)) => (error_type, message, body),
        None => {
            let message = format!(
                "cargo lambda watch answered HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
            let body = json!({"errorType": UNKNOWN_FUNCTION_ERROR, "errorMessage": message});
            (
                UNKNOWN_FUNCTION_ERROR.to_string(),
                message,
                body.to_string().into_bytes(),
            )
        }
    };
    (
        function_error_reply(body),
        InvocationOutcome::FunctionError {
            error_type,
            error_message,
            injected: false,
        },
    )
}

async fn invoke_endpoint(
    State(router): State<LambdaRouter>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // axum has already percent-decoded the ARN moto sends (`arn%3Aaws%3Alambda...`).
    let binary = binary_of(&function).to_string();
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    match invocation_type {
        "Event" => {
            let shared = router.shared.clone();
            tokio::spawn(
                async move {
                    shared.invoke(&binary, body, InvocationSource::Invoke).await;
                }
                .with_current_subscriber(),
            );
            StatusCode::ACCEPTED.into_response()
        }
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        _ => {
            let (reply, _) = router
                .shared
                .invoke(&binary, body, InvocationSource::Invoke)
                .await;
            reply.into_response()
        }
    }
}

async fn sns_to_function(
    State(router): State<LambdaRouter>,
    Path(function): Path<String>,
    body: Bytes,
) -> StatusCode {
    sns_delivery(&router, SubscriptionTarget::Function(function), &body)
}

async fn sns_to_recorder(State(router): State<LambdaRouter>, body: Bytes) -> StatusCode {
    sns_delivery(&router, SubscriptionTarget::Recorder, &body)
}

/// Answers moto at once (it delivers inside the Publish call, which would otherwise wait for
/// the function) and invokes the function asynchronously, as SNS does.
fn sns_delivery(router: &LambdaRouter, target: SubscriptionTarget, body: &[u8]) -> StatusCode {
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
    locked(&router.shared.deliveries).push(SnsDelivery {
        target: target.clone(),
        topic_arn: topic_arn.clone(),
        subject: text("Subject"),
        message: text("Message").unwrap_or_default(),
        received_at: Utc::now(),
    });
    let SubscriptionTarget::Function(function) = target.clone() else {
        return StatusCode::OK;
    };
    let subscription_arn = locked(&router.shared.subscriptions)
        .get(&(topic_arn.clone(), target))
        .cloned()
        .unwrap_or_else(|| format!("{topic_arn}:local"));
    let event = sns_lambda_event(&envelope, &subscription_arn);
    let body: Bytes = serde_json::to_vec(&event).unwrap_or_default().into();
    let shared = router.shared.clone();
    tokio::spawn(
        async move {
            let binary = binary_of(&function).to_string();
            shared
                .invoke(&binary, body, InvocationSource::Sns { topic_arn })
                .await;
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

/// Forwards any other request to moto as it came and hands moto's answer back.
async fn proxy_to_moto(State(router): State<LambdaRouter>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{path}", router.shared.moto_endpoint);
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("sluice-local router: unreadable request body: {error}"),
            )
                .into_response();
        }
    };
    let mut forwarded = router
        .shared
        .http
        .request(parts.method.clone(), &url)
        .timeout(PROXY_TIMEOUT)
        .body(body);
    for (name, value) in &parts.headers {
        if !HOP_HEADERS.contains(&name.as_str()) {
            forwarded = forwarded.header(name, value);
        }
    }
    let answered = match forwarded.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            response.bytes().await.map(|body| (status, headers, body))
        }
        Err(error) => Err(error),
    };
    match answered {
        Ok((status, headers, body)) => {
            let mut response = (status, body).into_response();
            for (name, value) in &headers {
                if !HOP_HEADERS.contains(&name.as_str()) {
                    response.headers_mut().append(name, value.clone());
                }
            }
            response
        }
        Err(error) => {
            tracing::warn!(%url, method = %parts.method, %error, "moto did not answer a proxied request");
            (
                StatusCode::BAD_GATEWAY,
                format!("sluice-local router: moto at {url} did not answer: {error}"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_lambda_function_errors_become_lambda_function_errors() {
        let body = br#"{"errorType":"Sluice.Retryable","errorMessage":"try again"}"#.to_vec();
        let (reply, outcome) = lambda_reply(StatusCode::INTERNAL_SERVER_ERROR, body.clone());
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.function_error);
        assert_eq!(reply.body, body);
        assert_eq!(outcome.error_type(), Some("Sluice.Retryable"));

        let (reply, outcome) = lambda_reply(StatusCode::BAD_GATEWAY, b"gone".to_vec());
        assert_eq!((reply.status, reply.function_error), (StatusCode::OK, true));
        assert_eq!(outcome.error_type(), Some(UNKNOWN_FUNCTION_ERROR));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["errorType"], UNKNOWN_FUNCTION_ERROR);
        assert!(
            body["errorMessage"]
                .as_str()
                .unwrap()
                .contains("HTTP 502 Bad Gateway: gone")
        );
    }

    fn router_with_faults(function: &str, faults: usize) -> LambdaRouter {
        // Nothing listens on port 9 (discard): only injected faults can answer, so these
        // tests need no cargo lambda watch.
        let router = LambdaRouter::new(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            [function.to_string()],
        )
        .unwrap();
        router.fail_next(function, faults, "Sluice.Retryable", "try again");
        router
    }

    #[tokio::test]
    async fn a_held_invocation_waits_until_released_and_only_the_next_one_is_held() {
        let router = router_with_faults("analyze", 2);
        let mut hold = router.hold_next("analyze");
        let invoking = tokio::spawn({
            let router = router.clone();
            async move { router.invoke("analyze", &json!({"step": 1})).await }
        });
        assert_eq!(
            hold.arrived(Duration::from_secs(5)).await.unwrap(),
            json!({"step": 1})
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!invoking.is_finished(), "it waits for the release");
        assert!(router.invocations("analyze").is_empty(), "nothing ran yet");

        hold.release();
        let outcome = tokio::time::timeout(Duration::from_secs(5), invoking)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.error_type(), Some("Sluice.Retryable"));
        assert_eq!(router.invocations("analyze").len(), 1);

        // The hold took one invocation: the next one runs at once.
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            router.invoke("analyze", &json!({"step": 2})),
        )
        .await
        .unwrap();
        assert_eq!(outcome.error_type(), Some("Sluice.Retryable"));
    }

    #[tokio::test]
    async fn a_dropped_hold_lets_its_invocation_pass_and_holds_are_per_function() {
        let router = router_with_faults("shift-traffic", 1);
        let mut other = router.hold_next("analyze");
        drop(router.hold_next("shift-traffic"));
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            router.invoke("shift-traffic", &json!({})),
        )
        .await
        .expect("a dropped hold does not block");
        assert_eq!(outcome.error_type(), Some("Sluice.Retryable"));
        assert_eq!(
            other.arrived(Duration::from_millis(100)).await,
            Err(HoldError::NotArrived {
                function: "analyze".into(),
                waited: Duration::from_millis(100)
            })
        );
    }

    #[test]
    fn successes_pass_through() {
        let (reply, outcome) = lambda_reply(StatusCode::OK, br#"{"step":1}"#.to_vec());
        assert_eq!(
            (reply.status, reply.function_error),
            (StatusCode::OK, false)
        );
        assert_eq!(
            outcome,
            InvocationOutcome::Succeeded {
                output: json!({"step": 1})
            }
        );
    }

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
