//! What the runner creates in moto: the table, the hosted zone with the blue and green weighted
//! records (blue 100 %), the notifications and alarm topics, an alarm on green's errors that
//! notifies the alarm topic, and the state machine from `statemachine/deployment.asl.json`.
//!
//! Names are chosen up front because the functions' environment (given to cargo lambda watch
//! before anything exists) holds the table name and the topic and state machine ARNs, which
//! moto derives from the names alone.

use sluice_aws::SdkConfig;
use sluice_core::metrics::Statistic;
use sluice_core::ports::RecordSet;
use sluice_core::spec::RecordType;
use sluice_testkit::moto::{ACCOUNT_ID, REGION};
use sluice_testkit::provision::{AlarmDefinition, Provisioner, WeightedRecords};
use sluice_testkit::request::Place;

/// The one request builder (sluice-testkit); [`LocalEnvironment`] is the place it deploys to.
pub use sluice_testkit::request::DeploymentRequest;

use crate::error::Result;
use crate::traffic::{ERRORS_METRIC, Slot, metric};
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
    let aws = Provisioner::new(sdk);
    aws.table(&names.table).await?;
    let records = aws
        .blue_green_records(&WeightedRecords {
            domain: names.domain.clone(),
            record_name: names.record_name.clone(),
            record_type: RecordType::Cname,
            ttl_seconds: names.ttl_seconds,
            blue_target: names.blue_target.clone(),
            green_target: names.green_target.clone(),
        })
        .await?;
    let hosted_zone_id = records.hosted_zone_id.clone();

    let notifications_topic_arn = aws.topic(&names.notifications_topic).await?;
    let alarm_topic_arn = aws.topic(&names.alarm_topic).await?;
    aws.alarm(&AlarmDefinition {
        name: names.alarm.clone(),
        metric: metric(&names.namespace, &names.service, ERRORS_METRIC, Slot::Green),
        statistic: Statistic::Sum,
        period_seconds: alarm.period_seconds,
        threshold: alarm.threshold,
        evaluation_periods: alarm.evaluation_periods,
        actions: vec![alarm_topic_arn.clone()],
    })
    .await?;

    let state_machine_arn = aws
        .state_machine(&names.state_machine, definition, STATE_MACHINE_ROLE_ARN)
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

/// The local environment as the place a [`DeploymentRequest`] deploys to: the service's
/// record set, the simulated metrics' namespace and the alarm on green's errors.
impl From<&LocalEnvironment> for Place {
    fn from(environment: &LocalEnvironment) -> Place {
        let names = &environment.names;
        Place {
            service: names.service.clone(),
            hosted_zone_id: environment.hosted_zone_id.clone(),
            record_name: names.record_name.clone(),
            record_type: Some(RecordType::Cname.as_str().to_string()),
            ttl_seconds: Some(names.ttl_seconds),
            blue_target: names.blue_target.clone(),
            green_target: names.green_target.clone(),
            namespace: names.namespace.clone(),
            service_dimension: true,
            alarms: vec![names.alarm.clone()],
        }
    }
}

#[cfg(test)]
impl LocalEnvironment {
    /// The environment `names` describes, as provisioning would leave it, without moto.
    pub(crate) fn example(names: EnvironmentNames) -> LocalEnvironment {
        use sluice_core::ports::SlotRecord;
        let slot = |slot: &str, target: &String| SlotRecord {
            slot: slot.into(),
            target: target.clone(),
            alias_hosted_zone_id: None,
        };
        LocalEnvironment {
            hosted_zone_id: "Z0123456789ABC".into(),
            records: RecordSet {
                hosted_zone_id: "Z0123456789ABC".into(),
                name: names.record_name.clone(),
                record_type: RecordType::Cname,
                ttl_seconds: names.ttl_seconds,
                stable: slot("blue", &names.blue_target),
                canary: slot("green", &names.green_target),
            },
            state_machine_arn: names.state_machine_arn(),
            notifications_topic_arn: names.notifications_topic_arn(),
            alarm_topic_arn: names.alarm_topic_arn(),
            names,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{LATENCY_METRIC, REQUESTS_METRIC};
    use serde_json::{Value, json};
    use sluice_core::DeploymentSpec;

    #[test]
    fn the_request_reads_the_metrics_the_traffic_simulator_writes() {
        let env = environment();
        let place = Place::from(&env);
        for name in [REQUESTS_METRIC, ERRORS_METRIC, LATENCY_METRIC] {
            for slot in Slot::BOTH {
                assert_eq!(
                    place.metric(name, slot.name()),
                    metric(&env.names.namespace, env.service(), name, slot)
                );
            }
        }
    }

    fn environment() -> LocalEnvironment {
        LocalEnvironment::example(EnvironmentNames::for_service("checkout-api"))
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
