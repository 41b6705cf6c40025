//! [`TriggerLedger`] on the table: one `TRIGGER#` item per incoming event's key, expiring.

use chrono::{DateTime, Utc};
use sluice_core::ports::{
    StorageFailure, TriggerClaim, TriggerLedger, TriggerLedgerError, TriggerRecord,
};

use super::items::{self, n, s};
use super::{DynamoDbStore, keys};
use crate::failure;

impl TriggerLedger for DynamoDbStore {
    async fn claim_trigger(
        &self,
        key: &str,
        record: &TriggerRecord,
        expires_at: DateTime<Utc>,
    ) -> Result<TriggerClaim, TriggerLedgerError> {
        let what = format!("trigger key {key}");
        for _attempt in 0..3 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(items::trigger_item(key, record, expires_at)))
                // A key past its expiry that DynamoDB has not deleted yet counts as unseen.
                .condition_expression("attribute_not_exists(#pk) OR #exp < :now")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#exp", keys::EXPIRES_AT)
                .expression_attribute_values(":now", n(record.seen_at.timestamp()))
                .send()
                .await;
            match result {
                Ok(_) => {
                    tracing::info!(key, execution = %record.execution_name, "trigger claimed");
                    return Ok(TriggerClaim::New);
                }
                Err(error) if failure::code(&error) == Some("ConditionalCheckFailedException") => {
                    let stored = self
                        .get_item(items::key(keys::trigger_pk(key), keys::TRIGGER_SK), &what)
                        .await?;
                    match stored {
                        Some(item) => {
                            let seen = items::trigger_from_item(&item)?;
                            // Our own write, answered after a retry of the same call.
                            if seen.execution_name == record.execution_name
                                && seen.seen_at == record.seen_at
                            {
                                return Ok(TriggerClaim::New);
                            }
                            tracing::info!(key, execution = %seen.execution_name, "trigger seen before");
                            return Ok(TriggerClaim::Seen(seen));
                        }
                        None => continue,
                    }
                }
                Err(error) => return Err(self.error("PutItem", &what, &error).into()),
            }
        }
        Err(StorageFailure::Unavailable {
            operation: "PutItem",
            what: format!("{what} in table {}", self.table),
            message: "the key kept changing while it was being claimed".into(),
        }
        .into())
    }

    async fn complete_trigger(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> Result<(), TriggerLedgerError> {
        let what = format!("trigger key {key}");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::trigger_pk(key), keys::TRIGGER_SK)))
            .update_expression("SET #arn = :arn")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#arn", items::EXECUTION_ARN)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":arn", s(execution_arn))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if failure::code(&error) == Some("ConditionalCheckFailedException") => {
                // Expired and deleted, or never claimed: nothing to complete, and writing a
                // record without its execution name would only leave a broken key behind.
                tracing::warn!(
                    key,
                    execution_arn,
                    "trigger key not found; execution not recorded on it"
                );
                Ok(())
            }
            Err(error) => Err(self.error("UpdateItem", &what, &error).into()),
        }
    }
}
