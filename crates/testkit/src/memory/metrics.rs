//! CloudWatch in memory: raw metric samples aggregated per period, and alarm states.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sluice_core::metrics::{Datapoint, MetricRef, Series, SeriesQuery, Statistic, TimeWindow};
use sluice_core::ports::*;

use super::Faults;

/// One raw sample: when, and its value.
type Sample = (DateTime<Utc>, f64);

/// CloudWatch in memory: raw samples per metric, aggregated per period on fetch.
#[derive(Default, Clone)]
pub struct MemoryMetrics {
    samples: Arc<Mutex<BTreeMap<String, Vec<Sample>>>>,
    failures: Arc<Mutex<VecDeque<MetricError>>>,
    faults: Faults,
}

impl MemoryMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Metrics whose reads meet the faults (and yield as) `faults` says.
    pub fn with_faults(faults: &Faults) -> Self {
        MemoryMetrics {
            faults: faults.clone(),
            ..Self::default()
        }
    }

    fn key(metric: &MetricRef) -> String {
        metric.to_string()
    }

    /// Records `count` samples of `value` at `at`.
    pub fn put(&self, metric: &MetricRef, at: DateTime<Utc>, value: f64, count: usize) {
        let mut samples = self.samples.lock().unwrap();
        let entry = samples.entry(Self::key(metric)).or_default();
        entry.extend(std::iter::repeat_n((at, value), count));
    }

    pub fn fail_next(&self, error: MetricError) {
        self.failures.lock().unwrap().push_back(error);
    }
}

impl MetricSource for MemoryMetrics {
    async fn fetch(
        &self,
        queries: &[SeriesQuery],
        window: TimeWindow,
    ) -> Result<Vec<Series>, MetricError> {
        if self.faults.enter("GetMetricData").await.is_some() {
            return Err(injected("GetMetricData"));
        }
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        let samples = self.samples.lock().unwrap();
        Ok(queries
            .iter()
            .map(|query| {
                let period = i64::from(query.period_seconds.max(1));
                let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                for (at, value) in samples
                    .get(&Self::key(&query.metric))
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if *at >= window.start && *at < window.end {
                        let offset = (*at - window.start).num_seconds() / period;
                        buckets.entry(offset).or_default().push(*value);
                    }
                }
                let points = buckets
                    .into_iter()
                    .map(|(offset, values)| Datapoint {
                        at: window.start + chrono::Duration::seconds(offset * period),
                        value: aggregate(query.stat, &values),
                    })
                    .collect();
                Series {
                    id: query.id.clone(),
                    points,
                }
            })
            .collect())
    }
}

fn aggregate(stat: Statistic, values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    match stat {
        Statistic::Sum => sum,
        Statistic::SampleCount => values.len() as f64,
        Statistic::Average => sum / values.len() as f64,
        Statistic::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
        Statistic::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Statistic::Percentile(p) => {
            let mut sorted = values.to_vec();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        }
    }
}

/// CloudWatch alarms in memory.
#[derive(Default, Clone)]
pub struct MemoryAlarms {
    states: Arc<Mutex<BTreeMap<String, AlarmState>>>,
    faults: Faults,
}

impl MemoryAlarms {
    pub fn new() -> Self {
        Self::default()
    }

    /// Alarms whose reads meet the faults (and yield as) `faults` says.
    pub fn with_faults(faults: &Faults) -> Self {
        MemoryAlarms {
            faults: faults.clone(),
            ..Self::default()
        }
    }

    pub fn set(&self, name: &str, state: AlarmState) {
        self.states.lock().unwrap().insert(name.into(), state);
    }

    /// An alarm's state as set, without a port call.
    pub fn state_of(&self, name: &str) -> Option<AlarmState> {
        self.states.lock().unwrap().get(name).copied()
    }
}

impl AlarmStates for MemoryAlarms {
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, MetricError> {
        if self.faults.enter("DescribeAlarms").await.is_some() {
            return Err(injected("DescribeAlarms"));
        }
        let states = self.states.lock().unwrap();
        Ok(names
            .iter()
            .map(|name| AlarmStatus {
                name: name.clone(),
                state: states.get(name).copied(),
            })
            .collect())
    }
}

fn injected(operation: &'static str) -> MetricError {
    MetricError::Unavailable {
        operation,
        what: "memory CloudWatch".into(),
        message: "service unavailable (injected)".into(),
    }
}
