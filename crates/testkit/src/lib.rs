//! What sluice's tests and local tools share, in one dev-only crate:
//!
//! - [`moto`]: a moto server (emulated AWS) started or connected, and unique names for
//!   everything a test creates on a shared one;
//! - [`provision`]: creating what sluice runs on (table, hosted zone with blue/green weighted
//!   records, topics, alarms, state machines) with the SDK directly, as the SAM template does
//!   in AWS; used by [`world`], the local runner and the bench;
//! - [`world`]: [`MotoWorld`], one uniquely named world on moto with the real ports;
//! - [`request`]: [`DeploymentRequest`], the one builder of the deployment-request JSON, for a
//!   [`Place`];
//! - [`drive`]: [`drive_to_end`], a deployment run through the workflow steps as the state
//!   machine's own Choice table routes it;
//! - [`eventually`]: waiting for a condition instead of sleeping a fixed time;
//! - [`memory`]: every port in memory ([`MemoryStore`](memory::MemoryStore), …, and the
//!   [`MemoryPorts`](memory::MemoryPorts) bundle), for tests that need no moto; built
//!   `with_faults` on one [`Faults`](memory::Faults), their calls can fail, lose their answer,
//!   land late (Route 53) and yield, for the model-based test in core;
//! - [`steps`]: a deployment driven through its first steps, for handler tests.
//!
//! No Lambda binary depends on this crate: function and handler crates take it as a
//! dev-dependency only; the local runner and the bench are dev tools.

pub mod drive;
mod eventually;
pub mod memory;
pub mod moto;
pub mod provision;
pub mod request;
pub mod steps;
pub mod world;

pub use drive::{Ended, Pace, RealTime, Route, Routes, Stage, drive_to_end};
pub use eventually::{TimedOut, eventually};
pub use moto::{Moto, MotoOptions, unique_name};
pub use request::{Baseline, Check, DeploymentRequest, Place};
pub use world::MotoWorld;
