//! The storage ports ([`ServiceConfigs`](sluice_core::ports::ServiceConfigs),
//! [`ServiceLocks`](sluice_core::ports::ServiceLocks), [`Deployments`](sluice_core::ports::Deployments),
//! [`TriggerLedger`](sluice_core::ports::TriggerLedger)) on one DynamoDB table (single-table design, DESIGN.md §4).
//!
//! | PK | SK | item |
//! |---|---|---|
//! | `SERVICE#<service>` | `LOCK` | `deploymentId`, `startedAt`, `leaseUntil`, `alarms`; `GSI1PK=LOCK`, `GSI1SK=SERVICE#<service>` (the sweep's list of held locks) |
//! | `ALARM#<alarm>` | `SERVICE#<service>` | index: the service whose lock names the alarm |
//! | `SERVICE#<service>` | `CONFIG` | `config`: the service's default spec as a map |
//! | `REPO#<repository, lower case>` | `SERVICE#<service>` | index: a service whose CONFIG releases from the repository (written with the CONFIG) |
//! | `SERVICE#<service>` | `STATE` | stable slot, version per slot, last deployment, queued release, `revision` |
//! | `SERVICE#<service>` | `DEPLOY#<started-at>#<id>` | the deployment's attributes; `GSI1PK=DEPLOY#<id>`, `GSI1SK=RECORD` |
//! | `DEPLOY#<id>` | `EVENT#<seq>` | one history event; `expiresAt` when history expires |
//! | `TRIGGER#<key>` | `-` | an incoming event's idempotency key; `expiresAt` |
//!
//! Writes that change a deployment are conditional on its `revision` and go in one
//! transaction with their history event (and, when it ends, with the service's `STATE`). Nothing is deleted but a released lock and its alarm
//! index items, and the repository index items of a repository a CONFIG no longer names.

mod configs;
mod deployments;
mod items;
pub mod keys;
mod locks;
mod states;
mod triggers;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_smithy_runtime_api::client::result::SdkError;
use sluice_core::HistoryEvent;
use sluice_core::ports::{DeploymentKey, ServiceLock, StorageFailure};

use crate::failure;
use items::Item;

/// A transaction holds at most this many items.
const TRANSACTION_ITEMS: usize = 100;
const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

/// Keeps deployments, their history, service locks and configs, and trigger keys in one
/// DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    history_ttl: Option<Duration>,
}

/// Why a transaction did not happen.
enum TransactFailure {
    /// DynamoDB cancelled it; one reason code per item, in the items' order (`None` where the
    /// item was fine).
    Cancelled(Vec<String>),
    Failed(StorageFailure),
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoDbStore {
        DynamoDbStore {
            client,
            table: table.into(),
            history_ttl: None,
        }
    }

    pub fn from_conf(config: &aws_config::SdkConfig, table: impl Into<String>) -> DynamoDbStore {
        DynamoDbStore::new(Client::new(config), table)
    }

    /// History events expire (DynamoDB TTL on `expiresAt`) this long after they happened.
    pub fn with_history_ttl(mut self, ttl: Duration) -> DynamoDbStore {
        self.history_ttl = Some(ttl);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn error<E, R>(
        &self,
        operation: &'static str,
        what: &str,
        error: &SdkError<E, R>,
    ) -> StorageFailure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let what = format!("{what} in table {}", self.table);
        let message = failure::describe(error);
        tracing::warn!(operation, %what, %message, "DynamoDB call failed");
        if failure::is_throttled(error) {
            StorageFailure::Throttled {
                operation,
                what,
                message,
            }
        } else {
            StorageFailure::Unavailable {
                operation,
                what,
                message,
            }
        }
    }

    fn build_error(&self, what: &str, error: impl std::fmt::Display) -> StorageFailure {
        StorageFailure::Unavailable {
            operation: "TransactWriteItems",
            what: format!("{what} in table {}", self.table),
            message: format!("could not build the request: {error}"),
        }
    }

    /// A strongly consistent read of one item.
    async fn get_item(&self, key: Item, what: &str) -> Result<Option<Item>, StorageFailure> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", what, &e))?;
        Ok(output.item().cloned())
    }

    /// Every item a query finds, following its pages.
    async fn query_all(
        &self,
        query: QueryFluentBuilder,
        what: &str,
    ) -> Result<Vec<Item>, StorageFailure> {
        query
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.error("Query", what, &e))
    }

    /// Every item a scan finds, following its pages.
    async fn scan_all(
        &self,
        scan: ScanFluentBuilder,
        what: &str,
    ) -> Result<Vec<Item>, StorageFailure> {
        scan.into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.error("Scan", what, &e))
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
        what: &str,
    ) -> Result<(), TransactFailure> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_client_request_token(token)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let mut codes: Vec<String> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect();
                    if codes.is_empty() {
                        codes = codes_from_message(cancelled.message().unwrap_or_default());
                    }
                    tracing::debug!(what, ?codes, "transaction cancelled");
                    Err(TransactFailure::Cancelled(codes))
                }
                Some(TransactWriteItemsError::IdempotentParameterMismatchException(_)) => {
                    // The same token with other content: another writer's change, a conflict.
                    Err(TransactFailure::Cancelled(vec![
                        CONDITIONAL_CHECK_FAILED.to_string(),
                    ]))
                }
                _ => Err(TransactFailure::Failed(self.error(
                    "TransactWriteItems",
                    what,
                    &error,
                ))),
            },
        }
    }

    /// A cancellation not caused by a failed condition: a concurrent transaction on the same
    /// items (worth retrying) or something else.
    fn cancelled(&self, what: &str, codes: &[String]) -> StorageFailure {
        let message = format!("transaction cancelled: [{}]", codes.join(", "));
        let what = format!("{what} in table {}", self.table);
        if codes
            .iter()
            .any(|c| c == "TransactionConflict" || c == "ThrottlingError")
        {
            StorageFailure::Throttled {
                operation: "TransactWriteItems",
                what,
                message,
            }
        } else {
            StorageFailure::Unavailable {
                operation: "TransactWriteItems",
                what,
                message,
            }
        }
    }

    fn put(
        &self,
        item: Item,
        condition: Option<Condition<'_>>,
    ) -> Result<TransactWriteItem, aws_sdk_dynamodb::error::BuildError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(condition) = condition {
            put = put
                .condition_expression(condition.expression)
                .set_expression_attribute_names(Some(names_map(&condition.names)))
                .set_expression_attribute_values(values_map(condition.values));
        }
        Ok(TransactWriteItem::builder().put(put.build()?).build())
    }

    fn event_expiry(&self, event: &HistoryEvent) -> Option<i64> {
        let ttl = chrono::Duration::from_std(self.history_ttl?).ok()?;
        Some((event.at + ttl).timestamp())
    }

    /// Writes the alarm index items that did not fit in the lock's transaction.
    async fn put_alarm_index(
        &self,
        alarms: &[&str],
        lock: &ServiceLock,
    ) -> Result<(), StorageFailure> {
        for alarm in alarms {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(items::alarm_index_item(alarm, lock)))
                .send()
                .await
                .map_err(|e| self.error("PutItem", &format!("alarm index of {alarm}"), &e))?;
        }
        Ok(())
    }
}

/// A condition on a write, with its attribute name and value placeholders.
struct Condition<'a> {
    expression: &'a str,
    names: Vec<(&'a str, &'a str)>,
    values: Vec<(&'a str, AttributeValue)>,
}

impl Condition<'static> {
    /// The item must not exist yet.
    fn absent() -> Condition<'static> {
        Condition {
            expression: "attribute_not_exists(#pk)",
            names: vec![("#pk", keys::PK)],
            values: Vec::new(),
        }
    }
}

fn names_map(names: &[(&str, &str)]) -> HashMap<String, String> {
    names
        .iter()
        .map(|(placeholder, name)| (placeholder.to_string(), name.to_string()))
        .collect()
}

fn values_map(values: Vec<(&str, AttributeValue)>) -> Option<HashMap<String, AttributeValue>> {
    (!values.is_empty()).then(|| {
        values
            .into_iter()
            .map(|(placeholder, value)| (placeholder.to_string(), value))
            .collect()
    })
}

/// `Transaction cancelled, please refer cancellation reasons for specific reasons [A, None]`.
fn codes_from_message(message: &str) -> Vec<String> {
    message
        .rsplit_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list.split(',').map(|c| c.trim().to_string()).collect())
        .unwrap_or_default()
}

fn condition_failed_at(codes: &[String], index: usize) -> bool {
    codes
        .get(index)
        .is_some_and(|c| c == CONDITIONAL_CHECK_FAILED)
}

/// A ClientRequestToken for one transaction, derived from its items. The SDK sends it again with
/// each retry of that call, so a retry after a lost answer is answered as the write it repeats
/// instead of failing its own condition; writes of other content never share a token.
fn request_token(parts: &[&Item]) -> String {
    let mut text = String::new();
    for item in parts {
        let mut attributes: Vec<_> = item.iter().collect();
        attributes.sort_by(|a, b| a.0.cmp(b.0));
        text.push_str(&format!("{attributes:?}|"));
    }
    let hash = |salt: u8| {
        let mut hasher = DefaultHasher::new();
        salt.hash(&mut hasher);
        text.hash(&mut hasher);
        hasher.finish()
    };
    format!("s{:016x}{:016x}", hash(1), hash(2))
}

fn lock_what(service: &str) -> String {
    format!("lock of service {service}")
}

fn deployment_what(key: &DeploymentKey) -> String {
    format!(
        "deployment {} of service {} ({})",
        key.id,
        key.service,
        keys::deploy_sk(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_codes_are_read_from_the_message_when_reasons_are_missing() {
        assert_eq!(
            codes_from_message(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]"
            ),
            ["ConditionalCheckFailed", "None"]
        );
        assert!(codes_from_message("no list").is_empty());
    }

    #[test]
    fn request_tokens_fit_dynamodb_and_follow_content() {
        let a = items::key("A".into(), "1");
        let b = items::key("A".into(), "2");
        let token = request_token(&[&a]);
        assert!(token.len() <= 36, "{token}");
        assert_eq!(token, request_token(&[&a.clone()]));
        assert_ne!(token, request_token(&[&b]));
    }
}
