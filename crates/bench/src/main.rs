//! Emergency-rollback latency against moto: from the alarm's SNS event reaching the real
//! `emergency-rollback` binary to Route 53 accepting the change to 100 % stable, cold (a fresh
//! process per event) and warm (one process, event after event), plus the binary's time from
//! process start to ready for its first event.
//!
//! `cargo run --release -p sluice-bench -- [--runs 50]` (needs `scripts/setup` for moto). It
//! builds the function in release mode, starts a private moto, and serves the binary the
//! Lambda runtime API itself: the "ready" instant is the binary's first request for an event,
//! which a general-purpose emulator does not expose.
//!
//! Cold and warm runs alternate, each on its own deployment in its own hosted zone, and the
//! table is emptied after each run, so every run meets moto in the same state (moto's answers
//! slow down as it holds more). Outliers of about 1 s or 3 s are TCP SYN retransmissions on
//! loopback: moto answers every request with `Connection: close`, so each SDK call opens a new
//! connection, and now and then a new one reuses a port still in TIME_WAIT. They are moto's,
//! not the function's: on AWS the SDK keeps its connections alive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use clap::Parser;
use serde_json::{Value, json};
use sluice_core::metrics::Statistic;
use sluice_core::spec::RecordType;
use sluice_core::workflow::{ValidateRequest, shift_traffic, validate_deployment};
use sluice_handler::{Config, HandlerPorts, Ports};
use sluice_testkit::moto::{Moto, MotoOptions, free_loopback_port, unique_name, workspace_root};
use sluice_testkit::provision::{AlarmDefinition, Provisioner, WeightedRecords};
use sluice_testkit::request::{Check, DeploymentRequest, ERRORS_METRIC, Place};
use tokio::sync::{Mutex, mpsc};

#[derive(Parser)]
struct Args {
    /// Events per measurement (cold and warm each).
    #[arg(long, default_value_t = 50)]
    runs: usize,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The Lambda runtime API, one event at a time.
struct RuntimeApi {
    events: Mutex<mpsc::Receiver<Value>>,
    responses: mpsc::Sender<Value>,
    /// When the binary asked for an event; its first ask after starting is "ready".
    polls: mpsc::UnboundedSender<Instant>,
}

async fn next_event(State(api): State<Arc<RuntimeApi>>) -> (StatusCode, HeaderMap, String) {
    let _ = api.polls.send(Instant::now());
    let event = api.events.lock().await.recv().await.unwrap_or(Value::Null);
    let mut headers = HeaderMap::new();
    let id = unique_name("request");
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id.as_str()),
        (
            "lambda-runtime-deadline-ms",
            &(chrono::Utc::now().timestamp_millis() + 60_000).to_string(),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:emergency-rollback",
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, event.to_string())
}

async fn respond(
    State(api): State<Arc<RuntimeApi>>,
    Path(_id): Path<String>,
    body: String,
) -> StatusCode {
    let answer = serde_json::from_str(&body).unwrap_or(json!({"unreadable": body}));
    let _ = api.responses.send(answer).await;
    StatusCode::ACCEPTED
}

async fn fail(State(api): State<Arc<RuntimeApi>>, body: String) -> StatusCode {
    let _ = api.responses.send(json!({"error": body})).await;
    StatusCode::ACCEPTED
}

/// A runtime API on its own loopback port, and the bench's side of it.
struct RuntimeApiServer {
    port: u16,
    events: mpsc::Sender<Value>,
    responses: mpsc::Receiver<Value>,
    polls: mpsc::UnboundedReceiver<Instant>,
}

impl RuntimeApiServer {
    async fn start() -> Result<Self, Failure> {
        let (event_tx, event_rx) = mpsc::channel(1);
        let (response_tx, response_rx) = mpsc::channel(1);
        let (poll_tx, polls) = mpsc::unbounded_channel();
        let api = Arc::new(RuntimeApi {
            events: Mutex::new(event_rx),
            responses: response_tx,
            polls: poll_tx,
        });
        let port = free_loopback_port()?;
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_event))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(fail))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            port,
            events: event_tx,
            responses: response_rx,
            polls,
        })
    }

    /// Hands `event` to the waiting process; its answer and the milliseconds until it came.
    async fn invoke(&mut self, event: Value, within: Duration) -> Result<(Value, f64), Failure> {
        let sent = Instant::now();
        self.events.send(event).await?;
        let answer = tokio::time::timeout(within, self.responses.recv())
            .await?
            .ok_or("runtime API closed")?;
        Ok((answer, sent.elapsed().as_secs_f64() * 1000.0))
    }
}

/// One deployment per event, each its own service, hosted zone, records and alarm, shifted to
/// its first step. A zone per deployment keeps the Route 53 change the same size on every run:
/// moto's cost of a change grows with the records already in the zone.
struct Fixture {
    ports: HandlerPorts,
    aws: Provisioner,
    /// Makes this run's zone names unique.
    run: String,
}

impl Fixture {
    async fn deployment(&self, n: usize) -> Result<String, Failure> {
        let service = format!("bench-{n}");
        let alarm = format!("{service}-5xx");
        let domain = format!("{service}.{}.example.", self.run);
        let records = self
            .aws
            .blue_green_records(&WeightedRecords {
                record_name: format!("api.{domain}"),
                domain,
                record_type: RecordType::default(),
                ttl_seconds: 1,
                blue_target: "blue.example.net".into(),
                green_target: "green.example.net".into(),
            })
            .await?;
        let place = Place {
            service,
            hosted_zone_id: records.hosted_zone_id.clone(),
            record_name: records.name.clone(),
            record_type: None,
            ttl_seconds: Some(records.ttl_seconds),
            blue_target: records.stable.target.clone(),
            green_target: records.canary.target.clone(),
            namespace: "Sluice/Bench".into(),
            service_dimension: true,
            alarms: vec![alarm.clone()],
        };
        let request = DeploymentRequest::bare("v2")
            .steps(&[10.0, 100.0])
            .bake_seconds(60)
            .check(Check::ErrorCount { max: 1.0 })
            .to_json(&place);
        self.aws
            .alarm(&AlarmDefinition {
                name: alarm.clone(),
                metric: place.metric(ERRORS_METRIC, "green"),
                statistic: Statistic::Sum,
                period_seconds: 60,
                threshold: 5.0,
                evaluation_periods: 1,
                actions: vec![],
            })
            .await?;
        let p = &self.ports;
        let input = ValidateRequest {
            request,
            execution_name: format!("bench-run-{n}"),
            execution_arn: None,
        };
        let cursor = validate_deployment(
            p.store(),
            p.router(),
            p.alarms(),
            p.notifier(),
            p.clock(),
            input,
        )
        .await?;
        shift_traffic(p.store(), p.router(), p.notifier(), p.clock(), cursor).await?;
        Ok(alarm)
    }

    /// Deletes every item of the table, so each run meets the same table: moto copies the
    /// whole table for every transaction (the fence is one), which grows with what it holds.
    async fn clear_table(&self, table: &str) -> Result<(), Failure> {
        let client = self.aws.dynamodb();
        let items = client.scan().table_name(table).send().await?;
        for item in items.items() {
            let key = [
                sluice_aws::dynamodb::keys::PK,
                sluice_aws::dynamodb::keys::SK,
            ]
            .into_iter()
            .filter_map(|k| Some((k.to_string(), item.get(k)?.clone())))
            .collect();
            client
                .delete_item()
                .table_name(table)
                .set_key(Some(key))
                .send()
                .await?;
        }
        Ok(())
    }
}

/// The SNS event of `alarm` going to ALARM now.
fn alarm_event(alarm: &str) -> Value {
    let message = json!({
        "AlarmName": alarm, "NewStateValue": "ALARM", "NewStateReason": "benchmark",
        "StateChangeTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
    });
    json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alarms:1",
        "Sns": {"Type": "Notification", "MessageId": unique_name("m"), "TopicArn": "arn:aws:sns:us-east-1:123456789012:alarms",
                "Subject": "ALARM", "Message": message.to_string(), "Timestamp": chrono::Utc::now().to_rfc3339(),
                "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://example.com", "UnsubscribeUrl": "https://example.com",
                "MessageAttributes": {}}}]})
}

/// The milliseconds from the alarm to the Route 53 change, as the function reported them.
fn to_traffic_ms(answer: &Value) -> Result<f64, Failure> {
    answer[0]["toTrafficMs"]
        .as_f64()
        .ok_or_else(|| format!("the function did not roll back: {answer}").into())
}

struct Binary {
    path: std::path::PathBuf,
    env: Vec<(String, String)>,
    /// Where each process's output goes, one file per process.
    logs: std::path::PathBuf,
}

impl Binary {
    /// Starts the binary against the runtime API on `port`.
    fn spawn(&self, name: &str, port: u16) -> Result<tokio::process::Child, Failure> {
        let log = std::fs::File::create(self.logs.join(format!("{name}.log")))?;
        Ok(tokio::process::Command::new(&self.path)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?)
    }
}

fn summary(name: &str, mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    let at =
        |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    format!(
        "| {name:<44} | {:>4} | {:>8.1} | {:>8.1} | {:>8.1} |",
        values.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args = Args::parse();
    let root = workspace_root()?;
    eprintln!("building emergency-rollback (release)…");
    let built =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--quiet", "-p", "emergency-rollback"])
            .current_dir(&root)
            .status()?;
    if !built.success() {
        return Err("cargo build --release -p emergency-rollback failed".into());
    }

    let moto = Moto::start(MotoOptions::new()).await?;
    let sdk = sluice_aws::config::load_for_endpoint(moto.endpoint_url()).await;
    let table = unique_name("bench");
    let config = Config {
        table: table.clone(),
        notifications_topic_arn: None,
        state_machine_arn: Some("arn:aws:states:us-east-1:123456789012:stateMachine:bench".into()),
        sync: Default::default(),
        history_ttl: None,
    };
    let ports = HandlerPorts::new(config.clone(), &sdk);
    let aws = Provisioner::new(&sdk);
    aws.table(&table).await?;
    let fixture = Fixture {
        ports,
        aws,
        run: unique_name("bench"),
    };

    let mut env: Vec<(String, String)> = moto
        .aws_env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.extend(
        [
            ("AWS_LAMBDA_FUNCTION_NAME", "emergency-rollback".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("SLUICE_TABLE", table.clone()),
            (
                "SLUICE_STATE_MACHINE_ARN",
                config.state_machine_arn.clone().unwrap_or_default(),
            ),
            (
                "RUST_LOG",
                std::env::var("SLUICE_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let logs = root.join("target/bench-logs");
    std::fs::create_dir_all(&logs)?;
    let binary = Binary {
        path: root.join("target/release/emergency-rollback"),
        env,
        logs,
    };
    let answer_within = Duration::from_secs(30);

    // Cold and warm runs alternate, so both meet moto in the same state (its answers slow down
    // as it holds more), each process kind with its own runtime API.
    let mut cold_api = RuntimeApiServer::start().await?;
    let mut warm_api = RuntimeApiServer::start().await?;
    let mut warm_process = binary.spawn("warm", warm_api.port)?;
    tokio::time::timeout(answer_within, warm_api.polls.recv()).await?;
    eprintln!(
        "{} cold and {} warm runs, alternating…",
        args.runs, args.runs
    );
    let (mut ready, mut cold, mut cold_total) = (Vec::new(), Vec::new(), Vec::new());
    let (mut warm, mut warm_total) = (Vec::new(), Vec::new());
    for n in 0..args.runs {
        let alarm = fixture.deployment(2 * n).await?;
        while cold_api.polls.try_recv().is_ok() {}
        let started = Instant::now();
        let mut process = binary.spawn(&format!("cold-{n}"), cold_api.port)?;
        let first_poll = tokio::time::timeout(answer_within, cold_api.polls.recv())
            .await?
            .ok_or("runtime API closed")?;
        ready.push((first_poll - started).as_secs_f64() * 1000.0);
        let (answer, total) = cold_api.invoke(alarm_event(&alarm), answer_within).await?;
        cold_total.push(total);
        cold.push(to_traffic_ms(&answer)?);
        process.kill().await?;
        fixture.clear_table(&table).await?;

        let alarm = fixture.deployment(2 * n + 1).await?;
        let (answer, total) = warm_api.invoke(alarm_event(&alarm), answer_within).await?;
        warm_total.push(total);
        warm.push(to_traffic_ms(&answer)?);
        fixture.clear_table(&table).await?;
    }
    warm_process.kill().await?;

    println!(
        "emergency-rollback against moto ({} runs each; milliseconds)\n",
        args.runs
    );
    println!(
        "| {:<44} | {:>4} | {:>8} | {:>8} | {:>8} |",
        "measure", "runs", "median", "p99", "max"
    );
    println!(
        "|{:-<46}|{:->6}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", ""
    );
    println!(
        "{}",
        summary("process start → ready for first event", ready)
    );
    println!(
        "{}",
        summary("cold: SNS event → Route 53 change accepted", cold)
    );
    println!(
        "{}",
        summary("warm: SNS event → Route 53 change accepted", warm)
    );
    println!(
        "{}",
        summary("cold: SNS event → handler done (recorded)", cold_total)
    );
    println!(
        "{}",
        summary("warm: SNS event → handler done (recorded)", warm_total)
    );
    Ok(())
}
