//! What every sluice Lambda shares, so each handler's `main.rs` stays a few lines: JSON logs,
//! the configuration read once from the environment, the ports built once at cold start, event
//! parsing that names the bad field, and errors the state machine can `Retry` and `Catch` by
//! name.

mod config;
mod emf;
mod failure;
mod logs;
mod ports;

pub use config::{Config, ConfigError};
pub use emf::MeteredStore;
pub use failure::{HandlerError, parse_event};
pub use logs::{deployment_span, init_logs};
pub use ports::{Configured, HandlerPorts, Ports};

/// A Lambda's whole `main`: JSON logs, the configuration and the AWS ports built once from the
/// environment, then `handle` for each event.
pub async fn run<F, Fut, Out>(handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(&'static HandlerPorts, serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = Result<Out, HandlerError>>,
    Out: serde::Serialize,
{
    init_logs();
    let ports = HandlerPorts::from_env().await?;
    serve(ports, handle).await
}

/// Runs a Lambda handler: `handle` gets each event's payload and the ports built at cold start.
pub async fn serve<P, F, Fut, Out>(ports: P, handle: F) -> Result<(), lambda_runtime::Error>
where
    P: Configured + 'static,
    F: Fn(&'static P, serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = Result<Out, HandlerError>>,
    Out: serde::Serialize,
{
    // The ports live as long as the process: built once at cold start, shared by every event.
    let ports: &'static P = Box::leak(Box::new(ports));
    let handle = &handle;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| handle(ports, event.payload),
    ))
    .await
}
