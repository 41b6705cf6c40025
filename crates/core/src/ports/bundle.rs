//! Every port a handler or a CLI command may reach, as one bundle built once: the AWS one in
//! `sluice-aws`, the in-memory one in tests. Code takes `&impl Ports` and hands each step only
//! the ports it needs.

use super::alarms::AlarmStates;
use super::clock::Clock;
use super::deployments::Deployments;
use super::metrics::MetricSource;
use super::notifier::Notifier;
use super::orchestrator::Orchestrator;
use super::service_configs::ServiceConfigs;
use super::service_locks::ServiceLocks;
use super::service_state::ServiceStates;
use super::traffic::TrafficRouter;
use super::trigger_ledger::TriggerLedger;

pub trait Ports: Send + Sync {
    /// The storage ports, usually one adapter over one table.
    type Store: ServiceConfigs + ServiceLocks + ServiceStates + Deployments + TriggerLedger;
    type Router: TrafficRouter;
    type Metrics: MetricSource;
    type Alarms: AlarmStates;
    type Notifier: Notifier;
    type Orchestrator: Orchestrator;
    type Clock: Clock;

    fn store(&self) -> &Self::Store;
    fn router(&self) -> &Self::Router;
    fn metrics(&self) -> &Self::Metrics;
    fn alarms(&self) -> &Self::Alarms;
    fn notifier(&self) -> &Self::Notifier;
    fn orchestrator(&self) -> &Self::Orchestrator;
    fn clock(&self) -> &Self::Clock;
}
