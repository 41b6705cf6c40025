use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput,
};
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, ProvisionedThroughputExceededException,
    TransactionCanceledException,
};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_smithy_mocks::{Rule, mock};
use sluice_aws::DynamoDbStore;
use sluice_core::ports::{
    DeploymentKey, Deployments, DeploymentsError, LockError, ServiceLocks, StorageFailure,
    TriggerClaim, TriggerLedger, TriggerRecord,
};

use crate::fixtures::{at, created, lock_of, shifted};
use crate::{Seen, meta, mocked};

const TABLE: &str = "sluice-mocked";

fn store(rules: &[&Rule]) -> DynamoDbStore {
    DynamoDbStore::new(mocked!(aws_sdk_dynamodb, rules), TABLE)
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_string())
}

fn cancelled(codes: &[&str]) -> TransactWriteItemsError {
    let message = format!(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
        codes.join(", ")
    );
    let mut error = TransactionCanceledException::builder()
        .message(&message)
        .meta(meta("TransactionCanceledException", &message));
    for code in codes {
        error = error.cancellation_reasons(CancellationReason::builder().code(*code).build());
    }
    TransactWriteItemsError::TransactionCanceledException(error.build())
}

fn throughput_exceeded() -> GetItemError {
    GetItemError::ProvisionedThroughputExceededException(
        ProvisionedThroughputExceededException::builder()
            .message("Rate of requests exceeds the allowed throughput.")
            .meta(meta(
                "ProvisionedThroughputExceededException",
                "Rate of requests exceeds the allowed throughput.",
            ))
            .build(),
    )
}

#[tokio::test]
async fn a_throttled_read_is_retried_and_returns_the_deployment() {
    let (stored, _) = created("checkout", "dep-1");
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(&stored).unwrap();
    item.insert("PK".into(), s("SERVICE#checkout"));
    item.insert("SK".into(), s("DEPLOY#2026-11-01T12:00:00.123Z#dep-1"));
    let seen = Seen::new();
    let rule = mock!(Client::get_item)
        .match_requests(seen.recorder())
        .sequence()
        .error(throughput_exceeded)
        .times(2)
        .output(move || {
            GetItemOutput::builder()
                .set_item(Some(item.clone()))
                .build()
        })
        .build();

    let found = store(&[&rule])
        .get(&DeploymentKey::of(&stored))
        .await
        .unwrap();

    assert_eq!(found, Some(stored));
    assert_eq!(rule.num_calls(), 3);
    let request = &seen.all()[0];
    assert_eq!(request.table_name(), Some(TABLE));
    assert_eq!(
        request.consistent_read(),
        Some(true),
        "the fence reads strongly consistent"
    );
    assert_eq!(
        request.key().unwrap().get("SK"),
        Some(&s("DEPLOY#2026-11-01T12:00:00.123Z#dep-1"))
    );
}

#[tokio::test]
async fn throttling_past_the_retries_is_a_retryable_throttled_error() {
    let rule = mock!(Client::get_item).then_error(throughput_exceeded);
    let error = store(&[&rule]).lock("checkout").await.unwrap_err();
    assert_eq!(rule.num_calls(), sluice_aws::config::MAX_ATTEMPTS as usize);
    assert!(error.is_retryable());
    match error {
        LockError::Storage(StorageFailure::Throttled {
            operation,
            what,
            message,
        }) => {
            assert_eq!(operation, "GetItem");
            assert!(what.contains("lock of service checkout"), "{what}");
            assert!(what.contains(TABLE), "{what}");
            assert!(
                message.contains("ProvisionedThroughputExceededException"),
                "{message}"
            );
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}

fn holder_lock_item() -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("PK".to_string(), s("SERVICE#checkout")),
        ("SK".to_string(), s("LOCK")),
        ("service".to_string(), s("checkout")),
        ("deploymentId".to_string(), s("dep-holder")),
        ("startedAt".to_string(), s("2026-11-01T11:00:00.000000000Z")),
        (
            "leaseUntil".to_string(),
            s("2026-11-01T13:00:00.000000000Z"),
        ),
        (
            "alarms".to_string(),
            AttributeValue::L(vec![s("checkout-green-5xx")]),
        ),
    ])
}

#[tokio::test]
async fn a_failed_lock_condition_is_lock_held_naming_the_holder() {
    let seen = Seen::new();
    let transact = mock!(Client::transact_write_items)
        .match_requests(seen.recorder())
        .then_error(|| cancelled(&["ConditionalCheckFailed", "None", "None"]));
    let read = mock!(Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .set_item(Some(holder_lock_item()))
            .build()
    });
    let (mine, _) = created("checkout", "dep-2");

    let error = store(&[&transact, &read])
        .acquire_lock(&lock_of(&mine, at(3600)), at(1))
        .await
        .unwrap_err();

    match error {
        LockError::LockHeld {
            service,
            holder,
            lease_until,
        } => {
            assert_eq!(service, "checkout");
            assert_eq!(holder.as_str(), "dep-holder");
            assert_eq!(lease_until.to_rfc3339(), "2026-11-01T13:00:00+00:00");
        }
        other => panic!("expected LockHeld, got {other:?}"),
    }
    // The lock and one alarm index item per alarm, in one transaction.
    let request: TransactWriteItemsInput = seen.all().remove(0);
    let items = request.transact_items();
    assert_eq!(items.len(), 3);
    let lock = items[0].put().unwrap();
    assert_eq!(
        lock.condition_expression(),
        Some("attribute_not_exists(#pk) OR #lease < :now OR #dep = :me")
    );
    assert_eq!(lock.item().get("deploymentId"), Some(&s("dep-2")));
    assert_eq!(
        lock.expression_attribute_values().unwrap().get(":now"),
        Some(&s("2026-11-01T12:00:01.123000000Z"))
    );
    let alarm = items[1].put().unwrap();
    assert_eq!(alarm.item().get("PK"), Some(&s("ALARM#checkout-green-5xx")));
    assert_eq!(alarm.item().get("SK"), Some(&s("SERVICE#checkout")));
}

#[tokio::test]
async fn a_failed_revision_condition_is_a_revision_conflict() {
    let seen = Seen::new();
    let rule = mock!(Client::transact_write_items)
        .match_requests(seen.recorder())
        .then_error(|| cancelled(&["ConditionalCheckFailed", "None"]));
    let (mut d, _) = created("checkout", "dep-1");
    let event = shifted(&mut d, 10);

    let error = store(&[&rule]).save(&d, &event).await.unwrap_err();

    assert!(!error.is_retryable());
    match error {
        DeploymentsError::RevisionConflict { id, expected } => {
            assert_eq!(id.as_str(), "dep-1");
            assert_eq!(expected, 1);
        }
        other => panic!("expected RevisionConflict, got {other:?}"),
    }
    let request = seen.all().remove(0);
    let record = request.transact_items()[0].put().unwrap();
    assert_eq!(record.condition_expression(), Some("#rev = :expected"));
    assert_eq!(
        record
            .expression_attribute_names()
            .unwrap()
            .get("#rev")
            .map(String::as_str),
        Some("revision")
    );
    assert_eq!(
        record
            .expression_attribute_values()
            .unwrap()
            .get(":expected"),
        Some(&AttributeValue::N("1".into()))
    );
    assert_eq!(
        record.item().get("revision"),
        Some(&AttributeValue::N("2".into()))
    );
    let event = request.transact_items()[1].put().unwrap();
    assert_eq!(event.item().get("SK"), Some(&s("EVENT#0000000002")));
    assert!(request.client_request_token().is_some());
}

#[tokio::test]
async fn an_id_taken_by_an_earlier_deployment_is_already_exists() {
    // The record's key is free (other start time) but the id's first event exists.
    let rule = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["None", "ConditionalCheckFailed"]));
    let (d, event) = created("checkout", "dep-1");
    let error = store(&[&rule]).create(&d, &event).await.unwrap_err();
    assert!(
        matches!(&error, DeploymentsError::AlreadyExists { id } if id.as_str() == "dep-1"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_conflicting_concurrent_transaction_is_retryable() {
    let rule = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["TransactionConflict", "None"]));
    let (mut d, _) = created("checkout", "dep-1");
    let event = shifted(&mut d, 10);
    let error = store(&[&rule]).save(&d, &event).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("TransactionConflict"), "{error}");
}

#[tokio::test]
async fn an_unreadable_item_is_corrupt_naming_its_key() {
    let rule = mock!(Client::get_item).then_output(|| {
        let mut item = holder_lock_item();
        item.insert("leaseUntil".into(), s("tomorrow-ish"));
        GetItemOutput::builder().set_item(Some(item)).build()
    });
    let error = store(&[&rule]).lock("checkout").await.unwrap_err();
    match error {
        LockError::Storage(StorageFailure::Corrupt { what, message }) => {
            assert_eq!(what, "item SERVICE#checkout/LOCK");
            assert!(message.contains("leaseUntil"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn a_trigger_key_seen_before_returns_what_was_recorded() {
    let put = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .meta(meta(
                    "ConditionalCheckFailedException",
                    "The conditional request failed",
                ))
                .build(),
        )
    });
    let read = mock!(Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .set_item(Some(HashMap::from([
                ("PK".to_string(), s("TRIGGER#github#42")),
                ("SK".to_string(), s("-")),
                ("executionName".to_string(), s("checkout-v2")),
                (
                    "executionArn".to_string(),
                    s("arn:aws:states:us-east-1:123456789012:execution:sluice:checkout-v2"),
                ),
                ("seenAt".to_string(), s("2026-11-01T11:59:00.000000000Z")),
                (
                    "expiresAt".to_string(),
                    AttributeValue::N("1893456000".into()),
                ),
            ])))
            .build()
    });
    let claim = store(&[&put, &read])
        .claim_trigger(
            "github#42",
            &TriggerRecord {
                execution_name: "checkout-v2".into(),
                execution_arn: None,
                seen_at: at(0),
            },
            at(86_400),
        )
        .await
        .unwrap();
    match claim {
        TriggerClaim::Seen(record) => {
            assert_eq!(record.execution_name, "checkout-v2");
            assert_eq!(
                record.execution_arn.as_deref(),
                Some("arn:aws:states:us-east-1:123456789012:execution:sluice:checkout-v2")
            );
            assert_eq!(record.seen_at.to_rfc3339(), "2026-11-01T11:59:00+00:00");
        }
        TriggerClaim::New => panic!("a seen key was claimed again"),
    }
}
