//! The alarm evaluator moto lacks: moto stores CloudWatch alarms but never evaluates them nor
//! fires their actions. Every second this reads each alarm (DescribeAlarms), evaluates its
//! metric over its last `period × evaluationPeriods` seconds (GetMetricData with the alarm's
//! statistic), and on a state change sets the state in moto (SetAlarmState) and publishes the
//! standard CloudWatch notification to the alarm's actions for the new state (AlarmActions,
//! OKActions or InsufficientDataActions), the way CloudWatch notifies SNS.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch as cw;
use aws_sdk_sns as sns;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_core::ports::AlarmState;
use sluice_testkit::moto::ACCOUNT_ID;

use crate::error::{Result, aws_error};
use crate::sync::locked;

/// The long region name CloudWatch puts into notifications for us-east-1.
const REGION_LONG_NAME: &str = "US East (N. Virginia)";

/// One metric alarm as DescribeAlarms returns it, reduced to what evaluation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedAlarm {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, … or a percentile such as `p95` (read as Maximum: moto has none).
    pub statistic: String,
    pub extended: bool,
    pub unit: Option<String>,
    pub period_seconds: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub comparison: String,
    pub threshold: f64,
    pub treat_missing_data: String,
    pub state: AlarmState,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
}

/// One state change the evaluator made (and notified).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmTransition {
    pub alarm: String,
    pub from: AlarmState,
    pub to: AlarmState,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// The topics the notification was published to.
    pub notified: Vec<String>,
    pub forced: bool,
}

/// What an evaluation concluded; `None` state keeps the current one.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub state: Option<AlarmState>,
    pub reason: String,
}

/// CloudWatch's name of a state: `OK`, `ALARM`, `INSUFFICIENT_DATA`.
pub fn state_name(state: AlarmState) -> &'static str {
    match state {
        AlarmState::Ok => "OK",
        AlarmState::Alarm => "ALARM",
        AlarmState::InsufficientData => "INSUFFICIENT_DATA",
    }
}

fn parse_state(state: &str) -> AlarmState {
    match state {
        "ALARM" => AlarmState::Alarm,
        "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
        _ => AlarmState::Ok,
    }
}

/// Whether `value` breaches `threshold` under `comparison`; `None` for operators the local
/// evaluator does not support (anomaly-detection bands).
pub fn breaches(comparison: &str, value: f64, threshold: f64) -> Option<bool> {
    Some(match comparison {
        "GreaterThanThreshold" => value > threshold,
        "GreaterThanOrEqualToThreshold" => value >= threshold,
        "LessThanThreshold" => value < threshold,
        "LessThanOrEqualToThreshold" => value <= threshold,
        _ => return None,
    })
}

fn comparison_words(comparison: &str) -> &'static str {
    match comparison {
        "GreaterThanThreshold" => "greater than",
        "GreaterThanOrEqualToThreshold" => "greater than or equal to",
        "LessThanThreshold" => "less than",
        "LessThanOrEqualToThreshold" => "less than or equal to",
        _ => "compared with",
    }
}

/// Evaluates an alarm on the datapoints of its evaluation range (one per period that had
/// data). ALARM when at least `datapointsToAlarm` of them breach; OK when there is data and
/// fewer breach. Without any data, `treatMissingData` decides: `breaching` → ALARM,
/// `notBreaching` → OK, `ignore`/`missing` → the state stays as it is.
pub fn evaluate(alarm: &WatchedAlarm, values: &[f64]) -> Evaluation {
    let Some(_) = breaches(&alarm.comparison, 0.0, alarm.threshold) else {
        return Evaluation {
            state: None,
            reason: format!("comparison {} is not evaluated locally", alarm.comparison),
        };
    };
    let periods = alarm.evaluation_periods.max(1);
    let needed = alarm.datapoints_to_alarm.clamp(1, periods);
    if values.is_empty() {
        let state = match alarm.treat_missing_data.as_str() {
            "breaching" => Some(AlarmState::Alarm),
            "notBreaching" => Some(AlarmState::Ok),
            _ => None,
        };
        return Evaluation {
            state,
            reason: format!(
                "Threshold Crossed: no datapoints were received for {periods} period{} and missing data is treated as {}.",
                if periods == 1 { "" } else { "s" },
                alarm.treat_missing_data
            ),
        };
    }
    let breaching: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| breaches(&alarm.comparison, *v, alarm.threshold) == Some(true))
        .collect();
    let shown: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    let words = comparison_words(&alarm.comparison);
    if i32::try_from(breaching.len()).unwrap_or(i32::MAX) >= needed {
        Evaluation {
            state: Some(AlarmState::Alarm),
            reason: format!(
                "Threshold Crossed: {} out of the last {} datapoints [{}] was {words} the threshold ({}) (minimum {needed} datapoint{} for OK -> ALARM transition).",
                breaching.len(),
                values.len(),
                shown.join(", "),
                alarm.threshold,
                if needed == 1 { "" } else { "s" },
            ),
        }
    } else {
        Evaluation {
            state: Some(AlarmState::Ok),
            reason: format!(
                "Threshold Crossed: {} out of the last {} datapoints [{}] was not {words} the threshold ({}) (minimum {needed} datapoint{} for ALARM -> OK transition).",
                values.len() - breaching.len(),
                values.len(),
                shown.join(", "),
                alarm.threshold,
                if needed == 1 { "" } else { "s" },
            ),
        }
    }
}

/// The JSON message CloudWatch publishes to an alarm's SNS actions on a state change.
pub fn alarm_notification(
    alarm: &WatchedAlarm,
    old: AlarmState,
    new: AlarmState,
    reason: &str,
    at: DateTime<Utc>,
) -> Value {
    let dimensions: Vec<Value> = alarm
        .dimensions
        .iter()
        .map(|(name, value)| json!({"value": value, "name": name}))
        .collect();
    let (statistic_type, statistic) = if alarm.extended {
        ("ExtendedStatistic", alarm.statistic.clone())
    } else {
        ("Statistic", alarm.statistic.to_ascii_uppercase())
    };
    json!({
        "AlarmName": alarm.name,
        // CloudWatch sends null without a description; a string keeps strict parsers working.
        "AlarmDescription": alarm.description.clone().unwrap_or_default(),
        "AWSAccountId": ACCOUNT_ID,
        "AlarmConfigurationUpdatedTimestamp": cloudwatch_time(at),
        "NewStateValue": state_name(new),
        "NewStateReason": reason,
        "StateChangeTime": cloudwatch_time(at),
        "Region": REGION_LONG_NAME,
        "AlarmArn": alarm.arn,
        "OldStateValue": state_name(old),
        "OKActions": alarm.ok_actions,
        "AlarmActions": alarm.alarm_actions,
        "InsufficientDataActions": alarm.insufficient_data_actions,
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": statistic_type,
            "Statistic": statistic,
            "Unit": alarm.unit,
            "Dimensions": dimensions,
            "Period": alarm.period_seconds,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
            "ComparisonOperator": alarm.comparison,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data,
            "EvaluateLowSampleCountPercentile": ""
        }
    })
}

/// The subject CloudWatch gives its notifications: `ALARM: "name" in US East (N. Virginia)`.
pub fn alarm_subject(alarm: &str, new: AlarmState) -> String {
    format!("{}: \"{alarm}\" in {REGION_LONG_NAME}", state_name(new))
}

/// CloudWatch's timestamp format in notifications: `2026-11-25T23:41:12.345+0000`.
fn cloudwatch_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// Evaluates every alarm in moto and fires their actions; cheap to clone.
#[derive(Clone)]
pub struct AlarmEvaluator {
    inner: Arc<Inner>,
}

struct Inner {
    cloudwatch: cw::Client,
    sns: sns::Client,
    /// Alarms pinned to a state by [`AlarmEvaluator::force`], with the reason to give.
    forced: Mutex<HashMap<String, (AlarmState, String)>>,
    transitions: Mutex<Vec<AlarmTransition>>,
    /// Alarms already reported as not evaluable, so the log says it once.
    reported: Mutex<HashSet<String>>,
    /// One evaluation pass at a time (the loop and a forced change).
    pass: tokio::sync::Mutex<()>,
}

impl AlarmEvaluator {
    pub fn new(sdk: &sluice_aws::SdkConfig) -> AlarmEvaluator {
        AlarmEvaluator {
            inner: Arc::new(Inner {
                cloudwatch: cw::Client::new(sdk),
                sns: sns::Client::new(sdk),
                forced: Mutex::new(HashMap::new()),
                transitions: Mutex::new(Vec::new()),
                reported: Mutex::new(HashSet::new()),
                pass: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Every state change so far, oldest first.
    pub fn transitions(&self) -> Vec<AlarmTransition> {
        locked(&self.inner.transitions).clone()
    }

    /// Pins `alarm` to `state` (whatever its data says) until [`AlarmEvaluator::release`],
    /// and makes the change (with its notification) now.
    pub async fn force(&self, alarm: &str, state: AlarmState, reason: &str) -> Result<()> {
        locked(&self.inner.forced).insert(alarm.to_string(), (state, reason.to_string()));
        self.evaluate_all(Utc::now()).await.map(|_| ())
    }

    /// Lets `alarm` follow its data again from the next evaluation.
    pub fn release(&self, alarm: &str) {
        locked(&self.inner.forced).remove(alarm);
    }

    /// Evaluates every metric alarm once; returns the state changes it made.
    pub async fn evaluate_all(&self, now: DateTime<Utc>) -> Result<Vec<AlarmTransition>> {
        let _pass = self.inner.pass.lock().await;
        let mut changes = Vec::new();
        for alarm in self.describe().await? {
            let forced = locked(&self.inner.forced).get(&alarm.name).cloned();
            let (evaluation, is_forced) = match forced {
                Some((state, reason)) => (
                    Evaluation {
                        state: Some(state),
                        reason,
                    },
                    true,
                ),
                None => (self.evaluate_on_data(&alarm, now).await?, false),
            };
            let Some(new) = evaluation.state.filter(|s| *s != alarm.state) else {
                continue;
            };
            changes.push(
                self.transition(&alarm, new, &evaluation.reason, now, is_forced)
                    .await?,
            );
        }
        Ok(changes)
    }

    /// Runs [`AlarmEvaluator::evaluate_all`] every `interval`, forever (spawn it; abort the
    /// task to stop).
    pub fn run(
        &self,
        interval: Duration,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let evaluator = self.clone();
        async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if let Err(error) = evaluator.evaluate_all(Utc::now()).await {
                    tracing::warn!(%error, "alarm evaluation failed; trying again next tick");
                }
            }
        }
    }

    async fn describe(&self) -> Result<Vec<WatchedAlarm>> {
        let mut alarms = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .inner
                .cloudwatch
                .describe_alarms()
                .alarm_types(cw::types::AlarmType::MetricAlarm)
                .set_next_token(next_token.clone())
                .send()
                .await
                .map_err(|e| aws_error("DescribeAlarms", "every alarm", &e))?;
            alarms.extend(page.metric_alarms().iter().filter_map(watched));
            next_token = page.next_token().map(str::to_string);
            if next_token.is_none() {
                return Ok(alarms);
            }
        }
    }

    async fn evaluate_on_data(
        &self,
        alarm: &WatchedAlarm,
        now: DateTime<Utc>,
    ) -> Result<Evaluation> {
        if breaches(&alarm.comparison, 0.0, 0.0).is_none() {
            if locked(&self.inner.reported).insert(alarm.name.clone()) {
                tracing::warn!(alarm = %alarm.name, comparison = %alarm.comparison, "alarm not evaluated locally");
            }
            return Ok(evaluate(alarm, &[]));
        }
        let range =
            i64::from(alarm.period_seconds.max(1)) * i64::from(alarm.evaluation_periods.max(1));
        let start = now - chrono::Duration::seconds(range);
        // moto has no percentiles (a percentile query crashes it): the worst period stands in.
        let stat = if alarm.extended {
            "Maximum".to_string()
        } else {
            alarm.statistic.clone()
        };
        let mut metric = cw::types::Metric::builder()
            .namespace(&alarm.namespace)
            .metric_name(&alarm.metric_name);
        for (name, value) in &alarm.dimensions {
            metric = metric.dimensions(
                cw::types::Dimension::builder()
                    .name(name)
                    .value(value)
                    .build(),
            );
        }
        let query = cw::types::MetricDataQuery::builder()
            .id("alarm")
            .metric_stat(
                cw::types::MetricStat::builder()
                    .metric(metric.build())
                    .period(alarm.period_seconds.max(1))
                    .stat(stat)
                    .build(),
            )
            .return_data(true)
            .build();
        let answer = self
            .inner
            .cloudwatch
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(aws_smithy_time(start))
            .end_time(aws_smithy_time(now))
            .send()
            .await
            .map_err(|e| aws_error("GetMetricData", format!("alarm {}", alarm.name), &e))?;
        let values: Vec<f64> = answer
            .metric_data_results()
            .iter()
            .flat_map(|r| r.values().iter().copied())
            .collect();
        Ok(evaluate(alarm, &values))
    }

    async fn transition(
        &self,
        alarm: &WatchedAlarm,
        new: AlarmState,
        reason: &str,
        at: DateTime<Utc>,
        forced: bool,
    ) -> Result<AlarmTransition> {
        let what = format!("alarm {}", alarm.name);
        self.inner
            .cloudwatch
            .set_alarm_state()
            .alarm_name(&alarm.name)
            .state_value(cw::types::StateValue::from(state_name(new)))
            .state_reason(reason)
            .send()
            .await
            .map_err(|e| aws_error("SetAlarmState", what.clone(), &e))?;
        let topics = match new {
            AlarmState::Alarm => &alarm.alarm_actions,
            AlarmState::Ok => &alarm.ok_actions,
            AlarmState::InsufficientData => &alarm.insufficient_data_actions,
        };
        let message = alarm_notification(alarm, alarm.state, new, reason, at).to_string();
        let mut notified = Vec::new();
        for topic in topics.iter().filter(|t| t.starts_with("arn:aws:sns:")) {
            self.inner
                .sns
                .publish()
                .topic_arn(topic)
                .subject(alarm_subject(&alarm.name, new))
                .message(&message)
                .send()
                .await
                .map_err(|e| aws_error("Publish", format!("{what} to {topic}"), &e))?;
            notified.push(topic.clone());
        }
        tracing::info!(
            alarm = %alarm.name,
            from = state_name(alarm.state),
            to = state_name(new),
            forced,
            ?notified,
            "{reason}"
        );
        let transition = AlarmTransition {
            alarm: alarm.name.clone(),
            from: alarm.state,
            to: new,
            reason: reason.to_string(),
            at,
            notified,
            forced,
        };
        locked(&self.inner.transitions).push(transition.clone());
        Ok(transition)
    }
}

fn aws_smithy_time(at: DateTime<Utc>) -> cw::primitives::DateTime {
    cw::primitives::DateTime::from_millis(at.timestamp_millis())
}

fn watched(alarm: &cw::types::MetricAlarm) -> Option<WatchedAlarm> {
    let (statistic, extended) = match (alarm.statistic(), alarm.extended_statistic()) {
        (Some(statistic), _) => (statistic.as_str().to_string(), false),
        (None, Some(extended)) => (extended.to_string(), true),
        // A metric-math alarm: nothing local can evaluate it.
        (None, None) => return None,
    };
    let evaluation_periods = alarm.evaluation_periods().unwrap_or(1);
    Some(WatchedAlarm {
        name: alarm.alarm_name()?.to_string(),
        arn: alarm.alarm_arn().unwrap_or_default().to_string(),
        description: alarm.alarm_description().map(str::to_string),
        namespace: alarm.namespace()?.to_string(),
        metric_name: alarm.metric_name()?.to_string(),
        dimensions: alarm
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        statistic,
        extended,
        unit: alarm.unit().map(|u| u.as_str().to_string()),
        period_seconds: alarm.period().unwrap_or(60),
        evaluation_periods,
        datapoints_to_alarm: alarm.datapoints_to_alarm().unwrap_or(evaluation_periods),
        comparison: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        threshold: alarm.threshold().unwrap_or_default(),
        treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_string(),
        state: parse_state(alarm.state_value().map(|s| s.as_str()).unwrap_or("OK")),
        alarm_actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm() -> WatchedAlarm {
        WatchedAlarm {
            name: "checkout-green-errors".into(),
            arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-green-errors".into(),
            description: None,
            namespace: "Sluice/Demo".into(),
            metric_name: "Errors".into(),
            dimensions: vec![
                ("Service".into(), "checkout".into()),
                ("Version".into(), "green".into()),
            ],
            statistic: "Sum".into(),
            extended: false,
            unit: None,
            period_seconds: 10,
            evaluation_periods: 2,
            datapoints_to_alarm: 2,
            comparison: "GreaterThanThreshold".into(),
            threshold: 50.0,
            treat_missing_data: "notBreaching".into(),
            state: AlarmState::Ok,
            alarm_actions: vec!["arn:aws:sns:us-east-1:123456789012:alarms".into()],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
        }
    }

    #[test]
    fn alarms_when_enough_datapoints_breach() {
        let a = alarm();
        assert_eq!(evaluate(&a, &[60.0, 70.0]).state, Some(AlarmState::Alarm));
        assert_eq!(evaluate(&a, &[60.0, 10.0]).state, Some(AlarmState::Ok));
        assert_eq!(evaluate(&a, &[50.0, 50.0]).state, Some(AlarmState::Ok));
        let reason = evaluate(&a, &[60.0, 70.0]).reason;
        assert!(
            reason.starts_with("Threshold Crossed: 2 out of the last 2 datapoints [60, 70] was greater than the threshold (50)"),
            "{reason}"
        );
        let one_of_two = WatchedAlarm {
            datapoints_to_alarm: 1,
            ..alarm()
        };
        assert_eq!(
            evaluate(&one_of_two, &[60.0, 10.0]).state,
            Some(AlarmState::Alarm)
        );
        let below = WatchedAlarm {
            comparison: "LessThanOrEqualToThreshold".into(),
            ..alarm()
        };
        assert_eq!(
            evaluate(&below, &[50.0, 1.0]).state,
            Some(AlarmState::Alarm)
        );
    }

    #[test]
    fn missing_data_follows_treat_missing_data() {
        let with = |treat: &str| WatchedAlarm {
            treat_missing_data: treat.into(),
            ..alarm()
        };
        assert_eq!(
            evaluate(&with("notBreaching"), &[]).state,
            Some(AlarmState::Ok)
        );
        assert_eq!(
            evaluate(&with("breaching"), &[]).state,
            Some(AlarmState::Alarm)
        );
        assert_eq!(evaluate(&with("missing"), &[]).state, None);
        assert_eq!(evaluate(&with("ignore"), &[]).state, None);
        let band = WatchedAlarm {
            comparison: "LessThanLowerOrGreaterThanUpperThreshold".into(),
            ..alarm()
        };
        assert_eq!(evaluate(&band, &[1000.0]).state, None);
    }

    #[test]
    fn the_notification_is_what_cloudwatch_publishes() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T23:41:12.345Z")
            .unwrap()
            .with_timezone(&Utc);
        let message = alarm_notification(&alarm(), AlarmState::Ok, AlarmState::Alarm, "boom", at);
        assert_eq!(message["StateChangeTime"], "2026-11-25T23:41:12.345+0000");
        assert_eq!(message["Trigger"]["Statistic"], "SUM");
        assert_eq!(
            message["Trigger"]["Dimensions"][1],
            json!({"value": "green", "name": "Version"})
        );
        // What the emergency-rollback function parses with aws_lambda_events.
        let parsed: aws_lambda_events::sns::CloudWatchAlarmPayload =
            serde_json::from_value(message).unwrap();
        assert_eq!(parsed.alarm_name, "checkout-green-errors");
        assert_eq!(
            (
                parsed.old_state_value.as_str(),
                parsed.new_state_value.as_str()
            ),
            ("OK", "ALARM")
        );
        assert_eq!(parsed.aws_account_id, ACCOUNT_ID);
        assert_eq!(parsed.trigger.period, 10);
        assert_eq!(parsed.trigger.threshold, 50.0);
        assert_eq!(parsed.trigger.comparison_operator, "GreaterThanThreshold");
        assert_eq!(parsed.trigger.dimensions.len(), 2);
        assert_eq!(
            alarm_subject("checkout-green-errors", AlarmState::Alarm),
            "ALARM: \"checkout-green-errors\" in US East (N. Virginia)"
        );
    }
}
