//! [`ServiceLocks`] on the table: one `LOCK` item per service, and `ALARM#` index items naming
//! the services whose lock watches an alarm.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use chrono::{DateTime, Utc};
use sluice_core::DeploymentId;
use sluice_core::ports::{LockError, ServiceLock, ServiceLocks, StorageFailure};

use super::items::{self, Item, s};
use super::{
    Condition, DynamoDbStore, TRANSACTION_ITEMS, TransactFailure, condition_failed_at, keys,
    lock_what,
};
use crate::failure;

impl ServiceLocks for DynamoDbStore {
    async fn acquire_lock(&self, lock: &ServiceLock, now: DateTime<Utc>) -> Result<(), LockError> {
        let service = &lock.deployment.service;
        let me = &lock.deployment.id;
        let what = format!("{} for deployment {me}", lock_what(service));
        let alarms: Vec<&str> = lock
            .alarms
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (in_transaction, later) = alarms.split_at(alarms.len().min(TRANSACTION_ITEMS - 1));
        // A lease read back expired or released between the attempt and the read is tried again.
        for _attempt in 0..3 {
            let mut writes = vec![
                self.put(
                    items::lock_item(lock),
                    Some(Condition {
                        expression: "attribute_not_exists(#pk) OR #lease < :now OR #dep = :me",
                        names: vec![
                            ("#pk", keys::PK),
                            ("#lease", items::LEASE_UNTIL),
                            ("#dep", items::DEPLOYMENT_ID),
                        ],
                        values: vec![(":now", s(keys::instant(now))), (":me", s(me.as_str()))],
                    }),
                )
                .map_err(|e| self.build_error(&what, e))?,
            ];
            for alarm in in_transaction {
                writes.push(
                    self.put(items::alarm_index_item(alarm, lock), None)
                        .map_err(|e| self.build_error(&what, e))?,
                );
            }
            match self.transact(writes, None, &what).await {
                Ok(()) => {
                    self.put_alarm_index(later, lock).await?;
                    tracing::info!(service, deployment = %me, lease_until = %lock.lease_until, "lock acquired");
                    return Ok(());
                }
                Err(TransactFailure::Cancelled(codes)) if condition_failed_at(&codes, 0) => {
                    match self.lock(service).await? {
                        Some(holder)
                            if holder.deployment.id != *me && holder.lease_until >= now =>
                        {
                            tracing::info!(service, deployment = %me, holder = %holder.deployment.id, "lock held");
                            return Err(LockError::LockHeld {
                                service: service.clone(),
                                holder: holder.deployment.id,
                                lease_until: holder.lease_until,
                            });
                        }
                        _ => continue,
                    }
                }
                Err(TransactFailure::Cancelled(codes)) => {
                    return Err(self.cancelled(&what, &codes).into());
                }
                Err(TransactFailure::Failed(error)) => return Err(error.into()),
            }
        }
        Err(StorageFailure::Unavailable {
            operation: "TransactWriteItems",
            what: format!("{what} in table {}", self.table),
            message: "the lock kept changing while it was being taken".into(),
        }
        .into())
    }

    async fn release_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
    ) -> Result<(), LockError> {
        let what = format!("{} for deployment {deployment}", lock_what(service));
        let Some(current) = self.lock(service).await? else {
            return Ok(());
        };
        if current.deployment.id != *deployment {
            tracing::debug!(service, %deployment, holder = %current.deployment.id, "lock held by another deployment, not released");
            return Ok(());
        }
        let alarms: Vec<&str> = current
            .alarms
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (in_transaction, later) = alarms.split_at(alarms.len().min(TRANSACTION_ITEMS - 1));
        let delete = |key: Item, condition: bool| {
            let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key));
            if condition {
                delete = delete
                    .condition_expression("#dep = :me")
                    .expression_attribute_names("#dep", items::DEPLOYMENT_ID)
                    .expression_attribute_values(":me", s(deployment.as_str()));
            }
            delete
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(|e| self.build_error(&what, e))
        };
        let mut writes = vec![delete(
            items::key(keys::service_pk(service), keys::LOCK_SK),
            true,
        )?];
        for alarm in in_transaction {
            writes.push(delete(
                items::key(keys::alarm_pk(alarm), keys::service_pk(service)),
                false,
            )?);
        }
        match self.transact(writes, None, &what).await {
            Ok(()) => {}
            // Taken over meanwhile: not ours to release.
            Err(TransactFailure::Cancelled(codes)) if condition_failed_at(&codes, 0) => {
                return Ok(());
            }
            Err(TransactFailure::Cancelled(codes)) => {
                return Err(self.cancelled(&what, &codes).into());
            }
            Err(TransactFailure::Failed(error)) => return Err(error.into()),
        }
        for alarm in later {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(items::key(
                    keys::alarm_pk(alarm),
                    keys::service_pk(service),
                )))
                .send()
                .await
                .map_err(|e| self.error("DeleteItem", &format!("alarm index of {alarm}"), &e))?;
        }
        tracing::info!(service, %deployment, "lock released");
        Ok(())
    }

    async fn renew_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
        lease_until: DateTime<Utc>,
    ) -> Result<(), LockError> {
        let what = format!("{} for deployment {deployment}", lock_what(service));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::service_pk(service), keys::LOCK_SK)))
            .update_expression("SET #lease = :until")
            .condition_expression("#dep = :me")
            .expression_attribute_names("#lease", items::LEASE_UNTIL)
            .expression_attribute_names("#dep", items::DEPLOYMENT_ID)
            .expression_attribute_values(":until", s(keys::instant(lease_until)))
            .expression_attribute_values(":me", s(deployment.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::debug!(service, %deployment, %lease_until, "lease renewed");
                Ok(())
            }
            Err(error) if failure::code(&error) == Some("ConditionalCheckFailedException") => {
                Err(LockError::NotHeld {
                    service: service.to_string(),
                    deployment: deployment.clone(),
                })
            }
            Err(error) => Err(self.error("UpdateItem", &what, &error).into()),
        }
    }

    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, LockError> {
        self.get_item(
            items::key(keys::service_pk(service), keys::LOCK_SK),
            &lock_what(service),
        )
        .await?
        .map(|item| items::lock_from_item(&item))
        .transpose()
        .map_err(Into::into)
    }

    /// One query of GSI1's `LOCK` partition (every lock item carries it), never a scan. The
    /// index is eventually consistent: a lock taken a moment ago may be missing, which is
    /// harmless for the reconciler's sweep (such a lock is certainly live).
    async fn locked_services(&self) -> Result<Vec<String>, LockError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#g1pk = :locks")
            .projection_expression("#pk")
            .expression_attribute_names("#g1pk", keys::GSI1PK)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":locks", s(keys::LOCKS_GSI1PK));
        let mut services: Vec<String> = self
            .query_all(query, "service locks")
            .await?
            .iter()
            .filter_map(|item| match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => {
                    pk.strip_prefix(keys::SERVICE_PREFIX).map(str::to_string)
                }
                _ => None,
            })
            .collect();
        services.sort();
        services.dedup();
        Ok(services)
    }

    async fn locks_for_alarm(&self, alarm: &str) -> Result<Vec<ServiceLock>, LockError> {
        let what = format!("locks of alarm {alarm}");
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(keys::alarm_pk(alarm)))
            .consistent_read(true);
        let services: BTreeSet<String> = self
            .query_all(query, &what)
            .await?
            .iter()
            .map(items::service_of_alarm_index)
            .collect::<Result<_, _>>()?;
        let mut locks = Vec::new();
        for service in services {
            if let Some(lock) = self.lock(&service).await?
                && lock.alarms.iter().any(|a| a == alarm)
            {
                locks.push(lock);
            }
        }
        Ok(locks)
    }
}
