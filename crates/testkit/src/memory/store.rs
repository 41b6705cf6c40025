//! The deployment table in memory: service configurations, locks, deployments and the
//! trigger ledger, with the conditional writes the DynamoDB adapter promises.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::deployment::{Deployment, DeploymentId, HistoryEvent};
use sluice_core::ports::*;
use sluice_core::service_state::{QueuedRelease, ServiceState};

use super::{Fault, Faults, Hook};

#[derive(Default)]
struct StoreState {
    configs: BTreeMap<String, Value>,
    locks: BTreeMap<String, ServiceLock>,
    deployments: BTreeMap<DeploymentKey, Deployment>,
    history: BTreeMap<DeploymentId, Vec<HistoryEvent>>,
    triggers: BTreeMap<String, TriggerRecord>,
    service_states: BTreeMap<String, ServiceState>,
    failures: VecDeque<StorageFailure>,
}

/// The deployment table in memory.
#[derive(Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<StoreState>>,
    before_save: Arc<Mutex<Option<Hook>>>,
    faults: Faults,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose calls meet the faults (and yield as) `faults` says.
    pub fn with_faults(faults: &Faults) -> Self {
        MemoryStore {
            faults: faults.clone(),
            ..Self::default()
        }
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

    pub fn service_state_of(&self, service: &str) -> Option<ServiceState> {
        self.state
            .lock()
            .unwrap()
            .service_states
            .get(service)
            .cloned()
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

    /// Enters a read: fails when a failure is queued or injected.
    async fn read(&self, operation: &'static str) -> Result<(), StorageFailure> {
        match self.faults.enter(operation).await {
            None => self.take_failure(),
            Some(_) => Err(injected(operation, "injected failure")),
        }
    }

    /// Runs a write: fails before it acts when a failure is queued or injected; with
    /// [`Fault::Lost`], acts and then answers with an error.
    async fn write<T, E: From<StorageFailure>>(
        &self,
        operation: &'static str,
        act: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let lost = match self.faults.enter(operation).await {
            None => {
                self.take_failure()?;
                false
            }
            Some(Fault::Lost) => true,
            Some(_) => return Err(injected(operation, "injected failure").into()),
        };
        let result = act()?;
        if lost {
            return Err(
                injected(operation, "injected: it took effect, its answer was lost").into(),
            );
        }
        Ok(result)
    }
}

fn injected(operation: &'static str, message: &str) -> StorageFailure {
    StorageFailure::Unavailable {
        operation,
        what: "the memory table".into(),
        message: message.into(),
    }
}

impl ServiceConfigs for MemoryStore {
    async fn service_config(&self, service: &str) -> Result<Option<Value>, ServiceConfigError> {
        self.read("GetItem CONFIG").await?;
        Ok(self.state.lock().unwrap().configs.get(service).cloned())
    }

    async fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> Result<(), ServiceConfigError> {
        self.write("PutItem CONFIG", || {
            self.state
                .lock()
                .unwrap()
                .configs
                .insert(service.to_string(), config.clone());
            Ok(())
        })
        .await
    }

    async fn services_released_from(
        &self,
        repository: &str,
    ) -> Result<Vec<(String, Value)>, ServiceConfigError> {
        use sluice_core::release::{repository_index_keys, repository_lookup_keys};
        self.take_failure()?;
        let wanted = repository_lookup_keys(repository);
        Ok(self
            .state
            .lock()
            .unwrap()
            .configs
            .iter()
            .filter(|(_, config)| {
                repository_index_keys(config)
                    .iter()
                    .any(|key| wanted.contains(key))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn service_configs(&self) -> Result<Vec<(String, Value)>, ServiceConfigError> {
        self.read("Scan CONFIG").await?;
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
        self.write("TransactWriteItems LOCK", || {
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
        })
        .await
    }

    async fn release_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
    ) -> Result<(), LockError> {
        self.write("TransactWriteItems release LOCK", || {
            let mut state = self.state.lock().unwrap();
            if state
                .locks
                .get(service)
                .is_some_and(|l| &l.deployment.id == deployment)
            {
                state.locks.remove(service);
            }
            Ok(())
        })
        .await
    }

    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, LockError> {
        self.read("GetItem LOCK").await?;
        Ok(self.state.lock().unwrap().locks.get(service).cloned())
    }

    async fn renew_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
        lease_until: DateTime<Utc>,
    ) -> Result<(), LockError> {
        self.write("UpdateItem renew LOCK", || {
            let mut state = self.state.lock().unwrap();
            match state.locks.get_mut(service) {
                Some(held) if &held.deployment.id == deployment => {
                    held.lease_until = lease_until;
                    Ok(())
                }
                _ => Err(LockError::NotHeld {
                    service: service.into(),
                    deployment: deployment.clone(),
                }),
            }
        })
        .await
    }

    async fn locked_services(&self) -> Result<Vec<String>, LockError> {
        self.read("Scan LOCK").await?;
        Ok(self.state.lock().unwrap().locks.keys().cloned().collect())
    }

    async fn locks_for_alarm(&self, alarm: &str) -> Result<Vec<ServiceLock>, LockError> {
        self.read("Query ALARM").await?;
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
        self.write("TransactWriteItems create DEPLOY", || {
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
        })
        .await
    }

    async fn get(&self, key: &DeploymentKey) -> Result<Option<Deployment>, DeploymentsError> {
        self.read("GetItem DEPLOY").await?;
        Ok(self.state.lock().unwrap().deployments.get(key).cloned())
    }

    async fn find(&self, id: &DeploymentId) -> Result<Option<Deployment>, DeploymentsError> {
        self.read("Query GSI1").await?;
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
        self.write("TransactWriteItems save DEPLOY", || {
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
            // The end of a deployment changes the service's state in the same write.
            if deployment.status.is_terminal() {
                let service_state = state
                    .service_states
                    .entry(deployment.service.clone())
                    .or_insert_with(|| ServiceState::new(&deployment.service));
                if service_state.record_end(deployment) {
                    service_state.revision += 1;
                }
            }
            Ok(())
        })
        .await
    }

    async fn history(&self, id: &DeploymentId) -> Result<Vec<HistoryEvent>, DeploymentsError> {
        self.read("Query EVENT").await?;
        Ok(self.events(id))
    }

    async fn list(&self, service: &str, limit: usize) -> Result<Vec<Deployment>, DeploymentsError> {
        self.read("Query DEPLOY").await?;
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
        self.write("PutItem TRIGGER", || {
            let mut state = self.state.lock().unwrap();
            if let Some(seen) = state.triggers.get(key) {
                return Ok(TriggerClaim::Seen(seen.clone()));
            }
            state.triggers.insert(key.to_string(), record.clone());
            Ok(TriggerClaim::New)
        })
        .await
    }

    async fn complete_trigger(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> Result<(), TriggerLedgerError> {
        self.write("UpdateItem TRIGGER", || {
            if let Some(record) = self.state.lock().unwrap().triggers.get_mut(key) {
                record.execution_arn = Some(execution_arn.to_string());
            }
            Ok(())
        })
        .await
    }
}

impl ServiceStates for MemoryStore {
    async fn service_state(
        &self,
        service: &str,
    ) -> Result<Option<ServiceState>, ServiceStateError> {
        self.read("GetItem STATE").await?;
        Ok(self.service_state_of(service))
    }

    async fn queue_release(
        &self,
        service: &str,
        release: &QueuedRelease,
        now: DateTime<Utc>,
    ) -> Result<QueueWrite, ServiceStateError> {
        self.write("UpdateItem STATE queue", || {
            let mut state = self.state.lock().unwrap();
            let held = state
                .locks
                .get(service)
                .is_some_and(|lock| lock.lease_until >= now);
            if !held {
                return Ok(QueueWrite::LockFree);
            }
            let service_state = state
                .service_states
                .entry(service.to_string())
                .or_insert_with(|| ServiceState::new(service));
            let change = service_state.queue(release.clone());
            service_state.revision += 1;
            Ok(QueueWrite::Queued(change))
        })
        .await
    }

    async fn update_service_state<F>(
        &self,
        service: &str,
        change: F,
    ) -> Result<ServiceState, ServiceStateError>
    where
        F: Fn(&mut ServiceState) -> bool + Send + Sync,
    {
        self.write("PutItem STATE", || {
            let mut state = self.state.lock().unwrap();
            let mut updated = state
                .service_states
                .get(service)
                .cloned()
                .unwrap_or_else(|| ServiceState::new(service));
            if change(&mut updated) {
                updated.revision += 1;
                state
                    .service_states
                    .insert(service.to_string(), updated.clone());
            }
            Ok(updated)
        })
        .await
    }
}
