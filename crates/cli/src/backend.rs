//! The ports the commands run on: the one bundle the handlers use too ([`Ports`]), on AWS
//! ([`AwsPorts`], or whatever `AWS_ENDPOINT_URL` points at) or, in tests, in memory. And the
//! questions a command asks of several ports at once.

pub use sluice_aws::{AwsPorts, Settings};
pub use sluice_core::ports::Ports;
use sluice_core::ports::{Orchestrator, ServiceConfigs, ServiceLocks};

use crate::error::CliError;

/// How an execution ended: its status (`FAILED`, `ABORTED`, ...) and `error: cause` where Step
/// Functions says; `None` while it runs or before it exists.
pub async fn execution_ended(
    ports: &impl Ports,
    arn: &str,
) -> Result<Option<(String, String)>, CliError> {
    let outcome = ports.orchestrator().execution_outcome(arn).await?;
    Ok(outcome.map(|ended| (ended.status.name().to_string(), ended.explanation())))
}

/// Every service that has stored defaults or a lock (a deployment in progress), sorted.
pub async fn services(ports: &impl Ports) -> Result<Vec<String>, CliError> {
    let mut services: Vec<String> = ports
        .store()
        .service_configs()
        .await?
        .into_iter()
        .map(|(service, _)| service)
        .collect();
    services.extend(ports.store().locked_services().await?);
    services.sort();
    services.dedup();
    Ok(services)
}
