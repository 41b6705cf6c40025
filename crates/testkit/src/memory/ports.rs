//! Every port in memory as one [`Ports`] bundle, for handler tests, and the sample world.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_core::ports::{AlarmState, RecordSet};
use sluice_core::{DeploymentSpec, WeightPair};

use sluice_handler::{Config, Configured, Ports};

use super::{
    ManualClock, MemoryAlarms, MemoryMetrics, MemoryNotifier, MemoryOrchestrator, MemoryRouter,
    MemoryStore,
};

/// Every port in memory; fields are public so a test can arrange and inspect the world.
#[derive(Clone)]
pub struct MemoryPorts {
    pub config: Config,
    pub store: MemoryStore,
    pub router: MemoryRouter,
    pub metrics: MemoryMetrics,
    pub alarms: MemoryAlarms,
    pub notifier: MemoryNotifier,
    pub orchestrator: MemoryOrchestrator,
    pub clock: ManualClock,
}

impl Default for MemoryPorts {
    fn default() -> Self {
        MemoryPorts {
            config: Config {
                table: "memory".into(),
                notifications_topic_arn: None,
                state_machine_arn: Some(MemoryOrchestrator::MACHINE.into()),
                sync: Default::default(),
                history_ttl: None,
            },
            store: MemoryStore::new(),
            router: MemoryRouter::new(),
            metrics: MemoryMetrics::new(),
            alarms: MemoryAlarms::new(),
            notifier: MemoryNotifier::new(),
            orchestrator: MemoryOrchestrator::new(),
            clock: ManualClock::new(),
        }
    }
}

impl MemoryPorts {
    pub fn new() -> Self {
        Self::default()
    }

    /// A world where `spec` can start: its zone (named after the record's parent domain), both
    /// records with the first slot (by name) carrying all traffic, and its alarms existing and
    /// OK.
    pub fn ready_for(spec: &DeploymentSpec) -> Self {
        let ports = MemoryPorts::new();
        let roles = spec.slot_roles().expect("a spec with two slots");
        let records = RecordSet::with_roles(spec, &roles);
        let domain = records
            .name
            .split_once('.')
            .map(|(_, rest)| rest)
            .unwrap_or(&records.name);
        ports.router.add_zone(&records.hosted_zone_id, domain);
        ports.router.add_records(&records, WeightPair::ALL_STABLE);
        for alarm in &spec.alarms {
            ports.alarms.set(alarm, AlarmState::Ok);
        }
        ports
    }
}

impl Ports for MemoryPorts {
    type Store = MemoryStore;
    type Router = MemoryRouter;
    type Metrics = MemoryMetrics;
    type Alarms = MemoryAlarms;
    type Notifier = MemoryNotifier;
    type Orchestrator = MemoryOrchestrator;
    type Clock = ManualClock;

    fn store(&self) -> &MemoryStore {
        &self.store
    }
    fn router(&self) -> &MemoryRouter {
        &self.router
    }
    fn metrics(&self) -> &MemoryMetrics {
        &self.metrics
    }
    fn alarms(&self) -> &MemoryAlarms {
        &self.alarms
    }
    fn notifier(&self) -> &MemoryNotifier {
        &self.notifier
    }
    fn orchestrator(&self) -> &MemoryOrchestrator {
        &self.orchestrator
    }
    fn clock(&self) -> &ManualClock {
        &self.clock
    }
}

impl Configured for MemoryPorts {
    fn config(&self) -> &Config {
        &self.config
    }
}

/// The JSON of `events/<name>.json`, the sample events every handler is tested with.
pub fn sample_event(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The world the sample events describe: ready for `events/manual-start.json`, with the
/// deployment of `events/validate.json` started (at the sample cursors' start time).
pub async fn sample_world() -> (MemoryPorts, sluice_core::workflow::Cursor) {
    use sluice_core::workflow::{ValidateRequest, validate_deployment};
    let request: ValidateRequest = serde_json::from_value(sample_event("validate")).unwrap();
    let spec = DeploymentSpec::from_json(&request.request).unwrap();
    let ports = MemoryPorts::ready_for(&spec);
    let cursor = validate_deployment(
        &ports.store,
        &ports.router,
        &ports.alarms,
        &ports.notifier,
        &ports.clock,
        request,
    )
    .await
    .unwrap();
    (ports, cursor)
}
