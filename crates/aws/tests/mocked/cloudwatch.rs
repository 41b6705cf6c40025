use std::collections::BTreeMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataError, GetMetricDataOutput};
use aws_sdk_cloudwatch::types::{
    CompositeAlarm, MetricAlarm, MetricDataResult, StateValue, StatusCode,
};
use aws_smithy_mocks::{Rule, mock};
use aws_smithy_types::DateTime as SmithyTime;
use sluice_aws::CloudWatchMetrics;
use sluice_core::metrics::{Datapoint, MetricRef, SeriesQuery, Statistic, TimeWindow};
use sluice_core::ports::{AlarmState, AlarmStates, MetricError, MetricSource};

use crate::fixtures::at;
use crate::{Seen, meta, mocked};

fn metrics(rules: &[&Rule]) -> CloudWatchMetrics {
    CloudWatchMetrics::new(mocked!(aws_sdk_cloudwatch, rules))
}

fn query(id: &str, name: &str, stat: Statistic) -> SeriesQuery {
    SeriesQuery {
        id: id.into(),
        metric: MetricRef {
            namespace: "Demo".into(),
            metric_name: name.into(),
            dimensions: BTreeMap::from([("Version".into(), "green".into())]),
        },
        stat,
        period_seconds: 60,
    }
}

fn window() -> TimeWindow {
    TimeWindow {
        start: at(0),
        end: at(600),
    }
}

fn smithy(seconds: i64) -> SmithyTime {
    let t = at(seconds);
    SmithyTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

#[tokio::test]
async fn no_datapoints_is_a_series_without_points_never_zero() {
    let rule = mock!(Client::get_metric_data).then_output(|| {
        GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("m0_g_num")
                    .status_code(StatusCode::Complete)
                    .build(),
            )
            .build()
    });
    let queries = [
        query("m0_g_num", "Errors", Statistic::Sum),
        query("m0_g_den", "Requests", Statistic::Sum),
    ];

    let series = metrics(&[&rule]).fetch(&queries, window()).await.unwrap();

    assert_eq!(series.len(), 2);
    assert_eq!(series[0].id, "m0_g_num");
    assert_eq!(
        series[1].id, "m0_g_den",
        "a series CloudWatch left out is still there"
    );
    assert!(series.iter().all(|s| s.points.is_empty()));
}

#[tokio::test]
async fn pages_are_joined_by_id_and_sorted_by_time_after_a_throttled_attempt() {
    let seen = Seen::new();
    let rule = mock!(Client::get_metric_data)
        .match_requests(seen.recorder())
        .sequence()
        .error(|| GetMetricDataError::generic(meta("Throttling", "Rate exceeded")))
        .output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("m0_g_val")
                        .timestamps(smithy(120))
                        .values(7.0)
                        .timestamps(smithy(60))
                        .values(5.0)
                        .status_code(StatusCode::PartialData)
                        .build(),
                )
                .next_token("page-2")
                .build()
        })
        .output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("m0_g_val")
                        .timestamps(smithy(0))
                        .values(3.0)
                        .status_code(StatusCode::Complete)
                        .build(),
                )
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("m0_g_cnt")
                        .timestamps(smithy(0))
                        .values(10.0)
                        .status_code(StatusCode::Complete)
                        .build(),
                )
                .build()
        })
        .build();
    let queries = [
        query("m0_g_val", "Latency", Statistic::Maximum),
        query("m0_g_cnt", "Latency", Statistic::SampleCount),
    ];

    let series = metrics(&[&rule]).fetch(&queries, window()).await.unwrap();

    assert_eq!(rule.num_calls(), 3);
    assert_eq!(
        series[0].points,
        vec![
            Datapoint {
                at: at(0),
                value: 3.0
            },
            Datapoint {
                at: at(60),
                value: 5.0
            },
            Datapoint {
                at: at(120),
                value: 7.0
            },
        ]
    );
    assert_eq!(
        series[1].points,
        vec![Datapoint {
            at: at(0),
            value: 10.0
        }]
    );
    let requests = seen.all();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].next_token(), Some("page-2"));
    let first = &requests[0].metric_data_queries()[0];
    let stat = first.metric_stat().unwrap();
    assert_eq!(first.id(), Some("m0_g_val"));
    assert_eq!(first.return_data(), Some(true));
    assert_eq!(stat.stat(), Some("Maximum"));
    assert_eq!(stat.period(), Some(60));
    let metric = stat.metric().unwrap();
    assert_eq!(
        (metric.namespace(), metric.metric_name()),
        (Some("Demo"), Some("Latency"))
    );
    assert_eq!(metric.dimensions()[0].name(), Some("Version"));
    assert_eq!(metric.dimensions()[0].value(), Some("green"));
}

#[tokio::test]
async fn a_rejected_query_is_invalid_and_names_the_series() {
    let rule = mock!(Client::get_metric_data).then_error(|| {
        GetMetricDataError::generic(meta(
            "InvalidParameterValue",
            "The value p95.5.5 for parameter MetricDataQueries.member.1.MetricStat.Stat is not valid.",
        ))
    });
    let error = metrics(&[&rule])
        .fetch(
            &[query("m0_g_val", "Latency", Statistic::Percentile(95.0))],
            window(),
        )
        .await
        .unwrap_err();
    assert!(!error.is_retryable());
    match error {
        MetricError::InvalidQuery { what, message } => {
            assert!(
                what.contains("m0_g_val=Demo/Latency{Version=green} p95 60s"),
                "{what}"
            );
            assert!(message.contains("InvalidParameterValue"), "{message}");
        }
        other => panic!("expected InvalidQuery, got {other:?}"),
    }
}

#[tokio::test]
async fn alarm_states_follow_the_names_and_a_missing_alarm_has_none() {
    let seen = Seen::new();
    let rule = mock!(Client::describe_alarms)
        .match_requests(seen.recorder())
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("checkout-5xx")
                        .state_value(StateValue::Alarm)
                        .build(),
                )
                .composite_alarms(
                    CompositeAlarm::builder()
                        .alarm_name("checkout-health")
                        .state_value(StateValue::Ok)
                        .build(),
                )
                .build()
        });
    let names = ["checkout-health", "checkout-gone", "checkout-5xx"].map(String::from);

    let states = metrics(&[&rule]).alarm_states(&names).await.unwrap();

    let states: Vec<(&str, Option<AlarmState>)> =
        states.iter().map(|s| (s.name.as_str(), s.state)).collect();
    assert_eq!(
        states,
        [
            ("checkout-health", Some(AlarmState::Ok)),
            ("checkout-gone", None),
            ("checkout-5xx", Some(AlarmState::Alarm)),
        ]
    );
    let request = &seen.all()[0];
    assert_eq!(request.alarm_names(), names.as_slice());
    assert_eq!(
        request.alarm_types().len(),
        2,
        "composite alarms are asked for too"
    );
}
