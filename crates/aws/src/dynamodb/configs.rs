//! [`ServiceConfigs`] on the table: one `CONFIG` item per service.

use serde_json::Value;
use sluice_core::ports::{ServiceConfigError, ServiceConfigs};

use super::items::{self, s};
use super::{DynamoDbStore, keys};

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

    async fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> Result<(), ServiceConfigError> {
        let what = format!("config of service {service}");
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::config_item(service, config)?))
            .send()
            .await
            .map_err(|e| self.error("PutItem", &what, &e))?;
        tracing::info!(service, table = %self.table, "service config stored");
        Ok(())
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
