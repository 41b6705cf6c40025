//! The ports: what the core needs from the outside world, in domain types only, one file per
//! port. The AWS adapters in `sluice-aws` implement them; tests use in-memory fakes. An adapter
//! may implement several (one DynamoDB table keeps configs, locks, deployments and triggers).
//!
//! Every port has its own error type. Each error says what failed and with which input, and
//! whether trying again may help (`is_retryable`), which the handlers map to `Sluice.Retryable`.

mod alarms;
mod bundle;
mod clock;
mod deployments;
mod metrics;
mod notifier;
mod orchestrator;
mod service_configs;
mod service_locks;
mod service_state;
mod storage;
mod traffic;
mod trigger_ledger;

pub use alarms::{AlarmState, AlarmStates, AlarmStatus};
pub use bundle::Ports;
pub use clock::Clock;
pub use deployments::{DeploymentKey, Deployments, DeploymentsError};
pub use metrics::{MetricError, MetricSource};
pub use notifier::{Notification, Notifier, NotifyError};
pub use orchestrator::{
    ExecutionOutcome, ExecutionRef, ExecutionStatus, Orchestrator, OrchestratorError,
};
pub use service_configs::{ServiceConfigError, ServiceConfigs};
pub use service_locks::{LockError, ServiceLock, ServiceLocks};
pub use service_state::{QueueWrite, ServiceStateError, ServiceStates};
pub use storage::StorageFailure;
pub use traffic::{
    ChangeId, ChangeStatus, RecordSet, RouterError, SlotRecord, TrafficRouter, WeightedRecord,
    WeightedRecords,
};
pub use trigger_ledger::{TriggerClaim, TriggerLedger, TriggerLedgerError, TriggerRecord};
