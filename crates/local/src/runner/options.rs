//! How to start a [`super::LocalRunner`]: names, alarm, traffic, subscriptions, and the
//! settings of the functions it runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::Chaos;

use crate::environment::{AlarmSettings, EnvironmentNames};
use crate::router::SubscriptionTarget;
use crate::traffic::TrafficProfile;

/// A topic of the local environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// Where the alarm notifies (its AlarmActions and OKActions).
    Alarms,
    /// Where deployments publish their state changes.
    Notifications,
    /// Any other topic by ARN.
    Arn(String),
}

/// An `http` subscription of a topic to the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: Topic,
    pub target: SubscriptionTarget,
}

impl Subscription {
    /// `topic` invokes `function` with the SNS Lambda event.
    pub fn function(topic: Topic, function: &str) -> Subscription {
        Subscription {
            topic,
            target: SubscriptionTarget::Function(function.to_string()),
        }
    }

    /// `topic`'s notifications are only recorded ([`super::LocalRunner::sns_deliveries`]).
    pub fn recorder(topic: Topic) -> Subscription {
        Subscription {
            topic,
            target: SubscriptionTarget::Recorder,
        }
    }
}

/// The function the alarm topic invokes, as in AWS (DESIGN.md §1).
pub const EMERGENCY_ROLLBACK_FUNCTION: &str = "emergency-rollback";

/// `SLUICE_SYNC_POLL_SECONDS` of the functions unless told otherwise: short, for a fast loop.
pub const DEFAULT_SYNC_POLL_SECONDS: u32 = 1;
/// `RUST_LOG` of the functions unless told otherwise.
pub const DEFAULT_FUNCTION_LOG_FILTER: &str = "info";

/// How to start a [`super::LocalRunner`].
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Names the run directory `target/sluice-local/<name>-<time>-<pid>`.
    pub name: String,
    /// Another directory for the logs instead.
    pub run_dir: Option<PathBuf>,
    pub names: EnvironmentNames,
    pub alarm: AlarmSettings,
    pub traffic: TrafficProfile,
    /// Topic → function (or recorder) subscriptions. A function missing from the workspace
    /// is skipped with a warning (its package may not exist yet).
    pub subscriptions: Vec<Subscription>,
    /// Extra environment for every function, over the runner's own.
    pub function_env: BTreeMap<String, String>,
    /// `RUST_LOG` of the functions.
    pub function_log_filter: String,
    /// `SLUICE_SYNC_POLL_SECONDS` of the functions.
    pub sync_poll_seconds: u32,
    /// Build the function binaries first (`cargo build -p sluice-local -p <function>...`, once
    /// per process); without it they must exist in `target/debug`.
    pub build: bool,
    /// Period of the traffic simulator, the alarm evaluator and the execution watcher.
    pub tick: Duration,
    /// Deliver the state machine's executions that end FAILED, TIMED_OUT or ABORTED to
    /// `reconcile`, as EventBridge does in AWS.
    pub execution_events: bool,
    /// Fault injection: the functions' AWS calls go through the router, which faults them
    /// as this says (see [`crate::chaos`]).
    pub chaos: Option<Arc<Chaos>>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            name: "run".to_string(),
            run_dir: None,
            names: EnvironmentNames::default(),
            alarm: AlarmSettings::default(),
            traffic: TrafficProfile::healthy(),
            subscriptions: vec![Subscription::function(
                Topic::Alarms,
                EMERGENCY_ROLLBACK_FUNCTION,
            )],
            function_env: BTreeMap::new(),
            function_log_filter: DEFAULT_FUNCTION_LOG_FILTER.to_string(),
            sync_poll_seconds: DEFAULT_SYNC_POLL_SECONDS,
            build: true,
            tick: Duration::from_secs(1),
            execution_events: true,
            chaos: None,
        }
    }
}

impl RunnerOptions {
    pub fn new(name: &str) -> Self {
        RunnerOptions {
            name: name.to_string(),
            ..RunnerOptions::default()
        }
    }

    pub fn traffic(mut self, traffic: TrafficProfile) -> Self {
        self.traffic = traffic;
        self
    }

    pub fn names(mut self, names: EnvironmentNames) -> Self {
        self.names = names;
        self
    }

    /// Without the execution-status events (`reconcile` never runs by itself).
    pub fn without_execution_events(mut self) -> Self {
        self.execution_events = false;
        self
    }

    pub fn subscribe(mut self, subscription: Subscription) -> Self {
        self.subscriptions.push(subscription);
        self
    }

    pub fn function_env(mut self, key: &str, value: &str) -> Self {
        self.function_env.insert(key.to_string(), value.to_string());
        self
    }

    pub fn run_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.run_dir = Some(dir.into());
        self
    }

    /// Runs with faults injected by `chaos`.
    pub fn chaos(mut self, chaos: Arc<Chaos>) -> Self {
        self.chaos = Some(chaos);
        self
    }

    pub fn build(mut self, build: bool) -> Self {
        self.build = build;
        self
    }
}

/// How long each part of the start took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StartTimings {
    pub build: Duration,
    pub moto: Duration,
    pub cargo_lambda: Duration,
    pub environment: Duration,
    pub total: Duration,
}
