//! Domain values as DynamoDB items and back. Deployments, history events and service configs
//! are stored as native DynamoDB maps (readable and editable in the console) through
//! serde_dynamo; locks and trigger keys are a few plain attributes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::ports::{DeploymentKey, ServiceLock, StorageFailure, TriggerRecord};
use sluice_core::service_state::ServiceState;
use sluice_core::{Deployment, DeploymentId, HistoryEvent};

use super::keys;

pub type Item = HashMap<String, AttributeValue>;

pub const SERVICE: &str = "service";
pub const DEPLOYMENT_ID: &str = "deploymentId";
pub const STARTED_AT: &str = "startedAt";
pub const LEASE_UNTIL: &str = "leaseUntil";
pub const ALARMS: &str = "alarms";
pub const ALARM: &str = "alarm";
pub const CONFIG: &str = "config";
pub const REVISION: &str = "revision";
pub const TRIGGER_KEY: &str = "triggerKey";
pub const EXECUTION_NAME: &str = "executionName";
pub const EXECUTION_ARN: &str = "executionArn";
pub const SEEN_AT: &str = "seenAt";

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key of an item.
pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))])
}

/// `PK/SK` of an item, to name it in errors.
pub fn describe_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        _ => "?".to_string(),
    };
    format!("item {}/{}", part(keys::PK), part(keys::SK))
}

fn corrupt(item: &Item, message: impl Into<String>) -> StorageFailure {
    StorageFailure::Corrupt {
        what: describe_key(item),
        message: message.into(),
    }
}

fn string<'a>(item: &'a Item, name: &str) -> Result<&'a str, StorageFailure> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        Some(other) => Err(corrupt(
            item,
            format!("attribute {name} is not a string: {other:?}"),
        )),
        None => Err(corrupt(item, format!("attribute {name} is missing"))),
    }
}

fn instant(item: &Item, name: &str) -> Result<DateTime<Utc>, StorageFailure> {
    let text = string(item, name)?;
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| {
            corrupt(
                item,
                format!("attribute {name} {text:?} is not a time: {e}"),
            )
        })
}

fn deployment_id(item: &Item, name: &str) -> Result<DeploymentId, StorageFailure> {
    DeploymentId::parse(string(item, name)?).map_err(|e| corrupt(item, e.to_string()))
}

/// `PK=SERVICE#<service>, SK=LOCK`.
pub fn lock_item(lock: &ServiceLock) -> Item {
    let mut item = key(keys::service_pk(&lock.deployment.service), keys::LOCK_SK);
    item.extend([
        (SERVICE.to_string(), s(&lock.deployment.service)),
        (DEPLOYMENT_ID.to_string(), s(lock.deployment.id.as_str())),
        (
            STARTED_AT.to_string(),
            s(keys::instant(lock.deployment.started_at)),
        ),
        (LEASE_UNTIL.to_string(), s(keys::instant(lock.lease_until))),
        (
            ALARMS.to_string(),
            AttributeValue::L(lock.alarms.iter().map(s).collect()),
        ),
        (keys::GSI1PK.to_string(), s(keys::LOCKS_GSI1PK)),
        (
            keys::GSI1SK.to_string(),
            s(keys::service_pk(&lock.deployment.service)),
        ),
    ]);
    item
}

pub fn lock_from_item(item: &Item) -> Result<ServiceLock, StorageFailure> {
    let alarms = match item.get(ALARMS) {
        None => Vec::new(),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::S(alarm) => Ok(alarm.clone()),
                other => Err(corrupt(item, format!("alarm {other:?} is not a string"))),
            })
            .collect::<Result<_, _>>()?,
        Some(AttributeValue::Ss(values)) => values.clone(),
        Some(other) => {
            return Err(corrupt(item, format!("alarms {other:?} are not a list")));
        }
    };
    Ok(ServiceLock {
        deployment: DeploymentKey {
            service: string(item, SERVICE)?.to_string(),
            started_at: instant(item, STARTED_AT)?,
            id: deployment_id(item, DEPLOYMENT_ID)?,
        },
        lease_until: instant(item, LEASE_UNTIL)?,
        alarms,
    })
}

/// `PK=ALARM#<alarm>, SK=SERVICE#<service>`: lets an alarm find the locks naming it.
pub fn alarm_index_item(alarm: &str, lock: &ServiceLock) -> Item {
    let mut item = key(
        keys::alarm_pk(alarm),
        keys::service_pk(&lock.deployment.service),
    );
    item.extend([
        (ALARM.to_string(), s(alarm)),
        (SERVICE.to_string(), s(&lock.deployment.service)),
        (DEPLOYMENT_ID.to_string(), s(lock.deployment.id.as_str())),
    ]);
    item
}

pub fn service_of_alarm_index(item: &Item) -> Result<String, StorageFailure> {
    Ok(string(item, SERVICE)?.to_string())
}

/// `PK=SERVICE#<service>, SK=CONFIG`, the config as a map attribute `config`.
pub fn config_item(service: &str, config: &Value) -> Result<Item, StorageFailure> {
    let value = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(config).map_err(|e| {
        StorageFailure::Corrupt {
            what: format!("the config of service {service}"),
            message: e.to_string(),
        }
    })?;
    let mut item = key(keys::service_pk(service), keys::CONFIG_SK);
    item.extend([
        (SERVICE.to_string(), s(service)),
        (CONFIG.to_string(), value),
    ]);
    Ok(item)
}

/// `PK=REPO#<repository>, SK=SERVICE#<service>`: lets a release tag find the services its
/// repository releases.
pub fn repo_index_item(repository_key: &str, service: &str) -> Item {
    let mut item = key(keys::repo_pk(repository_key), keys::service_pk(service));
    item.insert(SERVICE.to_string(), s(service));
    item
}

pub fn service_of_repo_index(item: &Item) -> Result<String, StorageFailure> {
    Ok(string(item, SERVICE)?.to_string())
}

pub fn config_from_item(item: &Item) -> Result<(String, Value), StorageFailure> {
    let service = string(item, SERVICE)?.to_string();
    let value = item
        .get(CONFIG)
        .cloned()
        .ok_or_else(|| corrupt(item, "attribute config is missing"))?;
    let config: Value = serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value)
        .map_err(|e| corrupt(item, format!("config: {e}")))?;
    Ok((service, config))
}

/// The deployment's own attributes at the top level of its item (`id`, `service`, `status`,
/// `revision`, `spec`, …), plus its keys and `deploymentId`.
pub fn deployment_item(deployment: &Deployment) -> Result<Item, StorageFailure> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(deployment).map_err(|e| {
        StorageFailure::Corrupt {
            what: format!("deployment {}", deployment.id),
            message: e.to_string(),
        }
    })?;
    item.extend(key(
        keys::service_pk(&deployment.service),
        keys::deploy_sk(&DeploymentKey::of(deployment)),
    ));
    item.extend([
        (keys::GSI1PK.to_string(), s(keys::deploy_pk(&deployment.id))),
        (keys::GSI1SK.to_string(), s(keys::RECORD_GSI1SK)),
        (DEPLOYMENT_ID.to_string(), s(deployment.id.as_str())),
    ]);
    Ok(item)
}

pub fn deployment_from_item(item: &Item) -> Result<Deployment, StorageFailure> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item.clone())
        .map_err(|e| corrupt(item, format!("not a deployment: {e}")))
}

/// `PK=DEPLOY#<id>, SK=EVENT#<seq>`: the event's attributes (`seq`, `at`, `type`, …) at the
/// top level, `deploymentId`, and `expiresAt` when history expires.
pub fn event_item(
    id: &DeploymentId,
    event: &HistoryEvent,
    expires_at: Option<i64>,
) -> Result<Item, StorageFailure> {
    let mut item: Item =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(event).map_err(|e| StorageFailure::Corrupt {
            what: format!("event {} of deployment {id}", event.seq),
            message: e.to_string(),
        })?;
    item.extend(key(keys::deploy_pk(id), keys::event_sk(event.seq)));
    item.insert(DEPLOYMENT_ID.to_string(), s(id.as_str()));
    if let Some(expires_at) = expires_at {
        item.insert(keys::EXPIRES_AT.to_string(), n(expires_at));
    }
    Ok(item)
}

pub fn event_from_item(item: &Item) -> Result<HistoryEvent, StorageFailure> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item.clone())
        .map_err(|e| corrupt(item, format!("not a history event: {e}")))
}

/// `PK=TRIGGER#<key>, SK=-`.
pub fn trigger_item(key_text: &str, record: &TriggerRecord, expires_at: DateTime<Utc>) -> Item {
    let mut item = key(keys::trigger_pk(key_text), keys::TRIGGER_SK);
    item.extend([
        (TRIGGER_KEY.to_string(), s(key_text)),
        (EXECUTION_NAME.to_string(), s(&record.execution_name)),
        (SEEN_AT.to_string(), s(keys::instant(record.seen_at))),
        (keys::EXPIRES_AT.to_string(), n(expires_at.timestamp())),
    ]);
    if let Some(arn) = &record.execution_arn {
        item.insert(EXECUTION_ARN.to_string(), s(arn));
    }
    item
}

pub fn trigger_from_item(item: &Item) -> Result<TriggerRecord, StorageFailure> {
    Ok(TriggerRecord {
        execution_name: string(item, EXECUTION_NAME)?.to_string(),
        execution_arn: match item.get(EXECUTION_ARN) {
            None | Some(AttributeValue::Null(_)) => None,
            Some(_) => Some(string(item, EXECUTION_ARN)?.to_string()),
        },
        seen_at: instant(item, SEEN_AT)?,
    })
}

/// `PK=SERVICE#<service>, SK=STATE`: the state's attributes (`stableSlot`, `slotVersions`,
/// `lastDeployment`, `queued`, `superseded`, `revision`) at the top level.
pub fn state_item(state: &ServiceState) -> Result<Item, StorageFailure> {
    let mut item: Item =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(state).map_err(|e| StorageFailure::Corrupt {
            what: format!("the state of service {}", state.service),
            message: e.to_string(),
        })?;
    item.extend(key(keys::service_pk(&state.service), keys::STATE_SK));
    Ok(item)
}

pub fn state_from_item(item: &Item) -> Result<ServiceState, StorageFailure> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item.clone())
        .map_err(|e| corrupt(item, format!("not a service state: {e}")))
}
