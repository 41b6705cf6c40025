//! sluice's domain core: the deployment spec, its step plan, analysis and judgement, the
//! deployment's state and transitions, and the ports to the outside world.
//!
//! No AWS types, no I/O and no clock reads live here: time is passed in and the outside world
//! is reached through the traits in [`ports`].

pub mod analysis;
pub mod deployment;
pub mod judge;
pub mod metrics;
pub mod plan;
pub mod ports;
pub mod release;
pub mod service_state;
pub mod slots;
pub mod spec;
pub mod telemetry;
pub mod timeline;
pub mod workflow;

pub use analysis::{AnalysisCounters, Decision, DecisionAction, MetricResult, Verdict};
pub use deployment::{Controller, Deployment, DeploymentId, EventKind, HistoryEvent, Status};
pub use plan::{Step, StepPlan, WeightPair};
pub use spec::{DeploymentSpec, FieldError, SpecErrors, ValidationContext};
