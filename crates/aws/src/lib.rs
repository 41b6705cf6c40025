//! sluice's AWS adapters: the only crate that talks to AWS. Each adapter implements one of the
//! core's ports with the real SDK client:
//!
//! - [`Route53Router`]: [`TrafficRouter`](sluice_core::ports::TrafficRouter) on Route 53
//!   weighted records;
//! - [`CloudWatchMetrics`]: [`MetricSource`](sluice_core::ports::MetricSource) and
//!   [`AlarmStates`](sluice_core::ports::AlarmStates) on CloudWatch;
//! - [`DynamoDbStore`]: the storage ports ([`ServiceConfigs`](sluice_core::ports::ServiceConfigs),
//!   [`ServiceLocks`](sluice_core::ports::ServiceLocks), [`Deployments`](sluice_core::ports::Deployments),
//!   [`TriggerLedger`](sluice_core::ports::TriggerLedger)) on one DynamoDB table;
//! - [`SnsNotifier`]: [`Notifier`](sluice_core::ports::Notifier) on an SNS topic;
//! - [`SfnOrchestrator`]: [`Orchestrator`](sluice_core::ports::Orchestrator) on Step
//!   Functions;
//!
//! [`AwsPorts`] bundles them all ([`Ports`](sluice_core::ports::Ports)), built from the one
//! `SdkConfig` [`config`] loads and the [`Settings`] naming the table, topic and state
//! machine. What sluice runs on is created by the SAM template in AWS and by `sluice-testkit`
//! (provision) locally.

pub mod cloudwatch;
pub mod config;
pub mod dynamodb;
mod failure;
mod ports;
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
pub use ports::{AwsPorts, Settings, TopicNotifier};
