//! In-memory implementations of every port, for tests of the workflow and the handlers. They
//! keep the semantics the real adapters promise (conditional writes on the revision, one lock
//! holder, raw series per period), so tests assert on outcomes, not on calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::deployment::{Deployment, DeploymentId, HistoryEvent};
use crate::metrics::{Datapoint, MetricRef, Series, SeriesQuery, Statistic, TimeWindow};
use crate::plan::WeightPair;
use crate::ports::*;

/// A hook run inside a port call, to make something happen "at the same time".
pub type Hook = Box<dyn Fn() + Send + Sync>;

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct StoreState {
    configs: BTreeMap<String, Value>,
    locks: BTreeMap<String, ServiceLock>,
    deployments: BTreeMap<DeploymentKey, Deployment>,
    history: BTreeMap<DeploymentId, Vec<HistoryEvent>>,
    triggers: BTreeMap<String, TriggerRecord>,
    failures: VecDeque<StorageFailure>,
}

/// The deployment table in memory.
#[derive(Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<StoreState>>,
    before_save: Arc<Mutex<Option<Hook>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next store call, of any of the storage ports, fails with `error`.
    pub fn fail_next(&self, error: StorageFailure) {
        self.state.lock().unwrap().failures.push_back(error);
    }

    /// Runs `hook` once, just before the next `save` takes effect.
    pub fn before_next_save(&self, hook: Hook) {
        *self.before_save.lock().unwrap() = Some(hook);
    }

    pub fn deployments(&self) -> Vec<Deployment> {
        self.state
            .lock()
            .unwrap()
            .deployments
            .values()
            .cloned()
            .collect()
    }

    pub fn only_deployment(&self) -> Deployment {
        let all = self.deployments();
        assert_eq!(
            all.len(),
            1,
            "expected exactly one deployment, found {}",
            all.len()
        );
        all.into_iter().next().unwrap()
    }

    pub fn events(&self, id: &DeploymentId) -> Vec<HistoryEvent> {
        self.state
            .lock()
            .unwrap()
            .history
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn lock_of(&self, service: &str) -> Option<ServiceLock> {
        self.state.lock().unwrap().locks.get(service).cloned()
    }

    /// Overwrites a stored deployment as another writer would (bumping nothing itself).
    pub fn replace(&self, deployment: Deployment) {
        let key = DeploymentKey::of(&deployment);
        self.state
            .lock()
            .unwrap()
            .deployments
            .insert(key, deployment);
    }

    fn take_failure(&self) -> Result<(), StorageFailure> {
        match self.state.lock().unwrap().failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl ServiceConfigs for MemoryStore {
    async fn service_config(&self, service: &str) -> Result<Option<Value>, ServiceConfigError> {
        self.take_failure()?;
        Ok(self.state.lock().unwrap().configs.get(service).cloned())
    }

    async fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> Result<(), ServiceConfigError> {
        self.take_failure()?;
        self.state
            .lock()
            .unwrap()
            .configs
            .insert(service.to_string(), config.clone());
        Ok(())
    }

    async fn service_configs(&self) -> Result<Vec<(String, Value)>, ServiceConfigError> {
        self.take_failure()?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .configs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

impl ServiceLocks for MemoryStore {
    async fn acquire_lock(&self, lock: &ServiceLock, now: DateTime<Utc>) -> Result<(), LockError> {
        self.take_failure()?;
        let mut state = self.state.lock().unwrap();
        let service = &lock.deployment.service;
        if let Some(held) = state.locks.get(service)
            && held.deployment.id != lock.deployment.id
            && held.lease_until >= now
        {
            return Err(LockError::LockHeld {
                service: service.clone(),
                holder: held.deployment.id.clone(),
                lease_until: held.lease_until,
            });
        }
        state.locks.insert(service.clone(), lock.clone());
        Ok(())
    }

    async fn release_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
    ) -> Result<(), LockError> {
        self.take_failure()?;
        let mut state = self.state.lock().unwrap();
        if state
            .locks
            .get(service)
            .is_some_and(|l| &l.deployment.id == deployment)
        {
            state.locks.remove(service);
        }
        Ok(())
    }

    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, LockError> {
        self.take_failure()?;
        Ok(self.state.lock().unwrap().locks.get(service).cloned())
    }

    async fn locked_services(&self) -> Result<Vec<String>, LockError> {
        self.take_failure()?;
        Ok(self.state.lock().unwrap().locks.keys().cloned().collect())
    }

    async fn locks_for_alarm(&self, alarm: &str) -> Result<Vec<ServiceLock>, LockError> {
        self.take_failure()?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .locks
            .values()
            .filter(|l| l.alarms.iter().any(|a| a == alarm))
            .cloned()
            .collect())
    }
}

impl Deployments for MemoryStore {
    async fn create(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> Result<(), DeploymentsError> {
        self.take_failure()?;
        let mut state = self.state.lock().unwrap();
        if state.deployments.keys().any(|k| k.id == deployment.id) {
            return Err(DeploymentsError::AlreadyExists {
                id: deployment.id.clone(),
            });
        }
        state
            .deployments
            .insert(DeploymentKey::of(deployment), deployment.clone());
        state
            .history
            .entry(deployment.id.clone())
            .or_default()
            .push(event.clone());
        Ok(())
    }

    async fn get(&self, key: &DeploymentKey) -> Result<Option<Deployment>, DeploymentsError> {
        self.take_failure()?;
        Ok(self.state.lock().unwrap().deployments.get(key).cloned())
    }

    async fn find(&self, id: &DeploymentId) -> Result<Option<Deployment>, DeploymentsError> {
        self.take_failure()?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .deployments
            .values()
            .find(|d| &d.id == id)
            .cloned())
    }

    async fn save(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> Result<(), DeploymentsError> {
        if let Some(hook) = self.before_save.lock().unwrap().take() {
            hook();
        }
        self.take_failure()?;
        let mut state = self.state.lock().unwrap();
        let key = DeploymentKey::of(deployment);
        let expected = deployment.revision - 1;
        match state.deployments.get(&key) {
            Some(stored) if stored.revision == expected => {}
            _ => {
                return Err(DeploymentsError::RevisionConflict {
                    id: deployment.id.clone(),
                    expected,
                });
            }
        }
        state.deployments.insert(key, deployment.clone());
        state
            .history
            .entry(deployment.id.clone())
            .or_default()
            .push(event.clone());
        Ok(())
    }

    async fn history(&self, id: &DeploymentId) -> Result<Vec<HistoryEvent>, DeploymentsError> {
        self.take_failure()?;
        Ok(self.events(id))
    }

    async fn list(&self, service: &str, limit: usize) -> Result<Vec<Deployment>, DeploymentsError> {
        self.take_failure()?;
        let mut found: Vec<Deployment> = self
            .deployments()
            .into_iter()
            .filter(|d| d.service == service)
            .collect();
        found.sort_by_key(|d| std::cmp::Reverse(d.started_at));
        found.truncate(limit);
        Ok(found)
    }
}

impl TriggerLedger for MemoryStore {
    async fn claim_trigger(
        &self,
        key: &str,
        record: &TriggerRecord,
        _expires_at: DateTime<Utc>,
    ) -> Result<TriggerClaim, TriggerLedgerError> {
        self.take_failure()?;
        let mut state = self.state.lock().unwrap();
        if let Some(seen) = state.triggers.get(key) {
            return Ok(TriggerClaim::Seen(seen.clone()));
        }
        state.triggers.insert(key.to_string(), record.clone());
        Ok(TriggerClaim::New)
    }

    async fn complete_trigger(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> Result<(), TriggerLedgerError> {
        self.take_failure()?;
        if let Some(record) = self.state.lock().unwrap().triggers.get_mut(key) {
            record.execution_arn = Some(execution_arn.to_string());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct RouterState {
    zones: BTreeMap<String, String>,
    records: BTreeMap<(String, String), WeightedRecords>,
    changes: Vec<(ChangeId, WeightPair)>,
    pending_polls: u32,
    failures: VecDeque<RouterError>,
}

/// Route 53 in memory: zones, weighted records, and changes that stay pending for a set
/// number of polls.
#[derive(Default, Clone)]
pub struct MemoryRouter {
    state: Arc<Mutex<RouterState>>,
    on_set: Arc<Mutex<Option<Hook>>>,
}

impl MemoryRouter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_zone(&self, zone_id: &str, domain: &str) {
        self.state
            .lock()
            .unwrap()
            .zones
            .insert(zone_id.into(), domain.into());
    }

    /// Creates both weighted records of `records` with `weights`.
    pub fn add_records(&self, records: &RecordSet, weights: WeightPair) {
        let mut state = self.state.lock().unwrap();
        state.records.insert(
            (records.hosted_zone_id.clone(), records.name.clone()),
            WeightedRecords {
                blue: Some(WeightedRecord {
                    weight: weights.blue(),
                    target: records.blue.target.clone(),
                    ttl_seconds: Some(records.ttl_seconds),
                }),
                green: Some(WeightedRecord {
                    weight: weights.green(),
                    target: records.green.target.clone(),
                    ttl_seconds: Some(records.ttl_seconds),
                }),
            },
        );
    }

    pub fn remove_green(&self, records: &RecordSet) {
        let mut state = self.state.lock().unwrap();
        if let Some(found) = state
            .records
            .get_mut(&(records.hosted_zone_id.clone(), records.name.clone()))
        {
            found.green = None;
        }
    }

    /// The weights now, panicking when the records do not exist.
    pub fn weights(&self, records: &RecordSet) -> WeightPair {
        let state = self.state.lock().unwrap();
        state.records[&(records.hosted_zone_id.clone(), records.name.clone())]
            .weights()
            .unwrap()
    }

    /// Every change made, in order.
    pub fn changes(&self) -> Vec<WeightPair> {
        self.state
            .lock()
            .unwrap()
            .changes
            .iter()
            .map(|(_, w)| *w)
            .collect()
    }

    /// The next changes report PENDING this many times before INSYNC.
    pub fn stay_pending_for(&self, polls: u32) {
        self.state.lock().unwrap().pending_polls = polls;
    }

    pub fn fail_next(&self, error: RouterError) {
        self.state.lock().unwrap().failures.push_back(error);
    }

    /// Runs `hook` once, just before the next weight change takes effect.
    pub fn before_next_set(&self, hook: Hook) {
        *self.on_set.lock().unwrap() = Some(hook);
    }

    fn take_failure(&self) -> Result<(), RouterError> {
        match self.state.lock().unwrap().failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl TrafficRouter for MemoryRouter {
    async fn zone_domain(&self, zone_id: &str) -> Result<String, RouterError> {
        self.take_failure()?;
        self.state
            .lock()
            .unwrap()
            .zones
            .get(zone_id)
            .cloned()
            .ok_or_else(|| RouterError::ZoneNotFound {
                zone: zone_id.into(),
            })
    }

    async fn read_weights(&self, records: &RecordSet) -> Result<WeightedRecords, RouterError> {
        self.take_failure()?;
        let state = self.state.lock().unwrap();
        if !state.zones.contains_key(&records.hosted_zone_id) {
            return Err(RouterError::ZoneNotFound {
                zone: records.hosted_zone_id.clone(),
            });
        }
        Ok(state
            .records
            .get(&(records.hosted_zone_id.clone(), records.name.clone()))
            .cloned()
            .unwrap_or_default())
    }

    async fn set_weights(
        &self,
        records: &RecordSet,
        weights: WeightPair,
    ) -> Result<ChangeId, RouterError> {
        if let Some(hook) = self.on_set.lock().unwrap().take() {
            hook();
        }
        self.take_failure()?;
        let mut state = self.state.lock().unwrap();
        if !state.zones.contains_key(&records.hosted_zone_id) {
            return Err(RouterError::ZoneNotFound {
                zone: records.hosted_zone_id.clone(),
            });
        }
        let change = ChangeId(format!("C{}", state.changes.len() + 1));
        state.changes.push((change.clone(), weights));
        let record = |weight: u8, target: &str| WeightedRecord {
            weight,
            target: target.to_string(),
            ttl_seconds: Some(records.ttl_seconds),
        };
        state.records.insert(
            (records.hosted_zone_id.clone(), records.name.clone()),
            WeightedRecords {
                blue: Some(record(weights.blue(), &records.blue.target)),
                green: Some(record(weights.green(), &records.green.target)),
            },
        );
        Ok(change)
    }

    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus, RouterError> {
        self.take_failure()?;
        let mut state = self.state.lock().unwrap();
        if !state.changes.iter().any(|(c, _)| c == change) {
            return Err(RouterError::ChangeNotFound {
                change: change.0.clone(),
            });
        }
        if state.pending_polls > 0 {
            state.pending_polls -= 1;
            return Ok(ChangeStatus::Pending);
        }
        Ok(ChangeStatus::InSync)
    }

    async fn wait_for_sync(&self, change: &ChangeId, timeout: Duration) -> Result<(), RouterError> {
        for _ in 0..1000 {
            if self.change_status(change).await? == ChangeStatus::InSync {
                return Ok(());
            }
        }
        Err(RouterError::SyncTimeout {
            change: change.0.clone(),
            waited: timeout,
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// One raw sample: when, and its value.
type Sample = (DateTime<Utc>, f64);

/// CloudWatch in memory: raw samples per metric, aggregated per period on fetch.
#[derive(Default, Clone)]
pub struct MemoryMetrics {
    samples: Arc<Mutex<BTreeMap<String, Vec<Sample>>>>,
    failures: Arc<Mutex<VecDeque<MetricError>>>,
}

impl MemoryMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(metric: &MetricRef) -> String {
        metric.to_string()
    }

    /// Records `count` samples of `value` at `at`.
    pub fn put(&self, metric: &MetricRef, at: DateTime<Utc>, value: f64, count: usize) {
        let mut samples = self.samples.lock().unwrap();
        let entry = samples.entry(Self::key(metric)).or_default();
        entry.extend(std::iter::repeat_n((at, value), count));
    }

    pub fn fail_next(&self, error: MetricError) {
        self.failures.lock().unwrap().push_back(error);
    }
}

impl MetricSource for MemoryMetrics {
    async fn fetch(
        &self,
        queries: &[SeriesQuery],
        window: TimeWindow,
    ) -> Result<Vec<Series>, MetricError> {
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        let samples = self.samples.lock().unwrap();
        Ok(queries
            .iter()
            .map(|query| {
                let period = i64::from(query.period_seconds.max(1));
                let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                for (at, value) in samples
                    .get(&Self::key(&query.metric))
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if *at >= window.start && *at < window.end {
                        let offset = (*at - window.start).num_seconds() / period;
                        buckets.entry(offset).or_default().push(*value);
                    }
                }
                let points = buckets
                    .into_iter()
                    .map(|(offset, values)| Datapoint {
                        at: window.start + chrono::Duration::seconds(offset * period),
                        value: aggregate(query.stat, &values),
                    })
                    .collect();
                Series {
                    id: query.id.clone(),
                    points,
                }
            })
            .collect())
    }
}

fn aggregate(stat: Statistic, values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    match stat {
        Statistic::Sum => sum,
        Statistic::SampleCount => values.len() as f64,
        Statistic::Average => sum / values.len() as f64,
        Statistic::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
        Statistic::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Statistic::Percentile(p) => {
            let mut sorted = values.to_vec();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// CloudWatch alarms in memory.
#[derive(Default, Clone)]
pub struct MemoryAlarms {
    states: Arc<Mutex<BTreeMap<String, AlarmState>>>,
}

impl MemoryAlarms {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, name: &str, state: AlarmState) {
        self.states.lock().unwrap().insert(name.into(), state);
    }
}

impl AlarmStates for MemoryAlarms {
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, MetricError> {
        let states = self.states.lock().unwrap();
        Ok(names
            .iter()
            .map(|name| AlarmStatus {
                name: name.clone(),
                state: states.get(name).copied(),
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------

/// Keeps every notification sent.
#[derive(Default, Clone)]
pub struct MemoryNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
    failing: Arc<Mutex<bool>>,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap().clone()
    }

    /// Every publish fails from now on.
    pub fn break_topic(&self) {
        *self.failing.lock().unwrap() = true;
    }
}

impl Notifier for MemoryNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        if *self.failing.lock().unwrap() {
            return Err(NotifyError::Unavailable {
                topic: "memory".into(),
                message: "broken".into(),
            });
        }
        self.sent.lock().unwrap().push(notification.clone());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// A task token and its answer: the output, or the error and cause.
pub type TaskAnswer = (String, Result<Value, (String, String)>);

#[derive(Default)]
struct OrchestratorState {
    executions: BTreeMap<String, (Value, ExecutionStatus, Option<String>)>,
    task_answers: Vec<TaskAnswer>,
}

/// Step Functions in memory: executions by name, stops with their cause, task answers.
#[derive(Default, Clone)]
pub struct MemoryOrchestrator {
    state: Arc<Mutex<OrchestratorState>>,
}

impl MemoryOrchestrator {
    pub const MACHINE: &'static str = "arn:aws:states:us-east-1:123456789012:stateMachine:sluice";

    pub fn new() -> Self {
        Self::default()
    }

    pub fn arn_of(name: &str) -> String {
        format!(
            "{}:{name}",
            Self::MACHINE.replace(":stateMachine:", ":execution:")
        )
    }

    pub fn executions(&self) -> Vec<(String, Value, ExecutionStatus)> {
        self.state
            .lock()
            .unwrap()
            .executions
            .iter()
            .map(|(n, (input, status, _))| (n.clone(), input.clone(), *status))
            .collect()
    }

    /// The cause an execution was stopped with.
    pub fn stop_cause(&self, name: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .executions
            .get(name)
            .and_then(|e| e.2.clone())
    }

    pub fn task_answers(&self) -> Vec<TaskAnswer> {
        self.state.lock().unwrap().task_answers.clone()
    }

    fn name_of(arn: &str) -> String {
        arn.rsplit(':').next().unwrap_or(arn).to_string()
    }
}

impl Orchestrator for MemoryOrchestrator {
    fn state_machine_arn(&self) -> Option<&str> {
        Some(Self::MACHINE)
    }

    async fn start_execution(
        &self,
        name: &str,
        input: &Value,
    ) -> Result<ExecutionRef, OrchestratorError> {
        let mut state = self.state.lock().unwrap();
        if let Some((existing, _, _)) = state.executions.get(name) {
            if existing != input {
                return Err(OrchestratorError::NameTakenWithOtherInput { name: name.into() });
            }
            return Ok(ExecutionRef {
                arn: Self::arn_of(name),
                already_existed: true,
            });
        }
        state
            .executions
            .insert(name.into(), (input.clone(), ExecutionStatus::Running, None));
        Ok(ExecutionRef {
            arn: Self::arn_of(name),
            already_existed: false,
        })
    }

    async fn stop_execution(
        &self,
        arn: &str,
        _error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        let mut state = self.state.lock().unwrap();
        let execution = state
            .executions
            .get_mut(&Self::name_of(arn))
            .ok_or_else(|| OrchestratorError::ExecutionNotFound { arn: arn.into() })?;
        if execution.1 == ExecutionStatus::Running {
            execution.1 = ExecutionStatus::Aborted;
            execution.2 = Some(cause.into());
        }
        Ok(())
    }

    async fn execution_outcome(
        &self,
        arn: &str,
    ) -> Result<Option<ExecutionOutcome>, OrchestratorError> {
        match self.execution_status(arn).await {
            Ok(status) if status.is_running() => Ok(None),
            Ok(status) => Ok(Some(ExecutionOutcome {
                status,
                error: None,
                cause: None,
            })),
            Err(OrchestratorError::ExecutionNotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn execution_status(&self, arn: &str) -> Result<ExecutionStatus, OrchestratorError> {
        self.state
            .lock()
            .unwrap()
            .executions
            .get(&Self::name_of(arn))
            .map(|e| e.1)
            .ok_or_else(|| OrchestratorError::ExecutionNotFound { arn: arn.into() })
    }

    async fn send_task_success(
        &self,
        token: &str,
        output: &Value,
    ) -> Result<(), OrchestratorError> {
        self.state
            .lock()
            .unwrap()
            .task_answers
            .push((token.into(), Ok(output.clone())));
        Ok(())
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        self.state
            .lock()
            .unwrap()
            .task_answers
            .push((token.into(), Err((error.into(), cause.into()))));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// A clock that only moves when told to, or when something sleeps on it.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(
                Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap(),
            )),
        }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, seconds: i64) {
        *self.now.lock().unwrap() += chrono::Duration::seconds(seconds);
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap() = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    async fn sleep(&self, duration: Duration) {
        *self.now.lock().unwrap() += chrono::Duration::from_std(duration).unwrap_or_default();
    }
}
