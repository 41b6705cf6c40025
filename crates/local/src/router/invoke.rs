//! Lambda Invoke: an invocation runs the real function binary through cargo lambda watch (or
//! answers with an injected fault), is recorded, and is answered in Lambda's terms.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber;

use super::hooks::TestHooks;
use crate::chaos::{CRASH_ERROR, Chaos};
use crate::function_names::{binary_of, function_arn};
use crate::sync::locked;

/// Lambda's header for a function error; its presence is what makes the state machine see
/// `errorType` as the error name.
pub const FUNCTION_ERROR_HEADER: &str = "x-amz-function-error";
/// The error type of a function that failed without saying why (crashed, answered garbage).
pub const UNKNOWN_FUNCTION_ERROR: &str = "Runtime.Unknown";

/// How long one function invocation may take (Lambda's own maximum).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(900);

/// Who asked for an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvocationSource {
    /// A Lambda Invoke call: moto's state machine, or anyone using the Lambda API.
    Invoke,
    /// An SNS notification delivered to the function's subscription.
    Sns { topic_arn: String },
    /// [`super::LambdaRouter::invoke`] from Rust (tests, scenarios).
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

/// A reply in Lambda Invoke's terms.
pub(super) struct LambdaReply {
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

/// Runs invocations of the workspace's function binaries and records them.
pub(super) struct Invoker {
    pub(super) lambda_endpoint: String,
    pub(super) functions: BTreeSet<String>,
    pub(super) http: reqwest::Client,
    pub(super) hooks: TestHooks,
    pub(super) invocations: Mutex<Vec<Invocation>>,
    /// Kills between writes answer the running invocation as a crash, when chaos is on.
    pub(super) chaos: Option<Arc<Chaos>>,
}

/// Lambda's Invoke API.
pub(super) fn routes(invoker: Arc<Invoker>) -> Router {
    Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            post(invoke_endpoint),
        )
        .with_state(invoker)
}

impl Invoker {
    /// Every invocation so far, oldest first.
    pub(super) fn invocations(&self) -> Vec<Invocation> {
        locked(&self.invocations).clone()
    }

    /// Runs `binary` with `body` (after its hold, if any), records the invocation and returns
    /// Lambda's reply and how it ended.
    pub(super) async fn invoke(
        &self,
        binary: &str,
        body: Bytes,
        source: InvocationSource,
    ) -> (LambdaReply, InvocationOutcome) {
        let started = Instant::now();
        let at = Utc::now();
        let input: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        self.hooks.wait_if_held(binary, &input).await;
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

    async fn run(&self, binary: &str, body: Bytes) -> (LambdaReply, InvocationOutcome) {
        if !self.functions.contains(binary) {
            // What Lambda answers for a missing function.
            let message = format!(
                "Function not found: {} (the workspace has {})",
                function_arn(binary),
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
        if let Some(fault) = self.hooks.take_fault(binary) {
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
        let payload = String::from_utf8_lossy(&body).into_owned();
        let answer = async {
            match self
                .http
                .post(&url)
                .timeout(INVOKE_TIMEOUT)
                .body(body)
                .send()
                .await
            {
                Ok(response) => {
                    let status = response.status();
                    response.bytes().await.map(|body| (status, body))
                }
                Err(error) => Err(error),
            }
        };
        let answered = match &self.chaos {
            None => answer.await,
            Some(chaos) => {
                let (ticket, crashed) = chaos.begin_invocation(binary, &payload);
                let answered = tokio::select! {
                    answered = answer => Some(answered),
                    Ok(()) = crashed => None,
                };
                chaos.end_invocation(binary, ticket);
                match answered {
                    Some(answered) => answered,
                    None => return crash_reply(binary),
                }
            }
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

/// What an invocation of a function killed mid-way answers: Lambda's error for a function that
/// died without answering.
fn crash_reply(binary: &str) -> (LambdaReply, InvocationOutcome) {
    let message = format!("{binary} was killed between its writes (chaos)");
    let body = json!({"errorType": CRASH_ERROR, "errorMessage": message});
    (
        function_error_reply(body.to_string().into_bytes()),
        InvocationOutcome::FunctionError {
            error_type: CRASH_ERROR.to_string(),
            error_message: message,
            injected: true,
        },
    )
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
    State(invoker): State<Arc<Invoker>>,
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
            tokio::spawn(
                async move {
                    invoker
                        .invoke(&binary, body, InvocationSource::Invoke)
                        .await;
                }
                .with_current_subscriber(),
            );
            StatusCode::ACCEPTED.into_response()
        }
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        _ => {
            let (reply, _) = invoker
                .invoke(&binary, body, InvocationSource::Invoke)
                .await;
            reply.into_response()
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
}
