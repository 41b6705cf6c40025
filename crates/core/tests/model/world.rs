//! The world the model runs in: every port in memory sharing one [`Faults`] (interleaved: every
//! port call is a point where the model picks who goes next), one service with blue carrying
//! all traffic, its alarm OK, and the request its deployment is started with.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_core::metrics::MetricRef;
use sluice_core::plan::WeightPair;
use sluice_core::ports::{AlarmState, Clock, RecordSet};
use sluice_core::spec::DeploymentSpec;
use sluice_core::workflow::WorkflowError;
use sluice_testkit::memory::*;

pub const ZONE: &str = "Z0123456789ABC";
pub const SERVICE: &str = "checkout-api";
pub const ALARM: &str = "checkout-api-5xx";
/// The execution's name, which is the deployment's id.
pub const EXECUTION: &str = "exec-1";

/// What the deployment looks like: the spec's options the model varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// An operator approves before the last step's promotion.
    pub approval: bool,
    /// The rollback ramps down through 25 % and 5 % before 0.
    pub ramp_down: bool,
    /// The canary fails its analysis from this step on (never when `None`).
    pub failing_from: Option<usize>,
}

/// One unit of work of an actor: a workflow function's run, up to its answer.
pub type Call = Pin<Box<dyn Future<Output = Result<Value, WorkflowError>>>>;

/// Polls a call once: it runs until its next port call is about to act (or to its end).
pub fn poll_once(call: &mut Call) -> Poll<Result<Value, WorkflowError>> {
    let mut context = Context::from_waker(Waker::noop());
    call.as_mut().poll(&mut context)
}

#[derive(Clone)]
pub struct World {
    pub faults: Faults,
    pub store: MemoryStore,
    pub router: MemoryRouter,
    pub metrics: MemoryMetrics,
    pub alarms: MemoryAlarms,
    pub notifier: MemoryNotifier,
    pub orchestrator: MemoryOrchestrator,
    pub clock: ManualClock,
    pub shape: Shape,
}

impl World {
    pub fn new(shape: Shape) -> World {
        let faults = Faults::new();
        let world = World {
            store: MemoryStore::with_faults(&faults),
            router: MemoryRouter::with_faults(&faults),
            metrics: MemoryMetrics::with_faults(&faults),
            alarms: MemoryAlarms::with_faults(&faults),
            notifier: MemoryNotifier::with_faults(&faults),
            orchestrator: MemoryOrchestrator::with_faults(&faults),
            clock: ManualClock::new(),
            faults,
            shape,
        };
        world.router.add_zone(ZONE, "example.com.");
        world
            .router
            .add_records(&initial_records(), WeightPair::ALL_STABLE);
        world.alarms.set(ALARM, AlarmState::Ok);
        world.faults.interleave();
        world
    }

    /// The request the deployment is started with.
    pub fn request(&self) -> Value {
        request(self.shape)
    }

    /// Canary traffic from now until `until` (what the Bake wait lets accumulate): healthy,
    /// or failing one request in ten when the shape says the canary fails at `step`.
    pub fn traffic_until(&self, until: DateTime<Utc>, step: usize) {
        let failing = self.shape.failing_from.is_some_and(|from| step >= from);
        let errors = if failing { 3 } else { 0 };
        let mut at = self.clock.now();
        while at < until {
            for (slot, errors) in [("green", errors), ("blue", 0)] {
                self.metrics.put(&metric("Requests", slot), at, 1.0, 30);
                self.metrics.put(&metric("Errors", slot), at, 1.0, errors);
            }
            at += chrono::Duration::seconds(1);
        }
    }

    /// The weights Route 53 carries now, in the first deployment's roles (blue stable).
    pub fn weights(&self) -> Option<WeightPair> {
        self.router.current(&initial_records())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

fn metric(name: &str, version: &str) -> MetricRef {
    serde_json::from_value(json!({
        "namespace": "Sluice/Test", "metricName": name, "dimensions": {"Version": version}
    }))
    .unwrap()
}

/// The request a deployment of this shape is started with.
pub fn request(shape: Shape) -> Value {
    let mut request = json!({
        "service": SERVICE,
        "version": "v2.4.0",
        "hostedZoneId": ZONE,
        "recordName": "api.example.com.",
        "ttlSeconds": 5,
        "slots": {
            "blue": {"target": "blue.example.net", "dimensions": {"Version": "blue"}},
            "green": {"target": "green.example.net", "dimensions": {"Version": "green"}},
        },
        "strategy": {"kind": "canary", "steps": [10, 50, 100], "bakeSeconds": 60},
        "analysis": {
            "metrics": [{
                "name": "error-rate", "unit": "percent", "max": 1.0,
                "query": {"kind": "ratio", "scale": 100,
                          "numerator": {"namespace": "Sluice/Test", "metricName": "Errors"},
                          "denominator": {"namespace": "Sluice/Test", "metricName": "Requests"}},
            }],
            "minSamples": 20,
            "periodSeconds": 10,
        },
        "alarms": [ALARM],
    });
    if shape.approval {
        request["approval"] = json!("before-promote");
    }
    if shape.ramp_down {
        request["rollback"] = json!({"steps": [25, 5], "stepSeconds": 10});
    }
    request
}

/// The records before any deployment: blue stable, green canary.
pub fn initial_records() -> RecordSet {
    let shape = Shape {
        approval: false,
        ramp_down: false,
        failing_from: None,
    };
    let spec = DeploymentSpec::from_json(&request(shape)).unwrap();
    RecordSet::with_roles(&spec, &spec.slot_roles().unwrap())
}
