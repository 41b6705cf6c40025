//! Creates what sluice runs on: the table, a hosted zone with its weighted records, topics,
//! alarms and a state machine. Used by tests, the local runner and the bench; in AWS the SAM
//! template creates these. Each function is safe to call again for something that exists.
//! These play AWS's part, so they speak the SDK directly.

use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use sluice_aws::Route53Router;
use sluice_aws::dynamodb::keys;
use sluice_core::WeightPair;
use sluice_core::metrics::{MetricRef, Statistic};
use sluice_core::ports::{ChangeId, RecordSet, RouterError, SlotRecord, TrafficRouter};
use sluice_core::spec::RecordType;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProvisionError {
    #[error("{operation} for {what} failed: {message}")]
    Failed {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("table {table} was not ACTIVE after {waited:?}")]
    TableNotActive { table: String, waited: Duration },
    #[error("the weighted records {record} could not be set")]
    Records {
        record: String,
        #[source]
        source: RouterError,
    },
}

fn failed<E, R>(operation: &'static str, what: &str, error: &SdkError<E, R>) -> ProvisionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    ProvisionError::Failed {
        operation,
        what: what.to_string(),
        message: describe(error),
    }
}

/// `Code: message` for a service's answer, the whole error chain for anything else.
fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let answer = error.as_service_error();
    match (
        answer.and_then(|e| e.code()),
        answer.and_then(|e| e.message()),
    ) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// The service's error code of a failed call (`ResourceInUseException`, ...), if it answered.
fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
}

/// A zone id without its `/hostedzone/` prefix, as the core keeps it.
fn bare_zone_id(zone_id: &str) -> &str {
    let zone_id = zone_id.trim();
    zone_id.strip_prefix("/hostedzone/").unwrap_or(zone_id)
}

fn build_failed(what: &str, error: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Failed {
        operation: "build request",
        what: what.to_string(),
        message: error.to_string(),
    }
}

/// How long [`create_table`] waits for the table to become ACTIVE.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// The store's table: `PK`/`SK` strings, index `GSI1` (`GSI1PK`/`GSI1SK`, all attributes),
/// on-demand billing, TTL on `expiresAt`. Waits until it is ACTIVE.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), ProvisionError> {
    let what = format!("table {name}");
    let string_attribute = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| build_failed(&what, e))
    };
    let key = |attribute: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(kind)
            .build()
            .map_err(|e| build_failed(&what, e))
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(keys::GSI1)
        .key_schema(key(keys::GSI1PK, KeyType::Hash)?)
        .key_schema(key(keys::GSI1SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| build_failed(&what, e))?;
    let created = client
        .create_table()
        .table_name(name)
        .attribute_definitions(string_attribute(keys::PK)?)
        .attribute_definitions(string_attribute(keys::SK)?)
        .attribute_definitions(string_attribute(keys::GSI1PK)?)
        .attribute_definitions(string_attribute(keys::GSI1SK)?)
        .key_schema(key(keys::PK, KeyType::Hash)?)
        .key_schema(key(keys::SK, KeyType::Range)?)
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => tracing::info!(table = name, "table created"),
        Err(error) if code(&error) == Some("ResourceInUseException") => {
            tracing::info!(table = name, "table exists");
        }
        Err(error) => return Err(failed("CreateTable", &what, &error)),
    }

    let started = tokio::time::Instant::now();
    loop {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| failed("DescribeTable", &what, &e))?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            break;
        }
        if started.elapsed() > TABLE_ACTIVE_TIMEOUT {
            return Err(ProvisionError::TableNotActive {
                table: name.to_string(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| failed("DescribeTimeToLive", &what, &e))?;
    let enabled = ttl
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status())
        .is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
    if !enabled {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(keys::EXPIRES_AT)
                    .enabled(true)
                    .build()
                    .map_err(|e| build_failed(&what, e))?,
            )
            .send()
            .await
            .map_err(|e| failed("UpdateTimeToLive", &what, &e))?;
    }
    Ok(())
}

/// A public hosted zone for `domain` (the one that exists under that name, if any); returns
/// its id without the `/hostedzone/` prefix.
pub async fn create_hosted_zone(
    client: &aws_sdk_route53::Client,
    domain: &str,
) -> Result<String, ProvisionError> {
    let what = format!("hosted zone {domain}");
    let wanted = if domain.ends_with('.') {
        domain.to_ascii_lowercase()
    } else {
        format!("{}.", domain.to_ascii_lowercase())
    };
    let listed = client
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .max_items(1)
        .send()
        .await
        .map_err(|e| failed("ListHostedZonesByName", &what, &e))?;
    if let Some(zone) = listed
        .hosted_zones()
        .iter()
        .find(|z| z.name().eq_ignore_ascii_case(&wanted))
    {
        return Ok(bare_zone_id(zone.id()).to_string());
    }
    let reference = format!(
        "sluice-{wanted}-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let created = client
        .create_hosted_zone()
        .name(&wanted)
        .caller_reference(reference)
        .send()
        .await
        .map_err(|e| failed("CreateHostedZone", &what, &e))?;
    let id = created
        .hosted_zone()
        .map(|z| bare_zone_id(z.id()).to_string())
        .ok_or_else(|| ProvisionError::Failed {
            operation: "CreateHostedZone",
            what: what.clone(),
            message: "the answer names no hosted zone".into(),
        })?;
    tracing::info!(domain = %wanted, zone = %id, "hosted zone created");
    Ok(id)
}

/// The blue and green weighted records of a record set, created (or overwritten) with
/// `weights`, in one change.
pub async fn create_weighted_records(
    router: &Route53Router,
    records: &RecordSet,
    weights: WeightPair,
) -> Result<ChangeId, RouterError> {
    router.set_weights(records, weights).await
}

/// An SNS topic; returns its ARN (the existing one's, if it exists).
pub async fn create_topic(
    client: &aws_sdk_sns::Client,
    name: &str,
) -> Result<String, ProvisionError> {
    let what = format!("topic {name}");
    let created = client
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| failed("CreateTopic", &what, &e))?;
    created
        .topic_arn()
        .map(str::to_string)
        .ok_or_else(|| ProvisionError::Failed {
            operation: "CreateTopic",
            what,
            message: "the answer has no topic ARN".into(),
        })
}

/// A metric alarm: `metric`'s `statistic` over `period_seconds` above `threshold` for
/// `evaluation_periods` periods; missing data is not breaching.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmDefinition {
    pub name: String,
    pub metric: MetricRef,
    pub statistic: Statistic,
    pub period_seconds: u32,
    pub threshold: f64,
    pub evaluation_periods: u32,
    /// Topics notified when the alarm changes state.
    pub actions: Vec<String>,
}

/// Creates or replaces a metric alarm.
pub async fn put_alarm(
    client: &aws_sdk_cloudwatch::Client,
    alarm: &AlarmDefinition,
) -> Result<(), ProvisionError> {
    let what = format!("alarm {}", alarm.name);
    let mut request = client
        .put_metric_alarm()
        .alarm_name(&alarm.name)
        .namespace(&alarm.metric.namespace)
        .metric_name(&alarm.metric.metric_name)
        .period(i32::try_from(alarm.period_seconds).unwrap_or(i32::MAX))
        .evaluation_periods(i32::try_from(alarm.evaluation_periods).unwrap_or(i32::MAX))
        .threshold(alarm.threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .set_alarm_actions(Some(alarm.actions.clone()))
        .set_ok_actions(Some(alarm.actions.clone()));
    for (name, value) in &alarm.metric.dimensions {
        request = request.dimensions(Dimension::builder().name(name).value(value).build());
    }
    request = match alarm.statistic {
        Statistic::Percentile(_) => request.extended_statistic(alarm.statistic.as_cloudwatch()),
        _ => request.statistic(aws_sdk_cloudwatch::types::Statistic::from(
            alarm.statistic.as_cloudwatch().as_str(),
        )),
    };
    request
        .send()
        .await
        .map_err(|e| failed("PutMetricAlarm", &what, &e))?;
    tracing::info!(alarm = %alarm.name, "alarm put");
    Ok(())
}

/// A Standard state machine with `definition` (ASL JSON); returns its ARN (the existing
/// one's, with its definition updated, if one has that name).
pub async fn create_state_machine(
    client: &aws_sdk_sfn::Client,
    name: &str,
    definition: &str,
    role_arn: &str,
) -> Result<String, ProvisionError> {
    let what = format!("state machine {name}");
    let created = client
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn(role_arn)
        .send()
        .await;
    match created {
        Ok(output) => Ok(output.state_machine_arn().to_string()),
        Err(error) if code(&error) == Some("StateMachineAlreadyExists") => {
            let mut pages = client.list_state_machines().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| failed("ListStateMachines", &what, &e))?;
                if let Some(machine) = page.state_machines().iter().find(|m| m.name() == name) {
                    let arn = machine.state_machine_arn().to_string();
                    client
                        .update_state_machine()
                        .state_machine_arn(&arn)
                        .definition(definition)
                        .role_arn(role_arn)
                        .send()
                        .await
                        .map_err(|e| failed("UpdateStateMachine", &what, &e))?;
                    return Ok(arn);
                }
            }
            Err(failed("CreateStateMachine", &what, &error))
        }
        Err(error) => Err(failed("CreateStateMachine", &what, &error)),
    }
}

/// One CloudWatch datapoint as a statistic set: what many samples added up to at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatisticSet {
    pub at: chrono::DateTime<chrono::Utc>,
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

impl StatisticSet {
    /// A counter's value (requests, errors) at `at`: one sample of `value`.
    pub fn count(at: chrono::DateTime<chrono::Utc>, value: f64) -> StatisticSet {
        StatisticSet {
            at,
            sample_count: 1.0,
            sum: value,
            minimum: value,
            maximum: value,
        }
    }
}

/// Publishes datapoints of `metric` (PutMetricData, up to 1000 per call). Used by the local
/// traffic simulator and tests; in AWS the services publish their own metrics.
pub async fn put_statistic_sets(
    client: &aws_sdk_cloudwatch::Client,
    metric: &MetricRef,
    sets: &[StatisticSet],
) -> Result<(), ProvisionError> {
    use aws_sdk_cloudwatch::types::{MetricDatum, StatisticSet as CwSet};
    let what = format!("metric {metric}");
    for chunk in sets.chunks(1000) {
        let mut request = client.put_metric_data().namespace(&metric.namespace);
        for set in chunk {
            let mut datum = MetricDatum::builder()
                .metric_name(&metric.metric_name)
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    set.at.timestamp_millis(),
                ))
                .statistic_values(
                    CwSet::builder()
                        .sample_count(set.sample_count)
                        .sum(set.sum)
                        .minimum(set.minimum)
                        .maximum(set.maximum)
                        .build(),
                );
            for (name, value) in &metric.dimensions {
                datum = datum.dimensions(Dimension::builder().name(name).value(value).build());
            }
            request = request.metric_data(datum.build());
        }
        request
            .send()
            .await
            .map_err(|e| failed("PutMetricData", &what, &e))?;
    }
    Ok(())
}

/// A hosted zone's blue and green weighted records, before the zone exists.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedRecords {
    /// The zone's domain, with its trailing dot.
    pub domain: String,
    pub record_name: String,
    pub record_type: RecordType,
    pub ttl_seconds: u32,
    pub blue_target: String,
    pub green_target: String,
}

/// The SDK clients provisioning needs, each built once from one `SdkConfig`: the one place
/// the moto world (tests), the local runner and the bench create what sluice runs on.
#[derive(Debug, Clone)]
pub struct Provisioner {
    dynamodb: aws_sdk_dynamodb::Client,
    route53: aws_sdk_route53::Client,
    router: Route53Router,
    sns: aws_sdk_sns::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sfn: aws_sdk_sfn::Client,
}

impl Provisioner {
    pub fn new(sdk: &aws_config::SdkConfig) -> Provisioner {
        Provisioner {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            route53: aws_sdk_route53::Client::new(sdk),
            router: Route53Router::from_conf(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            sfn: aws_sdk_sfn::Client::new(sdk),
        }
    }

    /// See [`create_table`].
    pub async fn table(&self, name: &str) -> Result<(), ProvisionError> {
        create_table(&self.dynamodb, name).await
    }

    /// The zone of `records.domain` (created if missing) with the blue and green weighted
    /// records, blue at 100 %.
    pub async fn blue_green_records(
        &self,
        records: &WeightedRecords,
    ) -> Result<RecordSet, ProvisionError> {
        let hosted_zone_id = create_hosted_zone(&self.route53, &records.domain).await?;
        let set = RecordSet {
            hosted_zone_id,
            name: records.record_name.clone(),
            record_type: records.record_type,
            ttl_seconds: records.ttl_seconds,
            // The default slot names; blue starts as the stable slot.
            stable: SlotRecord {
                slot: "blue".into(),
                target: records.blue_target.clone(),
                alias_hosted_zone_id: None,
            },
            canary: SlotRecord {
                slot: "green".into(),
                target: records.green_target.clone(),
                alias_hosted_zone_id: None,
            },
        };
        create_weighted_records(&self.router, &set, WeightPair::ALL_STABLE)
            .await
            .map_err(|source| ProvisionError::Records {
                record: set.name.clone(),
                source,
            })?;
        Ok(set)
    }

    /// See [`create_topic`].
    pub async fn topic(&self, name: &str) -> Result<String, ProvisionError> {
        create_topic(&self.sns, name).await
    }

    /// See [`put_alarm`].
    pub async fn alarm(&self, alarm: &AlarmDefinition) -> Result<(), ProvisionError> {
        put_alarm(&self.cloudwatch, alarm).await
    }

    /// See [`create_state_machine`].
    pub async fn state_machine(
        &self,
        name: &str,
        definition: &str,
        role_arn: &str,
    ) -> Result<String, ProvisionError> {
        create_state_machine(&self.sfn, name, definition, role_arn).await
    }

    /// See [`put_statistic_sets`].
    pub async fn statistic_sets(
        &self,
        metric: &MetricRef,
        sets: &[StatisticSet],
    ) -> Result<(), ProvisionError> {
        put_statistic_sets(&self.cloudwatch, metric, sets).await
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        &self.dynamodb
    }

    pub fn router(&self) -> &Route53Router {
        &self.router
    }

    pub fn sfn(&self) -> &aws_sdk_sfn::Client {
        &self.sfn
    }

    pub fn cloudwatch(&self) -> &aws_sdk_cloudwatch::Client {
        &self.cloudwatch
    }
}
