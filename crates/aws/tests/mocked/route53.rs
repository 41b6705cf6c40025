use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::operation::change_resource_record_sets::{
    ChangeResourceRecordSetsError, ChangeResourceRecordSetsInput, ChangeResourceRecordSetsOutput,
};
use aws_sdk_route53::operation::get_change::GetChangeOutput;
use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneError;
use aws_sdk_route53::operation::list_resource_record_sets::{
    ListResourceRecordSetsError, ListResourceRecordSetsOutput,
};
use aws_sdk_route53::types::error::{
    InvalidChangeBatch, NoSuchHostedZone, PriorRequestNotComplete,
};
use aws_sdk_route53::types::{
    ChangeAction, ChangeInfo, ChangeStatus as R53Status, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_smithy_mocks::{Rule, mock};
use sluice_aws::{Route53Router, SyncPolling};
use sluice_core::WeightPair;
use sluice_core::ports::{ChangeId, RouterError, TrafficRouter, WeightedRecord};

use crate::fixtures::records;
use crate::{Seen, meta, mocked};

fn router(rules: &[&Rule]) -> Route53Router {
    Route53Router::new(mocked!(aws_sdk_route53, rules)).with_sync_polling(SyncPolling {
        first_wait: Duration::from_millis(5),
        longest_wait: Duration::from_millis(20),
    })
}

fn change_output(status: R53Status) -> ChangeResourceRecordSetsOutput {
    ChangeResourceRecordSetsOutput::builder()
        .change_info(change_info(status))
        .build()
}

fn change_info(status: R53Status) -> ChangeInfo {
    ChangeInfo::builder()
        .id("/change/C2682N5HXP0BZ4")
        .status(status)
        .submitted_at(aws_smithy_types::DateTime::from_secs(1_800_000_000))
        .build()
        .unwrap()
}

fn prior_request_not_complete() -> ChangeResourceRecordSetsError {
    ChangeResourceRecordSetsError::PriorRequestNotComplete(
        PriorRequestNotComplete::builder()
            .message(
                "The request was rejected because Route 53 was still processing a prior request.",
            )
            .meta(meta(
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            ))
            .build(),
    )
}

/// (set identifier, weight, TTL, value) of each change, in order, all UPSERTs.
fn upserts(input: &ChangeResourceRecordSetsInput) -> Vec<(String, i64, Option<i64>, String)> {
    let batch = input.change_batch().unwrap();
    batch
        .changes()
        .iter()
        .map(|change| {
            assert_eq!(change.action(), &ChangeAction::Upsert);
            let set = change.resource_record_set().unwrap();
            assert_eq!(set.name(), "api.example.com.");
            assert_eq!(set.r#type(), &RrType::Cname);
            (
                set.set_identifier().unwrap().to_string(),
                set.weight().unwrap(),
                set.ttl(),
                set.resource_records()
                    .iter()
                    .map(|r| r.value().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .collect()
}

#[tokio::test]
async fn prior_request_not_complete_is_retried_and_the_one_batch_carries_both_weights() {
    let seen = Seen::new();
    let rule = mock!(Client::change_resource_record_sets)
        .match_requests(seen.recorder())
        .sequence()
        .error(prior_request_not_complete)
        .times(2)
        .output(|| change_output(R53Status::Pending))
        .build();
    let router = router(&[&rule]);
    let weights = WeightPair::new(95, 5).unwrap();

    let change = router
        .set_weights(&records("/hostedzone/Z123", "api.example.com."), weights)
        .await
        .unwrap();

    assert_eq!(change, ChangeId("C2682N5HXP0BZ4".into()));
    // The SDK sends the one serialised request again on each retry: one call, three attempts.
    assert_eq!(
        rule.num_calls(),
        3,
        "two rejections and the accepted attempt"
    );
    let calls = seen.all();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].hosted_zone_id(), Some("Z123"));
    assert_eq!(
        upserts(&calls[0]),
        vec![
            ("blue".into(), 95, Some(30), "blue.example.net".into()),
            ("green".into(), 5, Some(30), "green.example.net".into()),
        ]
    );
}

#[tokio::test]
async fn prior_request_not_complete_past_the_retries_is_throttled_naming_zone_and_record() {
    let rule = mock!(Client::change_resource_record_sets).then_error(prior_request_not_complete);
    let router = router(&[&rule]);

    let error = router
        .set_weights(&records("Z123", "api.example.com."), WeightPair::ALL_STABLE)
        .await
        .unwrap_err();

    assert_eq!(rule.num_calls(), sluice_aws::config::MAX_ATTEMPTS as usize);
    assert!(error.is_retryable());
    match &error {
        RouterError::Throttled {
            operation,
            zone,
            message,
        } => {
            assert_eq!(*operation, "ChangeResourceRecordSets");
            assert_eq!(zone, "Z123");
            assert!(message.contains("api.example.com. CNAME"), "{message}");
            assert!(message.contains("PriorRequestNotComplete"), "{message}");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}

#[tokio::test]
async fn alias_records_carry_an_alias_target_and_no_ttl() {
    let seen = Seen::new();
    let rule = mock!(Client::change_resource_record_sets)
        .match_requests(seen.recorder())
        .then_output(|| change_output(R53Status::Pending));
    let router = router(&[&rule]);
    let mut set = records("Z123", "api.example.com.");
    set.record_type = sluice_core::spec::RecordType::A;
    set.canary.alias_hosted_zone_id = Some("/hostedzone/Z35SXDOTRQ7X7K".into());
    set.canary.target = "green-alb.us-east-1.elb.amazonaws.com".into();

    router
        .set_weights(&set, WeightPair::new(0, 1).unwrap())
        .await
        .unwrap();

    let input = &seen.all()[0];
    let changes = input.change_batch().unwrap().changes();
    let green = changes[1].resource_record_set().unwrap();
    assert_eq!(green.set_identifier(), Some("green"));
    assert_eq!(green.weight(), Some(1));
    assert_eq!(green.ttl(), None);
    assert!(green.resource_records().is_empty());
    let alias = green.alias_target().unwrap();
    assert_eq!(alias.hosted_zone_id(), "Z35SXDOTRQ7X7K");
    assert_eq!(alias.dns_name(), "green-alb.us-east-1.elb.amazonaws.com");
    assert!(!alias.evaluate_target_health());
    let blue = changes[0].resource_record_set().unwrap();
    assert_eq!((blue.weight(), blue.ttl()), (Some(0), Some(30)));
}

#[tokio::test]
async fn an_invalid_change_batch_names_zone_record_and_route53s_messages() {
    let rule = mock!(Client::change_resource_record_sets).then_error(|| {
        ChangeResourceRecordSetsError::InvalidChangeBatch(
            InvalidChangeBatch::builder()
                .messages("RRSet of type CNAME with DNS name api.example.com. is not permitted")
                .meta(meta("InvalidChangeBatch", ""))
                .build(),
        )
    });
    let error = router(&[&rule])
        .set_weights(&records("Z123", "api.example.com."), WeightPair::ALL_CANARY)
        .await
        .unwrap_err();
    assert!(!error.is_retryable());
    match error {
        RouterError::InvalidChange {
            zone,
            name,
            message,
        } => {
            assert_eq!((zone.as_str(), name.as_str()), ("Z123", "api.example.com."));
            assert!(message.contains("is not permitted"), "{message}");
        }
        other => panic!("expected InvalidChange, got {other:?}"),
    }
}

fn weighted(name: &str, id: &str, weight: i64, value: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .set_identifier(id)
        .weight(weight)
        .ttl(30)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn read_weights_is_retried_when_throttled_and_follows_pages_to_the_end_of_the_set() {
    let seen = Seen::new();
    let rule = mock!(Client::list_resource_record_sets)
        .match_requests(seen.recorder())
        .sequence()
        .error(|| ListResourceRecordSetsError::generic(meta("Throttling", "Rate exceeded")))
        .output(|| {
            ListResourceRecordSetsOutput::builder()
                .resource_record_sets(weighted(
                    "api.example.com.",
                    "blue",
                    250,
                    "blue.example.net",
                ))
                .resource_record_sets(weighted(
                    "api.example.com.",
                    "canary",
                    9,
                    "other.example.net",
                ))
                .is_truncated(true)
                .next_record_name("api.example.com.")
                .next_record_type(RrType::Cname)
                .next_record_identifier("green")
                .max_items(2)
                .build()
                .unwrap()
        })
        .output(|| {
            ListResourceRecordSetsOutput::builder()
                .resource_record_sets(weighted("API.example.com", "green", 5, "green.example.net"))
                .resource_record_sets(weighted(
                    "b.example.com.",
                    "blue",
                    1,
                    "elsewhere.example.net",
                ))
                .is_truncated(true)
                .next_record_name("c.example.com.")
                .next_record_type(RrType::Cname)
                .max_items(2)
                .build()
                .unwrap()
        })
        .build();
    let router = router(&[&rule]);

    let found = router
        .read_weights(&records("Z123", "api.example.com."))
        .await
        .unwrap();

    assert_eq!(
        found.stable,
        Some(WeightedRecord {
            weight: 250,
            target: "blue.example.net".into(),
            ttl_seconds: Some(30)
        })
    );
    assert_eq!(
        found.canary,
        Some(WeightedRecord {
            weight: 5,
            target: "green.example.net".into(),
            ttl_seconds: Some(30)
        })
    );
    assert_eq!(found.weights(), Some(WeightPair::new(250, 5).unwrap()));
    assert_eq!(
        rule.num_calls(),
        3,
        "a throttled attempt, then two pages and no third"
    );
    let requests = seen.all();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].start_record_name(), Some("api.example.com."));
    assert_eq!(requests[0].start_record_type(), Some(&RrType::Cname));
    assert_eq!(requests[1].start_record_identifier(), Some("green"));
}

#[tokio::test]
async fn a_missing_zone_is_zone_not_found() {
    let rule = mock!(Client::get_hosted_zone).then_error(|| {
        GetHostedZoneError::NoSuchHostedZone(
            NoSuchHostedZone::builder()
                .message("No hosted zone found with ID: Z404")
                .meta(meta(
                    "NoSuchHostedZone",
                    "No hosted zone found with ID: Z404",
                ))
                .build(),
        )
    });
    let error = router(&[&rule])
        .zone_domain("/hostedzone/Z404")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RouterError::ZoneNotFound { zone } if zone == "Z404"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn wait_for_sync_polls_a_pending_change_until_it_is_in_sync() {
    let seen = Seen::new();
    let rule = mock!(Client::get_change)
        .match_requests(seen.recorder())
        .sequence()
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_info(R53Status::Pending))
                .build()
        })
        .times(3)
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_info(R53Status::Insync))
                .build()
        })
        .build();
    let router = router(&[&rule]);

    router
        .wait_for_sync(&ChangeId("C2682N5HXP0BZ4".into()), Duration::from_secs(10))
        .await
        .unwrap();

    let polls = seen.all();
    assert_eq!(polls.len(), 4);
    assert!(polls.iter().all(|p| p.id() == Some("C2682N5HXP0BZ4")));
}

#[tokio::test]
async fn wait_for_sync_gives_up_after_its_timeout() {
    let rule = mock!(Client::get_change).then_output(|| {
        GetChangeOutput::builder()
            .change_info(change_info(R53Status::Pending))
            .build()
    });
    let router = router(&[&rule]);
    let started = std::time::Instant::now();

    let error = router
        .wait_for_sync(&ChangeId("/change/C1".into()), Duration::from_millis(60))
        .await
        .unwrap_err();

    match error {
        RouterError::SyncTimeout { change, waited } => {
            assert_eq!(change, "C1");
            assert!(waited >= Duration::from_millis(60), "{waited:?}");
        }
        other => panic!("expected SyncTimeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(rule.num_calls() >= 3, "polled {} times", rule.num_calls());
}
