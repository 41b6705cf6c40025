//! What the runner creates in moto: the table, the hosted zone with the blue and green weighted
//! records (blue 100 %), the notifications and alarm topics, an alarm on green's errors that
//! notifies the alarm topic, and the state machine from `statemachine/deployment.asl.json`.
//!
//! Names are chosen up front because the functions' environment (given to cargo lambda watch
//! before anything exists) holds the table name and the topic and state machine ARNs, which
//! moto derives from the names alone.

use serde_json::{Value, json};
use sluice_aws::provision::{self, AlarmDefinition};
use sluice_aws::{Route53Router, SdkConfig};
use sluice_core::WeightPair;
use sluice_core::metrics::{Side, Statistic};
use sluice_core::ports::RecordSet;
use sluice_core::spec::{RecordType, Target};
use sluice_emulator::{ACCOUNT_ID, REGION};

use crate::error::Result;
use crate::traffic::{ERRORS_METRIC, LATENCY_METRIC, REQUESTS_METRIC, metric};
use crate::workspace::STATE_MACHINE_ROLE_ARN;

/// The names of everything the runner creates. One runner owns its moto, so fixed names are
/// unique enough; the service name also keeps metric dimensions apart.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentNames {
    pub service: String,
    pub table: String,
    /// The hosted zone's domain, with its trailing dot.
    pub domain: String,
    pub record_name: String,
    pub blue_target: String,
    pub green_target: String,
    /// TTL of the weighted records: each step goes live this long after Route 53 syncs.
    pub ttl_seconds: u32,
    pub state_machine: String,
    pub notifications_topic: String,
    pub alarm_topic: String,
    pub alarm: String,
    /// CloudWatch namespace of the simulated traffic.
    pub namespace: String,
}

impl EnvironmentNames {
    /// The names for a deployment of `service` (`checkout-api` in the demo).
    pub fn for_service(service: &str) -> EnvironmentNames {
        let domain = format!("{service}.sluice.internal.");
        EnvironmentNames {
            service: service.to_string(),
            table: "sluice".to_string(),
            record_name: format!("api.{domain}"),
            blue_target: format!("blue.{domain}"),
            green_target: format!("green.{domain}"),
            domain,
            ttl_seconds: 1,
            state_machine: "sluice-deployment".to_string(),
            notifications_topic: "sluice-notifications".to_string(),
            alarm_topic: "sluice-alarms".to_string(),
            alarm: format!("{service}-green-errors"),
            namespace: "Sluice/Demo".to_string(),
        }
    }

    /// moto's ARN for the state machine named here.
    pub fn state_machine_arn(&self) -> String {
        format!(
            "arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{}",
            self.state_machine
        )
    }

    /// The ARN of an execution of the state machine.
    pub fn execution_arn(&self, execution_name: &str) -> String {
        format!(
            "arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:{}:{execution_name}",
            self.state_machine
        )
    }

    pub fn notifications_topic_arn(&self) -> String {
        topic_arn(&self.notifications_topic)
    }

    pub fn alarm_topic_arn(&self) -> String {
        topic_arn(&self.alarm_topic)
    }
}

fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}")
}

impl Default for EnvironmentNames {
    fn default() -> Self {
        EnvironmentNames::for_service("checkout-api")
    }
}

/// The alarm on green's errors: `Errors` Sum over `period_seconds` above `threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmSettings {
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    pub threshold: f64,
}

impl Default for AlarmSettings {
    /// More than 200 errors in 10 s: quiet for a bad canary at a small step (the analysis
    /// judges that), loud when a bad green takes real traffic.
    fn default() -> Self {
        AlarmSettings {
            period_seconds: 10,
            evaluation_periods: 1,
            threshold: 200.0,
        }
    }
}

/// Everything the runner created, with the ids moto chose.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalEnvironment {
    pub names: EnvironmentNames,
    pub hosted_zone_id: String,
    pub records: RecordSet,
    pub state_machine_arn: String,
    pub notifications_topic_arn: String,
    pub alarm_topic_arn: String,
}

impl LocalEnvironment {
    pub fn service(&self) -> &str {
        &self.names.service
    }

    pub fn alarm(&self) -> &str {
        &self.names.alarm
    }
}

/// Creates every resource in the moto `sdk` points at, the state machine from `definition`
/// (already rendered with the function ARNs).
pub async fn provision(
    sdk: &SdkConfig,
    names: &EnvironmentNames,
    alarm: AlarmSettings,
    definition: &str,
) -> Result<LocalEnvironment> {
    provision::create_table(&aws_sdk_dynamodb::Client::new(sdk), &names.table).await?;

    let router = Route53Router::from_conf(sdk);
    let hosted_zone_id =
        provision::create_hosted_zone(&aws_sdk_route53::Client::new(sdk), &names.domain).await?;
    let records = RecordSet {
        hosted_zone_id: hosted_zone_id.clone(),
        name: names.record_name.clone(),
        record_type: RecordType::Cname,
        ttl_seconds: names.ttl_seconds,
        blue: Target {
            target: names.blue_target.clone(),
            alias_hosted_zone_id: None,
        },
        green: Target {
            target: names.green_target.clone(),
            alias_hosted_zone_id: None,
        },
    };
    provision::create_weighted_records(&router, &records, WeightPair::ALL_BLUE).await?;

    let sns = aws_sdk_sns::Client::new(sdk);
    let notifications_topic_arn = provision::create_topic(&sns, &names.notifications_topic).await?;
    let alarm_topic_arn = provision::create_topic(&sns, &names.alarm_topic).await?;

    let cloudwatch = aws_sdk_cloudwatch::Client::new(sdk);
    provision::put_alarm(
        &cloudwatch,
        &AlarmDefinition {
            name: names.alarm.clone(),
            metric: metric(&names.namespace, &names.service, ERRORS_METRIC, Side::Green),
            statistic: Statistic::Sum,
            period_seconds: alarm.period_seconds,
            threshold: alarm.threshold,
            evaluation_periods: alarm.evaluation_periods,
            actions: vec![alarm_topic_arn.clone()],
        },
    )
    .await?;

    let sfn = aws_sdk_sfn::Client::new(sdk);
    let state_machine_arn = provision::create_state_machine(
        &sfn,
        &names.state_machine,
        definition,
        STATE_MACHINE_ROLE_ARN,
    )
    .await?;
    tracing::info!(
        table = %names.table,
        zone = %hosted_zone_id,
        record = %names.record_name,
        state_machine = %state_machine_arn,
        "local environment created"
    );
    Ok(LocalEnvironment {
        names: names.clone(),
        hosted_zone_id,
        records,
        state_machine_arn,
        notifications_topic_arn,
        alarm_topic_arn,
    })
}

/// A deployment request for the local environment (DESIGN.md §3): the service's record set,
/// a canary plan with short bakes, and an analysis on the simulated metrics: green's error
/// rate (against a maximum and against blue) and its average latency.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRequest {
    pub version: String,
    pub steps: Vec<f64>,
    pub bake_seconds: u32,
    /// Green's error rate, in percent, above which a step fails.
    pub max_error_percent: f64,
    /// How many percentage points green's error rate may exceed blue's.
    pub max_error_increase_over_blue: Option<f64>,
    pub max_latency_ms: f64,
    pub min_samples: u64,
    pub failure_limit: u32,
    pub expected_requests_per_second: Option<f64>,
    /// Fields laid over the generated request last (or removed, with `null`), for requests
    /// that must be wrong in a particular way.
    pub overrides: Vec<(String, Value)>,
}

impl DeploymentRequest {
    /// 5 % → 25 % → 50 % → 100 %, 3 s bakes, errors ≤ 2 % and ≤ blue + 1 point, latency ≤ 400 ms,
    /// at least 50 samples per analysis, the first failure rolls back.
    pub fn new(version: &str) -> DeploymentRequest {
        DeploymentRequest {
            version: version.to_string(),
            steps: vec![5.0, 25.0, 50.0, 100.0],
            bake_seconds: 3,
            max_error_percent: 2.0,
            max_error_increase_over_blue: Some(1.0),
            max_latency_ms: 400.0,
            min_samples: 50,
            failure_limit: 1,
            expected_requests_per_second: Some(1000.0),
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

    /// Sets (or with `Value::Null` removes) a top-level field of the generated request.
    pub fn with_field(mut self, field: &str, value: Value) -> Self {
        self.overrides.push((field.to_string(), value));
        self
    }

    /// The request JSON, as a trigger would send it to the state machine.
    pub fn to_json(&self, environment: &LocalEnvironment) -> Value {
        let names = &environment.names;
        let m = |metric_name: &str, side: Side| {
            serde_json::to_value(metric(&names.namespace, &names.service, metric_name, side))
                .unwrap_or(Value::Null)
        };
        let error_rate = |side: Side| {
            json!({"kind": "ratio", "scale": 100,
                   "numerator": m(ERRORS_METRIC, side), "denominator": m(REQUESTS_METRIC, side)})
        };
        let mut errors = json!({
            "name": "error-rate", "unit": "%", "max": self.max_error_percent,
            "query": error_rate(Side::Green),
        });
        if let Some(increase) = self.max_error_increase_over_blue {
            errors["baselineQuery"] = error_rate(Side::Blue);
            errors["maxIncreaseOverBaseline"] = json!(increase);
        }
        let mut request = json!({
            "service": names.service,
            "version": self.version,
            "hostedZoneId": environment.hosted_zone_id,
            "recordName": names.record_name,
            "recordType": "CNAME",
            "ttlSeconds": names.ttl_seconds,
            "blue": {"target": names.blue_target},
            "green": {"target": names.green_target},
            "strategy": {"kind": "canary", "steps": self.steps, "bakeSeconds": self.bake_seconds},
            "analysis": {
                "metrics": [errors, {
                    "name": "latency", "unit": "ms", "max": self.max_latency_ms,
                    "query": {"kind": "statistic", "stat": "Average", "metric": m(LATENCY_METRIC, Side::Green)},
                }],
                "minSamples": self.min_samples,
                "failureLimit": self.failure_limit,
                "periodSeconds": 1,
                "onInconclusive": {"action": "retry", "maxRetries": 2},
            },
            "alarms": [names.alarm],
            "approval": "none",
        });
        if let Some(rps) = self.expected_requests_per_second {
            request["expectedRequestsPerSecond"] = json!(rps);
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
    pub fn service_config(&self, environment: &LocalEnvironment, repositories: &[&str]) -> Value {
        let mut config = self.to_json(environment);
        if let Some(object) = config.as_object_mut() {
            object.remove("version");
            object.insert("release".into(), json!({ "repositories": repositories }));
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::DeploymentSpec;

    fn environment() -> LocalEnvironment {
        let names = EnvironmentNames::for_service("checkout-api");
        LocalEnvironment {
            hosted_zone_id: "Z0123456789ABC".into(),
            records: RecordSet {
                hosted_zone_id: "Z0123456789ABC".into(),
                name: names.record_name.clone(),
                record_type: RecordType::Cname,
                ttl_seconds: 1,
                blue: Target::default(),
                green: Target::default(),
            },
            state_machine_arn: names.state_machine_arn(),
            notifications_topic_arn: names.notifications_topic_arn(),
            alarm_topic_arn: names.alarm_topic_arn(),
            names,
        }
    }

    #[test]
    fn arns_are_the_ones_moto_derives_from_names() {
        let names = EnvironmentNames::for_service("checkout-api");
        assert_eq!(
            names.state_machine_arn(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:sluice-deployment"
        );
        assert_eq!(
            names.execution_arn("d-1"),
            "arn:aws:states:us-east-1:123456789012:execution:sluice-deployment:d-1"
        );
        assert_eq!(
            names.alarm_topic_arn(),
            "arn:aws:sns:us-east-1:123456789012:sluice-alarms"
        );
    }

    #[test]
    fn the_request_is_a_valid_spec_for_the_environment() {
        let env = environment();
        let json = DeploymentRequest::new("v2.0.0").to_json(&env);
        let spec = DeploymentSpec::from_json(&json).unwrap();
        let context = sluice_core::ValidationContext {
            zone_domain: Some(env.names.domain.clone()),
        };
        spec.validate(&context).unwrap();
        assert_eq!(spec.plan().steps.len(), 4);
        assert_eq!(spec.alarms, vec!["checkout-api-green-errors".to_string()]);
        // 1000 rps at 5 % for 3 s is 150 requests, above 50 samples: no warning.
        assert!(spec.sample_size_warnings().is_empty());
    }

    #[test]
    fn the_service_config_is_the_request_without_a_version_plus_its_release_section() {
        let env = environment();
        let request = DeploymentRequest::new("v2.0.0");
        let config = request.service_config(&env, &["checkout-api"]);
        assert!(config.get("version").is_none());
        assert_eq!(config["release"], json!({"repositories": ["checkout-api"]}));
        let release: sluice_core::spec::ReleaseSpec =
            serde_json::from_value(config["release"].clone()).unwrap();
        assert!(sluice_core::release::releases(&release, "checkout-api"));
        // What validate resolves for a tag: the config with the tag's version is the request.
        let mut resolved = config.clone();
        resolved["version"] = json!("v2.0.0");
        resolved.as_object_mut().unwrap().remove("release");
        assert_eq!(resolved, request.to_json(&env));
    }

    #[test]
    fn overrides_replace_or_remove_fields() {
        let json = DeploymentRequest::new("v2")
            .with_field("service", Value::Null)
            .with_field("hostedZoneId", json!("ZNOPE"))
            .to_json(&environment());
        assert!(json.get("service").is_none());
        assert_eq!(json["hostedZoneId"], "ZNOPE");
    }
}
