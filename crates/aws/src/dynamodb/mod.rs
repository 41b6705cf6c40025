//! [`DeploymentStore`] on one DynamoDB table (single-table design, DESIGN.md §4).
//!
//! | PK | SK | item |
//! |---|---|---|
//! | `SERVICE#<service>` | `LOCK` | `deploymentId`, `startedAt`, `leaseUntil`, `alarms` |
//! | `ALARM#<alarm>` | `SERVICE#<service>` | index: the service whose lock names the alarm |
//! | `SERVICE#<service>` | `CONFIG` | `config`: the service's default spec as a map |
//! | `SERVICE#<service>` | `DEPLOY#<started-at>#<id>` | the deployment's attributes; `GSI1PK=DEPLOY#<id>`, `GSI1SK=RECORD` |
//! | `DEPLOY#<id>` | `EVENT#<seq>` | one history event; `expiresAt` when history expires |
//! | `TRIGGER#<key>` | `-` | an incoming event's idempotency key; `expiresAt` |
//!
//! Writes that change a deployment are conditional on its `revision` and go in one
//! transaction with their history event. Nothing is deleted but a released lock and its alarm
//! index items.

mod items;
pub mod keys;

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_smithy_runtime_api::client::result::SdkError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::ports::{
    DeploymentKey, DeploymentStore, ServiceLock, StoreError, TriggerClaim, TriggerRecord,
};
use sluice_core::{Deployment, DeploymentId, HistoryEvent};

use crate::failure;
use items::{Item, n, s};

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
    Failed(StoreError),
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

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn error<E, R>(&self, operation: &'static str, what: &str, error: &SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let what = format!("{what} in table {}", self.table);
        let message = failure::describe(error);
        tracing::warn!(operation, %what, %message, "DynamoDB call failed");
        if failure::is_throttled(error) {
            StoreError::Throttled {
                operation,
                what,
                message,
            }
        } else {
            StoreError::Unavailable {
                operation,
                what,
                message,
            }
        }
    }

    fn build_error(&self, what: &str, error: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable {
            operation: "TransactWriteItems",
            what: format!("{what} in table {}", self.table),
            message: format!("could not build the request: {error}"),
        }
    }

    /// A strongly consistent read of one item.
    async fn get_item(&self, key: Item, what: &str) -> Result<Option<Item>, StoreError> {
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
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.error("Query", what, &e))?;
            found.extend(output.items().iter().cloned());
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(found),
            }
        }
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
    fn cancelled(&self, what: &str, codes: &[String]) -> StoreError {
        let message = format!("transaction cancelled: [{}]", codes.join(", "));
        let what = format!("{what} in table {}", self.table);
        if codes
            .iter()
            .any(|c| c == "TransactionConflict" || c == "ThrottlingError")
        {
            StoreError::Throttled {
                operation: "TransactWriteItems",
                what,
                message,
            }
        } else {
            StoreError::Unavailable {
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
    async fn put_alarm_index(&self, alarms: &[&str], lock: &ServiceLock) -> Result<(), StoreError> {
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

impl DeploymentStore for DynamoDbStore {
    async fn service_config(&self, service: &str) -> Result<Option<Value>, StoreError> {
        let item = self
            .get_item(
                items::key(keys::service_pk(service), keys::CONFIG_SK),
                &format!("config of service {service}"),
            )
            .await?;
        item.map(|item| items::config_from_item(&item).map(|(_, config)| config))
            .transpose()
    }

    async fn put_service_config(&self, service: &str, config: &Value) -> Result<(), StoreError> {
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

    async fn service_configs(&self) -> Result<Vec<(String, Value)>, StoreError> {
        let what = "service configs";
        let mut configs = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :config")
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":config", s(keys::CONFIG_SK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.error("Scan", what, &e))?;
            for item in output.items() {
                configs.push(items::config_from_item(item)?);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        configs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(configs)
    }

    async fn acquire_lock(&self, lock: &ServiceLock, now: DateTime<Utc>) -> Result<(), StoreError> {
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
                            return Err(StoreError::LockHeld {
                                service: service.clone(),
                                holder: holder.deployment.id,
                                lease_until: holder.lease_until,
                            });
                        }
                        _ => continue,
                    }
                }
                Err(TransactFailure::Cancelled(codes)) => return Err(self.cancelled(&what, &codes)),
                Err(TransactFailure::Failed(error)) => return Err(error),
            }
        }
        Err(StoreError::Unavailable {
            operation: "TransactWriteItems",
            what: format!("{what} in table {}", self.table),
            message: "the lock kept changing while it was being taken".into(),
        })
    }

    async fn release_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
    ) -> Result<(), StoreError> {
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
            Err(TransactFailure::Cancelled(codes)) => return Err(self.cancelled(&what, &codes)),
            Err(TransactFailure::Failed(error)) => return Err(error),
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

    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, StoreError> {
        self.get_item(
            items::key(keys::service_pk(service), keys::LOCK_SK),
            &lock_what(service),
        )
        .await?
        .map(|item| items::lock_from_item(&item))
        .transpose()
    }

    async fn locks_for_alarm(&self, alarm: &str) -> Result<Vec<ServiceLock>, StoreError> {
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

    async fn create(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> Result<(), StoreError> {
        let key = DeploymentKey::of(deployment);
        let what = deployment_what(&key);
        let record = items::deployment_item(deployment)?;
        let history = items::event_item(&deployment.id, event, self.event_expiry(event))?;
        let token = request_token(&[&record, &history]);
        let writes = vec![
            self.put(record, Some(Condition::absent()))
                .map_err(|e| self.build_error(&what, e))?,
            self.put(history, Some(Condition::absent()))
                .map_err(|e| self.build_error(&what, e))?,
        ];
        match self.transact(writes, Some(token), &what).await {
            Ok(()) => {
                tracing::info!(deployment = %deployment.id, service = %deployment.service, "deployment created");
                Ok(())
            }
            Err(TransactFailure::Cancelled(codes))
                if codes.iter().any(|c| c == CONDITIONAL_CHECK_FAILED) =>
            {
                Err(StoreError::AlreadyExists {
                    id: deployment.id.clone(),
                })
            }
            Err(TransactFailure::Cancelled(codes)) => Err(self.cancelled(&what, &codes)),
            Err(TransactFailure::Failed(error)) => Err(error),
        }
    }

    async fn get(&self, key: &DeploymentKey) -> Result<Option<Deployment>, StoreError> {
        self.get_item(
            items::key(keys::service_pk(&key.service), keys::deploy_sk(key)),
            &deployment_what(key),
        )
        .await?
        .map(|item| items::deployment_from_item(&item))
        .transpose()
    }

    async fn find(&self, id: &DeploymentId) -> Result<Option<Deployment>, StoreError> {
        let what = format!("deployment {id} (by id)");
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#g1pk = :pk AND #g1sk = :record")
            .expression_attribute_names("#g1pk", keys::GSI1PK)
            .expression_attribute_names("#g1sk", keys::GSI1SK)
            .expression_attribute_values(":pk", s(keys::deploy_pk(id)))
            .expression_attribute_values(":record", s(keys::RECORD_GSI1SK));
        let found = self.query_all(query, &what).await?;
        found.first().map(items::deployment_from_item).transpose()
    }

    async fn save(&self, deployment: &Deployment, event: &HistoryEvent) -> Result<(), StoreError> {
        let key = DeploymentKey::of(deployment);
        let what = deployment_what(&key);
        let expected = deployment.revision.saturating_sub(1);
        let conflict = || StoreError::RevisionConflict {
            id: deployment.id.clone(),
            expected,
        };
        let record = items::deployment_item(deployment)?;
        let history = items::event_item(&deployment.id, event, self.event_expiry(event))?;
        let token = request_token(&[&record, &history]);
        let writes = vec![
            self.put(
                record,
                Some(Condition {
                    expression: "#rev = :expected",
                    names: vec![("#rev", items::REVISION)],
                    values: vec![(":expected", n(expected))],
                }),
            )
            .map_err(|e| self.build_error(&what, e))?,
            self.put(history, Some(Condition::absent()))
                .map_err(|e| self.build_error(&what, e))?,
        ];
        match self.transact(writes, Some(token), &what).await {
            Ok(()) => {
                tracing::info!(
                    deployment = %deployment.id,
                    status = %deployment.status,
                    revision = deployment.revision,
                    "deployment saved"
                );
                Ok(())
            }
            Err(TransactFailure::Cancelled(codes))
                if codes.iter().any(|c| c == CONDITIONAL_CHECK_FAILED) =>
            {
                tracing::info!(deployment = %deployment.id, expected, "revision conflict");
                Err(conflict())
            }
            Err(TransactFailure::Cancelled(codes)) => Err(self.cancelled(&what, &codes)),
            Err(TransactFailure::Failed(error)) => Err(error),
        }
    }

    async fn history(&self, id: &DeploymentId) -> Result<Vec<HistoryEvent>, StoreError> {
        let what = format!("history of deployment {id}");
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :event)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::deploy_pk(id)))
            .expression_attribute_values(":event", s(keys::EVENT_SK_PREFIX))
            .consistent_read(true)
            .scan_index_forward(true);
        self.query_all(query, &what)
            .await?
            .iter()
            .map(items::event_from_item)
            .collect()
    }

    async fn list(&self, service: &str, limit: usize) -> Result<Vec<Deployment>, StoreError> {
        let what = format!("deployments of service {service}");
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        while found.len() < limit {
            let page = i32::try_from(limit - found.len())
                .unwrap_or(i32::MAX)
                .min(100);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :deploy)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(keys::service_pk(service)))
                .expression_attribute_values(":deploy", s(keys::DEPLOY_SK_PREFIX))
                .scan_index_forward(false)
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.error("Query", &what, &e))?;
            for item in output.items() {
                found.push(items::deployment_from_item(item)?);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    async fn claim_trigger(
        &self,
        key: &str,
        record: &TriggerRecord,
        expires_at: DateTime<Utc>,
    ) -> Result<TriggerClaim, StoreError> {
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
                Err(error) => return Err(self.error("PutItem", &what, &error)),
            }
        }
        Err(StoreError::Unavailable {
            operation: "PutItem",
            what: format!("{what} in table {}", self.table),
            message: "the key kept changing while it was being claimed".into(),
        })
    }

    async fn complete_trigger(&self, key: &str, execution_arn: &str) -> Result<(), StoreError> {
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
            Err(error) => Err(self.error("UpdateItem", &what, &error)),
        }
    }
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
