//! Moving traffic between a deployment's stable and canary slots: the weighted record set and
//! the port that changes it.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::deployment::Deployment;
use crate::plan::WeightPair;
use crate::slots::SlotRoles;
use crate::spec::{DeploymentSpec, RecordType};

/// One slot's weighted record as a deployment writes it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotRecord {
    /// The slot's name: the record's set identifier.
    pub slot: String,
    pub target: String,
    /// Set for an alias record: the target's own hosted zone id.
    pub alias_hosted_zone_id: Option<String>,
}

/// The weighted record set a deployment moves traffic through: two records with the same name
/// and type, one per slot, in their roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSet {
    pub hosted_zone_id: String,
    pub name: String,
    pub record_type: RecordType,
    pub ttl_seconds: u32,
    pub stable: SlotRecord,
    pub canary: SlotRecord,
}

impl RecordSet {
    /// The spec's records with `roles` (slots the spec does not name get an empty target,
    /// which a validated spec never has).
    pub fn with_roles(spec: &DeploymentSpec, roles: &SlotRoles) -> RecordSet {
        let slot = |name: &String| {
            let spec_slot = spec.slots.get(name);
            SlotRecord {
                slot: name.clone(),
                target: spec_slot.map(|s| s.target.clone()).unwrap_or_default(),
                alias_hosted_zone_id: spec_slot.and_then(|s| s.alias_hosted_zone_id.clone()),
            }
        };
        RecordSet {
            hosted_zone_id: spec.hosted_zone_id.clone(),
            name: spec.record_name.clone(),
            record_type: spec.record_type,
            ttl_seconds: spec.ttl_seconds,
            stable: slot(&roles.stable),
            canary: slot(&roles.canary),
        }
    }

    /// The records of a deployment, in its roles.
    pub fn of(deployment: &Deployment) -> RecordSet {
        RecordSet::with_roles(&deployment.spec, &deployment.roles)
    }

    /// The same records with the roles swapped.
    pub fn swapped(self) -> RecordSet {
        RecordSet {
            stable: self.canary,
            canary: self.stable,
            ..self
        }
    }

    pub fn roles(&self) -> SlotRoles {
        SlotRoles::new(self.stable.slot.clone(), self.canary.slot.clone())
    }

    /// "api.example.com. CNAME in zone Z…", for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} in zone {}",
            self.name,
            self.record_type.as_str(),
            self.hosted_zone_id
        )
    }
}

/// One weighted record as Route 53 holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedRecord {
    pub weight: u8,
    pub target: String,
    pub ttl_seconds: Option<u32>,
}

/// The stable and canary slots' records found under a record set's name and type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WeightedRecords {
    pub stable: Option<WeightedRecord>,
    pub canary: Option<WeightedRecord>,
}

impl WeightedRecords {
    /// The weights, when both records exist and are not both 0.
    pub fn weights(&self) -> Option<WeightPair> {
        WeightPair::new(self.stable.as_ref()?.weight, self.canary.as_ref()?.weight).ok()
    }
}

/// A Route 53 change id, as returned by ChangeResourceRecordSets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(pub String);

impl std::fmt::Display for ChangeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeStatus {
    Pending,
    InSync,
}

#[derive(Debug, Error)]
pub enum RouterError {
    #[error("hosted zone {zone} does not exist")]
    ZoneNotFound { zone: String },
    #[error("Route 53 rejected the change to {name} in zone {zone}: {message}")]
    InvalidChange {
        zone: String,
        name: String,
        message: String,
    },
    #[error("Route 53 change {change} does not exist")]
    ChangeNotFound { change: String },
    #[error("Route 53 change {change} was not in sync after {waited:?}")]
    SyncTimeout { change: String, waited: Duration },
    #[error("Route 53 {operation} on zone {zone} was throttled or busy after retries: {message}")]
    Throttled {
        operation: &'static str,
        zone: String,
        message: String,
    },
    #[error("Route 53 {operation} on zone {zone} failed: {message}")]
    Unavailable {
        operation: &'static str,
        zone: String,
        message: String,
    },
}

impl RouterError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RouterError::Throttled { .. }
                | RouterError::Unavailable { .. }
                | RouterError::SyncTimeout { .. }
        )
    }
}

/// Moves traffic between a record set's two slots.
pub trait TrafficRouter: Send + Sync {
    /// The hosted zone's domain, e.g. `example.com.`.
    fn zone_domain(
        &self,
        zone_id: &str,
    ) -> impl Future<Output = Result<String, RouterError>> + Send;

    /// The two slots' records under the record set's name and type.
    fn read_weights(
        &self,
        records: &RecordSet,
    ) -> impl Future<Output = Result<WeightedRecords, RouterError>> + Send;

    /// Sets both weights in one change batch, so there is never a moment with both at 0.
    fn set_weights(
        &self,
        records: &RecordSet,
        weights: WeightPair,
    ) -> impl Future<Output = Result<ChangeId, RouterError>> + Send;

    /// One look at a change's status.
    fn change_status(
        &self,
        change: &ChangeId,
    ) -> impl Future<Output = Result<ChangeStatus, RouterError>> + Send;

    /// Polls a change, with backoff, until it is in sync or `timeout` has passed.
    fn wait_for_sync(
        &self,
        change: &ChangeId,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), RouterError>> + Send;
}
