//! [`MetricSource`] and [`AlarmStates`] on CloudWatch: raw series with `GetMetricData`
//! (one `MetricStat` query per series; derived values are the core's business) and alarm
//! states with `DescribeAlarms`.

use std::collections::HashMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue, StatusCode,
};
use aws_smithy_runtime_api::client::result::SdkError;
use chrono::{DateTime, TimeZone, Utc};
use sluice_core::metrics::{Datapoint, Series, SeriesQuery, TimeWindow};
use sluice_core::ports::{AlarmState, AlarmStates, AlarmStatus, MetricError, MetricSource};

use crate::failure;

/// GetMetricData takes at most this many queries per call.
const QUERIES_PER_CALL: usize = 500;
/// DescribeAlarms takes at most this many names per call.
const ALARMS_PER_CALL: usize = 100;

/// Reads metric series and alarm states from CloudWatch.
#[derive(Debug, Clone)]
pub struct CloudWatchMetrics {
    client: Client,
}

impl CloudWatchMetrics {
    pub fn new(client: Client) -> CloudWatchMetrics {
        CloudWatchMetrics { client }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> CloudWatchMetrics {
        CloudWatchMetrics::new(Client::new(config))
    }

    async fn fetch_chunk(
        &self,
        queries: &[SeriesQuery],
        window: TimeWindow,
        what: &str,
    ) -> Result<Vec<Series>, MetricError> {
        let mut request = self
            .client
            .get_metric_data()
            .start_time(to_smithy(window.start))
            .end_time(to_smithy(window.end))
            .scan_by(ScanBy::TimestampAscending);
        for query in queries {
            request = request.metric_data_queries(data_query(query, what)?);
        }
        let mut points: HashMap<&str, Vec<Datapoint>> = queries
            .iter()
            .map(|q| (q.id.as_str(), Vec::new()))
            .collect();
        let mut pages = request.into_paginator().send();
        while let Some(output) = pages.next().await {
            let output = output.map_err(|error| metric_error("GetMetricData", what, &error))?;
            for result in output.metric_data_results() {
                if result.status_code() == Some(&StatusCode::InternalError) {
                    let messages: Vec<String> = result
                        .messages()
                        .iter()
                        .map(|m| {
                            format!("{}: {}", m.code().unwrap_or("?"), m.value().unwrap_or(""))
                        })
                        .collect();
                    return Err(MetricError::Unavailable {
                        operation: "GetMetricData",
                        what: format!("series {} of {what}", result.id().unwrap_or("?")),
                        message: format!("internal error {}", messages.join("; ")),
                    });
                }
                let Some(series) = result.id().and_then(|id| points.get_mut(id)) else {
                    tracing::warn!(id = ?result.id(), "GetMetricData returned a series nobody asked for");
                    continue;
                };
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    let at = from_smithy(at).ok_or_else(|| MetricError::Unavailable {
                        operation: "GetMetricData",
                        what: what.to_string(),
                        message: format!("timestamp {at} is out of range"),
                    })?;
                    series.push(Datapoint { at, value: *value });
                }
            }
        }
        Ok(queries
            .iter()
            .map(|query| {
                let mut points = points.remove(query.id.as_str()).unwrap_or_default();
                points.sort_by_key(|p| p.at);
                Series {
                    id: query.id.clone(),
                    points,
                }
            })
            .collect())
    }
}

pub(crate) fn to_smithy(at: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs_and_nanos(at.timestamp(), at.timestamp_subsec_nanos())
}

pub(crate) fn from_smithy(at: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(at.secs(), at.subsec_nanos()).single()
}

fn describe_queries(queries: &[SeriesQuery], window: TimeWindow) -> String {
    let list: Vec<String> = queries
        .iter()
        .map(|q| {
            format!(
                "{}={} {} {}s",
                q.id,
                q.metric,
                q.stat.as_cloudwatch(),
                q.period_seconds
            )
        })
        .collect();
    format!(
        "{} from {} to {}",
        list.join(", "),
        window.start.to_rfc3339(),
        window.end.to_rfc3339()
    )
}

fn data_query(query: &SeriesQuery, what: &str) -> Result<MetricDataQuery, MetricError> {
    let period = i32::try_from(query.period_seconds)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| MetricError::InvalidQuery {
            what: what.to_string(),
            message: format!(
                "series {}: period {} s is not a valid CloudWatch period",
                query.id, query.period_seconds
            ),
        })?;
    let metric = Metric::builder()
        .namespace(&query.metric.namespace)
        .metric_name(&query.metric.metric_name)
        .set_dimensions(Some(
            query
                .metric
                .dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                .collect(),
        ))
        .build();
    Ok(MetricDataQuery::builder()
        .id(&query.id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(query.stat.as_cloudwatch())
                .build(),
        )
        .return_data(true)
        .build())
}

fn metric_error<E, R>(operation: &'static str, what: &str, error: &SdkError<E, R>) -> MetricError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = failure::describe(error);
    match failure::code(error) {
        Some(
            "InvalidParameterValue"
            | "InvalidParameterCombination"
            | "MissingParameter"
            | "MissingRequiredParameter"
            | "ValidationError"
            | "InvalidNextToken",
        ) => MetricError::InvalidQuery {
            what: what.to_string(),
            message,
        },
        _ if failure::is_throttled(error) => MetricError::Throttled {
            operation,
            what: what.to_string(),
            message,
        },
        _ => MetricError::Unavailable {
            operation,
            what: what.to_string(),
            message,
        },
    }
}

impl MetricSource for CloudWatchMetrics {
    async fn fetch(
        &self,
        queries: &[SeriesQuery],
        window: TimeWindow,
    ) -> Result<Vec<Series>, MetricError> {
        let what = describe_queries(queries, window);
        if window.end <= window.start {
            return Err(MetricError::InvalidQuery {
                what,
                message: "the window ends before it starts".into(),
            });
        }
        let mut series = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(QUERIES_PER_CALL) {
            series.extend(self.fetch_chunk(chunk, window, &what).await?);
        }
        tracing::debug!(
            %what,
            points = series.iter().map(|s| s.points.len()).sum::<usize>(),
            "fetched metric series"
        );
        Ok(series)
    }
}

fn alarm_state(state: &StateValue) -> Option<AlarmState> {
    match state {
        StateValue::Ok => Some(AlarmState::Ok),
        StateValue::Alarm => Some(AlarmState::Alarm),
        StateValue::InsufficientData => Some(AlarmState::InsufficientData),
        _ => None,
    }
}

impl AlarmStates for CloudWatchMetrics {
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, MetricError> {
        let mut states: HashMap<String, AlarmState> = HashMap::new();
        for chunk in names.chunks(ALARMS_PER_CALL) {
            let what = format!("alarms {}", chunk.join(", "));
            let mut pages = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .max_records(100)
                .into_paginator()
                .send();
            while let Some(output) = pages.next().await {
                let output =
                    output.map_err(|error| metric_error("DescribeAlarms", &what, &error))?;
                let metric = output
                    .metric_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                let composite = output
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                for (name, state) in metric.chain(composite) {
                    if let (Some(name), Some(state)) = (name, state.and_then(alarm_state)) {
                        states.insert(name.to_string(), state);
                    }
                }
            }
        }
        Ok(names
            .iter()
            .map(|name| AlarmStatus {
                name: name.clone(),
                state: states.get(name).copied(),
            })
            .collect())
    }
}
