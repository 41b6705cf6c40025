//! Every port a handler or a CLI command may reach, as one bundle built once: the AWS one in
//! `sluice-aws`, the in-memory one in tests. Code takes `&impl Ports` and hands each step only
//! the ports it needs.

use super::{
    AlarmStates, Clock, Deployments, MetricSource, Notifier, Orchestrator, ServiceConfigs,
    ServiceLocks, TrafficRouter, TriggerLedger,
};

pub trait Ports: Send + Sync {
    /// The storage ports, usually one adapter over one table.
    type Store: ServiceConfigs + ServiceLocks + Deployments + TriggerLedger;
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
