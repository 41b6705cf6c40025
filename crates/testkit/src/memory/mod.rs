//! In-memory implementations of every port, for tests of the workflow and the handlers. They
//! keep the semantics the real adapters promise (conditional writes on the revision, one lock
//! holder, raw series per period), so tests assert on outcomes, not on calls.
//!
//! [`MemoryPorts`] bundles them all (with a handler [`Config`](sluice_handler::Config)), and
//! [`sample_event`] / [`sample_world`] give the world the sample events in `events/` describe.

mod clock;
mod faults;
mod metrics;
mod notifier;
mod orchestrator;
mod ports;
mod router;
mod store;

pub use clock::ManualClock;
pub use faults::{Fault, Faults};
pub use metrics::{MemoryAlarms, MemoryMetrics};
pub use notifier::MemoryNotifier;
pub use orchestrator::{MemoryOrchestrator, TaskAnswer};
pub use ports::{MemoryPorts, sample_event, sample_world};
pub use router::MemoryRouter;
pub use store::MemoryStore;

/// A hook run inside a port call, to make something happen "at the same time".
pub type Hook = Box<dyn Fn() + Send + Sync>;
