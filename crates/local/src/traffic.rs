//! The traffic simulator: every second it reads the live weights of the two slots (`blue` and
//! `green`) back from Route 53 (moto) and writes the CloudWatch datapoints the versions they run
//! would have produced in that second: `Requests` and `Errors` counts and `Latency`
//! (milliseconds, as a statistic set), each with dimensions `{Service, Version: blue|green}` in
//! one namespace (`Version` is the slot's dimension in the demo's CONFIG). A slot's share of the
//! traffic is its weight over both weights; what it does with it comes from its
//! [`VersionProfile`], which can be changed while running (a slot turning bad mid-run).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch as cw;
use chrono::{DateTime, Utc};
use sluice_aws::Route53Router;
use sluice_core::WeightPair;
use sluice_core::metrics::MetricRef;
use sluice_core::ports::{RecordSet, TrafficRouter};

use crate::error::{LocalError, Result, aws_error};
use crate::sync::locked;

/// The metric names the simulator writes.
pub const REQUESTS_METRIC: &str = "Requests";
pub const ERRORS_METRIC: &str = "Errors";
pub const LATENCY_METRIC: &str = "Latency";

/// One of the demo's two slots. Its name is the record's set identifier and the value of the
/// metrics' `Version` dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    Blue,
    Green,
}

impl Slot {
    pub const BOTH: [Slot; 2] = [Slot::Blue, Slot::Green];

    pub fn name(self) -> &'static str {
        match self {
            Slot::Blue => "blue",
            Slot::Green => "green",
        }
    }

    pub fn named(name: &str) -> Option<Slot> {
        Slot::BOTH.into_iter().find(|slot| slot.name() == name)
    }
}

/// The `Version` dimension value of a slot.
pub fn version_label(slot: Slot) -> &'static str {
    slot.name()
}

/// One of the simulator's metrics for one slot of a service.
pub fn metric(namespace: &str, service: &str, metric_name: &str, side: Slot) -> MetricRef {
    MetricRef {
        namespace: namespace.to_string(),
        metric_name: metric_name.to_string(),
        dimensions: [
            ("Service".to_string(), service.to_string()),
            ("Version".to_string(), version_label(side).to_string()),
        ]
        .into_iter()
        .collect(),
    }
}

/// How one version behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VersionProfile {
    /// Requests a second it receives while it has all the traffic.
    pub requests_per_second: f64,
    /// Percent of its requests that fail.
    pub error_percent: f64,
    /// Milliseconds each request takes.
    pub latency_ms: f64,
}

impl VersionProfile {
    pub const fn new(requests_per_second: f64, error_percent: f64, latency_ms: f64) -> Self {
        VersionProfile {
            requests_per_second,
            error_percent,
            latency_ms,
        }
    }

    /// 1000 requests a second, 0.2 % errors, 120 ms.
    pub const fn healthy() -> Self {
        VersionProfile::new(1000.0, 0.2, 120.0)
    }

    /// This profile with `error_percent` of its requests failing.
    pub const fn with_errors(self, error_percent: f64) -> Self {
        VersionProfile {
            error_percent,
            ..self
        }
    }
}

/// Both versions' behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficProfile {
    pub blue: VersionProfile,
    pub green: VersionProfile,
}

impl TrafficProfile {
    pub const fn healthy() -> Self {
        TrafficProfile {
            blue: VersionProfile::healthy(),
            green: VersionProfile::healthy(),
        }
    }

    pub fn slot(&self, slot: Slot) -> VersionProfile {
        match slot {
            Slot::Blue => self.blue,
            Slot::Green => self.green,
        }
    }
}

impl Default for TrafficProfile {
    fn default() -> Self {
        TrafficProfile::healthy()
    }
}

/// What the simulator has written so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrafficTotals {
    pub blue_requests: f64,
    pub blue_errors: f64,
    pub green_requests: f64,
    pub green_errors: f64,
    pub ticks: u64,
}

/// One second of traffic for one version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondOfTraffic {
    pub requests: f64,
    pub errors: f64,
    pub latency_ms: f64,
}

/// What `profile` produces in one second with `share` (0–1) of the traffic.
pub fn second_of_traffic(profile: VersionProfile, share: f64) -> SecondOfTraffic {
    let requests = profile.requests_per_second * share.clamp(0.0, 1.0);
    SecondOfTraffic {
        requests,
        errors: requests * profile.error_percent.clamp(0.0, 100.0) / 100.0,
        latency_ms: profile.latency_ms,
    }
}

/// Writes simulated traffic for one service's two slots; cheap to clone.
#[derive(Clone)]
pub struct TrafficSimulator {
    inner: Arc<Inner>,
}

struct Inner {
    cloudwatch: cw::Client,
    route53: Route53Router,
    records: RecordSet,
    namespace: String,
    service: String,
    profile: Mutex<TrafficProfile>,
    totals: Mutex<TrafficTotals>,
    last_weights: Mutex<Option<WeightPair>>,
}

impl TrafficSimulator {
    pub fn new(
        sdk: &sluice_aws::SdkConfig,
        records: RecordSet,
        namespace: &str,
        service: &str,
        profile: TrafficProfile,
    ) -> TrafficSimulator {
        TrafficSimulator {
            inner: Arc::new(Inner {
                cloudwatch: cw::Client::new(sdk),
                route53: Route53Router::from_conf(sdk),
                records,
                namespace: namespace.to_string(),
                service: service.to_string(),
                profile: Mutex::new(profile),
                totals: Mutex::new(TrafficTotals::default()),
                last_weights: Mutex::new(None),
            }),
        }
    }

    pub fn profile(&self) -> TrafficProfile {
        *locked(&self.inner.profile)
    }

    pub fn set_profile(&self, profile: TrafficProfile) {
        tracing::info!(?profile, "traffic profile changed");
        *locked(&self.inner.profile) = profile;
    }

    pub fn set_green(&self, green: VersionProfile) {
        let mut profile = self.profile();
        profile.green = green;
        self.set_profile(profile);
    }

    pub fn set_blue(&self, blue: VersionProfile) {
        let mut profile = self.profile();
        profile.blue = blue;
        self.set_profile(profile);
    }

    /// Makes `slot` behave as `behaviour`.
    pub fn set_slot(&self, slot: Slot, behaviour: VersionProfile) {
        let mut profile = self.profile();
        match slot {
            Slot::Blue => profile.blue = behaviour,
            Slot::Green => profile.green = behaviour,
        }
        self.set_profile(profile);
    }

    pub fn totals(&self) -> TrafficTotals {
        *locked(&self.inner.totals)
    }

    /// The weights the last tick read from Route 53.
    pub fn last_weights(&self) -> Option<WeightPair> {
        *locked(&self.inner.last_weights)
    }

    /// The metric the simulator writes for `metric_name` and `side`.
    pub fn metric(&self, metric_name: &str, side: Slot) -> MetricRef {
        metric(
            &self.inner.namespace,
            &self.inner.service,
            metric_name,
            side,
        )
    }

    /// One second of traffic at `at`: reads the weights and writes both versions' datapoints
    /// (a version without traffic writes nothing, as a silent target would).
    pub async fn tick(&self, at: DateTime<Utc>) -> Result<WeightPair> {
        let weights = self
            .inner
            .route53
            .read_weights(&self.inner.records)
            .await?
            .weights()
            .ok_or_else(|| LocalError::Aws {
                operation: "ListResourceRecordSets",
                what: format!("weighted records {}", self.inner.records.name),
                message: "the slots' records are missing or both at weight 0".into(),
            })?;
        *locked(&self.inner.last_weights) = Some(weights);
        let total = f64::from(weights.stable()) + f64::from(weights.canary());
        let profile = self.profile();
        let mut request = self
            .inner
            .cloudwatch
            .put_metric_data()
            .namespace(&self.inner.namespace);
        // The simulator's record set keeps the slots' first roles: blue stable, green canary.
        let mut second = [(Slot::Blue, None), (Slot::Green, None)];
        for (side, traffic) in &mut second {
            let weight = match side {
                Slot::Blue => weights.stable(),
                Slot::Green => weights.canary(),
            };
            if weight == 0 {
                continue;
            }
            let share = f64::from(weight) / total;
            let this = second_of_traffic(profile.slot(*side), share);
            *traffic = Some(this);
            let counts = [
                (REQUESTS_METRIC, this.requests, 1.0),
                (ERRORS_METRIC, this.errors, 1.0),
            ];
            for (name, value, samples) in counts {
                request =
                    request.metric_data(self.datum(name, *side, at, samples, value, value, value));
            }
            // Every request took latency_ms: count, sum, min and max as CloudWatch aggregates.
            request = request.metric_data(self.datum(
                LATENCY_METRIC,
                *side,
                at,
                this.requests.max(1.0),
                this.latency_ms * this.requests.max(1.0),
                this.latency_ms,
                this.latency_ms,
            ));
        }
        request.send().await.map_err(|e| {
            aws_error(
                "PutMetricData",
                format!("traffic of {}", self.inner.service),
                &e,
            )
        })?;
        let mut totals = locked(&self.inner.totals);
        totals.ticks += 1;
        for (side, traffic) in second {
            if let Some(t) = traffic {
                match side {
                    Slot::Blue => {
                        totals.blue_requests += t.requests;
                        totals.blue_errors += t.errors;
                    }
                    Slot::Green => {
                        totals.green_requests += t.requests;
                        totals.green_errors += t.errors;
                    }
                }
            }
        }
        Ok(weights)
    }

    #[allow(clippy::too_many_arguments)]
    fn datum(
        &self,
        metric_name: &str,
        side: Slot,
        at: DateTime<Utc>,
        sample_count: f64,
        sum: f64,
        minimum: f64,
        maximum: f64,
    ) -> cw::types::MetricDatum {
        let metric = self.metric(metric_name, side);
        let mut datum = cw::types::MetricDatum::builder()
            .metric_name(metric_name)
            .timestamp(cw::primitives::DateTime::from_millis(at.timestamp_millis()))
            .statistic_values(
                cw::types::StatisticSet::builder()
                    .sample_count(sample_count)
                    .sum(sum)
                    .minimum(minimum)
                    .maximum(maximum)
                    .build(),
            );
        for (name, value) in &metric.dimensions {
            datum = datum.dimensions(
                cw::types::Dimension::builder()
                    .name(name)
                    .value(value)
                    .build(),
            );
        }
        datum.build()
    }

    /// Runs [`TrafficSimulator::tick`] every `interval`, forever (spawn it; abort the task to
    /// stop).
    pub fn run(
        &self,
        interval: Duration,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let simulator = self.clone();
        async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if let Err(error) = simulator.tick(Utc::now()).await {
                    tracing::warn!(%error, "traffic tick failed; trying again next tick");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_traffic_follows_the_share_and_the_profile() {
        let green = VersionProfile::new(1000.0, 10.0, 250.0);
        let second = second_of_traffic(green, 0.05);
        assert!((second.requests - 50.0).abs() < 1e-9);
        assert!((second.errors - 5.0).abs() < 1e-9);
        assert_eq!(second.latency_ms, 250.0);
        assert_eq!(second_of_traffic(green, 0.0).requests, 0.0);
        assert_eq!(second_of_traffic(green, 2.0).requests, 1000.0);
    }

    #[test]
    fn metrics_carry_service_and_version() {
        let m = metric("Sluice/Demo", "checkout", ERRORS_METRIC, Slot::Green);
        assert_eq!(
            m.to_string(),
            "Sluice/Demo/Errors{Service=checkout,Version=green}"
        );
    }
}
