//! What the end-to-end test files share: starting a runner, the short request they deploy, and
//! waiting for an execution to end.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_local::{DeploymentRequest, Execution, LocalRunner, RunnerOptions};

/// Generous: the first runner of a test run may also build the function binaries.
pub const EXECUTION_TIMEOUT: Duration = Duration::from_secs(180);

pub async fn runner_with(options: RunnerOptions) -> LocalRunner {
    match LocalRunner::start(options).await {
        Ok(runner) => runner,
        Err(error) => panic!("the local runner did not start: {error}"),
    }
}

/// Three steps (10 %, 50 %, 100 %) of 2 s each, at least 20 samples per analysis.
pub fn short_request(version: &str) -> DeploymentRequest {
    DeploymentRequest::new(version)
        .steps(&[10.0, 50.0, 100.0])
        .bake_seconds(2)
        .min_samples(20)
}

/// Waits for the execution to end and prints how (`label` says which), with the run's logs.
pub async fn wait_to_end(runner: &LocalRunner, label: &str, arn: &str) -> Execution {
    let execution = runner
        .wait_for_execution(arn, EXECUTION_TIMEOUT)
        .await
        .unwrap();
    println!(
        "{label}: {} {:?} {:?} {:?}; logs in {}",
        execution.status,
        execution.error,
        execution.cause,
        execution.states_entered(),
        runner.run_dir().display()
    );
    execution
}
