//! Emergency-rollback latency against moto: from the alarm's SNS event reaching the real
//! `emergency-rollback` binary to Route 53 accepting the change to 100 % blue, cold (a fresh
//! process per event) and warm (one process, event after event), plus the binary's time from
//! process start to ready for its first event.
//!
//! `cargo run --release -p sluice-bench -- [--runs 50]` (needs `scripts/setup` for moto). It
//! builds the function in release mode, starts a private moto, and serves the binary the
//! Lambda runtime API itself: the "ready" instant is the binary's first request for an event,
//! which a general-purpose emulator does not expose.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use clap::Parser;
use serde_json::{Value, json};
use sluice_aws::provision::{self, AlarmDefinition};
use sluice_core::metrics::Statistic;
use sluice_core::ports::RecordSet;
use sluice_core::workflow::{ValidateRequest, shift_traffic, validate_deployment};
use sluice_core::{DeploymentSpec, WeightPair};
use sluice_emulator::{Moto, MotoOptions, free_loopback_port, unique_name, workspace_root};
use sluice_handler::{AwsPorts, Config, Ports};
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

/// One deployment per event, each its own service, record and alarm, shifted to its first step.
struct Fixture {
    ports: AwsPorts,
    zone: String,
    domain: String,
}

impl Fixture {
    async fn deployment(&self, n: usize) -> Result<String, Failure> {
        let service = format!("bench-{n}");
        let alarm = format!("{service}-5xx");
        let metric = json!({"namespace": "Sluice/Bench", "metricName": "Errors", "dimensions": {"Service": service}});
        let request = json!({
            "service": service, "version": "v2", "hostedZoneId": self.zone,
            "recordName": format!("svc{n}.{}", self.domain), "ttlSeconds": 1,
            "blue": {"target": "blue.example.net"}, "green": {"target": "green.example.net"},
            "strategy": {"kind": "canary", "steps": [10, 100], "bakeSeconds": 60},
            "analysis": {"metrics": [{"name": "errors", "max": 1, "query": {"kind": "statistic", "stat": "Sum", "metric": metric}}]},
            "alarms": [alarm],
        });
        let spec = DeploymentSpec::from_json(&request)?;
        let p = &self.ports;
        provision::create_weighted_records(
            p.router(),
            &RecordSet::from_spec(&spec),
            WeightPair::ALL_BLUE,
        )
        .await?;
        provision::put_alarm(
            p.metrics().client(),
            &AlarmDefinition {
                name: alarm.clone(),
                metric: serde_json::from_value(metric)?,
                statistic: Statistic::Sum,
                period_seconds: 60,
                threshold: 5.0,
                evaluation_periods: 1,
                actions: vec![],
            },
        )
        .await?;
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
        shift_traffic(p.store(), p.router(), p.clock(), cursor).await?;
        Ok(alarm)
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
    fn spawn(&self, name: &str) -> Result<tokio::process::Child, Failure> {
        let log = std::fs::File::create(self.logs.join(format!("{name}.log")))?;
        Ok(tokio::process::Command::new(&self.path)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
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
    let ports = AwsPorts::new(config.clone(), &sdk);
    provision::create_table(ports.store().0.client(), &table).await?;
    let domain = format!("{}.example.", unique_name("bench"));
    let zone = provision::create_hosted_zone(ports.router().client(), &domain).await?;
    let fixture = Fixture {
        ports,
        zone,
        domain,
    };

    let (event_tx, event_rx) = mpsc::channel(1);
    let (response_tx, mut response_rx) = mpsc::channel(1);
    let (poll_tx, mut polls) = mpsc::unbounded_channel();
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
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut env: Vec<(String, String)> = moto
        .aws_env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.extend(
        [
            ("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}")),
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

    eprintln!("{} cold runs…", args.runs);
    let (mut ready, mut cold, mut cold_total) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..args.runs {
        let alarm = fixture.deployment(n).await?;
        while polls.try_recv().is_ok() {}
        let started = Instant::now();
        let mut child = binary.spawn(&format!("cold-{n}"))?;
        let first_poll = tokio::time::timeout(answer_within, polls.recv())
            .await?
            .ok_or("runtime API closed")?;
        ready.push((first_poll - started).as_secs_f64() * 1000.0);
        let sent = Instant::now();
        event_tx.send(alarm_event(&alarm)).await?;
        let answer = tokio::time::timeout(answer_within, response_rx.recv())
            .await?
            .ok_or("runtime API closed")?;
        cold_total.push(sent.elapsed().as_secs_f64() * 1000.0);
        cold.push(to_traffic_ms(&answer)?);
        child.kill().await?;
    }

    eprintln!("{} warm runs…", args.runs);
    let (mut warm, mut warm_total) = (Vec::new(), Vec::new());
    let mut child = binary.spawn("warm")?;
    tokio::time::timeout(answer_within, polls.recv()).await?;
    for n in args.runs..2 * args.runs {
        let alarm = fixture.deployment(n).await?;
        let sent = Instant::now();
        event_tx.send(alarm_event(&alarm)).await?;
        let answer = tokio::time::timeout(answer_within, response_rx.recv())
            .await?
            .ok_or("runtime API closed")?;
        warm_total.push(sent.elapsed().as_secs_f64() * 1000.0);
        warm.push(to_traffic_ms(&answer)?);
    }
    child.kill().await?;

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
