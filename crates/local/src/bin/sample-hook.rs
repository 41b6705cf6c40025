//! sample-hook: the local runner's example of a pre- or post-traffic hook (never deployed by
//! the SAM template). It asks the runner which version the canary slot serves
//! (`GET <SLUICE_LOCAL_ROUTER_URL>/sluice-local/slots/<slot>/version`) and passes only when it
//! is the version being deployed, as a real version check would ask the slot's own target.
//! Its answer follows the hook contract: `{"status": "Succeeded" | "Failed", "message"}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use sluice_core::workflow::{HookAnswer, HookPayload};
use sluice_local::router::slot_version_path;

/// Where the runner's router listens; the runner sets it for every function it starts.
const ROUTER_URL_ENV: &str = "SLUICE_LOCAL_ROUTER_URL";

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_target(false).init();
    let router = std::env::var(ROUTER_URL_ENV)
        .map_err(|_| format!("{ROUTER_URL_ENV} is not set: the local runner sets it"))?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (http, router) = (http.clone(), router.clone());
        async move { check(&http, &router, event.payload).await }
    }))
    .await
}

async fn check(http: &reqwest::Client, router: &str, event: Value) -> Result<HookAnswer, Error> {
    let payload: HookPayload = serde_json::from_value(event)
        .map_err(|e| format!("the hook payload is not what sluice sends: {e}"))?;
    let slot = &payload.subject.canary_slot;
    let url = format!("{router}{}", slot_version_path(slot));
    let response = http.get(&url).send().await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(HookAnswer::failed(format!(
            "canary slot {slot} serves no version yet, expected {}",
            payload.subject.version
        )));
    }
    let body: Value = response.error_for_status()?.json().await?;
    let serving = body["version"].as_str().unwrap_or_default();
    let answer = if serving == payload.subject.version {
        HookAnswer::succeeded(format!("canary slot {slot} serves {serving}"))
    } else {
        HookAnswer::failed(format!(
            "canary slot {slot} serves {serving}, not {}",
            payload.subject.version
        ))
    };
    tracing::info!(hook = %payload.hook, %slot, serving, status = %answer.status, "checked");
    Ok(answer)
}
