//! A service's state across deployments (`SERVICE#<s>` / `STATE`): which slot is stable, which
//! version each slot last received, how the last deployment ended, and the release queued to
//! start when the running one ends. The pure rules of how it changes live here; the stores
//! only read it and write it conditionally.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deployment::{Deployment, DeploymentId, Status};
use crate::slots::SlotRoles;

/// How many superseded releases the state keeps, newest last.
pub const SUPERSEDED_KEPT: usize = 10;

/// One service's state item.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceState {
    pub service: String,
    /// The slot that carries all traffic after the last deployment ended; `None` until one did.
    pub stable_slot: Option<String>,
    /// The version each slot last received (as a deployment's canary), by slot name.
    #[serde(default)]
    pub slot_versions: BTreeMap<String, String>,
    pub last_deployment: Option<LastDeployment>,
    /// The release that starts when the running deployment ends (latest wins).
    pub queued: Option<QueuedRelease>,
    /// Releases replaced in the queue by a later one before they started, newest last.
    #[serde(default)]
    pub superseded: Vec<SupersededRelease>,
    /// Locks released without a deployment record to end (Validate stopped between taking the
    /// lock and writing the record), newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released_locks: Vec<ReleasedLock>,
    /// Bumped by every write; each write is conditional on the revision it read.
    #[serde(default)]
    pub revision: u64,
}

/// How the service's last deployment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastDeployment {
    pub id: DeploymentId,
    pub version: String,
    pub canary_slot: String,
    pub status: Status,
    pub ended_at: DateTime<Utc>,
}

/// A release waiting for the service's running deployment to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedRelease {
    pub version: String,
    /// The deployment request it starts with (the execution's input).
    pub request: Value,
    /// Derived from service and version, so starting it twice starts one execution.
    pub execution_name: String,
    /// Who queued it: a trigger's idempotency key, or `cli:<who>`.
    pub source: String,
    pub queued_at: DateTime<Utc>,
}

/// A queued release that a later one replaced before it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupersededRelease {
    pub version: String,
    pub execution_name: String,
    pub source: String,
    pub queued_at: DateTime<Utc>,
    pub superseded_by: String,
    pub superseded_at: DateTime<Utc>,
}

/// A lock released although no deployment record ended: who released it and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleasedLock {
    pub deployment: DeploymentId,
    pub released_by: String,
    pub reason: String,
    pub released_at: DateTime<Utc>,
}

/// How many released locks a state item keeps.
pub const RELEASED_LOCKS_KEPT: usize = 20;

/// What queueing a release changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum QueueChange {
    /// Queued; nothing was waiting.
    Queued,
    /// The same version was already queued (a repeated request): nothing changed.
    AlreadyQueued,
    /// Queued in place of an earlier release, now recorded as superseded.
    Replaced { superseded: SupersededRelease },
}

impl ServiceState {
    /// The state of a service no deployment has ended for yet.
    pub fn new(service: impl Into<String>) -> ServiceState {
        ServiceState {
            service: service.into(),
            stable_slot: None,
            slot_versions: BTreeMap::new(),
            last_deployment: None,
            queued: None,
            superseded: Vec::new(),
            released_locks: Vec::new(),
            revision: 0,
        }
    }

    /// Records how `deployment` ended: promoted, its canary slot becomes stable; rolled back,
    /// taken over or failed, its stable slot stays stable. Either way the canary slot last
    /// received its version. Returns false (and changes nothing) while it has not ended, or when
    /// its end is recorded already.
    pub fn record_end(&mut self, deployment: &Deployment) -> bool {
        if !deployment.status.is_terminal() {
            return false;
        }
        if self
            .last_deployment
            .as_ref()
            .is_some_and(|last| last.id == deployment.id)
        {
            return false;
        }
        let roles = &deployment.roles;
        let stable = if deployment.status == Status::Promoted {
            &roles.canary
        } else {
            &roles.stable
        };
        self.stable_slot = Some(stable.clone());
        self.slot_versions
            .insert(roles.canary.clone(), deployment.spec.version.clone());
        self.last_deployment = Some(LastDeployment {
            id: deployment.id.clone(),
            version: deployment.spec.version.clone(),
            canary_slot: roles.canary.clone(),
            status: deployment.status,
            ended_at: deployment
                .outcome
                .as_ref()
                .map(|o| o.at)
                .unwrap_or(deployment.updated_at),
        });
        true
    }

    /// Queues `release`: the latest request wins, and the release it replaces is recorded as
    /// superseded (the newest [`SUPERSEDED_KEPT`] are kept). The same version queued again
    /// changes nothing.
    pub fn queue(&mut self, release: QueuedRelease) -> QueueChange {
        let Some(earlier) = self.queued.take() else {
            self.queued = Some(release);
            return QueueChange::Queued;
        };
        if earlier.version == release.version {
            self.queued = Some(earlier);
            return QueueChange::AlreadyQueued;
        }
        let superseded = self.supersede(earlier, &release.version, release.queued_at);
        self.queued = Some(release);
        QueueChange::Replaced { superseded }
    }

    /// Removes the queued release if it is still `version` (it has been started); true when
    /// it did.
    pub fn clear_queued(&mut self, version: &str) -> bool {
        if self.queued.as_ref().is_some_and(|q| q.version == version) {
            self.queued = None;
            true
        } else {
            false
        }
    }

    /// A release started directly (nothing was running) is newer than whatever waits in the
    /// queue: the waiting one, if it is another version, is superseded by it.
    pub fn supersede_queued(
        &mut self,
        by_version: &str,
        at: DateTime<Utc>,
    ) -> Option<SupersededRelease> {
        let earlier = self.queued.take_if(|q| q.version != by_version)?;
        Some(self.supersede(earlier, by_version, at))
    }

    fn supersede(
        &mut self,
        earlier: QueuedRelease,
        by_version: &str,
        at: DateTime<Utc>,
    ) -> SupersededRelease {
        let superseded = SupersededRelease {
            version: earlier.version,
            execution_name: earlier.execution_name,
            source: earlier.source,
            queued_at: earlier.queued_at,
            superseded_by: by_version.to_string(),
            superseded_at: at,
        };
        self.superseded.push(superseded.clone());
        let excess = self.superseded.len().saturating_sub(SUPERSEDED_KEPT);
        self.superseded.drain(..excess);
        superseded
    }

    /// Records a lock released without its deployment record (the newest
    /// [`RELEASED_LOCKS_KEPT`] are kept); false when that one is recorded already.
    pub fn record_released_lock(&mut self, released: ReleasedLock) -> bool {
        if self
            .released_locks
            .iter()
            .any(|r| r.deployment == released.deployment)
        {
            return false;
        }
        self.released_locks.push(released);
        let excess = self
            .released_locks
            .len()
            .saturating_sub(RELEASED_LOCKS_KEPT);
        self.released_locks.drain(..excess);
        true
    }

    /// What to say when the recorded stable slot is not the one the live weights make stable
    /// (`roles`, as Validate read them); `None` when they agree or nothing is recorded yet.
    pub fn disagreement(&self, roles: &SlotRoles) -> Option<String> {
        let recorded = self.stable_slot.as_ref()?;
        if *recorded == roles.stable {
            return None;
        }
        let after = self
            .last_deployment
            .as_ref()
            .map(|last| {
                format!(
                    " after deployment {} ({} {})",
                    last.id, last.version, last.status
                )
            })
            .unwrap_or_default();
        Some(format!(
            "the service state of {} records {recorded} as the stable slot{after}, but the live \
             weights put all traffic on {}: set the weights back to {recorded}, or correct the \
             STATE item, before a deployment starts",
            self.service, roles.stable
        ))
    }
}

#[cfg(test)]
mod tests;
