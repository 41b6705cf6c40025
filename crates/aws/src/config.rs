//! The one place that builds the AWS SDK configuration, and the system clock.
//!
//! Every client of every handler is built from the [`SdkConfig`] made here, once per process:
//! region from the usual chain (`AWS_REGION`, profile, IMDS) falling back to `us-east-1`,
//! `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) honoured by
//! aws-config, the standard retry mode with more attempts than the SDK's default, and timeouts
//! that fail a hung call well inside a Lambda's own timeout.

use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use chrono::{DateTime, Utc};
use sluice_core::ports::Clock;

/// The region used when neither the environment nor a profile names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Attempts per call, the first included. The SDK's standard retry mode retries throttling
/// (Route 53's `PriorRequestNotComplete` among it), transient errors and 5xx responses with
/// exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 5;

/// The first retry waits up to this long; each further one up to twice as long as the last.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// No single retry waits longer than this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The retry policy every client uses.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// A connection is made within this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One attempt of a call ends within this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One call with all its retries ends within this long: under half the shortest function
/// timeout (30 s), so a hung call fails inside the function, which reports it, instead of the
/// function dying mid-change; each function's `Timeout` in infra/template.yaml leaves room for
/// its calls (`crates/infra-check/tests/timeouts.rs` checks the relation).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(14);

/// Connect within [`CONNECT_TIMEOUT`], one attempt within [`ATTEMPT_TIMEOUT`], one call with all
/// its retries within [`OPERATION_TIMEOUT`].
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The configuration for AWS itself (or whatever `AWS_ENDPOINT_URL` points at), from the
/// environment and profile chain.
pub async fn load() -> SdkConfig {
    let config = with_policies(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await;
    tracing::debug!(
        region = ?config.region(),
        endpoint_url = ?config.endpoint_url(),
        "AWS SDK configuration loaded"
    );
    config
}

/// The configuration for an emulator (moto) at `endpoint_url`: that endpoint for every
/// service, region `us-east-1` unless the environment names one, and fixed test credentials,
/// so nothing looks for real ones.
pub async fn load_for_endpoint(endpoint_url: &str) -> SdkConfig {
    with_policies(aws_config::defaults(BehaviorVersion::latest()))
        .endpoint_url(endpoint_url)
        .test_credentials()
        .load()
        .await
}

fn with_policies(loader: ConfigLoader) -> ConfigLoader {
    loader
        .region(RegionProviderChain::default_provider().or_else(Region::new(FALLBACK_REGION)))
        .retry_config(retry_config())
        .timeout_config(timeout_config())
}

/// The real clock; sleeps on tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
