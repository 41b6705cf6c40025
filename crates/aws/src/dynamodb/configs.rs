//! [`ServiceConfigs`] on the table: one `CONFIG` item per service, and one `REPO#` index item
//! per repository its release section names, written in the same transaction, so a release
//! tag finds its services with a query instead of a scan.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use serde_json::Value;
use sluice_core::ports::{ServiceConfigError, ServiceConfigs, StorageFailure};
use sluice_core::release::{repository_index_keys, repository_lookup_keys};

use super::items::{self, s};
use super::{DynamoDbStore, TRANSACTION_ITEMS, TransactFailure, keys};

impl ServiceConfigs for DynamoDbStore {
    async fn service_config(&self, service: &str) -> Result<Option<Value>, ServiceConfigError> {
        let item = self
            .get_item(
                items::key(keys::service_pk(service), keys::CONFIG_SK),
                &format!("config of service {service}"),
            )
            .await?;
        item.map(|item| items::config_from_item(&item).map(|(_, config)| config))
            .transpose()
            .map_err(Into::into)
    }

    /// The config and its repository index items in one transaction: index items of
    /// repositories the config no longer names are deleted. Two writers of one service's
    /// config at once can leave an extra index item; the trigger checks every config it finds
    /// against the tag's repository, so such an item starts nothing.
    async fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> Result<(), ServiceConfigError> {
        let what = format!("config of service {service}");
        let before: BTreeSet<String> = self
            .service_config(service)
            .await?
            .map(|old| repository_index_keys(&old).into_iter().collect())
            .unwrap_or_default();
        let after: BTreeSet<String> = repository_index_keys(config).into_iter().collect();
        let mut writes = vec![
            self.put(items::config_item(service, config)?, None)
                .map_err(|e| self.build_error(&what, e))?,
        ];
        for repository in &after {
            writes.push(
                self.put(items::repo_index_item(repository, service), None)
                    .map_err(|e| self.build_error(&what, e))?,
            );
        }
        for repository in before.difference(&after) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(items::key(
                    keys::repo_pk(repository),
                    keys::service_pk(service),
                )))
                .build()
                .map_err(|e| self.build_error(&what, e))?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        if writes.len() > TRANSACTION_ITEMS {
            return Err(StorageFailure::Corrupt {
                what,
                message: format!(
                    "the release section names {} repositories; at most {} fit",
                    after.len(),
                    TRANSACTION_ITEMS - 1
                ),
            }
            .into());
        }
        match self.transact(writes, None, &what).await {
            Ok(()) => {}
            Err(TransactFailure::Cancelled(codes)) => {
                return Err(self.cancelled(&what, &codes).into());
            }
            Err(TransactFailure::Failed(error)) => return Err(error.into()),
        }
        tracing::info!(service, table = %self.table, repositories = ?after, "service config stored");
        Ok(())
    }

    async fn services_released_from(
        &self,
        repository: &str,
    ) -> Result<Vec<(String, Value)>, ServiceConfigError> {
        let mut services = BTreeSet::new();
        for key in repository_lookup_keys(repository) {
            let what = format!("services released from {key}");
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":pk", s(keys::repo_pk(&key)))
                .consistent_read(true);
            for item in self.query_all(query, &what).await? {
                services.insert(items::service_of_repo_index(&item)?);
            }
        }
        let mut configs = Vec::new();
        for service in services {
            // An index item whose config is gone is left over from a removed service.
            if let Some(config) = self.service_config(&service).await? {
                configs.push((service, config));
            }
        }
        Ok(configs)
    }

    async fn service_configs(&self) -> Result<Vec<(String, Value)>, ServiceConfigError> {
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#sk = :config")
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":config", s(keys::CONFIG_SK));
        let mut configs = self
            .scan_all(scan, "service configs")
            .await?
            .iter()
            .map(items::config_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        configs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(configs)
    }
}
