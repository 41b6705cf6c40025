use sluice_aws::Route53Router;
use sluice_core::WeightPair;
use sluice_core::ports::{ChangeStatus, RouterError, TrafficRouter, WeightedRecord};
use sluice_core::spec::RecordType;
use sluice_testkit::moto::unique_name;
use sluice_testkit::provision;
use std::time::Duration;

use crate::aws;
use crate::fixtures::records;

#[tokio::test]
async fn weights_set_in_one_change_are_read_back_from_route53() {
    let aws = aws().await;
    let router = Route53Router::from_conf(&aws.config);
    let client = aws_sdk_route53::Client::new(&aws.config);
    let domain = format!("{}.example.com", unique_name("zone"));
    let zone = provision::create_hosted_zone(&client, &domain)
        .await
        .unwrap();
    assert!(!zone.starts_with("/hostedzone/"), "{zone}");
    assert_eq!(
        provision::create_hosted_zone(&client, &domain)
            .await
            .unwrap(),
        zone,
        "an existing zone is reused"
    );
    assert_eq!(
        router.zone_domain(&zone).await.unwrap(),
        format!("{domain}.")
    );
    assert_eq!(
        router
            .zone_domain(&format!("/hostedzone/{zone}"))
            .await
            .unwrap(),
        format!("{domain}.")
    );

    let set = records(&zone, &format!("api.{domain}."));
    provision::create_weighted_records(&router, &set, WeightPair::ALL_STABLE)
        .await
        .unwrap();
    // A neighbour with the same name but another type, and one with another name, must not
    // be mistaken for ours.
    let mut other = records(&zone, &format!("www.{domain}."));
    other.stable.target = "elsewhere.example.net".into();
    router
        .set_weights(&other, WeightPair::new(7, 7).unwrap())
        .await
        .unwrap();

    let initial = router.read_weights(&set).await.unwrap();
    assert_eq!(initial.weights(), Some(WeightPair::ALL_STABLE));

    let change = router
        .set_weights(&set, WeightPair::new(95, 5).unwrap())
        .await
        .unwrap();
    assert!(!change.0.starts_with("/change/"), "{change}");
    assert_eq!(
        router.change_status(&change).await.unwrap(),
        ChangeStatus::InSync
    );
    router
        .wait_for_sync(&change, Duration::from_secs(5))
        .await
        .unwrap();

    let read = router.read_weights(&set).await.unwrap();
    assert_eq!(
        read.stable,
        Some(WeightedRecord {
            weight: 95,
            target: "blue.example.net".into(),
            ttl_seconds: Some(30),
        })
    );
    assert_eq!(
        read.canary,
        Some(WeightedRecord {
            weight: 5,
            target: "green.example.net".into(),
            ttl_seconds: Some(30),
        })
    );
    let neighbour = router.read_weights(&other).await.unwrap();
    assert_eq!(neighbour.weights(), Some(WeightPair::new(7, 7).unwrap()));

    // The next release: green stable, blue the canary. The same records, found by their set
    // identifiers, in the other roles.
    let next = set.clone().swapped();
    let change = router
        .set_weights(&next, WeightPair::new(3, 1).unwrap())
        .await
        .unwrap();
    router
        .wait_for_sync(&change, Duration::from_secs(5))
        .await
        .unwrap();
    let as_first = router.read_weights(&set).await.unwrap();
    assert_eq!(
        (
            as_first.stable.map(|r| (r.weight, r.target)),
            as_first.canary.map(|r| (r.weight, r.target))
        ),
        (
            Some((1, "blue.example.net".to_string())),
            Some((3, "green.example.net".to_string()))
        ),
        "blue (the new canary) 1, green (the new stable) 3"
    );
}

#[tokio::test]
async fn alias_records_are_written_and_read_back() {
    let aws = aws().await;
    let router = Route53Router::from_conf(&aws.config);
    let client = aws_sdk_route53::Client::new(&aws.config);
    let domain = format!("{}.example.com", unique_name("alias"));
    let zone = provision::create_hosted_zone(&client, &domain)
        .await
        .unwrap();
    let mut set = records(&zone, &format!("app.{domain}."));
    set.record_type = RecordType::A;
    set.stable.target = "blue-alb-1.us-east-1.elb.amazonaws.com.".into();
    set.stable.alias_hosted_zone_id = Some("Z35SXDOTRQ7X7K".into());
    set.canary.target = "green-alb-2.us-east-1.elb.amazonaws.com.".into();
    set.canary.alias_hosted_zone_id = Some("Z35SXDOTRQ7X7K".into());

    router
        .set_weights(&set, WeightPair::new(1, 3).unwrap())
        .await
        .unwrap();

    let read = router.read_weights(&set).await.unwrap();
    let green = read.canary.unwrap();
    assert_eq!(green.weight, 3);
    assert_eq!(green.target, "green-alb-2.us-east-1.elb.amazonaws.com.");
    assert_eq!(read.stable.unwrap().weight, 1);
}

#[tokio::test]
async fn a_record_set_without_records_reads_as_empty_and_a_missing_zone_is_not_found() {
    let aws = aws().await;
    let router = Route53Router::from_conf(&aws.config);
    let client = aws_sdk_route53::Client::new(&aws.config);
    let domain = format!("{}.example.com", unique_name("empty"));
    let zone = provision::create_hosted_zone(&client, &domain)
        .await
        .unwrap();

    let read = router
        .read_weights(&records(&zone, &format!("api.{domain}.")))
        .await
        .unwrap();
    assert_eq!((read.stable, read.canary), (None, None));

    let error = router.zone_domain("ZNOSUCHZONE0000").await.unwrap_err();
    assert!(
        matches!(&error, RouterError::ZoneNotFound { zone } if zone == "ZNOSUCHZONE0000"),
        "{error:?}"
    );
}
