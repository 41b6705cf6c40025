//! What the chaos and load tests share: many services on one local runner (each its own zone,
//! weighted records, alarms and simulated traffic), the operator's CLI over the runner's
//! moto, and the check every run ends with: DESIGN.md §2's invariant read back from Route 53
//! and DynamoDB.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_cli::backend::{AwsPorts, Settings};
use sluice_core::metrics::Statistic;
use sluice_core::ports::{Deployments, RecordSet, ServiceLocks, TrafficRouter};
use sluice_core::spec::RecordType;
use sluice_core::{Deployment, DeploymentId, HistoryEvent, Status, WeightPair};
use sluice_local::traffic::{ERRORS_METRIC, Slot, TrafficSimulator, metric};
use sluice_local::{EnvironmentNames, Execution, LocalRunner, TrafficProfile, VersionProfile};
use sluice_testkit::provision::{AlarmDefinition, Provisioner, WeightedRecords};
use sluice_testkit::request::{DeploymentRequest, Place};

/// How long a run may take to end.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// One service of the fleet, with its own traffic; the traffic stops when it is dropped.
pub struct Service {
    pub name: String,
    pub records: RecordSet,
    pub place: Place,
    pub alarms: Vec<String>,
    pub traffic: TrafficSimulator,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Service {
    /// Creates `name`'s zone and blue/green records (blue 100 %), `alarms` alarms on green's
    /// errors notifying the runner's alarm topic, and starts its traffic (`green` behaving
    /// so).
    pub async fn create(
        runner: &LocalRunner,
        name: &str,
        green: VersionProfile,
        alarms: usize,
    ) -> Service {
        let aws = Provisioner::new(runner.sdk_config());
        let names = EnvironmentNames::for_service(name);
        let records = aws
            .blue_green_records(&WeightedRecords {
                domain: names.domain.clone(),
                record_name: names.record_name.clone(),
                record_type: RecordType::Cname,
                ttl_seconds: names.ttl_seconds,
                blue_target: names.blue_target.clone(),
                green_target: names.green_target.clone(),
            })
            .await
            .unwrap();
        let alarm_names: Vec<String> = (0..alarms)
            .map(|i| format!("{name}-green-errors-{i}"))
            .collect();
        for alarm in &alarm_names {
            aws.alarm(&AlarmDefinition {
                name: alarm.clone(),
                metric: metric(&names.namespace, name, ERRORS_METRIC, Slot::Green),
                statistic: Statistic::Sum,
                period_seconds: 10,
                threshold: 200.0,
                evaluation_periods: 1,
                actions: vec![runner.environment().alarm_topic_arn.clone()],
            })
            .await
            .unwrap();
        }
        let traffic = TrafficSimulator::new(
            runner.sdk_config(),
            records.clone(),
            &names.namespace,
            name,
            TrafficProfile {
                blue: VersionProfile::healthy(),
                green,
            },
        );
        let task = tokio::spawn(traffic.run(Duration::from_secs(1)));
        let place = Place {
            service: name.to_string(),
            hosted_zone_id: records.hosted_zone_id.clone(),
            record_name: names.record_name.clone(),
            record_type: Some(RecordType::Cname.as_str().to_string()),
            ttl_seconds: Some(names.ttl_seconds),
            blue_target: names.blue_target.clone(),
            green_target: names.green_target.clone(),
            namespace: names.namespace.clone(),
            service_dimension: true,
            alarms: alarm_names.clone(),
        };
        Service {
            name: name.to_string(),
            records,
            place,
            alarms: alarm_names,
            traffic,
            task,
        }
    }

    /// `request` for this service.
    pub fn request(&self, request: &DeploymentRequest) -> serde_json::Value {
        request.to_json(self.place.clone())
    }

    /// Deletes the service's alarms (the runner's evaluator reads every alarm each second).
    pub async fn retire(self, runner: &LocalRunner) {
        let aws = Provisioner::new(runner.sdk_config());
        if !self.alarms.is_empty() {
            for alarm in &self.alarms {
                runner.alarms().release(alarm);
            }
            let _ = aws
                .cloudwatch()
                .delete_alarms()
                .set_alarm_names(Some(self.alarms.clone()))
                .send()
                .await;
        }
    }
}

/// Two steps (50 %, 100 %) of 2 s each, at least 20 samples per analysis.
pub fn quick_request(version: &str) -> DeploymentRequest {
    DeploymentRequest::new(version)
        .steps(&[50.0, 100.0])
        .bake_seconds(2)
        .min_samples(20)
}

/// The operator's CLI over the runner's moto.
pub fn cli_ports(runner: &LocalRunner) -> AwsPorts {
    let environment = runner.environment();
    AwsPorts::new(
        runner.sdk_config(),
        &Settings {
            table: environment.names.table.clone(),
            state_machine_arn: Some(environment.state_machine_arn.clone()),
            notifications_topic_arn: Some(environment.notifications_topic_arn.clone()),
            history_ttl: None,
        },
    )
}

/// Runs `sluice ARGS...` as `chaos-operator` on `ports`: the exit code (or the error) and the
/// output.
pub async fn sluice(ports: &AwsPorts, args: &[&str]) -> (Result<u8, String>, String) {
    use clap::Parser;
    let mut all = vec!["sluice", "--who", "chaos-operator"];
    all.extend_from_slice(args);
    let cli = match sluice_cli::args::Cli::try_parse_from(&all) {
        Ok(cli) => cli,
        Err(error) => return (Err(error.to_string()), String::new()),
    };
    let mut out = Vec::new();
    let code = sluice_cli::dispatch(ports, &cli, &mut out)
        .await
        .map_err(|e| e.to_string());
    (code, String::from_utf8_lossy(&out).into_owned())
}

/// What a run left behind, read once it ended.
#[derive(Debug, Clone, Default)]
pub struct RunCheck {
    /// `<record status>/<execution status>`, e.g. `promoted/SUCCEEDED`.
    pub outcome: String,
    pub violations: Vec<String>,
    /// The lock still held once the execution ended and the grace period passed.
    pub stranded_lock: Option<String>,
}

/// A snapshot of what one deployment left in AWS.
struct Snapshot {
    record: Option<Deployment>,
    history: Vec<HistoryEvent>,
    weights: Option<WeightPair>,
    lock: Option<String>,
}

async fn snapshot(runner: &LocalRunner, service: &Service, id: &DeploymentId) -> Snapshot {
    let store = runner.store();
    let record = store.find(id).await.ok().flatten();
    let history = store.history(id).await.unwrap_or_default();
    let weights = runner
        .route53()
        .read_weights(&service.records)
        .await
        .ok()
        .and_then(|w| w.weights());
    let lock = store
        .lock(&service.name)
        .await
        .ok()
        .flatten()
        .map(|l| format!("{} (lease until {})", l.deployment.id, l.lease_until));
    Snapshot {
        record,
        history,
        weights,
        lock,
    }
}

/// The invariant over one snapshot: the violations found.
fn violations(snapshot: &Snapshot, execution: &Execution) -> Vec<String> {
    let mut found = Vec::new();
    let Some(weights) = snapshot.weights else {
        return vec!["Route 53: the weighted records cannot be read".into()];
    };
    match &snapshot.record {
        None => {
            if weights != WeightPair::ALL_STABLE {
                found.push(format!(
                    "no deployment record, yet Route 53 carries {weights} (stable 100 % expected)"
                ));
            }
        }
        Some(record) => {
            if !record.status.is_terminal() {
                found.push(format!(
                    "record still {} after the execution ended ({})",
                    record.status, execution.status
                ));
            }
            let expected = if record.status == Status::Promoted {
                WeightPair::ALL_CANARY
            } else {
                WeightPair::ALL_STABLE
            };
            if weights != expected {
                found.push(format!(
                    "Route 53 carries {weights}, the record ({}) says {expected}",
                    record.status
                ));
            }
            // An execution ends SUCCEEDED at Promoted, or at TakenOver (a takeover owns the
            // outcome): only the first must agree with the record.
            let promoted_state = execution.states_entered().last() == Some(&"Promoted");
            if promoted_state && record.status != Status::Promoted {
                found.push(format!(
                    "the execution ended in its Promoted state but the record is {}",
                    record.status
                ));
            }
            let terminal_event = snapshot.history.iter().rev().find(|e| {
                matches!(
                    e.kind,
                    sluice_core::deployment::EventKind::Promoted { .. }
                        | sluice_core::deployment::EventKind::RolledBack { .. }
                        | sluice_core::deployment::EventKind::Failed { .. }
                )
            });
            match terminal_event {
                None => found.push(format!(
                    "history of {} events has no terminal event",
                    snapshot.history.len()
                )),
                Some(event) => {
                    let agrees = matches!(
                        (&event.kind, record.status),
                        (
                            sluice_core::deployment::EventKind::Promoted { .. },
                            Status::Promoted
                        ) | (
                            sluice_core::deployment::EventKind::RolledBack { .. },
                            Status::RolledBack
                        ) | (
                            sluice_core::deployment::EventKind::Failed { .. },
                            Status::Failed
                        )
                    );
                    if !agrees {
                        found.push(format!(
                            "the history's last terminal event ({}) disagrees with the record ({})",
                            event_name(&event.kind),
                            record.status
                        ));
                    }
                }
            }
        }
    }
    found
}

fn event_name(kind: &sluice_core::deployment::EventKind) -> String {
    format!("{kind:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Checks the invariant for deployment `id` of `service` once its execution ended: within
/// `grace` (for the emergency path still finishing, or a reconciler), Route 53 must carry what
/// the record says, the record and its history must have ended, and the lock must be free.
pub async fn check_run(
    runner: &LocalRunner,
    service: &Service,
    id: &str,
    execution: &Execution,
    grace: Duration,
) -> RunCheck {
    let id = DeploymentId::parse(id).unwrap();
    let deadline = Instant::now() + grace;
    loop {
        let snapshot = snapshot(runner, service, &id).await;
        let found = violations(&snapshot, execution);
        let settled = found.is_empty() && snapshot.lock.is_none();
        if settled || Instant::now() >= deadline {
            let record = snapshot
                .record
                .as_ref()
                .map(|r| r.status.to_string())
                .unwrap_or_else(|| "no-record".into());
            return RunCheck {
                outcome: format!("{record}/{}", execution.status),
                violations: found,
                stranded_lock: snapshot.lock,
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A count per key, printed in key order.
pub type Tally = BTreeMap<String, u64>;

pub fn add(tally: &mut Tally, key: impl Into<String>) {
    *tally.entry(key.into()).or_default() += 1;
}

/// `env` as a number, or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the full-size runs were asked for (`SLUICE_CHAOS_FULL=1`, scripts/chaos).
pub fn full_size() -> bool {
    matches!(
        std::env::var("SLUICE_CHAOS_FULL").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}
