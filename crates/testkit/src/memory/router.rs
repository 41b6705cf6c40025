//! Route 53 in memory: zones, weighted records, changes pending for a set number of polls, and
//! (with [`Faults`]) changes that fail, meet `PriorRequestNotComplete`, lose their answer, or are
//! accepted and land later than a later change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::plan::WeightPair;
use sluice_core::ports::*;

use super::{Fault, Faults, Hook};

#[derive(Default)]
struct RouterState {
    zones: BTreeMap<String, String>,
    /// Keyed by zone, record name and slot (set identifier), as Route 53 keys them.
    records: BTreeMap<(String, String, String), WeightedRecord>,
    changes: Vec<(ChangeId, WeightPair)>,
    pending_polls: u32,
    failures: VecDeque<RouterError>,
    /// Changes accepted but not applied yet, oldest first.
    late: VecDeque<(ChangeId, RecordSet, WeightPair)>,
    /// Every weight change applied to the records, in the order it landed.
    applied: Vec<(RecordSet, WeightPair)>,
}

/// Route 53 in memory: zones, weighted records, and changes that stay pending for a set
/// number of polls.
#[derive(Default, Clone)]
pub struct MemoryRouter {
    state: Arc<Mutex<RouterState>>,
    on_set: Arc<Mutex<Option<Hook>>>,
    faults: Faults,
    after_set: Arc<Mutex<Option<Hook>>>,
}

impl MemoryRouter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A Route 53 whose calls meet the faults (and yield as) `faults` says.
    pub fn with_faults(faults: &Faults) -> Self {
        MemoryRouter {
            faults: faults.clone(),
            ..Self::default()
        }
    }

    /// Applies the oldest change accepted late ([`Fault::Late`]); false when there is none.
    /// (A late change also lands when a change accepted after it is asked about: Route 53
    /// reports a change in sync only once every earlier one is applied.)
    pub fn land_late(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        match state.late.pop_front() {
            Some((_, records, weights)) => {
                state.write(&records, weights);
                true
            }
            None => false,
        }
    }

    /// How many accepted changes have not landed yet.
    pub fn late_count(&self) -> usize {
        self.state.lock().unwrap().late.len()
    }

    /// Every weight change applied, in the order it landed (records created by the test
    /// included).
    pub fn applied(&self) -> Vec<WeightPair> {
        self.state
            .lock()
            .unwrap()
            .applied
            .iter()
            .map(|(_, w)| *w)
            .collect()
    }

    /// The weights now in `records`' roles, `None` when a record is missing or both are 0.
    pub fn current(&self, records: &RecordSet) -> Option<WeightPair> {
        self.state.lock().unwrap().read(records).weights()
    }

    pub fn add_zone(&self, zone_id: &str, domain: &str) {
        self.state
            .lock()
            .unwrap()
            .zones
            .insert(zone_id.into(), domain.into());
    }

    /// Creates both weighted records of `records` with `weights` (stable, canary).
    pub fn add_records(&self, records: &RecordSet, weights: WeightPair) {
        self.state.lock().unwrap().write(records, weights);
    }

    /// Deletes the canary slot's record.
    pub fn remove_canary(&self, records: &RecordSet) {
        let mut state = self.state.lock().unwrap();
        state.records.remove(&key(records, &records.canary));
    }

    /// Overwrites one slot's live record (a record changed by hand).
    pub fn put_record(&self, records: &RecordSet, slot: &SlotRecord, record: WeightedRecord) {
        let mut state = self.state.lock().unwrap();
        state.records.insert(key(records, slot), record);
    }

    /// The weights now in `records`' roles, panicking when the records do not exist.
    pub fn weights(&self, records: &RecordSet) -> WeightPair {
        self.state.lock().unwrap().read(records).weights().unwrap()
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

    /// Runs `hook` once, just after the next weight change took effect (a concurrent write
    /// landing after it, say).
    pub fn after_next_set(&self, hook: Hook) {
        *self.after_set.lock().unwrap() = Some(hook);
    }

    fn take_failure(&self) -> Result<(), RouterError> {
        match self.state.lock().unwrap().failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Enters a call: the fault it meets (a queued failure is returned as an error).
    async fn enter(&self, operation: &'static str) -> Result<Option<Fault>, RouterError> {
        match self.faults.enter(operation).await {
            None => self.take_failure().map(|()| None),
            fault => Ok(fault),
        }
    }

    /// Enters a read: any fault fails it.
    async fn read(&self, operation: &'static str, zone: &str) -> Result<(), RouterError> {
        match self.enter(operation).await? {
            None => Ok(()),
            Some(fault) => Err(injected(operation, zone, fault)),
        }
    }
}

fn injected(operation: &'static str, zone: &str, fault: Fault) -> RouterError {
    match fault {
        Fault::Busy => RouterError::Throttled {
            operation,
            zone: zone.into(),
            message: "PriorRequestNotComplete: the request was rejected because Route 53 was \
                      still processing a prior request (injected)"
                .into(),
        },
        Fault::Lost => RouterError::Unavailable {
            operation,
            zone: zone.into(),
            message: "timed out (injected; the change may have been made)".into(),
        },
        Fault::Fail | Fault::Late => RouterError::Unavailable {
            operation,
            zone: zone.into(),
            message: "service unavailable (injected)".into(),
        },
    }
}

/// A change's place in the order Route 53 accepted it (`C<n>`).
fn sequence(change: &ChangeId) -> u64 {
    change.0.trim_start_matches('C').parse().unwrap_or(u64::MAX)
}

fn key(records: &RecordSet, slot: &SlotRecord) -> (String, String, String) {
    (
        records.hosted_zone_id.clone(),
        records.name.clone(),
        slot.slot.clone(),
    )
}

impl RouterState {
    fn read(&self, records: &RecordSet) -> WeightedRecords {
        WeightedRecords {
            stable: self.records.get(&key(records, &records.stable)).cloned(),
            canary: self.records.get(&key(records, &records.canary)).cloned(),
        }
    }

    fn write(&mut self, records: &RecordSet, weights: WeightPair) {
        for (slot, weight) in [
            (&records.stable, weights.stable()),
            (&records.canary, weights.canary()),
        ] {
            let record = WeightedRecord {
                weight,
                target: slot.target.clone(),
                ttl_seconds: Some(records.ttl_seconds),
            };
            self.records.insert(key(records, slot), record);
        }
        self.applied.push((records.clone(), weights));
    }
}

impl TrafficRouter for MemoryRouter {
    async fn zone_domain(&self, zone_id: &str) -> Result<String, RouterError> {
        self.read("GetHostedZone", zone_id).await?;
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
        self.read("ListResourceRecordSets", &records.hosted_zone_id)
            .await?;
        let state = self.state.lock().unwrap();
        if !state.zones.contains_key(&records.hosted_zone_id) {
            return Err(RouterError::ZoneNotFound {
                zone: records.hosted_zone_id.clone(),
            });
        }
        Ok(state.read(records))
    }

    async fn set_weights(
        &self,
        records: &RecordSet,
        weights: WeightPair,
    ) -> Result<ChangeId, RouterError> {
        let hook = self.on_set.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        const OPERATION: &str = "ChangeResourceRecordSets";
        let zone = &records.hosted_zone_id;
        let fault = self.enter(OPERATION).await?;
        if let Some(fault @ (Fault::Fail | Fault::Busy)) = fault {
            return Err(injected(OPERATION, zone, fault));
        }
        let mut state = self.state.lock().unwrap();
        if !state.zones.contains_key(zone) {
            return Err(RouterError::ZoneNotFound { zone: zone.clone() });
        }
        let change = ChangeId(format!("C{}", state.changes.len() + 1));
        state.changes.push((change.clone(), weights));
        if fault == Some(Fault::Late) {
            state
                .late
                .push_back((change.clone(), records.clone(), weights));
            return Ok(change);
        }
        state.write(records, weights);
        drop(state);
        let after = self.after_set.lock().unwrap().take();
        if let Some(hook) = after {
            hook();
        }
        if fault == Some(Fault::Lost) {
            return Err(injected(OPERATION, zone, Fault::Lost));
        }
        Ok(change)
    }

    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus, RouterError> {
        self.read("GetChange", "-").await?;
        let mut state = self.state.lock().unwrap();
        if !state.changes.iter().any(|(c, _)| c == change) {
            return Err(RouterError::ChangeNotFound {
                change: change.0.clone(),
            });
        }
        if state.late.iter().any(|(c, _, _)| c == change) {
            return Ok(ChangeStatus::Pending);
        }
        // Route 53 applies changes in order: a change is in sync only once every change
        // accepted before it has landed. Those land now (after this later change's write).
        let earlier = |c: &ChangeId| sequence(c) < sequence(change);
        if state.late.iter().any(|(c, _, _)| earlier(c)) {
            while let Some(position) = state.late.iter().position(|(c, _, _)| earlier(c)) {
                let (_, records, weights) = state.late.remove(position).unwrap();
                state.write(&records, weights);
            }
            return Ok(ChangeStatus::Pending);
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
