//! Every port on AWS, built once from one `SdkConfig` and the settings that name the resources:
//! what the Lambda handlers and the CLI both run on.

use std::time::Duration;

use aws_config::SdkConfig;
use sluice_core::ports::{
    Deployments, Notification, Notifier, NotifyError, Ports, ServiceConfigs, ServiceLocks,
    ServiceStates, TriggerLedger,
};

use crate::cloudwatch::CloudWatchMetrics;
use crate::config::SystemClock;
use crate::dynamodb::DynamoDbStore;
use crate::route53::Route53Router;
use crate::sfn::SfnOrchestrator;
use crate::sns::SnsNotifier;

/// What names the resources the ports reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The DynamoDB table holding deployments, locks, configs and trigger keys.
    pub table: String,
    /// The deployment state machine; without it, starting an execution fails naming it.
    pub state_machine_arn: Option<String>,
    /// Where state changes are published; without it, they are only logged.
    pub notifications_topic_arn: Option<String>,
    /// History events expire this long after they happened; unset, never.
    pub history_ttl: Option<Duration>,
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

/// The real ports: one client per service. The store may be wrapped (the handlers print their
/// metrics around it) with [`AwsPorts::map_store`].
#[derive(Debug, Clone)]
pub struct AwsPorts<S = DynamoDbStore> {
    store: S,
    router: Route53Router,
    metrics: CloudWatchMetrics,
    notifier: TopicNotifier,
    orchestrator: SfnOrchestrator,
    clock: SystemClock,
}

impl AwsPorts {
    pub fn new(sdk: &SdkConfig, settings: &Settings) -> AwsPorts {
        let mut store = DynamoDbStore::from_conf(sdk, settings.table.clone());
        if let Some(ttl) = settings.history_ttl {
            store = store.with_history_ttl(ttl);
        }
        let notifier = match &settings.notifications_topic_arn {
            Some(topic) if !topic.trim().is_empty() => {
                TopicNotifier::Sns(SnsNotifier::from_conf(sdk, topic.clone()))
            }
            _ => TopicNotifier::LogOnly,
        };
        // Without a state machine ARN, starting fails naming the missing setting (the functions
        // and commands that need one check it first); the others reach executions by the ARN
        // recorded on the deployment.
        let orchestrator =
            SfnOrchestrator::from_conf(sdk, settings.state_machine_arn.clone().unwrap_or_default());
        AwsPorts {
            store,
            router: Route53Router::from_conf(sdk),
            metrics: CloudWatchMetrics::from_conf(sdk),
            notifier,
            orchestrator,
            clock: SystemClock,
        }
    }
}

impl<S> AwsPorts<S> {
    /// The same ports with the store wrapped by `wrap`.
    pub fn map_store<W>(self, wrap: impl FnOnce(S) -> W) -> AwsPorts<W> {
        AwsPorts {
            store: wrap(self.store),
            router: self.router,
            metrics: self.metrics,
            notifier: self.notifier,
            orchestrator: self.orchestrator,
            clock: self.clock,
        }
    }
}

impl<S> Ports for AwsPorts<S>
where
    S: ServiceConfigs + ServiceLocks + ServiceStates + Deployments + TriggerLedger,
{
    type Store = S;
    type Router = Route53Router;
    type Metrics = CloudWatchMetrics;
    type Alarms = CloudWatchMetrics;
    type Notifier = TopicNotifier;
    type Orchestrator = SfnOrchestrator;
    type Clock = SystemClock;

    fn store(&self) -> &S {
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
