//! Fault injection for the chaos suite (DESIGN.md §7): with chaos on, every function's AWS
//! calls go through the router's proxy (`AWS_ENDPOINT_URL` names the function in a path
//! prefix, [`function_endpoint`]), which answers some of them as the service would under
//! stress (throttling and 5xx in each service's own error shape), delays some, and can kill a
//! function between two of its writes: the write lands, the process dies (SIGKILL; the
//! runner starts a new one) and the invocation answers as a Lambda crash
//! ([`CRASH_ERROR`]). Every fault is counted by kind. One seed makes a plan's choices
//! repeatable (the interleaving of calls still varies from run to run).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

use crate::sync::locked;

/// The path prefix a function's AWS calls carry: `/sluice-local/from/<function>/...`.
pub const FROM_PREFIX: &str = "/sluice-local/from/";
/// The error type an invocation of a killed function answers with: what Step Functions
/// reports when a Lambda dies without answering (timeout, out of memory).
pub const CRASH_ERROR: &str = "Lambda.Unknown";

/// The `AWS_ENDPOINT_URL` of `function` when its calls go through the router at
/// `router_endpoint`.
pub fn function_endpoint(router_endpoint: &str, function: &str) -> String {
    format!("{router_endpoint}{FROM_PREFIX}{function}")
}

/// The AWS services faults are injected into (and the others, which pass untouched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AwsService {
    Route53,
    DynamoDb,
    StepFunctions,
    CloudWatch,
    Sns,
    Other,
}

impl AwsService {
    /// The services the chaos suite faults.
    pub const FAULTED: [AwsService; 4] = [
        AwsService::Route53,
        AwsService::DynamoDb,
        AwsService::StepFunctions,
        AwsService::CloudWatch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AwsService::Route53 => "route53",
            AwsService::DynamoDb => "dynamodb",
            AwsService::StepFunctions => "states",
            AwsService::CloudWatch => "cloudwatch",
            AwsService::Sns => "sns",
            AwsService::Other => "other",
        }
    }

    /// The service a SigV4-signed request is for, from its credential scope
    /// (`Credential=AKID/date/region/<service>/aws4_request`).
    pub fn of_request(headers: &HeaderMap) -> AwsService {
        let scope = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|auth| auth.split("Credential=").nth(1))
            .and_then(|credential| credential.split('/').nth(3));
        match scope {
            Some("route53") => AwsService::Route53,
            Some("dynamodb") => AwsService::DynamoDb,
            Some("states") => AwsService::StepFunctions,
            Some("monitoring") => AwsService::CloudWatch,
            Some("sns") => AwsService::Sns,
            _ => AwsService::Other,
        }
    }
}

/// Whether a request changes state sluice relies on (a write the kill plan counts): a
/// Route 53 change batch, a DynamoDB write, a Step Functions start, stop or task answer.
pub fn is_write(service: AwsService, method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split('.').nth(1))
        .unwrap_or_default();
    match service {
        AwsService::Route53 => {
            *method == Method::POST && path.trim_end_matches('/').ends_with("/rrset")
        }
        AwsService::DynamoDb => matches!(
            target,
            "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
        ),
        AwsService::StepFunctions => matches!(
            target,
            "StartExecution" | "StopExecution" | "SendTaskSuccess" | "SendTaskFailure"
        ),
        _ => false,
    }
}

/// What the proxy does with one call, chosen by the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultDecision {
    /// Forward it (after `delay`).
    Forward { delay: Duration },
    /// Answer it with this error instead of forwarding it.
    Answer(InjectedError),
}

/// An error answer in the service's own shape.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedError {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

/// How often each fault happens. Rates are per call of a faulted service, 0.0 ..= 1.0.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    pub seed: u64,
    /// Throttling in the service's shape (Route 53 `Throttling` or
    /// `PriorRequestNotComplete`, DynamoDB `ThrottlingException` or
    /// `ProvisionedThroughputExceededException`, Step Functions `ThrottlingException`,
    /// CloudWatch `Throttling`).
    pub throttle_rate: f64,
    /// A 5xx in the service's shape.
    pub server_error_rate: f64,
    /// An added delay of up to `max_latency`.
    pub latency_rate: f64,
    pub max_latency: Duration,
    pub services: Vec<AwsService>,
}

impl FaultPlan {
    /// No faults at all (crashes can still be armed).
    pub fn quiet(seed: u64) -> FaultPlan {
        FaultPlan {
            seed,
            throttle_rate: 0.0,
            server_error_rate: 0.0,
            latency_rate: 0.0,
            max_latency: Duration::ZERO,
            services: AwsService::FAULTED.to_vec(),
        }
    }
}

/// Kill `function` at its `after_writes`-th write from now (the write lands first); 0 kills
/// it at its first write, before that write is sent. With `only_for`, only writes made by an
/// invocation whose payload contains that text count (one deployment's, say, while others run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillPlan {
    pub function: String,
    pub after_writes: u32,
    pub only_for: Option<String>,
}

/// The fault kinds the table counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Throttle(AwsService),
    ServerError(AwsService),
    Latency,
    /// A function killed between its writes.
    Crash(String),
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultKind::Throttle(service) => write!(f, "throttle {}", service.name()),
            FaultKind::ServerError(service) => write!(f, "5xx {}", service.name()),
            FaultKind::Latency => write!(f, "latency"),
            FaultKind::Crash(function) => write!(f, "crash {function}"),
        }
    }
}

type Killer = Box<dyn Fn(&str) + Send + Sync>;

/// The chaos controller shared by the router's proxy and invoker and the test driving it.
pub struct Chaos {
    plan: Mutex<Option<FaultPlan>>,
    rng: Mutex<ChaCha8Rng>,
    counts: Mutex<BTreeMap<FaultKind, u64>>,
    kills: Mutex<Vec<ArmedKill>>,
    /// Invocations sent to each function and not answered yet, oldest first (one process
    /// per function runs them in order, so the oldest is the one running).
    in_flight: Mutex<BTreeMap<String, VecDeque<InFlight>>>,
    next_ticket: Mutex<u64>,
    killer: Mutex<Option<Arc<Killer>>>,
}

/// One invocation sent to a function's process and not answered yet.
#[derive(Debug)]
struct InFlight {
    ticket: u64,
    payload: String,
    crashed: oneshot::Sender<()>,
}

#[derive(Debug)]
struct ArmedKill {
    plan: KillPlan,
    writes_seen: u32,
}

/// What the proxy does after forwarding a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterWrite {
    Nothing,
    /// Kill the function before its answer gets back to it.
    Kill,
}

impl std::fmt::Debug for Chaos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chaos")
            .field("plan", &*locked(&self.plan))
            .field("counts", &*locked(&self.counts))
            .finish_non_exhaustive()
    }
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            plan: Mutex::new(None),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(0)),
            counts: Mutex::new(BTreeMap::new()),
            kills: Mutex::new(Vec::new()),
            in_flight: Mutex::new(BTreeMap::new()),
            next_ticket: Mutex::new(0),
            killer: Mutex::new(None),
        }
    }
}

impl Chaos {
    pub fn new() -> Arc<Chaos> {
        Arc::new(Chaos::default())
    }

    /// Turns faults on with `plan` (reseeding), or off with `None`.
    pub fn set_plan(&self, plan: Option<FaultPlan>) {
        if let Some(plan) = &plan {
            *locked(&self.rng) = ChaCha8Rng::seed_from_u64(plan.seed);
        }
        *locked(&self.plan) = plan;
    }

    /// Arms a kill (see [`KillPlan`]); it fires once.
    pub fn arm_kill(&self, plan: KillPlan) {
        locked(&self.kills).push(ArmedKill {
            plan,
            writes_seen: 0,
        });
    }

    /// Disarms every kill that has not fired; returns them.
    pub fn disarm_kills(&self) -> Vec<KillPlan> {
        locked(&self.kills).drain(..).map(|k| k.plan).collect()
    }

    /// Disarms the kills armed `only_for` this text that have not fired; returns them.
    pub fn disarm_kills_for(&self, only_for: &str) -> Vec<KillPlan> {
        let mut kills = locked(&self.kills);
        let (gone, kept): (Vec<ArmedKill>, Vec<ArmedKill>) = kills
            .drain(..)
            .partition(|k| k.plan.only_for.as_deref() == Some(only_for));
        *kills = kept;
        gone.into_iter().map(|k| k.plan).collect()
    }

    /// Whether `plan` counts a write of `function` now: its function, and the invocation
    /// running (the oldest in flight) is the one it waits for.
    fn applies(&self, plan: &KillPlan, function: &str) -> bool {
        if plan.function != function {
            return false;
        }
        let Some(only_for) = &plan.only_for else {
            return true;
        };
        locked(&self.in_flight)
            .get(function)
            .and_then(VecDeque::front)
            .is_some_and(|running| running.payload.contains(only_for.as_str()))
    }

    /// Every fault injected so far, by kind.
    pub fn counts(&self) -> BTreeMap<FaultKind, u64> {
        locked(&self.counts).clone()
    }

    /// How the runner kills a function's process (set by each runner started with this
    /// chaos; the latest one wins).
    pub fn set_killer(&self, killer: impl Fn(&str) + Send + Sync + 'static) {
        *locked(&self.killer) = Some(Arc::new(Box::new(killer)));
    }

    fn count(&self, kind: FaultKind) {
        *locked(&self.counts).entry(kind).or_default() += 1;
    }

    /// The plan's choice for one call of `function` to `service`.
    pub fn decide(&self, service: AwsService) -> FaultDecision {
        let Some(plan) = locked(&self.plan).clone() else {
            return FaultDecision::Forward {
                delay: Duration::ZERO,
            };
        };
        if !plan.services.contains(&service) {
            return FaultDecision::Forward {
                delay: Duration::ZERO,
            };
        }
        let (roll, variant, latency_roll, delay_fraction) = {
            let mut rng = locked(&self.rng);
            (
                rng.random::<f64>(),
                rng.random::<bool>(),
                rng.random::<f64>(),
                rng.random::<f64>(),
            )
        };
        if roll < plan.throttle_rate {
            self.count(FaultKind::Throttle(service));
            return FaultDecision::Answer(throttling(service, variant));
        }
        if roll < plan.throttle_rate + plan.server_error_rate {
            self.count(FaultKind::ServerError(service));
            return FaultDecision::Answer(server_error(service));
        }
        if latency_roll < plan.latency_rate {
            self.count(FaultKind::Latency);
            return FaultDecision::Forward {
                delay: plan.max_latency.mul_f64(delay_fraction),
            };
        }
        FaultDecision::Forward {
            delay: Duration::ZERO,
        }
    }

    /// Called for each write of `function` before it is forwarded: whether to kill it now,
    /// before the write (`Some(AfterWrite::Kill)` is returned from [`Chaos::after_write`]
    /// otherwise).
    pub fn before_write(&self, function: &str) -> bool {
        let mut kills = locked(&self.kills);
        let Some(index) = kills
            .iter()
            .position(|k| k.plan.after_writes == 0 && self.applies(&k.plan, function))
        else {
            return false;
        };
        kills.remove(index);
        true
    }

    /// Called for each write of `function` once moto answered it.
    pub fn after_write(&self, function: &str) -> AfterWrite {
        let mut kills = locked(&self.kills);
        let mut fire = None;
        for (index, kill) in kills.iter_mut().enumerate() {
            if kill.plan.after_writes == 0 || !self.applies(&kill.plan, function) {
                continue;
            }
            kill.writes_seen += 1;
            if kill.writes_seen >= kill.plan.after_writes && fire.is_none() {
                fire = Some(index);
            }
        }
        match fire {
            Some(index) => {
                kills.remove(index);
                AfterWrite::Kill
            }
            None => AfterWrite::Nothing,
        }
    }

    /// Kills `function`'s process and answers its running invocation as a crash.
    pub fn kill(&self, function: &str) {
        self.count(FaultKind::Crash(function.to_string()));
        tracing::warn!(function, "chaos: killing the function between its writes");
        let killer = locked(&self.killer).clone();
        if let Some(killer) = killer {
            killer(function);
        }
        let oldest = locked(&self.in_flight)
            .get_mut(function)
            .and_then(VecDeque::pop_front);
        if let Some(running) = oldest {
            let _ = running.crashed.send(());
        }
    }

    /// Registers an invocation of `function` with `payload` sent to its process; the receiver
    /// fires if the function is killed while this invocation runs.
    pub fn begin_invocation(&self, function: &str, payload: &str) -> (u64, oneshot::Receiver<()>) {
        let ticket = {
            let mut next = locked(&self.next_ticket);
            *next += 1;
            *next
        };
        let (sender, receiver) = oneshot::channel();
        locked(&self.in_flight)
            .entry(function.to_string())
            .or_default()
            .push_back(InFlight {
                ticket,
                payload: payload.to_string(),
                crashed: sender,
            });
        (ticket, receiver)
    }

    /// The invocation `ticket` of `function` was answered.
    pub fn end_invocation(&self, function: &str, ticket: u64) {
        if let Some(queue) = locked(&self.in_flight).get_mut(function) {
            queue.retain(|running| running.ticket != ticket);
        }
    }
}

/// The function a proxied path comes from and the path moto expects, for a path under
/// [`FROM_PREFIX`].
pub fn split_function_path(path_and_query: &str) -> Option<(&str, String)> {
    let rest = path_and_query.strip_prefix(FROM_PREFIX)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (function, tail) = rest.split_at(end);
    let tail = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Some((function, tail))
}

const XML: &str = "text/xml";
const JSON: &str = "application/x-amz-json-1.0";

fn xml_error(status: StatusCode, namespace: &str, code: &str, message: &str) -> InjectedError {
    InjectedError {
        status,
        content_type: XML,
        body: format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>chaos-injected</RequestId></ErrorResponse>",
            kind = if status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            }
        ),
    }
}

fn json_error(status: StatusCode, error_type: &str, message: &str) -> InjectedError {
    InjectedError {
        status,
        content_type: JSON,
        body: serde_json::json!({"__type": error_type, "message": message}).to_string(),
    }
}

const ROUTE53_NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
const CLOUDWATCH_NS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
const DYNAMODB_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// `service`'s throttling answer; `variant` picks the second shape where there are two.
fn throttling(service: AwsService, variant: bool) -> InjectedError {
    let bad = StatusCode::BAD_REQUEST;
    match service {
        AwsService::Route53 if variant => xml_error(
            bad,
            ROUTE53_NS,
            "PriorRequestNotComplete",
            "The request was rejected because Route 53 was still processing a prior request.",
        ),
        AwsService::Route53 => xml_error(bad, ROUTE53_NS, "Throttling", "Rate exceeded"),
        AwsService::DynamoDb if variant => json_error(
            bad,
            &format!("{DYNAMODB_PREFIX}ProvisionedThroughputExceededException"),
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        AwsService::DynamoDb => json_error(
            bad,
            &format!("{DYNAMODB_PREFIX}ThrottlingException"),
            "Rate of requests exceeds the allowed throughput.",
        ),
        AwsService::StepFunctions => json_error(bad, "ThrottlingException", "Rate exceeded"),
        _ => xml_error(bad, CLOUDWATCH_NS, "Throttling", "Rate exceeded"),
    }
}

/// `service`'s answer for an internal failure.
fn server_error(service: AwsService) -> InjectedError {
    match service {
        AwsService::Route53 => xml_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ROUTE53_NS,
            "ServiceUnavailable",
            "Service unavailable",
        ),
        AwsService::DynamoDb => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{DYNAMODB_PREFIX}InternalServerError"),
            "Internal server error",
        ),
        AwsService::StepFunctions => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
        ),
        _ => xml_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            CLOUDWATCH_NS,
            "InternalServiceError",
            "Internal service error",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_path_names_the_function_and_keeps_the_rest() {
        assert_eq!(
            split_function_path("/sluice-local/from/validate/2013-04-01/hostedzone/Z1/rrset/"),
            Some(("validate", "/2013-04-01/hostedzone/Z1/rrset/".to_string()))
        );
        assert_eq!(
            split_function_path("/sluice-local/from/analyze"),
            Some(("analyze", "/".to_string()))
        );
        assert_eq!(
            split_function_path("/sluice-local/from/analyze?Action=X"),
            Some(("analyze", "/?Action=X".to_string()))
        );
        assert_eq!(split_function_path("/2013-04-01/hostedzone"), None);
    }

    #[test]
    fn the_service_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        assert_eq!(AwsService::of_request(&headers), AwsService::CloudWatch);
        assert_eq!(AwsService::of_request(&HeaderMap::new()), AwsService::Other);
    }

    #[test]
    fn writes_are_route53_changes_dynamodb_writes_and_step_functions_answers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", "DynamoDB_20120810.PutItem".parse().unwrap());
        assert!(is_write(AwsService::DynamoDb, &Method::POST, "/", &headers));
        headers.insert("x-amz-target", "DynamoDB_20120810.GetItem".parse().unwrap());
        assert!(!is_write(
            AwsService::DynamoDb,
            &Method::POST,
            "/",
            &headers
        ));
        let none = HeaderMap::new();
        assert!(is_write(
            AwsService::Route53,
            &Method::POST,
            "/2013-04-01/hostedzone/Z1/rrset/",
            &none
        ));
        assert!(!is_write(
            AwsService::Route53,
            &Method::GET,
            "/2013-04-01/hostedzone/Z1/rrset",
            &none
        ));
    }

    #[test]
    fn a_plan_injects_at_its_rates_and_counts_each_fault() {
        let chaos = Chaos::default();
        chaos.set_plan(Some(FaultPlan {
            throttle_rate: 0.5,
            server_error_rate: 0.5,
            ..FaultPlan::quiet(7)
        }));
        for _ in 0..100 {
            assert!(matches!(
                chaos.decide(AwsService::DynamoDb),
                FaultDecision::Answer(_)
            ));
        }
        assert!(matches!(
            chaos.decide(AwsService::Sns),
            FaultDecision::Forward { .. }
        ));
        let counts = chaos.counts();
        let throttled = counts[&FaultKind::Throttle(AwsService::DynamoDb)];
        let failed = counts[&FaultKind::ServerError(AwsService::DynamoDb)];
        assert_eq!(throttled + failed, 100);
        assert!(throttled > 20 && failed > 20, "{counts:?}");
        chaos.set_plan(None);
        assert_eq!(
            chaos.decide(AwsService::DynamoDb),
            FaultDecision::Forward {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn a_kill_fires_once_at_its_write() {
        let chaos = Chaos::default();
        chaos.arm_kill(KillPlan {
            function: "finalize".into(),
            after_writes: 2,
            only_for: None,
        });
        assert_eq!(chaos.after_write("shift-traffic"), AfterWrite::Nothing);
        assert_eq!(chaos.after_write("finalize"), AfterWrite::Nothing);
        assert_eq!(chaos.after_write("finalize"), AfterWrite::Kill);
        assert_eq!(chaos.after_write("finalize"), AfterWrite::Nothing);
        chaos.arm_kill(KillPlan {
            function: "validate".into(),
            after_writes: 0,
            only_for: None,
        });
        assert!(chaos.before_write("validate"));
        assert!(!chaos.before_write("validate"));
    }

    #[test]
    fn a_kill_for_one_deployment_counts_only_its_invocations_writes() {
        let chaos = Chaos::default();
        chaos.arm_kill(KillPlan {
            function: "shift-traffic".into(),
            after_writes: 1,
            only_for: Some("d-0002".into()),
        });
        let (other, _crash) = chaos.begin_invocation("shift-traffic", r#"{"id":"d-0001"}"#);
        assert_eq!(chaos.after_write("shift-traffic"), AfterWrite::Nothing);
        chaos.end_invocation("shift-traffic", other);
        let (_, _crash) = chaos.begin_invocation("shift-traffic", r#"{"id":"d-0002"}"#);
        assert_eq!(chaos.after_write("shift-traffic"), AfterWrite::Kill);
        chaos.arm_kill(KillPlan {
            function: "finalize".into(),
            after_writes: 3,
            only_for: Some("d-0002".into()),
        });
        assert_eq!(chaos.disarm_kills_for("d-0002").len(), 1);
        assert!(chaos.disarm_kills().is_empty());
    }

    #[tokio::test]
    async fn a_kill_answers_the_oldest_invocation_as_a_crash() {
        let chaos = Chaos::default();
        let (_, first) = chaos.begin_invocation("rollback", "{}");
        let (second_ticket, mut second) = chaos.begin_invocation("rollback", "{}");
        chaos.kill("rollback");
        assert!(first.await.is_ok());
        assert!(second.try_recv().is_err());
        chaos.end_invocation("rollback", second_ticket);
        assert_eq!(chaos.counts()[&FaultKind::Crash("rollback".into())], 1);
    }
}
