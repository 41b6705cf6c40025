use sluice_core::DeploymentId;
use tracing_subscriber::EnvFilter;

/// JSON logs on stdout (CloudWatch Logs reads them as structured), filtered by `RUST_LOG`
/// (default `info`). Called once at cold start.
pub fn init_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The span every log line of one deployment's handling runs in: it carries the deployment id.
pub fn deployment_span(id: &DeploymentId) -> tracing::Span {
    tracing::info_span!("deployment", deployment_id = %id)
}
