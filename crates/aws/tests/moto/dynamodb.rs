use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use sluice_aws::DynamoDbStore;
use sluice_core::ports::{
    DeploymentKey, Deployments, DeploymentsError, LockError, ServiceConfigs, ServiceLocks,
    TriggerClaim, TriggerLedger, TriggerRecord,
};
use sluice_testkit::moto::unique_name;
use sluice_testkit::provision;

use crate::aws;
use crate::fixtures::{analyzed, at, created, live, lock_of, shifted};

pub(crate) async fn store() -> (crate::Aws, DynamoDbStore) {
    let aws = aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws.config);
    let table = unique_name("sluice");
    provision::create_table(&client, &table).await.unwrap();
    let store = DynamoDbStore::new(client, table);
    (aws, store)
}

pub(crate) async fn raw_item(
    aws: &crate::Aws,
    store: &DynamoDbStore,
    pk: &str,
    sk: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&aws.config)
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(pk.into()))
        .key("SK", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

async fn partition(aws: &crate::Aws, store: &DynamoDbStore, pk: &str) -> Vec<String> {
    aws_sdk_dynamodb::Client::new(&aws.config)
        .query()
        .table_name(store.table())
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", "PK")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .map(|i| i.get("SK").unwrap().as_s().unwrap().clone())
        .collect()
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.into())
}

#[tokio::test]
async fn a_created_deployment_is_stored_with_its_keys_and_first_event() {
    let (aws, store) = store().await;
    let (d, event) = created("checkout", "dep-create");

    store.create(&d, &event).await.unwrap();

    let item = raw_item(
        &aws,
        &store,
        "SERVICE#checkout",
        "DEPLOY#2026-11-01T12:00:00.123Z#dep-create",
    )
    .await
    .expect("the record under its service and start time");
    assert_eq!(item.get("status"), Some(&s("shifting")));
    assert_eq!(item.get("revision"), Some(&AttributeValue::N("1".into())));
    assert_eq!(item.get("deploymentId"), Some(&s("dep-create")));
    assert_eq!(item.get("service"), Some(&s("checkout")));
    assert_eq!(item.get("GSI1PK"), Some(&s("DEPLOY#dep-create")));
    assert_eq!(item.get("GSI1SK"), Some(&s("RECORD")));
    assert!(
        matches!(item.get("spec"), Some(AttributeValue::M(spec)) if spec.get("version") == Some(&s("v2.4.0"))),
        "the spec is a map the console shows: {:?}",
        item.get("spec")
    );
    let event_item = raw_item(&aws, &store, "DEPLOY#dep-create", "EVENT#0000000001")
        .await
        .unwrap();
    assert_eq!(event_item.get("type"), Some(&s("started")));
    assert_eq!(event_item.get("deploymentId"), Some(&s("dep-create")));
    assert!(
        !event_item.contains_key("expiresAt"),
        "no TTL unless configured"
    );

    let key = DeploymentKey::of(&d);
    assert_eq!(store.get(&key).await.unwrap().as_ref(), Some(&d));
    assert_eq!(store.find(&d.id).await.unwrap().as_ref(), Some(&d));
    assert_eq!(store.history(&d.id).await.unwrap(), vec![event.clone()]);
    assert_eq!(store.list("checkout", 10).await.unwrap(), vec![d.clone()]);

    // The same id again, at the same or another start time, is refused.
    let error = store.create(&d, &event).await.unwrap_err();
    assert!(
        matches!(&error, DeploymentsError::AlreadyExists { id } if *id == d.id),
        "{error:?}"
    );
    let mut later = d.clone();
    later.started_at = at(60);
    let error = store.create(&later, &event).await.unwrap_err();
    assert!(
        matches!(&error, DeploymentsError::AlreadyExists { .. }),
        "{error:?}"
    );
    assert_eq!(store.list("checkout", 10).await.unwrap().len(), 1);
    let missing = sluice_core::DeploymentId::parse("dep-missing").unwrap();
    assert_eq!(store.find(&missing).await.unwrap(), None);
    assert!(store.history(&missing).await.unwrap().is_empty());
}

#[tokio::test]
async fn saves_are_fenced_by_revision_and_a_stale_save_changes_nothing() {
    let (_aws, store) = store().await;
    let (mut d, first) = created("payments", "dep-fence");
    store.create(&d, &first).await.unwrap();
    let stale = d.clone();

    let second = shifted(&mut d, 10);
    store.save(&d, &second).await.unwrap();
    let third = live(&mut d, 20);
    store.save(&d, &third).await.unwrap();
    let fourth = analyzed(&mut d, 320);
    store.save(&d, &fourth).await.unwrap();

    let key = DeploymentKey::of(&d);
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored, d, "analysis values, nulls and decisions round-trip");
    assert_eq!(stored.revision, 4);
    let history = store.history(&d.id).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(history[3], fourth);

    // A writer still holding revision 1 is refused, and nothing of its write lands.
    let mut stale = stale;
    let stale_event = shifted(&mut stale, 30);
    let error = store.save(&stale, &stale_event).await.unwrap_err();
    match &error {
        DeploymentsError::RevisionConflict { id, expected } => {
            assert_eq!(*id, d.id);
            assert_eq!(*expected, 1);
        }
        other => panic!("expected RevisionConflict, got {other:?}"),
    }
    assert_eq!(store.get(&key).await.unwrap().unwrap(), stored);
    assert_eq!(store.history(&d.id).await.unwrap(), history);

    // A writer whose revision matches but whose event slot is taken is refused too.
    let mut ahead = stored.clone();
    ahead.revision = 5;
    let duplicate = sluice_core::HistoryEvent {
        seq: 4,
        ..history[3].clone()
    };
    let error = store.save(&ahead, &duplicate).await.unwrap_err();
    assert!(
        matches!(
            error,
            DeploymentsError::RevisionConflict { expected: 4, .. }
        ),
        "{error:?}"
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap().revision, 4);

    // A revision that does not follow the stored one is refused though its event slot is free.
    let mut skipped = stored.clone();
    skipped.revision = 6;
    let sixth = sluice_core::HistoryEvent {
        seq: 6,
        ..history[3].clone()
    };
    let error = store.save(&skipped, &sixth).await.unwrap_err();
    assert!(
        matches!(
            error,
            DeploymentsError::RevisionConflict { expected: 5, .. }
        ),
        "{error:?}"
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap(), stored);
    assert_eq!(
        store.history(&d.id).await.unwrap(),
        history,
        "no event without its record"
    );
}

#[tokio::test]
async fn one_lock_per_service_with_takeover_after_the_lease_and_alarm_lookup() {
    let (aws, store) = store().await;
    let (first, _) = created("search", "dep-first");
    let (mut second, _) = created("search", "dep-second");
    second.started_at = at(5);
    let first_lock = lock_of(&first, at(600));

    store.acquire_lock(&first_lock, at(1)).await.unwrap();
    store.acquire_lock(&first_lock, at(2)).await.unwrap();
    assert_eq!(
        store.lock("search").await.unwrap(),
        Some(first_lock.clone())
    );
    assert_eq!(store.locked_services().await.unwrap(), ["search"]);

    let error = store
        .acquire_lock(&lock_of(&second, at(900)), at(10))
        .await
        .unwrap_err();
    match &error {
        LockError::LockHeld {
            service,
            holder,
            lease_until,
        } => {
            assert_eq!(service, "search");
            assert_eq!(*holder, first.id);
            assert_eq!(*lease_until, at(600));
        }
        other => panic!("expected LockHeld, got {other:?}"),
    }
    assert_eq!(
        store.lock("search").await.unwrap(),
        Some(first_lock.clone())
    );

    let found = store.locks_for_alarm("search-green-5xx").await.unwrap();
    assert_eq!(found, vec![first_lock.clone()]);
    assert!(
        store
            .locks_for_alarm("unrelated-alarm")
            .await
            .unwrap()
            .is_empty()
    );

    // The lease ran out: the second deployment takes over, with other alarms.
    let mut second_lock = lock_of(&second, at(1200));
    second_lock.alarms = vec!["search-latency".into(), "search-saturation".into()];
    store.acquire_lock(&second_lock, at(601)).await.unwrap();
    assert_eq!(
        store.lock("search").await.unwrap(),
        Some(second_lock.clone())
    );
    assert!(
        store
            .locks_for_alarm("search-green-5xx")
            .await
            .unwrap()
            .is_empty(),
        "an alarm the holder does not name finds nothing"
    );
    assert_eq!(
        store.locks_for_alarm("search-saturation").await.unwrap(),
        vec![second_lock.clone()]
    );

    // Only the holder releases.
    store.release_lock("search", &first.id).await.unwrap();
    assert_eq!(
        store.lock("search").await.unwrap(),
        Some(second_lock.clone())
    );
    store.release_lock("search", &second.id).await.unwrap();
    assert_eq!(store.lock("search").await.unwrap(), None);
    assert!(store.locked_services().await.unwrap().is_empty());
    assert!(
        store
            .locks_for_alarm("search-latency")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        partition(&aws, &store, "ALARM#search-latency")
            .await
            .is_empty()
    );
    assert!(
        partition(&aws, &store, "ALARM#search-saturation")
            .await
            .is_empty()
    );
    store.release_lock("search", &second.id).await.unwrap();
}

#[tokio::test]
async fn only_the_holder_renews_the_lease_and_a_released_lock_is_not_renewed() {
    let (_aws, store) = store().await;
    let (first, _) = created("renewing", "dep-holder");
    let (other, _) = created("renewing", "dep-other");
    store
        .acquire_lock(&lock_of(&first, at(600)), at(1))
        .await
        .unwrap();

    store
        .renew_lock("renewing", &first.id, at(4000))
        .await
        .unwrap();
    let lock = store.lock("renewing").await.unwrap().unwrap();
    assert_eq!(
        (lock.deployment.id, lock.lease_until),
        (first.id.clone(), at(4000))
    );
    assert_eq!(
        lock.alarms,
        lock_of(&first, at(600)).alarms,
        "the alarms stay"
    );

    let refused = store.renew_lock("renewing", &other.id, at(9000)).await;
    assert!(
        matches!(&refused, Err(LockError::NotHeld { deployment, .. }) if *deployment == other.id),
        "{refused:?}"
    );
    assert_eq!(
        store.lock("renewing").await.unwrap().unwrap().lease_until,
        at(4000)
    );

    store.release_lock("renewing", &first.id).await.unwrap();
    let gone = store.renew_lock("renewing", &first.id, at(9000)).await;
    assert!(matches!(gone, Err(LockError::NotHeld { .. })), "{gone:?}");
    assert_eq!(
        store.lock("renewing").await.unwrap(),
        None,
        "no lock comes back"
    );
}

#[tokio::test]
async fn a_trigger_key_is_new_once_then_seen_with_its_execution() {
    let (aws, store) = store().await;
    let record = TriggerRecord {
        execution_name: "checkout-v2-4-0".into(),
        execution_arn: None,
        seen_at: at(0),
    };
    let key = "github#delivery-7";

    assert_eq!(
        store.claim_trigger(key, &record, at(86_400)).await.unwrap(),
        TriggerClaim::New
    );
    let again = TriggerRecord {
        seen_at: at(30),
        ..record.clone()
    };
    assert_eq!(
        store.claim_trigger(key, &again, at(86_430)).await.unwrap(),
        TriggerClaim::Seen(record.clone())
    );
    let arn = "arn:aws:states:us-east-1:123456789012:execution:sluice:checkout-v2-4-0";
    store.complete_trigger(key, arn).await.unwrap();
    let seen = store.claim_trigger(key, &again, at(86_430)).await.unwrap();
    assert_eq!(
        seen,
        TriggerClaim::Seen(TriggerRecord {
            execution_arn: Some(arn.into()),
            ..record.clone()
        })
    );
    let item = raw_item(&aws, &store, "TRIGGER#github#delivery-7", "-")
        .await
        .unwrap();
    assert_eq!(
        item.get("expiresAt"),
        Some(&AttributeValue::N(at(86_400).timestamp().to_string()))
    );

    // A key past its expiry that DynamoDB has not removed yet is claimed afresh.
    let much_later = TriggerRecord {
        seen_at: at(90_000),
        ..record.clone()
    };
    assert_eq!(
        store
            .claim_trigger(key, &much_later, at(180_000))
            .await
            .unwrap(),
        TriggerClaim::New
    );
    // Completing a key nobody claimed writes nothing.
    store.complete_trigger("github#never", arn).await.unwrap();
    assert!(
        raw_item(&aws, &store, "TRIGGER#github#never", "-")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn service_configs_are_stored_as_maps_and_listed() {
    let (aws, store) = store().await;
    let checkout = json!({
        "service": "checkout", "hostedZoneId": "Z1", "recordName": "api.example.com.",
        "strategy": { "kind": "canary", "steps": [1, 5, 100], "bakeSeconds": 60 },
        "analysis": { "metrics": [], "minSamples": 50 },
        "alarms": ["checkout-5xx"], "hotfix": false, "ratio": 0.25, "note": ""
    });
    let search = json!({ "service": "search", "alarms": [] });

    assert_eq!(store.service_config("checkout").await.unwrap(), None);
    store
        .put_service_config("checkout", &checkout)
        .await
        .unwrap();
    store.put_service_config("search", &search).await.unwrap();

    assert_eq!(
        store.service_config("checkout").await.unwrap(),
        Some(checkout.clone())
    );
    assert_eq!(
        store.service_configs().await.unwrap(),
        vec![
            ("checkout".to_string(), checkout),
            ("search".to_string(), search)
        ]
    );
    let item = raw_item(&aws, &store, "SERVICE#checkout", "CONFIG")
        .await
        .unwrap();
    assert!(
        matches!(item.get("config"), Some(AttributeValue::M(_))),
        "{item:?}"
    );
}

#[tokio::test]
async fn a_config_indexes_the_repositories_it_is_released_from() {
    let (aws, store) = store().await;
    let first = json!({ "service": "checkout", "release": { "repositories": ["Acme/Checkout", "checkout-ecr"] } });
    store.put_service_config("checkout", &first).await.unwrap();
    store
        .put_service_config(
            "search",
            &json!({ "service": "search", "release": { "repositories": ["acme/search"] } }),
        )
        .await
        .unwrap();
    let found = |repository: &'static str| {
        let store = store.clone();
        async move {
            store
                .services_released_from(repository)
                .await
                .unwrap()
                .into_iter()
                .map(|(service, _)| service)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("acme/checkout").await, ["checkout"]);
    assert_eq!(found("checkout-ecr").await, ["checkout"]);
    assert_eq!(found("someone/checkout-ecr").await, ["checkout"]);
    assert_eq!(found("acme/search").await, ["search"]);
    assert!(found("acme/payments").await.is_empty());
    assert!(
        raw_item(&aws, &store, "REPO#acme/checkout", "SERVICE#checkout")
            .await
            .is_some()
    );

    // A repository dropped from the config drops its index item in the same write.
    let moved = json!({ "service": "checkout", "release": { "repositories": ["checkout-ecr"] } });
    store.put_service_config("checkout", &moved).await.unwrap();
    assert!(found("acme/checkout").await.is_empty());
    assert!(
        raw_item(&aws, &store, "REPO#acme/checkout", "SERVICE#checkout")
            .await
            .is_none()
    );
    assert_eq!(
        store.services_released_from("checkout-ecr").await.unwrap(),
        vec![("checkout".to_string(), moved)]
    );
}

#[tokio::test]
async fn list_is_newest_first_and_history_expires_when_configured() {
    let (aws, store) = store().await;
    let store = store.with_history_ttl(Duration::from_secs(7 * 86_400));
    let mut ids = Vec::new();
    for (i, start) in [0_i64, 3600, 1800].into_iter().enumerate() {
        let (mut d, mut event) = created("ledger", &format!("dep-{i}"));
        d.started_at = at(start);
        event.at = at(start);
        store.create(&d, &event).await.unwrap();
        ids.push(d.id.clone());
    }

    let listed: Vec<String> = store
        .list("ledger", 2)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(listed, ["dep-1", "dep-2"]);
    assert_eq!(store.list("ledger", 0).await.unwrap(), vec![]);
    assert_eq!(store.list("ledger", 10).await.unwrap().len(), 3);
    assert!(store.list("nobody", 10).await.unwrap().is_empty());

    let event = raw_item(&aws, &store, "DEPLOY#dep-1", "EVENT#0000000001")
        .await
        .unwrap();
    assert_eq!(
        event.get("expiresAt"),
        Some(&AttributeValue::N(
            (at(3600).timestamp() + 7 * 86_400).to_string()
        ))
    );
}

#[tokio::test]
async fn create_table_is_idempotent_and_sets_the_ttl_attribute() {
    let aws = aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws.config);
    let table = unique_name("provision");
    provision::create_table(&client, &table).await.unwrap();
    provision::create_table(&client, &table).await.unwrap();

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let description = ttl.time_to_live_description().unwrap();
    assert_eq!(description.attribute_name(), Some("expiresAt"));
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let index = &described.table().unwrap().global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("GSI1"));
}
