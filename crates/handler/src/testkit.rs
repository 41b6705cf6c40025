//! A world on moto for handler tests: a fresh table, hosted zone, weighted records (blue 100 %),
//! alarm and notifications topic, all uniquely named so tests can share one moto server, and the
//! real AWS ports pointed at it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_aws::provision::{self, AlarmDefinition, StatisticSet};
use sluice_core::metrics::{MetricRef, Statistic};
use sluice_core::ports::{RecordSet, TrafficRouter};
use sluice_core::{DeploymentSpec, WeightPair};
use sluice_emulator::{Moto, unique_name};

use crate::config::Config;
use crate::ports::{HandlerPorts, Ports};

pub struct MotoWorld {
    pub moto: Moto,
    pub ports: HandlerPorts,
    /// The SDK configuration pointing at the moto, for the world's own SDK calls.
    pub sdk: sluice_aws::SdkConfig,
    pub service: String,
    pub alarm: String,
    pub topic_arn: String,
    /// A valid deployment request for this world (1 s TTL, 2 s bakes, steps 10/50/100).
    pub request: Value,
    pub records: RecordSet,
}

fn metric(name: &str, service: &str, version: &str) -> Value {
    json!({"namespace": "Sluice/Test", "metricName": name, "dimensions": {"Service": service, "Version": version}})
}

impl MotoWorld {
    pub async fn start() -> MotoWorld {
        let moto = Moto::from_env()
            .await
            .expect("moto server (run scripts/setup)");
        let sdk = sluice_aws::config::load_for_endpoint(moto.endpoint_url()).await;
        let service = unique_name("svc");
        let table = unique_name("sluice");
        let domain = format!("{}.example.", unique_name("zone"));
        let alarm = format!("{service}-5xx");

        let config = Config {
            table: table.clone(),
            notifications_topic_arn: None,
            state_machine_arn: None,
            sync: sluice_core::workflow::SyncLimits {
                poll_seconds: 1,
                max_polls: 5,
            },
            history_ttl: None,
        };
        provision::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .unwrap();
        let zone = provision::create_hosted_zone(&aws_sdk_route53::Client::new(&sdk), &domain)
            .await
            .unwrap();
        let sns = aws_sdk_sns::Client::new(&sdk);
        let topic_arn = provision::create_topic(&sns, &unique_name("notify"))
            .await
            .unwrap();
        let ports = HandlerPorts::new(
            Config {
                notifications_topic_arn: Some(topic_arn.clone()),
                ..config
            },
            &sdk,
        );

        let request = json!({
            "service": service,
            "version": "v2.0.0",
            "hostedZoneId": zone,
            "recordName": format!("api.{domain}"),
            "ttlSeconds": 1,
            "blue": {"target": "blue.internal.example.net"},
            "green": {"target": "green.internal.example.net"},
            "strategy": {"kind": "canary", "steps": [10, 50, 100], "bakeSeconds": 2},
            "analysis": {
                "metrics": [{
                    "name": "error-rate", "unit": "percent", "max": 1.0,
                    "query": {"kind": "ratio", "scale": 100,
                              "numerator": metric("Errors", &service, "green"),
                              "denominator": metric("Requests", &service, "green")},
                }],
                "minSamples": 10,
                "periodSeconds": 1,
            },
            "alarms": [alarm],
        });
        let spec = DeploymentSpec::from_json(&request).unwrap();
        let records = RecordSet::from_spec(&spec);
        provision::create_weighted_records(ports.router(), &records, WeightPair::ALL_BLUE)
            .await
            .unwrap();
        provision::put_alarm(
            &aws_sdk_cloudwatch::Client::new(&sdk),
            &AlarmDefinition {
                name: alarm.clone(),
                metric: serde_json::from_value(metric("Errors", &service, "green")).unwrap(),
                statistic: Statistic::Sum,
                period_seconds: 10,
                threshold: 5.0,
                evaluation_periods: 1,
                actions: vec![],
            },
        )
        .await
        .unwrap();
        MotoWorld {
            moto,
            ports,
            sdk,
            service,
            alarm,
            topic_arn,
            request,
            records,
        }
    }

    /// The blue and green weights Route 53 holds now.
    pub async fn weights(&self) -> WeightPair {
        self.ports
            .router()
            .read_weights(&self.records)
            .await
            .unwrap()
            .weights()
            .unwrap()
    }

    /// Green's traffic: `requests` and `errors` each second from `from` for `seconds`.
    pub async fn put_green_traffic(
        &self,
        from: DateTime<Utc>,
        seconds: i64,
        requests: f64,
        errors: f64,
    ) {
        for (name, value) in [("Requests", requests), ("Errors", errors)] {
            let metric: MetricRef =
                serde_json::from_value(metric(name, &self.service, "green")).unwrap();
            let sets: Vec<StatisticSet> = (0..seconds)
                .map(|s| StatisticSet::count(from + chrono::Duration::seconds(s), value))
                .collect();
            provision::put_statistic_sets(
                &aws_sdk_cloudwatch::Client::new(&self.sdk),
                &metric,
                &sets,
            )
            .await
            .unwrap();
        }
    }
}
