//! The ports: what the core needs from the outside world, in domain types only. The AWS
//! adapters in `sluice-aws` implement them; tests use in-memory fakes.
//!
//! Every port has its own error type. Each error says what failed and with which input, and
//! whether trying again may help (`is_retryable`), which the handlers map to `Sluice.Retryable`.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::deployment::{Deployment, DeploymentId, HistoryEvent, Status};
use crate::metrics::{Series, SeriesQuery, TimeWindow};
use crate::plan::WeightPair;
use crate::spec::{DeploymentSpec, RecordType, Target};

// ---------------------------------------------------------------------------------------------
// Traffic

/// The weighted record set a deployment moves traffic through: two records with the same name
/// and type, set identifiers `blue` and `green`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSet {
    pub hosted_zone_id: String,
    pub name: String,
    pub record_type: RecordType,
    pub ttl_seconds: u32,
    pub blue: Target,
    pub green: Target,
}

impl RecordSet {
    pub const BLUE: &'static str = "blue";
    pub const GREEN: &'static str = "green";

    pub fn from_spec(spec: &DeploymentSpec) -> RecordSet {
        RecordSet {
            hosted_zone_id: spec.hosted_zone_id.clone(),
            name: spec.record_name.clone(),
            record_type: spec.record_type,
            ttl_seconds: spec.ttl_seconds,
            blue: spec.blue.clone(),
            green: spec.green.clone(),
        }
    }
}

/// One weighted record as Route 53 holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedRecord {
    pub weight: u8,
    pub target: String,
    pub ttl_seconds: Option<u32>,
}

/// The blue and green records found under a record set's name and type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WeightedRecords {
    pub blue: Option<WeightedRecord>,
    pub green: Option<WeightedRecord>,
}

impl WeightedRecords {
    /// The weights, when both records exist and are not both 0.
    pub fn weights(&self) -> Option<WeightPair> {
        WeightPair::new(self.blue.as_ref()?.weight, self.green.as_ref()?.weight).ok()
    }
}

/// A Route 53 change id, as returned by ChangeResourceRecordSets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(pub String);

impl std::fmt::Display for ChangeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeStatus {
    Pending,
    InSync,
}

#[derive(Debug, Error)]
pub enum RouterError {
    #[error("hosted zone {zone} does not exist")]
    ZoneNotFound { zone: String },
    #[error("Route 53 rejected the change to {name} in zone {zone}: {message}")]
    InvalidChange {
        zone: String,
        name: String,
        message: String,
    },
    #[error("Route 53 change {change} does not exist")]
    ChangeNotFound { change: String },
    #[error("Route 53 change {change} was not in sync after {waited:?}")]
    SyncTimeout { change: String, waited: Duration },
    #[error("Route 53 {operation} on zone {zone} was throttled or busy after retries: {message}")]
    Throttled {
        operation: &'static str,
        zone: String,
        message: String,
    },
    #[error("Route 53 {operation} on zone {zone} failed: {message}")]
    Unavailable {
        operation: &'static str,
        zone: String,
        message: String,
    },
}

impl RouterError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RouterError::Throttled { .. }
                | RouterError::Unavailable { .. }
                | RouterError::SyncTimeout { .. }
        )
    }
}

/// Moves traffic between blue and green.
pub trait TrafficRouter: Send + Sync {
    /// The hosted zone's domain, e.g. `example.com.`.
    fn zone_domain(
        &self,
        zone_id: &str,
    ) -> impl Future<Output = Result<String, RouterError>> + Send;

    /// The blue and green records under the record set's name and type.
    fn read_weights(
        &self,
        records: &RecordSet,
    ) -> impl Future<Output = Result<WeightedRecords, RouterError>> + Send;

    /// Sets both weights in one change batch, so there is never a moment with both at 0.
    fn set_weights(
        &self,
        records: &RecordSet,
        weights: WeightPair,
    ) -> impl Future<Output = Result<ChangeId, RouterError>> + Send;

    /// One look at a change's status.
    fn change_status(
        &self,
        change: &ChangeId,
    ) -> impl Future<Output = Result<ChangeStatus, RouterError>> + Send;

    /// Polls a change, with backoff, until it is in sync or `timeout` has passed.
    fn wait_for_sync(
        &self,
        change: &ChangeId,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), RouterError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Metrics and alarms

#[derive(Debug, Error)]
pub enum MetricError {
    #[error("CloudWatch rejected the query for {what}: {message}")]
    InvalidQuery { what: String, message: String },
    #[error("CloudWatch {operation} was throttled after retries ({what}): {message}")]
    Throttled {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("CloudWatch {operation} failed ({what}): {message}")]
    Unavailable {
        operation: &'static str,
        what: String,
        message: String,
    },
}

impl MetricError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MetricError::Throttled { .. } | MetricError::Unavailable { .. }
        )
    }
}

/// Reads raw metric series.
pub trait MetricSource: Send + Sync {
    /// One series per query, in the queries' order; a series without datapoints means no data.
    fn fetch(
        &self,
        queries: &[SeriesQuery],
        window: TimeWindow,
    ) -> impl Future<Output = Result<Vec<Series>, MetricError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// An alarm's current state, or `None` when no alarm has that name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStatus {
    pub name: String,
    pub state: Option<AlarmState>,
}

/// Reads CloudWatch alarm states.
pub trait AlarmStates: Send + Sync {
    /// One status per name, in the names' order.
    fn alarm_states(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmStatus>, MetricError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Deployment state

/// Where a deployment's record lives: its service, start time and id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentKey {
    pub service: String,
    pub started_at: DateTime<Utc>,
    pub id: DeploymentId,
}

impl DeploymentKey {
    pub fn of(deployment: &Deployment) -> DeploymentKey {
        DeploymentKey {
            service: deployment.service.clone(),
            started_at: deployment.started_at,
            id: deployment.id.clone(),
        }
    }
}

/// The one lock per service: which deployment holds it and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLock {
    pub deployment: DeploymentKey,
    pub lease_until: DateTime<Utc>,
    /// Alarms of the holding deployment, so an alarm finds it.
    #[serde(default)]
    pub alarms: Vec<String>,
}

/// What an incoming event's idempotency key recorded the first time it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerRecord {
    pub execution_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    pub seen_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerClaim {
    /// First time this event is seen: the caller acts on it.
    New,
    /// Seen before: what was recorded then.
    Seen(TriggerRecord),
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("service {service} is locked by deployment {holder} (lease until {lease_until})")]
    LockHeld {
        service: String,
        holder: DeploymentId,
        lease_until: DateTime<Utc>,
    },
    #[error("deployment {id} changed underneath: expected revision {expected}, found another")]
    RevisionConflict { id: DeploymentId, expected: u64 },
    #[error("deployment {id} already exists")]
    AlreadyExists { id: DeploymentId },
    #[error("{what} is not readable: {message}")]
    Corrupt { what: String, message: String },
    #[error("DynamoDB {operation} was throttled after retries ({what}): {message}")]
    Throttled {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("DynamoDB {operation} failed ({what}): {message}")]
    Unavailable {
        operation: &'static str,
        what: String,
        message: String,
    },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Throttled { .. } | StoreError::Unavailable { .. }
        )
    }
}

/// Keeps every deployment's state and history, the per-service locks, service defaults and
/// incoming events' idempotency keys.
pub trait DeploymentStore: Send + Sync {
    /// A service's stored default spec (a JSON object), if registered.
    fn service_config(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<Value>, StoreError>> + Send;

    fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every registered service's defaults, as (service, config).
    fn service_configs(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, Value)>, StoreError>> + Send;

    /// Takes the service's lock for `lock.deployment`, unless another deployment holds an
    /// unexpired lease (`StoreError::LockHeld`). Taking a lock one already holds succeeds.
    fn acquire_lock(
        &self,
        lock: &ServiceLock,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Releases the lock if `deployment` holds it; otherwise does nothing.
    fn release_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn lock(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<ServiceLock>, StoreError>> + Send;

    /// Locks of deployments whose spec names `alarm` (expired leases included; the caller
    /// checks the records).
    fn locks_for_alarm(
        &self,
        alarm: &str,
    ) -> impl Future<Output = Result<Vec<ServiceLock>, StoreError>> + Send;

    /// Writes a new deployment and its first history event together
    /// (`StoreError::AlreadyExists` when the id is taken).
    fn create(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads a deployment, strongly consistent.
    fn get(
        &self,
        key: &DeploymentKey,
    ) -> impl Future<Output = Result<Option<Deployment>, StoreError>> + Send;

    /// Finds a deployment by id alone (for operators; may lag a write by a moment).
    fn find(
        &self,
        id: &DeploymentId,
    ) -> impl Future<Output = Result<Option<Deployment>, StoreError>> + Send;

    /// Writes `deployment` and appends `event`, both only if the stored revision is
    /// `deployment.revision - 1` (`StoreError::RevisionConflict` otherwise).
    fn save(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A deployment's history, oldest first.
    fn history(
        &self,
        id: &DeploymentId,
    ) -> impl Future<Output = Result<Vec<HistoryEvent>, StoreError>> + Send;

    /// A service's deployments, newest first.
    fn list(
        &self,
        service: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Deployment>, StoreError>> + Send;

    /// Records an incoming event's key the first time it is seen; later calls return what
    /// was recorded (`TriggerClaim::Seen`).
    fn claim_trigger(
        &self,
        key: &str,
        record: &TriggerRecord,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<TriggerClaim, StoreError>> + Send;

    /// Adds the started execution's ARN to a claimed trigger key.
    fn complete_trigger(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Notifications

/// A deployment's state change, published as structured JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub deployment_id: DeploymentId,
    pub service: String,
    pub version: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub green_share: f64,
    pub message: String,
    pub at: DateTime<Utc>,
}

impl Notification {
    pub fn of(deployment: &Deployment, message: impl Into<String>) -> Notification {
        Notification {
            deployment_id: deployment.id.clone(),
            service: deployment.service.clone(),
            version: deployment.spec.version.clone(),
            status: deployment.status,
            step: deployment.step,
            green_share: deployment.current_green_share(),
            message: message.into(),
            at: deployment.updated_at,
        }
    }
}

#[derive(Debug, Error)]
pub enum NotifyError {
    #[error("SNS publish to {topic} failed: {message}")]
    Unavailable { topic: String, message: String },
}

pub trait Notifier: Send + Sync {
    fn notify(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Orchestration

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRef {
    pub arn: String,
    /// True when an execution with that name already existed and was returned instead.
    pub already_existed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
}

impl ExecutionStatus {
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive
        )
    }
}

#[derive(Debug, Error)]
pub enum OrchestratorError {
    #[error("execution {name} already exists with different input")]
    NameTakenWithOtherInput { name: String },
    #[error("execution {arn} does not exist")]
    ExecutionNotFound { arn: String },
    #[error("task token is no longer valid ({message})")]
    TaskTokenInvalid { message: String },
    #[error("Step Functions {operation} rejected {what}: {message}")]
    Invalid {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("Step Functions {operation} was throttled after retries ({what}): {message}")]
    Throttled {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("Step Functions {operation} failed ({what}): {message}")]
    Unavailable {
        operation: &'static str,
        what: String,
        message: String,
    },
}

impl OrchestratorError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OrchestratorError::Throttled { .. } | OrchestratorError::Unavailable { .. }
        )
    }
}

/// Starts and stops deployment executions and answers their waiting tasks.
pub trait Orchestrator: Send + Sync {
    /// Starts an execution named `name`; if one with that name exists, returns it.
    fn start_execution(
        &self,
        name: &str,
        input: &Value,
    ) -> impl Future<Output = Result<ExecutionRef, OrchestratorError>> + Send;

    /// Stops a running execution; stopping one that has ended succeeds.
    fn stop_execution(
        &self,
        arn: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = Result<(), OrchestratorError>> + Send;

    fn execution_status(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<ExecutionStatus, OrchestratorError>> + Send;

    fn send_task_success(
        &self,
        token: &str,
        output: &Value,
    ) -> impl Future<Output = Result<(), OrchestratorError>> + Send;

    fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = Result<(), OrchestratorError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Time

/// The current time, and waiting. The core never reads the clock or sleeps by itself, so
/// tests can run hours of deployment in no time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}
