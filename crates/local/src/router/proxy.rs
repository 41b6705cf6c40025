//! The proxy: every request that is neither a Lambda Invoke nor an SNS delivery goes to moto
//! as it came, and moto's answer goes back the same way.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::chaos::{AfterWrite, AwsService, Chaos, FaultDecision, is_write, split_function_path};

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

/// Where the proxy forwards to.
pub(super) struct MotoProxy {
    pub(super) moto_endpoint: String,
    pub(super) http: reqwest::Client,
    /// Faults for the functions' own calls, when chaos is on.
    pub(super) chaos: Option<Arc<Chaos>>,
}

/// The proxy as the router's fallback.
pub(super) fn routes(proxy: Arc<MotoProxy>) -> Router {
    Router::new().fallback(proxy_to_moto).with_state(proxy)
}

/// Forwards any other request to moto as it came and hands moto's answer back.
async fn proxy_to_moto(State(proxy): State<Arc<MotoProxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let full_path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // A function's call (chaos on) names the function in a prefix moto must not see.
    let (function, path) = match split_function_path(full_path) {
        Some((function, path)) => (Some(function.to_string()), path),
        None => (None, full_path.to_string()),
    };
    let url = format!("{}{path}", proxy.moto_endpoint);
    let mut write_of = None;
    if let (Some(chaos), Some(function)) = (&proxy.chaos, &function) {
        let service = AwsService::of_request(&parts.headers);
        match chaos.decide(service) {
            FaultDecision::Answer(error) => {
                tracing::info!(%function, service = service.name(), status = %error.status, "chaos: fault injected");
                return (
                    error.status,
                    [(axum::http::header::CONTENT_TYPE, error.content_type)],
                    error.body,
                )
                    .into_response();
            }
            FaultDecision::Forward { delay } if !delay.is_zero() => {
                tokio::time::sleep(delay).await;
            }
            FaultDecision::Forward { .. } => {}
        }
        let uri_path = path.split('?').next().unwrap_or("/");
        if is_write(service, &parts.method, uri_path, &parts.headers) {
            if chaos.before_write(function) {
                chaos.kill(function);
                return (StatusCode::SERVICE_UNAVAILABLE, "killed by chaos").into_response();
            }
            write_of = Some((chaos.clone(), function.clone()));
        }
    }
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
    let mut forwarded = proxy
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
    if let Some((chaos, function)) = write_of
        && chaos.after_write(&function) == AfterWrite::Kill
    {
        // The write landed; the function dies before it learns so.
        chaos.kill(&function);
        return (StatusCode::SERVICE_UNAVAILABLE, "killed by chaos").into_response();
    }
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
