//! sluice's AWS adapters: the only crate that talks to AWS. Each adapter implements one of the
//! core's ports with the real SDK client:
//!
//! - [`Route53Router`]: [`TrafficRouter`](sluice_core::ports::TrafficRouter) on Route 53
//!   weighted records;
//! - [`CloudWatchMetrics`]: [`MetricSource`](sluice_core::ports::MetricSource) and
//!   [`AlarmStates`](sluice_core::ports::AlarmStates) on CloudWatch;
//! - [`DynamoDbStore`]: [`DeploymentStore`](sluice_core::ports::DeploymentStore) on one
//!   DynamoDB table;
//! - [`SnsNotifier`]: [`Notifier`](sluice_core::ports::Notifier) on an SNS topic;
//! - [`SfnOrchestrator`]: [`Orchestrator`](sluice_core::ports::Orchestrator) on Step
//!   Functions;
//!
//! and [`config`] builds the one `SdkConfig` they are made from. What sluice runs on is
//! created by the SAM template in AWS and by `sluice-testkit` (provision) locally.

pub mod cloudwatch;
pub mod config;
pub mod dynamodb;
mod failure;
pub mod route53;
pub mod sfn;
pub mod sns;
pub mod ssm;

pub use cloudwatch::CloudWatchMetrics;
pub use config::SystemClock;
pub use dynamodb::DynamoDbStore;
pub use route53::{Route53Router, SyncPolling};
pub use sfn::SfnOrchestrator;
pub use sns::SnsNotifier;

pub use aws_config::SdkConfig;

/// The SDK crates, for code outside this crate that must build a client (provisioning in tests
/// and the local runner) without depending on aws-sdk-* itself.
pub mod sdk {
    pub use aws_sdk_cloudwatch as cloudwatch;
    pub use aws_sdk_dynamodb as dynamodb;
    pub use aws_sdk_route53 as route53;
    pub use aws_sdk_sfn as sfn;
    pub use aws_sdk_sns as sns;
    pub use aws_sdk_ssm as ssm;
}
