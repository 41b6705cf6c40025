use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StateValue};
use chrono::{DateTime, Duration, DurationRound, Utc};
use sluice_aws::CloudWatchMetrics;
use sluice_core::metrics::{Datapoint, MetricRef, SeriesQuery, Statistic, TimeWindow};
use sluice_core::ports::{AlarmState, AlarmStates, MetricSource};
use sluice_testkit::moto::unique_name;
use sluice_testkit::provision::{self, AlarmDefinition};

use crate::aws;

fn metric(namespace: &str, name: &str, version: &str) -> MetricRef {
    MetricRef {
        namespace: namespace.into(),
        metric_name: name.into(),
        dimensions: BTreeMap::from([("Version".into(), version.into())]),
    }
}

async fn put(
    client: &aws_sdk_cloudwatch::Client,
    metric: &MetricRef,
    at: DateTime<Utc>,
    value: f64,
) {
    let mut datum = MetricDatum::builder()
        .metric_name(&metric.metric_name)
        .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
        .value(value);
    for (name, value) in &metric.dimensions {
        datum = datum.dimensions(Dimension::builder().name(name).value(value).build());
    }
    client
        .put_metric_data()
        .namespace(&metric.namespace)
        .metric_data(datum.build())
        .send()
        .await
        .unwrap();
}

fn query(id: &str, metric: &MetricRef, stat: Statistic) -> SeriesQuery {
    SeriesQuery {
        id: id.into(),
        metric: metric.clone(),
        stat,
        period_seconds: 60,
    }
}

#[tokio::test]
async fn fetched_series_are_the_per_period_sums_and_a_silent_metric_has_no_points() {
    let aws = aws().await;
    let cw = CloudWatchMetrics::from_conf(&aws.config);
    let client = aws_sdk_cloudwatch::Client::new(&aws.config);
    // moto filters by dimensions without the namespace: a unique dimension value keeps other
    // tests' data out.
    let namespace = unique_name("sluice-test");
    let version = unique_name("green");
    let requests = metric(&namespace, "Requests", &version);
    let errors = metric(&namespace, "Errors", &version);
    let latency = metric(&namespace, "Latency", &version);
    let start = Utc::now().duration_trunc(Duration::seconds(1)).unwrap() - Duration::minutes(10);
    put(&client, &requests, start + Duration::seconds(10), 10.0).await;
    put(&client, &requests, start + Duration::seconds(20), 20.0).await;
    put(&client, &requests, start + Duration::seconds(70), 5.0).await;
    put(&client, &errors, start + Duration::seconds(15), 1.0).await;
    let window = TimeWindow {
        start,
        end: start + Duration::minutes(5),
    };

    let series = cw
        .fetch(
            &[
                query("m0_g_num", &errors, Statistic::Sum),
                query("m0_g_den", &requests, Statistic::Sum),
                query("m0_g_cnt", &requests, Statistic::SampleCount),
                query("m1_g_val", &latency, Statistic::Maximum),
            ],
            window,
        )
        .await
        .unwrap();

    let ids: Vec<&str> = series.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["m0_g_num", "m0_g_den", "m0_g_cnt", "m1_g_val"]);
    let point = |seconds: i64, value: f64| Datapoint {
        at: start + Duration::seconds(seconds),
        value,
    };
    assert_eq!(series[0].points, vec![point(0, 1.0)]);
    assert_eq!(series[1].points, vec![point(0, 30.0), point(60, 5.0)]);
    assert_eq!(series[2].points, vec![point(0, 2.0), point(60, 1.0)]);
    assert!(
        series[3].points.is_empty(),
        "no data, not zero: {:?}",
        series[3]
    );
}

#[tokio::test]
async fn alarm_states_are_read_by_name() {
    let aws = aws().await;
    let cw = CloudWatchMetrics::from_conf(&aws.config);
    let client = aws_sdk_cloudwatch::Client::new(&aws.config);
    let name = unique_name("checkout-5xx");
    let other = unique_name("checkout-latency");
    for alarm in [&name, &other] {
        provision::put_alarm(
            &client,
            &AlarmDefinition {
                name: alarm.clone(),
                metric: metric("Demo", "Errors", "green"),
                statistic: Statistic::Sum,
                period_seconds: 60,
                threshold: 5.0,
                evaluation_periods: 1,
                actions: vec![],
            },
        )
        .await
        .unwrap();
    }
    let missing = unique_name("no-such-alarm");
    let names = [name.clone(), missing.clone(), other.clone()];

    let initial = cw.alarm_states(&names).await.unwrap();
    assert_eq!(initial[1].state, None);
    // moto starts alarms at OK (AWS starts them at INSUFFICIENT_DATA) and never evaluates them.
    assert!(
        matches!(
            initial[0].state,
            Some(AlarmState::Ok | AlarmState::InsufficientData)
        ),
        "{initial:?}"
    );

    client
        .set_alarm_state()
        .alarm_name(&name)
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    let states = cw.alarm_states(&names).await.unwrap();
    let states: Vec<(&str, Option<AlarmState>)> =
        states.iter().map(|s| (s.name.as_str(), s.state)).collect();
    assert_eq!(
        states,
        [
            (name.as_str(), Some(AlarmState::Alarm)),
            (missing.as_str(), None),
            (other.as_str(), initial[2].state),
        ]
    );
    assert!(cw.alarm_states(&[]).await.unwrap().is_empty());
}
