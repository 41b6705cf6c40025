//! The ports the commands use, and the real ones on AWS. Commands take `&impl Ports`, so their
//! tests run them on moto and, where Step Functions would need a real waiting task, on the
//! in-memory fakes.

use sluice_aws::{
    DynamoDbStore, Route53Router, SdkConfig, SfnOrchestrator, SnsNotifier, SystemClock,
};
use sluice_core::ports::{
    Clock, DeploymentStore, Notification, Notifier, NotifyError, Orchestrator, OrchestratorError,
    TrafficRouter,
};

use crate::error::CliError;

/// Everything a command may reach.
pub trait Ports: Send + Sync {
    type Store: DeploymentStore;
    type Router: TrafficRouter;
    type Orchestrator: Orchestrator;
    type Notifier: Notifier;
    type Clock: Clock;

    fn store(&self) -> &Self::Store;
    fn router(&self) -> &Self::Router;
    fn orchestrator(&self) -> &Self::Orchestrator;
    fn notifier(&self) -> &Self::Notifier;
    fn clock(&self) -> &Self::Clock;
    /// The deployment state machine, when known.
    fn state_machine_arn(&self) -> Option<&str>;

    /// The ARN an execution of the deployment state machine with this name has, when the state
    /// machine is known.
    fn execution_arn(&self, name: &str) -> Option<String> {
        self.state_machine_arn().map(|arn| {
            format!(
                "{}:{name}",
                arn.replacen(":stateMachine:", ":execution:", 1)
            )
        })
    }

    /// How an execution ended (status, and `error: cause` where Step Functions says), or
    /// `None` while it runs or before it exists.
    fn execution_ended(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<(String, String)>, CliError>> + Send;

    /// Every service that has stored defaults or holds a lock (a deployment in progress).
    fn services(&self) -> impl Future<Output = Result<Vec<String>, CliError>> + Send;
}

/// A set of ports, any mix of real and fake.
pub struct Backend<S, R, O, N, C> {
    pub store: S,
    pub router: R,
    pub orchestrator: O,
    pub notifier: N,
    pub clock: C,
    pub state_machine_arn: Option<String>,
    /// Step Functions itself, for the error and cause of a failed execution (the port only
    /// tells the status).
    pub sfn: Option<sluice_aws::sdk::sfn::Client>,
    /// The table itself, to find the services' locks (the store port lists deployments by
    /// service, not services).
    pub locks: Option<LockScan>,
}

/// Finds the services holding a lock with a scan of the table for `SK = LOCK`.
#[derive(Debug, Clone)]
pub struct LockScan {
    pub client: sluice_aws::sdk::dynamodb::Client,
    pub table: String,
}

impl LockScan {
    async fn services(&self) -> Result<Vec<String>, CliError> {
        use sluice_aws::dynamodb::keys;
        use sluice_aws::sdk::dynamodb::error::ProvideErrorMetadata;
        use sluice_aws::sdk::dynamodb::types::AttributeValue;
        let mut services = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :lock")
                .projection_expression("#pk")
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":lock", AttributeValue::S(keys::LOCK_SK.into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| CliError::BadArgument {
                    what: format!("table {}", self.table),
                    message: format!(
                        "scanning for service locks failed: {}",
                        e.message().unwrap_or("no message")
                    ),
                })?;
            for item in page.items() {
                if let Some(AttributeValue::S(pk)) = item.get(keys::PK)
                    && let Some(service) = pk.strip_prefix("SERVICE#")
                {
                    services.push(service.to_string());
                }
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(services),
            }
        }
    }
}

impl<S, R, O, N, C> Ports for Backend<S, R, O, N, C>
where
    S: DeploymentStore,
    R: TrafficRouter,
    O: Orchestrator,
    N: Notifier,
    C: Clock,
{
    type Store = S;
    type Router = R;
    type Orchestrator = O;
    type Notifier = N;
    type Clock = C;

    fn store(&self) -> &S {
        &self.store
    }
    fn router(&self) -> &R {
        &self.router
    }
    fn orchestrator(&self) -> &O {
        &self.orchestrator
    }
    fn notifier(&self) -> &N {
        &self.notifier
    }
    fn clock(&self) -> &C {
        &self.clock
    }
    fn state_machine_arn(&self) -> Option<&str> {
        self.state_machine_arn
            .as_deref()
            .filter(|arn| !arn.trim().is_empty())
    }

    async fn execution_ended(&self, arn: &str) -> Result<Option<(String, String)>, CliError> {
        if let Some(sfn) = &self.sfn {
            return describe_failure(sfn, arn).await;
        }
        match self.orchestrator.execution_status(arn).await {
            Ok(status) if status.is_running() => Ok(None),
            Ok(status) => Ok(Some((format!("{status:?}").to_uppercase(), String::new()))),
            Err(OrchestratorError::ExecutionNotFound { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    async fn services(&self) -> Result<Vec<String>, CliError> {
        let mut services: Vec<String> = self
            .store
            .service_configs()
            .await?
            .into_iter()
            .map(|(service, _)| service)
            .collect();
        if let Some(scan) = &self.locks {
            services.extend(scan.services().await?);
        }
        services.sort();
        services.dedup();
        Ok(services)
    }
}

/// The ports on AWS (or on whatever `AWS_ENDPOINT_URL` points at).
pub type AwsBackend =
    Backend<DynamoDbStore, Route53Router, SfnOrchestrator, CliNotifier, SystemClock>;

/// Where the settings for [`AwsBackend`] come from.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub table: String,
    pub state_machine_arn: Option<String>,
    pub notifications_topic_arn: Option<String>,
}

impl AwsBackend {
    pub fn new(sdk: &SdkConfig, settings: &Settings) -> AwsBackend {
        let notifier = match &settings.notifications_topic_arn {
            Some(topic) if !topic.is_empty() => {
                CliNotifier::Sns(SnsNotifier::from_conf(sdk, topic.clone()))
            }
            _ => CliNotifier::Silent,
        };
        Backend {
            store: DynamoDbStore::from_conf(sdk, settings.table.clone()),
            router: Route53Router::from_conf(sdk),
            // Without a state machine ARN only `start` needs one, and it checks first; the
            // others reach executions through the ARN recorded on the deployment.
            orchestrator: SfnOrchestrator::from_conf(
                sdk,
                settings.state_machine_arn.clone().unwrap_or_default(),
            ),
            notifier,
            clock: SystemClock,
            state_machine_arn: settings.state_machine_arn.clone(),
            sfn: Some(sluice_aws::sdk::sfn::Client::new(sdk)),
            locks: Some(LockScan {
                client: sluice_aws::sdk::dynamodb::Client::new(sdk),
                table: settings.table.clone(),
            }),
        }
    }
}

/// The status and `error: cause` of an execution that is not running, or `None` while it runs
/// (or when it does not exist yet).
pub async fn describe_failure(
    client: &sluice_aws::sdk::sfn::Client,
    arn: &str,
) -> Result<Option<(String, String)>, CliError> {
    use sluice_aws::sdk::sfn::error::ProvideErrorMetadata;
    use sluice_aws::sdk::sfn::types::ExecutionStatus;
    match client.describe_execution().execution_arn(arn).send().await {
        Ok(execution) => {
            if *execution.status() == ExecutionStatus::Running {
                return Ok(None);
            }
            let cause = [execution.error(), execution.cause()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            Ok(Some((execution.status().as_str().to_string(), cause)))
        }
        Err(error) if error.code() == Some("ExecutionDoesNotExist") => Ok(None),
        Err(error) => Err(CliError::BadArgument {
            what: format!("execution {arn}"),
            message: format!(
                "DescribeExecution failed: {}",
                error.message().unwrap_or("no message")
            ),
        }),
    }
}

/// Operator actions are announced on the notifications topic when one is configured.
#[derive(Debug, Clone)]
pub enum CliNotifier {
    Sns(SnsNotifier),
    Silent,
}

impl Notifier for CliNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        match self {
            CliNotifier::Sns(sns) => sns.notify(notification).await,
            CliNotifier::Silent => {
                tracing::debug!(deployment_id = %notification.deployment_id, "no notifications topic; {}", notification.message);
                Ok(())
            }
        }
    }
}
