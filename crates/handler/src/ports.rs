use sluice_aws::{
    CloudWatchMetrics, DynamoDbStore, Route53Router, SdkConfig, SfnOrchestrator, SnsNotifier,
    SystemClock,
};
use sluice_core::ports::{
    AlarmStates, Clock, DeploymentStore, MetricSource, Notification, Notifier, NotifyError,
    Orchestrator, TrafficRouter,
};

use crate::config::{Config, ConfigError};
use crate::emf::MeteredStore;

/// Everything a handler may reach, built once at cold start. Handlers take `&impl Ports`, so
/// their tests run them on the in-memory ports and on moto alike.
pub trait Ports: Send + Sync {
    type Store: DeploymentStore;
    type Router: TrafficRouter;
    type Metrics: MetricSource;
    type Alarms: AlarmStates;
    type Notifier: Notifier;
    type Orchestrator: Orchestrator;
    type Clock: Clock;

    fn config(&self) -> &Config;
    fn store(&self) -> &Self::Store;
    fn router(&self) -> &Self::Router;
    fn metrics(&self) -> &Self::Metrics;
    fn alarms(&self) -> &Self::Alarms;
    fn notifier(&self) -> &Self::Notifier;
    fn orchestrator(&self) -> &Self::Orchestrator;
    fn clock(&self) -> &Self::Clock;
}

/// Notifications to the configured SNS topic, or only to the log when none is configured.
#[derive(Debug, Clone)]
pub enum TopicNotifier {
    Sns(SnsNotifier),
    LogOnly,
}

impl Notifier for TopicNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        match self {
            TopicNotifier::Sns(sns) => sns.notify(notification).await,
            TopicNotifier::LogOnly => {
                tracing::info!(
                    deployment_id = %notification.deployment_id,
                    status = %notification.status,
                    "{}",
                    notification.message
                );
                Ok(())
            }
        }
    }
}

/// The real ports: one SDK configuration, one client per service.
pub struct AwsPorts {
    config: Config,
    store: MeteredStore<DynamoDbStore>,
    router: Route53Router,
    metrics: CloudWatchMetrics,
    notifier: TopicNotifier,
    orchestrator: SfnOrchestrator,
    clock: SystemClock,
}

impl AwsPorts {
    /// Reads the configuration from the environment and builds every client.
    pub async fn from_env() -> Result<AwsPorts, ConfigError> {
        let config = Config::from_env()?;
        let sdk = sluice_aws::config::load().await;
        Ok(AwsPorts::new(config, &sdk))
    }

    pub fn new(config: Config, sdk: &SdkConfig) -> AwsPorts {
        let mut store = DynamoDbStore::from_conf(sdk, config.table.clone());
        if let Some(ttl) = config.history_ttl {
            store = store.with_history_ttl(ttl);
        }
        let notifier = match &config.notifications_topic_arn {
            Some(topic) => TopicNotifier::Sns(SnsNotifier::from_conf(sdk, topic.clone())),
            None => TopicNotifier::LogOnly,
        };
        // Without a state machine ARN, calls fail naming the missing setting (see
        // `Config::require_state_machine`, which the functions that need one check at start).
        let orchestrator =
            SfnOrchestrator::from_conf(sdk, config.state_machine_arn.clone().unwrap_or_default());
        AwsPorts {
            store: MeteredStore(store),
            router: Route53Router::from_conf(sdk),
            metrics: CloudWatchMetrics::from_conf(sdk),
            notifier,
            orchestrator,
            clock: SystemClock,
            config,
        }
    }
}

impl Ports for AwsPorts {
    type Store = MeteredStore<DynamoDbStore>;
    type Router = Route53Router;
    type Metrics = CloudWatchMetrics;
    type Alarms = CloudWatchMetrics;
    type Notifier = TopicNotifier;
    type Orchestrator = SfnOrchestrator;
    type Clock = SystemClock;

    fn config(&self) -> &Config {
        &self.config
    }
    fn store(&self) -> &MeteredStore<DynamoDbStore> {
        &self.store
    }
    fn router(&self) -> &Route53Router {
        &self.router
    }
    fn metrics(&self) -> &CloudWatchMetrics {
        &self.metrics
    }
    fn alarms(&self) -> &CloudWatchMetrics {
        &self.metrics
    }
    fn notifier(&self) -> &TopicNotifier {
        &self.notifier
    }
    fn orchestrator(&self) -> &SfnOrchestrator {
        &self.orchestrator
    }
    fn clock(&self) -> &SystemClock {
        &self.clock
    }
}
