//! A world on moto for handler and CLI tests: a fresh table, hosted zone, weighted records
//! (blue 100 %), alarm and notifications topic, all uniquely named so tests can share one moto
//! server, and the real AWS ports pointed at it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fixture: a failure is the test's

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_core::WeightPair;
use sluice_core::metrics::Statistic;
use sluice_core::ports::{RecordSet, TrafficRouter};
use sluice_core::spec::RecordType;
use sluice_handler::{Config, HandlerPorts, Ports};

use crate::moto::{Moto, unique_name};
use crate::provision::{AlarmDefinition, Provisioner, StatisticSet, WeightedRecords};
use crate::request::{Check, DeploymentRequest, ERRORS_METRIC, Place, REQUESTS_METRIC};

/// The namespace of the world's metrics.
const NAMESPACE: &str = "Sluice/Test";

pub struct MotoWorld {
    pub moto: Moto,
    /// Points the SDK at the world's moto.
    pub sdk: SdkConfig,
    pub provisioner: Provisioner,
    pub ports: HandlerPorts,
    pub service: String,
    pub alarm: String,
    pub topic_arn: String,
    /// Where the world's deployments go (its service, records, metrics and alarm).
    pub place: Place,
    /// A valid deployment request for this world: [`MotoWorld::deployment`] at `v2.0.0`.
    pub request: Value,
    pub records: RecordSet,
}

impl From<&MotoWorld> for Place {
    fn from(world: &MotoWorld) -> Place {
        world.place.clone()
    }
}

impl MotoWorld {
    /// 10 % → 50 % → 100 %, 2 s bakes, green's error rate at most 1 % over 1 s periods with at
    /// least 10 samples: what the world's tests deploy, on a 1 s TTL.
    pub fn deployment(version: &str) -> DeploymentRequest {
        DeploymentRequest::bare(version)
            .steps(&[10.0, 50.0, 100.0])
            .bake_seconds(2)
            .check(Check::error_rate("percent", 1.0))
            .min_samples(10)
            .period_seconds(1)
    }

    pub async fn start() -> MotoWorld {
        let moto = Moto::from_env()
            .await
            .expect("moto server (run scripts/setup)");
        let sdk = sluice_aws::config::load_for_endpoint(moto.endpoint_url()).await;
        let provisioner = Provisioner::new(&sdk);
        let service = unique_name("svc");
        let table = unique_name("sluice");
        let domain = format!("{}.example.", unique_name("zone"));
        let alarm = format!("{service}-5xx");

        provisioner.table(&table).await.unwrap();
        let records = provisioner
            .blue_green_records(&WeightedRecords {
                record_name: format!("api.{domain}"),
                domain,
                record_type: RecordType::default(),
                ttl_seconds: 1,
                blue_target: "blue.internal.example.net".into(),
                green_target: "green.internal.example.net".into(),
            })
            .await
            .unwrap();
        let topic_arn = provisioner.topic(&unique_name("notify")).await.unwrap();
        let place = Place {
            service: service.clone(),
            hosted_zone_id: records.hosted_zone_id.clone(),
            record_name: records.name.clone(),
            record_type: None,
            ttl_seconds: Some(records.ttl_seconds),
            blue_target: records.stable.target.clone(),
            green_target: records.canary.target.clone(),
            namespace: NAMESPACE.into(),
            service_dimension: true,
            alarms: vec![alarm.clone()],
        };
        provisioner
            .alarm(&AlarmDefinition {
                name: alarm.clone(),
                metric: place.metric(ERRORS_METRIC, "green"),
                statistic: Statistic::Sum,
                period_seconds: 10,
                threshold: 5.0,
                evaluation_periods: 1,
                actions: vec![],
            })
            .await
            .unwrap();
        let config = Config {
            table,
            notifications_topic_arn: Some(topic_arn.clone()),
            state_machine_arn: None,
            sync: sluice_core::workflow::SyncLimits {
                poll_seconds: 1,
                max_polls: 5,
            },
            history_ttl: None,
        };
        let ports = HandlerPorts::new(config, &sdk);
        let request = MotoWorld::deployment("v2.0.0").to_json(&place);
        MotoWorld {
            moto,
            sdk,
            provisioner,
            ports,
            service,
            alarm,
            topic_arn,
            place,
            request,
            records,
        }
    }

    /// The weights Route 53 holds now, stable blue / canary green (the world's first roles).
    pub async fn weights(&self) -> WeightPair {
        self.ports
            .router()
            .read_weights(&self.records)
            .await
            .unwrap()
            .weights()
            .unwrap()
    }

    /// Slot green's traffic: `requests` and `errors` each second from `from` for `seconds`.
    pub async fn put_green_traffic(
        &self,
        from: DateTime<Utc>,
        seconds: i64,
        requests: f64,
        errors: f64,
    ) {
        for (name, value) in [(REQUESTS_METRIC, requests), (ERRORS_METRIC, errors)] {
            let metric = self.place.metric(name, "green");
            let sets: Vec<StatisticSet> = (0..seconds)
                .map(|s| StatisticSet::count(from + chrono::Duration::seconds(s), value))
                .collect();
            self.provisioner
                .statistic_sets(&metric, &sets)
                .await
                .unwrap();
        }
    }
}
