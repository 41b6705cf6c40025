//! What the CLI's integration tests share: deployments driven with the core workflow (the
//! functions the state machine's Lambdas call) on the in-memory ports or on moto, and the
//! CLI's ports over the same worlds.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_cli::backend::{AwsPorts, Settings};
use sluice_core::Deployment;
use sluice_core::metrics::MetricRef;
use sluice_core::ports::{Clock, Deployments};
use sluice_core::workflow::{
    ApprovalRequest, Cursor, SyncLimits, ValidateRequest, analyze_step, await_approval, check_sync,
    shift_traffic, validate_deployment,
};
use sluice_handler::{Configured, Ports as _};
use sluice_testkit::drive::{Pace, Routes, Stage, drive_to_end};
use sluice_testkit::memory::MemoryPorts;
use sluice_testkit::memory::{MemoryMetrics, MemoryOrchestrator};
use sluice_testkit::request::{Check, DeploymentRequest, Place};
use sluice_testkit::{MotoWorld, eventually, unique_name};

/// The CLI's ports over an in-memory world: the same bundle, sharing its state.
pub fn memory_backend(ports: &MemoryPorts) -> MemoryPorts {
    ports.clone()
}

/// The CLI's real ports, pointed at the world's moto and table.
pub async fn moto_backend(world: &MotoWorld, state_machine_arn: Option<String>) -> AwsPorts {
    let sdk = sluice_aws::config::load_for_endpoint(world.moto.endpoint_url()).await;
    AwsPorts::new(
        &sdk,
        &Settings {
            table: world.ports.config().table.clone(),
            state_machine_arn,
            notifications_topic_arn: Some(world.topic_arn.clone()),
            history_ttl: None,
        },
    )
}

fn metric_ref(name: &str, slot: &str) -> MetricRef {
    Place::example().metric(name, slot)
}

/// A request for the in-memory world: four canary steps, an error rate against blue's and a
/// latency, both with thresholds.
pub fn memory_request() -> Value {
    DeploymentRequest::bare("v2.4.0")
        .steps(&[5.0, 25.0, 50.0, 100.0])
        .bake_seconds(120)
        .check(Check::error_rate("percent", 1.0))
        .check(Check::Latency { max_ms: 400.0 })
        .min_samples(50)
        .period_seconds(60)
        .to_json(Place::example())
}

/// Green's (and blue's) behaviour during one step.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub error_percent: f64,
    pub latency_ms: f64,
}

pub const HEALTHY: Behaviour = Behaviour {
    error_percent: 0.2,
    latency_ms: 180.0,
};

/// Writes a minute of traffic per sample time from `from` to `to` for both colours.
fn traffic(
    metrics: &MemoryMetrics,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    green: Behaviour,
    step: usize,
) {
    let mut at = from;
    let mut i = 0;
    while at < to {
        // A little wobble, so the chart looks like traffic and not like a ruler.
        let wobble = [1.0, 1.15, 0.9, 1.05, 0.95][(i + step) % 5];
        let requests = 1200;
        let errors = (f64::from(requests) * green.error_percent / 100.0 * wobble).round() as usize;
        metrics.put(&metric_ref("Requests", "green"), at, 1.0, requests as usize);
        metrics.put(&metric_ref("Errors", "green"), at, 1.0, errors);
        metrics.put(
            &metric_ref("Latency", "green"),
            at,
            green.latency_ms * wobble,
            20,
        );
        metrics.put(&metric_ref("Requests", "blue"), at, 1.0, 2000);
        let blue_errors = (2000.0 * 0.15 / 100.0 * wobble).round() as usize;
        metrics.put(&metric_ref("Errors", "blue"), at, 1.0, blue_errors);
        at += chrono::Duration::seconds(10);
        i += 1;
    }
}

/// Time in the in-memory world: the clock moves as a real execution's would, and each bake
/// writes traffic that behaves as `behaviour[step]` says (healthy past its end).
struct MemoryPace<'a> {
    behaviour: &'a [Behaviour],
}

impl Pace<MemoryPorts> for MemoryPace<'_> {
    async fn at(&mut self, p: &MemoryPorts, stage: Stage, cursor: &Cursor) {
        match stage {
            Stage::Shift => p.clock.advance(2),
            Stage::Sync => p.clock.advance(3),
            Stage::RampDown => p
                .clock
                .advance(i64::from(cursor.ramp_wait_seconds.unwrap_or(0))),
            Stage::Bake => {
                let due = cursor.analyze_at.unwrap();
                let from = p.clock.now();
                p.clock.set(due);
                let green = self.behaviour.get(cursor.step).copied().unwrap_or(HEALTHY);
                traffic(&p.metrics, from, due, green, cursor.step);
            }
            Stage::Decide => p.clock.advance(1),
        }
    }

    async fn approve(&mut self, _ports: &MemoryPorts, cursor: Cursor) -> Cursor {
        panic!("the memory request asks for no approval: {cursor:?}")
    }
}

/// Runs a deployment of [`memory_request`] through the core workflow on the in-memory ports,
/// routed as the state machine's definition routes it: each step is shifted, synced, baked
/// (the clock moves) and judged on traffic that behaves as `behaviour[step]` says (healthy past
/// its end); it ends promoted or rolled back as the analyses decide. Returns the ports and the
/// deployment as it ended.
pub async fn memory_deployment(behaviour: &[Behaviour]) -> (MemoryPorts, Deployment) {
    let request = memory_request();
    let spec = sluice_core::DeploymentSpec::from_json(&request).unwrap();
    let ports = MemoryPorts::ready_for(&spec);
    let p = &ports;
    let cursor = validate_deployment(
        &p.store,
        &p.router,
        &p.alarms,
        &p.notifier,
        &p.clock,
        ValidateRequest {
            request,
            execution_name: "checkout-api-v2-4-0-1a2b3c4d".into(),
            execution_arn: Some(MemoryOrchestrator::arn_of("checkout-api-v2-4-0-1a2b3c4d")),
        },
    )
    .await
    .unwrap();
    p.orchestrator
        .start_execution_for_test("checkout-api-v2-4-0-1a2b3c4d")
        .await;
    let routes = Routes::deployment().unwrap();
    drive_to_end(p, &routes, cursor, &mut MemoryPace { behaviour })
        .await
        .unwrap();
    let deployment = p.store.only_deployment();
    (ports, deployment)
}

/// Small helpers on the in-memory orchestrator.
pub trait OrchestratorExt {
    fn start_execution_for_test(&self, name: &str) -> impl Future<Output = ()>;
}

impl OrchestratorExt for MemoryOrchestrator {
    async fn start_execution_for_test(&self, name: &str) {
        use sluice_core::ports::Orchestrator;
        self.start_execution(name, &json!({})).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// moto

/// Validates the world's request as execution `name` (with `changes` applied to the request)
/// and shifts to the first step: the deployment is live at 10 % green.
pub async fn moto_started(
    world: &MotoWorld,
    name: &str,
    execution_arn: Option<String>,
    changes: &[(&str, Value)],
) -> Cursor {
    let p = &world.ports;
    let mut request = world.request.clone();
    for (field, value) in changes {
        request[*field] = value.clone();
    }
    let cursor = validate_deployment(
        p.store(),
        p.router(),
        p.alarms(),
        p.notifier(),
        p.clock(),
        ValidateRequest {
            request,
            execution_name: name.into(),
            execution_arn,
        },
    )
    .await
    .unwrap();
    shift_traffic(p.store(), p.router(), p.notifier(), p.clock(), cursor)
        .await
        .unwrap()
}

/// Syncs the current step and waits (real time) until its analysis is due.
pub async fn moto_baked(world: &MotoWorld, cursor: Cursor) -> Cursor {
    let p = &world.ports;
    let mut cursor = cursor;
    for _ in 0..5 {
        cursor = check_sync(
            p.store(),
            p.router(),
            p.clock(),
            SyncLimits {
                poll_seconds: 1,
                max_polls: 5,
            },
            cursor,
        )
        .await
        .unwrap();
        if cursor.in_sync {
            break;
        }
    }
    let due = cursor.analyze_at.unwrap();
    let wait = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    cursor
}

pub async fn moto_analyze(world: &MotoWorld, cursor: Cursor) -> Cursor {
    let p = &world.ports;
    analyze_step(p.store(), p.metrics(), p.alarms(), p.clock(), cursor)
        .await
        .unwrap()
}

/// What AwaitApproval does when the state machine reaches the gate: stores the task token.
pub async fn moto_await_approval(world: &MotoWorld, cursor: Cursor, token: &str) {
    let p = &world.ports;
    await_approval(
        p.store(),
        p.notifier(),
        p.clock(),
        ApprovalRequest {
            cursor,
            task_token: token.into(),
        },
    )
    .await
    .unwrap();
}

/// The only deployment of the world's service.
pub async fn moto_deployment(world: &MotoWorld) -> Deployment {
    let found = world.ports.store().list(&world.service, 10).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

/// A Step Functions state machine on moto that needs no Lambda: it publishes its task token
/// to the world's topic and waits for it (like AwaitApproval), so an approval or a rejection
/// has a real execution and a real token to answer. Returns its ARN.
pub async fn gate_machine(world: &MotoWorld) -> String {
    let definition = json!({
        "StartAt": "Gate",
        "States": {
            "Gate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                "Parameters": {
                    "TopicArn": world.topic_arn,
                    "Message": {"taskToken.$": "$$.Task.Token"}
                },
                "End": true
            }
        }
    });
    world
        .provisioner
        .state_machine(
            &unique_name("gate"),
            &definition.to_string(),
            "arn:aws:iam::123456789012:role/sluice-test",
        )
        .await
        .unwrap()
}

/// Starts `name` on the gate machine and returns its ARN and the token it waits on (read from
/// the execution's history, where the task's parameters carry it).
pub async fn gate_execution(world: &MotoWorld, machine: &str, name: &str) -> (String, String) {
    let sfn = world.provisioner.sfn();
    let started = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input("{}")
        .send()
        .await
        .unwrap();
    let arn = started.execution_arn().to_string();
    let token = eventually(Duration::from_secs(5), || async {
        let history = sfn
            .get_execution_history()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        let scheduled: Vec<&str> = history
            .events()
            .iter()
            .filter_map(|e| e.task_scheduled_event_details())
            .map(|d| d.parameters())
            .collect();
        scheduled
            .iter()
            .find_map(|parameters| task_token(parameters))
            .ok_or(format!("tasks scheduled: {scheduled:?}"))
    })
    .await
    .unwrap_or_else(|e| panic!("execution {arn} never scheduled its task with a token: {e}"));
    (arn, token)
}

/// The task token in a scheduled task's parameters (its message is an object or a JSON text).
fn task_token(parameters: &str) -> Option<String> {
    let parameters: Value = serde_json::from_str(parameters).ok()?;
    let message = &parameters["Message"];
    message
        .get("taskToken")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            message
                .as_str()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .and_then(|m| m["taskToken"].as_str().map(str::to_string))
        })
}

/// An execution on moto that just waits an hour: something running to stop.
pub async fn waiting_execution(world: &MotoWorld, name: &str) -> (String, String) {
    let sfn = world.provisioner.sfn();
    let definition = json!({
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": true}}
    });
    let machine = world
        .provisioner
        .state_machine(
            &unique_name("hold"),
            &definition.to_string(),
            "arn:aws:iam::123456789012:role/sluice-test",
        )
        .await
        .unwrap();
    let started = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name(name)
        .input("{}")
        .send()
        .await
        .unwrap();
    (machine, started.execution_arn().to_string())
}

/// An execution's status on moto, e.g. `RUNNING`, `ABORTED`, `SUCCEEDED`, and its output.
pub async fn execution(world: &MotoWorld, arn: &str) -> (String, Option<Value>) {
    let sfn = world.provisioner.sfn();
    let described = sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .unwrap();
    (
        described.status().as_str().to_string(),
        described
            .output()
            .and_then(|o| serde_json::from_str(o).ok()),
    )
}

/// Waits until the execution has left RUNNING (moto answers a task asynchronously).
pub async fn execution_ended(world: &MotoWorld, arn: &str) -> (String, Option<Value>) {
    let ended = eventually(Duration::from_secs(10), || async {
        let found = execution(world, arn).await;
        if found.0 == "RUNNING" {
            Err(found)
        } else {
            Ok(found)
        }
    })
    .await;
    ended.unwrap_or_else(|e| e.last)
}

/// Runs the CLI's command line on `ports` and returns its exit code and stdout.
pub async fn sluice(ports: &impl sluice_cli::backend::Ports, args: &[&str]) -> (u8, String) {
    let output = SharedOutput::default();
    let code = sluice_into(ports, args, &mut output.clone()).await;
    (code, output.text())
}

/// Runs the CLI's command line on `ports` with stdout into `out` (which another task may read
/// while the command runs); returns its exit code.
pub async fn sluice_into(
    ports: &impl sluice_cli::backend::Ports,
    args: &[&str],
    out: &mut SharedOutput,
) -> u8 {
    use clap::Parser;
    use std::io::Write;
    let cli = sluice_cli::args::Cli::try_parse_from(
        std::iter::once("sluice").chain(args.iter().copied()),
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match sluice_cli::dispatch(ports, &cli, out).await {
        Ok(code) => code,
        Err(error) => {
            writeln!(out, "error: {error}").unwrap();
            error.exit_code()
        }
    }
}

/// A command's stdout, readable while it is written.
#[derive(Debug, Clone, Default)]
pub struct SharedOutput(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedOutput {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for SharedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
