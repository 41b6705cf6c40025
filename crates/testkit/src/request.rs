//! One builder for the deployment request (DESIGN.md §3) that tests, the local runner, the demo
//! and the bench send. A request is two halves: *where* it deploys ([`Place`]: the service, its
//! weighted record set, the namespace of its metrics, its alarms), which a world decides, and
//! *how* ([`DeploymentRequest`]: steps, bakes, checks, limits), which a test or scenario
//! decides, often before the world exists. [`DeploymentRequest::to_json`] joins them.
//!
//! ```
//! use sluice_testkit::request::{Check, DeploymentRequest, Place};
//! let json = DeploymentRequest::bare("v2.4.0")
//!     .steps(&[5.0, 100.0])
//!     .check(Check::error_rate("%", 1.0))
//!     .to_json(Place::example());
//! assert_eq!(json["strategy"]["steps"], serde_json::json!([5.0, 100.0]));
//! ```

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sluice_core::metrics::MetricRef;

/// The metric names every world publishes (with `Service` and `Version` dimensions).
pub const REQUESTS_METRIC: &str = "Requests";
pub const ERRORS_METRIC: &str = "Errors";
pub const LATENCY_METRIC: &str = "Latency";

/// Where a deployment goes: the service, its two slots' weighted records, where its metrics
/// live and the alarms that guard it.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub service: String,
    pub hosted_zone_id: String,
    /// The record's name, with its trailing dot.
    pub record_name: String,
    /// `CNAME`, `A` or `AAAA`; `None` leaves it to the spec's default.
    pub record_type: Option<String>,
    /// `None` leaves it to the spec's default.
    pub ttl_seconds: Option<u32>,
    pub blue_target: String,
    pub green_target: String,
    /// CloudWatch namespace of the service's metrics.
    pub namespace: String,
    /// Whether the metrics carry a `Service` dimension besides `Version`.
    pub service_dimension: bool,
    pub alarms: Vec<String>,
}

impl Place {
    /// `checkout-api` in zone `Z0123456789ABC` at `api.example.com.` (TTL 30 s), metrics in
    /// `Sluice/Report`, no alarms: a place for in-memory worlds, where nothing is checked
    /// against real AWS.
    pub fn example() -> Place {
        Place {
            service: "checkout-api".into(),
            hosted_zone_id: "Z0123456789ABC".into(),
            record_name: "api.example.com.".into(),
            record_type: None,
            ttl_seconds: Some(30),
            blue_target: "blue-alb.example.net".into(),
            green_target: "green-alb.example.net".into(),
            namespace: "Sluice/Report".into(),
            service_dimension: true,
            alarms: Vec::new(),
        }
    }

    pub fn service(mut self, service: &str) -> Self {
        self.service = service.into();
        self
    }

    pub fn hosted_zone_id(mut self, zone: &str) -> Self {
        self.hosted_zone_id = zone.into();
        self
    }

    pub fn record_name(mut self, name: &str) -> Self {
        self.record_name = name.into();
        self
    }

    pub fn record_type(mut self, record_type: &str) -> Self {
        self.record_type = Some(record_type.into());
        self
    }

    pub fn ttl_seconds(mut self, ttl: Option<u32>) -> Self {
        self.ttl_seconds = ttl;
        self
    }

    pub fn targets(mut self, blue: &str, green: &str) -> Self {
        self.blue_target = blue.into();
        self.green_target = green.into();
        self
    }

    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Metrics carry only the `Version` dimension.
    pub fn without_service_dimension(mut self) -> Self {
        self.service_dimension = false;
        self
    }

    pub fn alarms<S: Into<String>>(mut self, alarms: impl IntoIterator<Item = S>) -> Self {
        self.alarms = alarms.into_iter().map(Into::into).collect();
        self
    }

    /// One of the service's metrics as one slot publishes it (`Version` = the slot's name,
    /// `blue` or `green`).
    pub fn metric(&self, metric_name: &str, slot: &str) -> MetricRef {
        let mut metric = self.shared_metric(metric_name);
        metric
            .dimensions
            .insert(SLOT_DIMENSION.to_string(), slot.to_string());
        metric
    }

    /// A metric as the request names it: without the slot's dimension, which each slot adds.
    pub fn shared_metric(&self, metric_name: &str) -> MetricRef {
        let mut dimensions = BTreeMap::new();
        if self.service_dimension {
            dimensions.insert("Service".to_string(), self.service.clone());
        }
        MetricRef {
            namespace: self.namespace.clone(),
            metric_name: metric_name.to_string(),
            dimensions,
        }
    }
}

/// The dimension that tells the slots' metrics apart in every world: its value is the slot's
/// name.
pub const SLOT_DIMENSION: &str = "Version";

impl From<&Place> for Place {
    fn from(place: &Place) -> Place {
        place.clone()
    }
}

/// One metric check of the analysis, on the place's metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// `error-rate`: the canary's 100 × Errors / Requests at most `max`, shown in `unit`.
    ErrorRate {
        unit: String,
        max: f64,
        baseline: Baseline,
    },
    /// `latency`: the canary's average Latency at most `max_ms`.
    Latency { max_ms: f64 },
    /// `errors`: the canary's Errors (Sum) at most `max`.
    ErrorCount { max: f64 },
}

/// How far the canary's error rate may exceed the stable slot's (which is always read and
/// shown: the slots' dimensions tell them apart).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Baseline {
    /// No limit on the difference.
    None,
    /// At most this many percentage points above the stable slot's rate.
    MaxIncrease(f64),
}

impl Check {
    /// The canary's error rate at most `max`, with no limit on its difference to stable.
    pub fn error_rate(unit: &str, max: f64) -> Check {
        Check::ErrorRate {
            unit: unit.into(),
            max,
            baseline: Baseline::None,
        }
    }

    /// The same error-rate check with `baseline`; other checks are returned unchanged.
    pub fn against_stable(self, baseline: Baseline) -> Check {
        match self {
            Check::ErrorRate { unit, max, .. } => Check::ErrorRate {
                unit,
                max,
                baseline,
            },
            other => other,
        }
    }

    fn to_json(&self, place: &Place) -> Value {
        let metric =
            |name: &str| serde_json::to_value(place.shared_metric(name)).unwrap_or(Value::Null);
        let error_rate = json!({"kind": "ratio", "scale": 100,
                   "numerator": metric(ERRORS_METRIC),
                   "denominator": metric(REQUESTS_METRIC)});
        match self {
            Check::ErrorRate {
                unit,
                max,
                baseline,
            } => {
                // The slots' own dimensions make every metric read both ways; the stable
                // slot's value is the baseline shown.
                let mut check = json!({"name": "error-rate", "unit": unit, "max": max,
                                       "query": error_rate});
                if let Baseline::MaxIncrease(increase) = baseline {
                    check["maxIncreaseOverBaseline"] = json!(increase);
                }
                check
            }
            Check::Latency { max_ms } => json!({
                "name": "latency", "unit": "ms", "max": max_ms,
                "query": {"kind": "statistic", "stat": "Average",
                          "metric": metric(LATENCY_METRIC)},
            }),
            Check::ErrorCount { max } => json!({
                "name": "errors", "max": max,
                "query": {"kind": "statistic", "stat": "Sum",
                          "metric": metric(ERRORS_METRIC)},
            }),
        }
    }
}

/// How a deployment goes: its canary plan, its analysis and its options. Fields left `None`
/// are left out of the request (the spec's defaults apply).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRequest {
    pub version: String,
    /// The canary's percent at each step.
    pub steps: Vec<f64>,
    pub bake_seconds: u32,
    pub checks: Vec<Check>,
    pub min_samples: Option<u64>,
    pub failure_limit: Option<u32>,
    pub period_seconds: Option<u32>,
    /// An inconclusive analysis is retried this many times.
    pub inconclusive_retries: Option<u32>,
    /// `none`, `before-promote`, `every-step`.
    pub approval: Option<String>,
    pub expected_requests_per_second: Option<f64>,
    /// Fields laid over the generated request last (or removed, with `null`), for requests
    /// that must be wrong in a particular way.
    pub overrides: Vec<(String, Value)>,
}

impl DeploymentRequest {
    /// The local runner's request: 5 % → 25 % → 50 % → 100 %, 3 s bakes, errors ≤ 2 % and
    /// ≤ blue + 1 point, latency ≤ 400 ms, at least 50 samples per 1 s-period analysis, the
    /// first failure rolls back, an inconclusive analysis is retried twice, no approval,
    /// 1000 requests per second expected.
    pub fn new(version: &str) -> DeploymentRequest {
        DeploymentRequest {
            steps: vec![5.0, 25.0, 50.0, 100.0],
            bake_seconds: 3,
            checks: vec![
                Check::error_rate("%", 2.0).against_stable(Baseline::MaxIncrease(1.0)),
                Check::Latency { max_ms: 400.0 },
            ],
            min_samples: Some(50),
            failure_limit: Some(1),
            period_seconds: Some(1),
            inconclusive_retries: Some(2),
            approval: Some("none".into()),
            expected_requests_per_second: Some(1000.0),
            ..DeploymentRequest::bare(version)
        }
    }

    /// Only what a request must have: 10 % → 50 % → 100 % with 2 s bakes, no checks and no
    /// options (the spec's defaults apply).
    pub fn bare(version: &str) -> DeploymentRequest {
        DeploymentRequest {
            version: version.into(),
            steps: vec![10.0, 50.0, 100.0],
            bake_seconds: 2,
            checks: Vec::new(),
            min_samples: None,
            failure_limit: None,
            period_seconds: None,
            inconclusive_retries: None,
            approval: None,
            expected_requests_per_second: None,
            overrides: Vec::new(),
        }
    }

    pub fn steps(mut self, steps: &[f64]) -> Self {
        self.steps = steps.to_vec();
        self
    }

    pub fn bake_seconds(mut self, seconds: u32) -> Self {
        self.bake_seconds = seconds;
        self
    }

    /// Adds a check.
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Replaces the checks.
    pub fn checks(mut self, checks: impl IntoIterator<Item = Check>) -> Self {
        self.checks = checks.into_iter().collect();
        self
    }

    pub fn min_samples(mut self, samples: u64) -> Self {
        self.min_samples = Some(samples);
        self
    }

    pub fn failure_limit(mut self, limit: Option<u32>) -> Self {
        self.failure_limit = limit;
        self
    }

    pub fn period_seconds(mut self, seconds: u32) -> Self {
        self.period_seconds = Some(seconds);
        self
    }

    pub fn inconclusive_retries(mut self, retries: Option<u32>) -> Self {
        self.inconclusive_retries = retries;
        self
    }

    pub fn approval(mut self, approval: &str) -> Self {
        self.approval = Some(approval.into());
        self
    }

    pub fn expected_requests_per_second(mut self, rps: Option<f64>) -> Self {
        self.expected_requests_per_second = rps;
        self
    }

    /// Sets (or with `Value::Null` removes) a top-level field of the generated request.
    pub fn with_field(mut self, field: &str, value: Value) -> Self {
        self.overrides.push((field.to_string(), value));
        self
    }

    /// The request JSON for `place`, as a trigger would send it to the state machine.
    pub fn to_json(&self, place: impl Into<Place>) -> Value {
        let place = place.into();
        let checks: Vec<Value> = self.checks.iter().map(|c| c.to_json(&place)).collect();
        let mut analysis = json!({ "metrics": checks });
        let options = [
            ("minSamples", self.min_samples.map(|v| json!(v))),
            ("failureLimit", self.failure_limit.map(|v| json!(v))),
            ("periodSeconds", self.period_seconds.map(|v| json!(v))),
            (
                "onInconclusive",
                self.inconclusive_retries
                    .map(|retries| json!({"action": "retry", "maxRetries": retries})),
            ),
        ];
        for (field, value) in options {
            if let Some(value) = value {
                analysis[field] = value;
            }
        }
        let mut request = json!({
            "service": place.service,
            "version": self.version,
            "hostedZoneId": place.hosted_zone_id,
            "recordName": place.record_name,
            "slots": {
                "blue": {"target": place.blue_target,
                         "dimensions": {SLOT_DIMENSION: "blue"}},
                "green": {"target": place.green_target,
                          "dimensions": {SLOT_DIMENSION: "green"}},
            },
            "strategy": {"kind": "canary", "steps": self.steps, "bakeSeconds": self.bake_seconds},
            "analysis": analysis,
        });
        let options = [
            ("recordType", place.record_type.as_ref().map(|v| json!(v))),
            ("ttlSeconds", place.ttl_seconds.map(|v| json!(v))),
            (
                "alarms",
                Some(json!(place.alarms)).filter(|_| !place.alarms.is_empty()),
            ),
            ("approval", self.approval.as_ref().map(|v| json!(v))),
            (
                "expectedRequestsPerSecond",
                self.expected_requests_per_second.map(|v| json!(v)),
            ),
        ];
        for (field, value) in options {
            if let Some(value) = value {
                request[field] = value;
            }
        }
        if let Some(object) = request.as_object_mut() {
            for (field, value) in &self.overrides {
                if value.is_null() {
                    object.remove(field);
                } else {
                    object.insert(field.clone(), value.clone());
                }
            }
        }
        request
    }

    /// The service's CONFIG item for deployments started by release tags: this request
    /// without its version (each tag names one) and a `release` section naming the
    /// repositories whose tags release the service.
    pub fn service_config(&self, place: impl Into<Place>, repositories: &[&str]) -> Value {
        let mut config = self.to_json(place);
        if let Some(object) = config.as_object_mut() {
            object.remove("version");
            object.insert("release".into(), json!({ "repositories": repositories }));
        }
        config
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sluice_core::DeploymentSpec;

    #[test]
    fn the_local_request_is_a_valid_spec() {
        let place = Place::example()
            .record_type("CNAME")
            .ttl_seconds(Some(1))
            .alarms(["checkout-api-green-errors"]);
        let json = DeploymentRequest::new("v2.0.0").to_json(&place);
        let spec = DeploymentSpec::from_json(&json).unwrap();
        spec.validate(&sluice_core::ValidationContext {
            zone_domain: Some("example.com.".into()),
        })
        .unwrap();
        assert_eq!(spec.plan().steps.len(), 4);
        assert_eq!(spec.alarms, vec!["checkout-api-green-errors".to_string()]);
        assert_eq!(spec.ttl_seconds, 1);
        let errors = &json["analysis"]["metrics"][0];
        assert_eq!(errors["maxIncreaseOverBaseline"], json!(1.0));
        assert_eq!(
            errors["query"]["numerator"]["dimensions"],
            json!({"Service": "checkout-api"})
        );
        assert_eq!(
            json["slots"]["blue"]["dimensions"],
            json!({"Version": "blue"})
        );
        assert_eq!(json["analysis"]["onInconclusive"]["maxRetries"], json!(2));
    }

    #[test]
    fn a_bare_request_leaves_options_out() {
        let json = DeploymentRequest::bare("v1").to_json(Place::example());
        for field in [
            "alarms",
            "approval",
            "recordType",
            "expectedRequestsPerSecond",
        ] {
            assert!(json.get(field).is_none(), "{field} in {json}");
        }
        assert_eq!(json["analysis"], json!({"metrics": []}));
        DeploymentSpec::from_json(&json).unwrap();
    }

    #[test]
    fn overrides_replace_or_remove_fields() {
        let json = DeploymentRequest::new("v2")
            .with_field("service", Value::Null)
            .with_field("hostedZoneId", json!("ZNOPE"))
            .to_json(Place::example());
        assert!(json.get("service").is_none());
        assert_eq!(json["hostedZoneId"], "ZNOPE");
    }

    #[test]
    fn metrics_without_a_service_dimension() {
        let place = Place::example()
            .namespace("Demo")
            .without_service_dimension();
        let metric = place.metric(ERRORS_METRIC, "green");
        assert_eq!(metric.namespace, "Demo");
        assert_eq!(
            metric.dimensions.into_iter().collect::<Vec<_>>(),
            vec![("Version".to_string(), "green".to_string())]
        );
    }

    #[test]
    fn the_service_config_is_the_request_without_a_version_plus_its_release_section() {
        let request = DeploymentRequest::new("v2.0.0");
        let config = request.service_config(Place::example(), &["checkout-api"]);
        assert!(config.get("version").is_none());
        assert_eq!(config["release"], json!({"repositories": ["checkout-api"]}));
        let mut resolved = config.clone();
        resolved["version"] = json!("v2.0.0");
        resolved.as_object_mut().unwrap().remove("release");
        assert_eq!(resolved, request.to_json(Place::example()));
    }
}
