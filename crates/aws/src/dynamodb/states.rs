//! [`ServiceStates`] on the table: one `STATE` item per service, every write conditional on the
//! revision it read; queueing a release is one transaction with a check that the service's
//! lock is held.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use chrono::{DateTime, Utc};
use sluice_core::ports::{QueueWrite, ServiceStateError, ServiceStates, StorageFailure};
use sluice_core::service_state::{QueuedRelease, ServiceState};

use super::items::{self, n, s};
use super::{Condition, DynamoDbStore, TransactFailure, condition_failed_at, keys};

/// How often a write re-reads a state item that changed underneath before giving up.
const STATE_ATTEMPTS: usize = 5;

pub(super) fn state_what(service: &str) -> String {
    format!("state of service {service}")
}

impl DynamoDbStore {
    /// The service's state item, strongly consistent.
    pub(super) async fn read_state(
        &self,
        service: &str,
    ) -> Result<Option<ServiceState>, StorageFailure> {
        self.get_item(
            items::key(keys::service_pk(service), keys::STATE_SK),
            &state_what(service),
        )
        .await?
        .map(|item| items::state_from_item(&item))
        .transpose()
    }

    /// A put of `state`, whose revision is already the new one: conditional on the stored item
    /// being the revision before (or absent, for the first).
    pub(super) fn state_put(
        &self,
        state: &ServiceState,
    ) -> Result<TransactWriteItem, StorageFailure> {
        let what = state_what(&state.service);
        let item = items::state_item(state)?;
        let condition = if state.revision <= 1 {
            Condition::absent()
        } else {
            Condition {
                expression: "#rev = :read",
                names: vec![("#rev", items::REVISION)],
                values: vec![(":read", n(state.revision - 1))],
            }
        };
        self.put(item, Some(condition))
            .map_err(|e| self.build_error(&what, e))
    }
}

impl ServiceStates for DynamoDbStore {
    async fn service_state(
        &self,
        service: &str,
    ) -> Result<Option<ServiceState>, ServiceStateError> {
        Ok(self.read_state(service).await?)
    }

    async fn queue_release(
        &self,
        service: &str,
        release: &QueuedRelease,
        now: DateTime<Utc>,
    ) -> Result<QueueWrite, ServiceStateError> {
        let what = format!("queued release {} of service {service}", release.version);
        for _attempt in 0..STATE_ATTEMPTS {
            let mut state = self
                .read_state(service)
                .await?
                .unwrap_or_else(|| ServiceState::new(service));
            let change = state.queue(release.clone());
            state.revision += 1;
            let lock_held = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(items::key(keys::service_pk(service), keys::LOCK_SK)))
                .condition_expression("attribute_exists(#pk) AND #lease >= :now")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#lease", items::LEASE_UNTIL)
                .expression_attribute_values(":now", s(keys::instant(now)))
                .build()
                .map_err(|e| self.build_error(&what, e))?;
            let put = self.state_put(&state)?;
            // No request token: a retry after a lost answer fails the revision condition,
            // reads the release queued and queues it again, which changes nothing.
            let writes = vec![
                TransactWriteItem::builder()
                    .condition_check(lock_held)
                    .build(),
                put,
            ];
            match self.transact(writes, None, &what).await {
                Ok(()) => {
                    tracing::info!(service, version = %release.version, ?change, "release queued");
                    return Ok(QueueWrite::Queued(change));
                }
                Err(TransactFailure::Cancelled(codes)) if condition_failed_at(&codes, 0) => {
                    tracing::info!(service, version = %release.version, "lock free; nothing queued");
                    return Ok(QueueWrite::LockFree);
                }
                Err(TransactFailure::Cancelled(codes)) if condition_failed_at(&codes, 1) => {
                    continue;
                }
                Err(TransactFailure::Cancelled(codes)) => {
                    return Err(self.cancelled(&what, &codes).into());
                }
                Err(TransactFailure::Failed(error)) => return Err(error.into()),
            }
        }
        Err(ServiceStateError::Contended {
            service: service.to_string(),
            what,
        })
    }

    async fn update_service_state<F>(
        &self,
        service: &str,
        change: F,
    ) -> Result<ServiceState, ServiceStateError>
    where
        F: Fn(&mut ServiceState) -> bool + Send + Sync,
    {
        let what = state_what(service);
        for _attempt in 0..STATE_ATTEMPTS {
            let mut state = self
                .read_state(service)
                .await?
                .unwrap_or_else(|| ServiceState::new(service));
            if !change(&mut state) {
                return Ok(state);
            }
            state.revision += 1;
            match self
                .transact(vec![self.state_put(&state)?], None, &what)
                .await
            {
                Ok(()) => return Ok(state),
                Err(TransactFailure::Cancelled(codes)) if condition_failed_at(&codes, 0) => {
                    continue;
                }
                Err(TransactFailure::Cancelled(codes)) => {
                    return Err(self.cancelled(&what, &codes).into());
                }
                Err(TransactFailure::Failed(error)) => return Err(error.into()),
            }
        }
        Err(ServiceStateError::Contended {
            service: service.to_string(),
            what,
        })
    }
}
