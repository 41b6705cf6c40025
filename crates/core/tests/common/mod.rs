//! What the workflow's integration tests share: every port in memory (from the testkit) with a
//! zone, blue carrying all traffic and an OK alarm, the sample request, and the steps run on it.

// Each test file uses a different part of this module.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unused_imports)]

pub use serde_json::{Value, json};
pub use sluice_core::analysis::DecisionAction;
pub use sluice_core::deployment::{Controller, EventKind, Status};
pub use sluice_core::metrics::MetricRef;
pub use sluice_core::plan::WeightPair;
pub use sluice_core::ports::{
    AlarmState, Clock, Deployments, RecordSet, RouterError, ServiceConfigs, StorageFailure,
    TriggerLedger, WeightedRecord,
};
pub use sluice_core::ports::{ExecutionStatus, Orchestrator};
pub use sluice_core::slots::SlotRoles;
pub use sluice_core::spec::DeploymentSpec;
pub use sluice_core::workflow::*;
pub use sluice_testkit::memory::*;

pub const ZONE: &str = "Z0123456789ABC";

/// Every port in memory, with a zone, blue carrying all traffic, and an OK alarm.
pub struct World {
    pub store: MemoryStore,
    pub router: MemoryRouter,
    pub metrics: MemoryMetrics,
    pub alarms: MemoryAlarms,
    pub notifier: MemoryNotifier,
    /// Starts the queued releases the end steps find.
    pub orchestrator: MemoryOrchestrator,
    pub clock: ManualClock,
}

pub fn metric(name: &str, version: &str) -> Value {
    json!({"namespace": "Sluice/Test", "metricName": name, "dimensions": {"Version": version}})
}

/// A metric as a request names it: each slot adds its `Version` dimension.
pub fn shared_metric(name: &str) -> Value {
    json!({"namespace": "Sluice/Test", "metricName": name})
}

pub fn metric_ref(name: &str, version: &str) -> MetricRef {
    serde_json::from_value(metric(name, version)).unwrap()
}

pub fn request() -> Value {
    json!({
        "service": "checkout-api",
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
                          "numerator": shared_metric("Errors"), "denominator": shared_metric("Requests")},
            }],
            "minSamples": 20,
            "periodSeconds": 10,
        },
        "alarms": ["checkout-api-5xx"],
    })
}

/// The request's records in the roles of its first deployment: stable blue, canary green.
pub fn records() -> RecordSet {
    let spec = DeploymentSpec::from_json(&request()).unwrap();
    RecordSet::with_roles(&spec, &spec.slot_roles().unwrap())
}

impl World {
    pub fn new() -> World {
        let world = World {
            store: MemoryStore::new(),
            router: MemoryRouter::new(),
            metrics: MemoryMetrics::new(),
            alarms: MemoryAlarms::new(),
            notifier: MemoryNotifier::new(),
            orchestrator: MemoryOrchestrator::new(),
            clock: ManualClock::new(),
        };
        world.router.add_zone(ZONE, "example.com.");
        world.router.add_records(&records(), WeightPair::ALL_STABLE);
        world.alarms.set("checkout-api-5xx", AlarmState::Ok);
        world
    }

    pub async fn validate_named(
        &self,
        request: Value,
        execution: &str,
    ) -> Result<Cursor, WorkflowError> {
        validate_deployment(
            &self.store,
            &self.router,
            &self.alarms,
            &self.notifier,
            &self.clock,
            ValidateRequest {
                request,
                execution_name: execution.into(),
                execution_arn: None,
            },
        )
        .await
    }

    pub async fn validate(&self, request: Value) -> Result<Cursor, WorkflowError> {
        self.validate_named(request, "exec-1").await
    }

    pub async fn shift(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        shift_traffic(
            &self.store,
            &self.router,
            &self.notifier,
            &self.clock,
            cursor,
        )
        .await
    }

    pub async fn sync(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        check_sync(
            &self.store,
            &self.router,
            &self.clock,
            SyncLimits {
                poll_seconds: 1,
                max_polls: 3,
            },
            cursor,
        )
        .await
    }

    pub async fn analyze(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        analyze_step(
            &self.store,
            &self.metrics,
            &self.alarms,
            &self.clock,
            cursor,
        )
        .await
    }

    /// One Rollback invocation, as the state machine runs it.
    pub async fn rollback_once(&self, request: RollbackRequest) -> Result<Cursor, WorkflowError> {
        roll_back(
            &self.store,
            &self.router,
            &self.notifier,
            &self.orchestrator,
            &self.clock,
            SyncLimits {
                poll_seconds: 1,
                max_polls: 3,
            },
            request,
        )
        .await
    }

    /// The state machine's rollback loop: Rollback, then (the clock moving) its wait, until it
    /// is complete; returns the last cursor and the waits.
    pub async fn rollback_waits(
        &self,
        request: RollbackRequest,
    ) -> Result<(Cursor, Vec<u32>), WorkflowError> {
        let mut request = request;
        let mut waits = Vec::new();
        for _ in 0..100 {
            let cursor = self.rollback_once(request).await?;
            match cursor.ramp_wait_seconds {
                None => return Ok((cursor, waits)),
                Some(seconds) => {
                    waits.push(seconds);
                    self.clock.advance(i64::from(seconds));
                    request = RollbackRequest {
                        cursor,
                        error: None,
                    };
                }
            }
        }
        panic!("the rollback did not end in 100 invocations: waits {waits:?}")
    }

    /// The whole rollback, as the state machine's loop runs it.
    pub async fn rollback(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        let request = RollbackRequest {
            cursor,
            error: None,
        };
        Ok(self.rollback_waits(request).await?.0)
    }

    pub async fn finalize(&self, cursor: Cursor) -> Result<Cursor, WorkflowError> {
        finalize(
            &self.store,
            &self.router,
            &self.alarms,
            &self.notifier,
            &self.orchestrator,
            &self.clock,
            cursor,
        )
        .await
    }

    /// Green traffic over the next `seconds`: `requests` a second with `errors` of them failing.
    pub fn green_traffic(&self, seconds: i64, requests: usize, errors: usize) {
        let start = self.clock.now();
        for s in 0..seconds {
            let at = start + chrono::Duration::seconds(s);
            self.metrics
                .put(&metric_ref("Requests", "green"), at, 1.0, requests);
            self.metrics
                .put(&metric_ref("Errors", "green"), at, 1.0, errors);
        }
    }

    /// Shift, sync, bake (with the given traffic) and analyze the cursor's step.
    pub async fn run_step(&self, cursor: Cursor, requests: usize, errors: usize) -> Cursor {
        let cursor = self.shift(cursor).await.unwrap();
        let cursor = self.sync(cursor).await.unwrap();
        assert!(cursor.in_sync);
        let due = cursor.analyze_at.unwrap();
        self.clock.advance(5); // the TTL: the step goes live
        self.green_traffic(60, requests, errors);
        self.clock.set(due);
        self.analyze(cursor).await.unwrap()
    }
}

pub fn error_names(result: Result<Cursor, WorkflowError>) -> (ErrorName, String) {
    let error = result.unwrap_err();
    (error.error_name(), error.to_string())
}

/// An emergency rollback as it lands in the store: takes the record, bumps the revision.
pub fn take_over(store: &MemoryStore) {
    let mut d = store.only_deployment();
    d.controller = Controller::Alarm {
        alarm: "checkout-api-5xx".into(),
    };
    d.status = Status::RollingBack;
    d.revision += 1;
    store.replace(d);
}

impl World {
    pub async fn alarm(
        &self,
        orchestrator: &MemoryOrchestrator,
        notification: &AlarmNotification,
    ) -> Vec<TakeoverOutcome> {
        let takeover = Takeover {
            store: &self.store,
            router: &self.router,
            orchestrator,
            notifier: &self.notifier,
            clock: &self.clock,
        };
        takeover.on_alarm(notification).await.unwrap()
    }

    /// A deployment started through the orchestrator, so it has an execution to stop.
    pub async fn started(&self, orchestrator: &MemoryOrchestrator) -> Cursor {
        let started = orchestrator
            .start_execution("exec-1", &request())
            .await
            .unwrap();
        validate_deployment(
            &self.store,
            &self.router,
            &self.alarms,
            &self.notifier,
            &self.clock,
            ValidateRequest {
                request: request(),
                execution_name: "exec-1".into(),
                execution_arn: Some(started.arn),
            },
        )
        .await
        .unwrap()
    }
}
