//! The adapters' error paths against aws-smithy-mocks: the real SDK clients with the crate's
//! retry policy (backoff shortened), answered by rules instead of AWS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fixtures/mod.rs"]
mod fixtures;

mod cloudwatch;
mod dynamodb;
mod route53;
mod sfn;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_types::error::ErrorMetadata;

/// The crate's retry policy with millisecond backoff, so retry tests run fast.
pub fn fast_retries() -> aws_smithy_types::retry::RetryConfig {
    sluice_aws::config::retry_config()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

/// A client of `$krate` whose calls are answered by `$rules` (matched in any order).
#[macro_export]
macro_rules! mocked {
    ($krate:ident, $rules:expr) => {{
        let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new()
            .rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        $krate::Client::from_conf(
            $krate::Config::builder()
                .behavior_version($krate::config::BehaviorVersion::latest())
                .region($krate::config::Region::new("us-east-1"))
                .credentials_provider($krate::config::Credentials::new(
                    "AKID", "SECRET", None, None, "mocked",
                ))
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .interceptor(interceptor)
                .retry_config($crate::fast_retries())
                .build(),
        )
    }};
}

/// Error metadata as AWS sends it: a code and a message.
pub fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// Every request a rule was matched against, in order: one per call (the SDK retries a call
/// by sending the same serialised request again, which the rule answers without seeing it).
#[derive(Clone, Default)]
pub struct Seen<I>(Arc<Mutex<Vec<I>>>);

impl<I: Clone + Send + 'static> Seen<I> {
    pub fn new() -> Self {
        Seen(Arc::new(Mutex::new(Vec::new())))
    }

    /// A request matcher that records what it is shown and matches everything.
    pub fn recorder(&self) -> impl Fn(&I) -> bool + Send + Sync + 'static {
        let seen = self.0.clone();
        move |input: &I| {
            seen.lock().unwrap().push(input.clone());
            true
        }
    }

    pub fn all(&self) -> Vec<I> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn config_honours_aws_endpoint_url_and_falls_back_to_us_east_1() {
    // Environment variables are process-wide: the check runs in a child process of this test
    // binary that has them set.
    const CHILD: &str = "SLUICE_AWS_CONFIG_CHILD";
    if let Ok(expected_region) = std::env::var(CHILD) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = runtime.block_on(sluice_aws::config::load());
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4599"));
        assert_eq!(
            config.region().map(|r| r.as_ref().to_string()),
            Some(expected_region)
        );
        let retry = config.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), sluice_aws::config::MAX_ATTEMPTS);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (region, expected) in [(None, "us-east-1"), (Some("eu-west-1"), "eu-west-1")] {
        let mut child = std::process::Command::new(&exe);
        child
            .args([
                "--exact",
                "config_honours_aws_endpoint_url_and_falls_back_to_us_east_1",
                "--nocapture",
            ])
            .env(CHILD, expected)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
            .env("AWS_CONFIG_FILE", "/nonexistent/sluice/config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/sluice/credentials",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_REGION");
        if let Some(region) = region {
            child.env("AWS_REGION", region);
        }
        let output = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child for region {region:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
