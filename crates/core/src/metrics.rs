//! What an analysis reads from CloudWatch and how a metric's value is derived from raw series.
//!
//! Derived values (an error rate, a weighted average) are computed here from raw per-period
//! series rather than with CloudWatch metric math: the judge needs the sample counts anyway, and
//! the local emulator has neither metric math nor percentiles (DESIGN.md §6).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One CloudWatch metric: namespace, name and dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricRef {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub metric_name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

impl std::fmt::Display for MetricRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.metric_name)?;
        if !self.dimensions.is_empty() {
            let dims: Vec<String> = self
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "{{{}}}", dims.join(","))?;
        }
        Ok(())
    }
}

/// A CloudWatch statistic. Serialised as CloudWatch spells it: `Average`, `p95`, `p99.9`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    Sum,
    SampleCount,
    Average,
    Minimum,
    Maximum,
    Percentile(f64),
}

impl Statistic {
    pub fn as_cloudwatch(&self) -> String {
        match self {
            Statistic::Sum => "Sum".into(),
            Statistic::SampleCount => "SampleCount".into(),
            Statistic::Average => "Average".into(),
            Statistic::Minimum => "Minimum".into(),
            Statistic::Maximum => "Maximum".into(),
            Statistic::Percentile(p) => format!("p{p}"),
        }
    }

    pub fn parse(text: &str) -> Option<Statistic> {
        Some(match text {
            "Sum" => Statistic::Sum,
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            other => {
                let p: f64 = other.strip_prefix('p')?.parse().ok()?;
                Statistic::Percentile(p)
            }
        })
    }
}

impl Serialize for Statistic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_cloudwatch())
    }
}

impl<'de> Deserialize<'de> for Statistic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Statistic::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown statistic {text:?}: expected Sum, SampleCount, Average, Minimum, Maximum or pNN"
            ))
        })
    }
}

/// How one metric's value is computed. In JSON a flat object with a `kind`:
/// `{"kind": "ratio", "numerator": {…}, "denominator": {…}, "scale": 100}` or
/// `{"kind": "statistic", "metric": {…}, "stat": "p95"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawQuery", into = "RawQuery")]
pub enum MetricQuery {
    /// `scale × Σ numerator / Σ denominator` over the window, e.g. errors / requests × 100.
    /// The denominator's sum is the sample count.
    Ratio(RatioQuery),
    /// One statistic of one metric over the window; its sample count is the SampleCount.
    Statistic(StatisticQuery),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RatioQuery {
    pub numerator: MetricRef,
    pub denominator: MetricRef,
    pub scale: f64,
    /// Counters such as 5xx counts publish nothing while they are zero; when the denominator
    /// has data, a silent numerator then counts as 0. False calls it missing data instead.
    pub missing_numerator_is_zero: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatisticQuery {
    pub metric: MetricRef,
    pub stat: Statistic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum QueryKind {
    Ratio,
    Statistic,
}

// Flat rather than serde's tagged enum so a malformed field's path survives into the error.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawQuery {
    kind: QueryKind,
    numerator: Option<MetricRef>,
    denominator: Option<MetricRef>,
    scale: Option<f64>,
    missing_numerator_is_zero: Option<bool>,
    metric: Option<MetricRef>,
    stat: Option<Statistic>,
}

impl TryFrom<RawQuery> for MetricQuery {
    type Error = String;
    fn try_from(raw: RawQuery) -> Result<Self, Self::Error> {
        match raw.kind {
            QueryKind::Ratio => {
                if raw.metric.is_some() || raw.stat.is_some() {
                    return Err("metric and stat belong to a statistic query, not a ratio".into());
                }
                Ok(MetricQuery::Ratio(RatioQuery {
                    numerator: raw.numerator.ok_or("a ratio query needs numerator")?,
                    denominator: raw.denominator.ok_or("a ratio query needs denominator")?,
                    scale: raw.scale.unwrap_or(1.0),
                    missing_numerator_is_zero: raw.missing_numerator_is_zero.unwrap_or(true),
                }))
            }
            QueryKind::Statistic => {
                if raw.numerator.is_some()
                    || raw.denominator.is_some()
                    || raw.scale.is_some()
                    || raw.missing_numerator_is_zero.is_some()
                {
                    return Err(
                        "numerator, denominator and scale belong to a ratio query, not a statistic"
                            .into(),
                    );
                }
                Ok(MetricQuery::Statistic(StatisticQuery {
                    metric: raw.metric.ok_or("a statistic query needs metric")?,
                    stat: raw.stat.ok_or("a statistic query needs stat")?,
                }))
            }
        }
    }
}

impl From<MetricQuery> for RawQuery {
    fn from(query: MetricQuery) -> Self {
        match query {
            MetricQuery::Ratio(r) => RawQuery {
                kind: QueryKind::Ratio,
                numerator: Some(r.numerator),
                denominator: Some(r.denominator),
                scale: Some(r.scale),
                missing_numerator_is_zero: Some(r.missing_numerator_is_zero),
                metric: None,
                stat: None,
            },
            MetricQuery::Statistic(s) => RawQuery {
                kind: QueryKind::Statistic,
                numerator: None,
                denominator: None,
                scale: None,
                missing_numerator_is_zero: None,
                metric: Some(s.metric),
                stat: Some(s.stat),
            },
        }
    }
}

/// One raw series to fetch: a metric, a statistic and a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesQuery {
    /// Unique within one fetch; CloudWatch wants `^[a-z][a-zA-Z0-9_]*$`.
    pub id: String,
    pub metric: MetricRef,
    pub stat: Statistic,
    pub period_seconds: u32,
}

/// One value of a series at the start of its period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Datapoint {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// What came back for one [`SeriesQuery`]. No datapoints means no data, never zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub id: String,
    pub points: Vec<Datapoint>,
}

/// The window an analysis judges: from the moment a step went live to when it is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl TimeWindow {
    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }
}

/// A metric's value over a window and how many samples it rests on. `value` is `None` when
/// there was no data to compute it from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub value: Option<f64>,
    pub samples: u64,
}

impl Observation {
    pub const NO_DATA: Observation = Observation {
        value: None,
        samples: 0,
    };
}

/// Which role's slot a series belongs to, for query ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Canary,
    Stable,
}

impl MetricQuery {
    /// The same query with `extra` dimensions added to every metric it reads (a slot's
    /// dimensions; on a clash the slot's value wins).
    pub fn with_dimensions(&self, extra: &BTreeMap<String, String>) -> MetricQuery {
        let add = |metric: &MetricRef| {
            let mut metric = metric.clone();
            metric
                .dimensions
                .extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            metric
        };
        match self {
            MetricQuery::Ratio(ratio) => MetricQuery::Ratio(RatioQuery {
                numerator: add(&ratio.numerator),
                denominator: add(&ratio.denominator),
                ..ratio.clone()
            }),
            MetricQuery::Statistic(stat) => MetricQuery::Statistic(StatisticQuery {
                metric: add(&stat.metric),
                stat: stat.stat,
            }),
        }
    }

    /// The raw series this query needs, with ids unique for (metric index, side).
    pub fn series_queries(
        &self,
        metric_index: usize,
        side: Side,
        period_seconds: u32,
    ) -> Vec<SeriesQuery> {
        let prefix = format!(
            "m{metric_index}_{}",
            match side {
                Side::Canary => "c",
                Side::Stable => "s",
            }
        );
        let query = |part: &str, metric: &MetricRef, stat: Statistic| SeriesQuery {
            id: format!("{prefix}_{part}"),
            metric: metric.clone(),
            stat,
            period_seconds,
        };
        match self {
            MetricQuery::Ratio(ratio) => vec![
                query("num", &ratio.numerator, Statistic::Sum),
                query("den", &ratio.denominator, Statistic::Sum),
            ],
            MetricQuery::Statistic(stat) => {
                let value_stat = match stat.stat {
                    // A weighted average needs each period's sum and count.
                    Statistic::Average => Statistic::Sum,
                    other => other,
                };
                vec![
                    query("val", &stat.metric, value_stat),
                    query("cnt", &stat.metric, Statistic::SampleCount),
                ]
            }
        }
    }

    /// The value over the whole window from the series fetched for `series_queries`.
    /// Percentiles cannot be merged across periods; the worst (highest) period stands for the
    /// window, which errs on the side of rolling back.
    pub fn observe(
        &self,
        metric_index: usize,
        side: Side,
        period_seconds: u32,
        series: &[Series],
    ) -> Observation {
        let queries = self.series_queries(metric_index, side, period_seconds);
        let points = |i: usize| -> &[Datapoint] {
            queries
                .get(i)
                .and_then(|q| series.iter().find(|s| s.id == q.id))
                .map(|s| s.points.as_slice())
                .unwrap_or(&[])
        };
        let sum = |points: &[Datapoint]| points.iter().map(|p| p.value).sum::<f64>();
        match self {
            MetricQuery::Ratio(ratio) => {
                let (numerator, denominator) = (points(0), points(1));
                let requests = sum(denominator);
                if denominator.is_empty() || requests <= 0.0 {
                    return Observation::NO_DATA;
                }
                let samples = requests.round() as u64;
                if numerator.is_empty() && !ratio.missing_numerator_is_zero {
                    return Observation {
                        value: None,
                        samples,
                    };
                }
                Observation {
                    value: Some(ratio.scale * sum(numerator) / requests),
                    samples,
                }
            }
            MetricQuery::Statistic(stat) => {
                let (values, counts) = (points(0), points(1));
                let samples = sum(counts).round() as u64;
                if values.is_empty() || samples == 0 {
                    return Observation {
                        value: None,
                        samples,
                    };
                }
                let value = match stat.stat {
                    Statistic::Sum => sum(values),
                    Statistic::SampleCount => samples as f64,
                    Statistic::Average => sum(values) / sum(counts),
                    Statistic::Minimum => {
                        values.iter().map(|p| p.value).fold(f64::INFINITY, f64::min)
                    }
                    Statistic::Maximum | Statistic::Percentile(_) => values
                        .iter()
                        .map(|p| p.value)
                        .fold(f64::NEG_INFINITY, f64::max),
                };
                Observation {
                    value: Some(value),
                    samples,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn metric(name: &str) -> MetricRef {
        MetricRef {
            namespace: "Demo".into(),
            metric_name: name.into(),
            dimensions: BTreeMap::from([("Version".into(), "green".into())]),
        }
    }

    fn series(id: &str, values: &[f64]) -> Series {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Series {
            id: id.into(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| Datapoint {
                    at: start + chrono::Duration::seconds(i as i64 * 60),
                    value: *v,
                })
                .collect(),
        }
    }

    fn ratio(missing_numerator_is_zero: bool) -> MetricQuery {
        MetricQuery::Ratio(RatioQuery {
            numerator: metric("Errors"),
            denominator: metric("Requests"),
            scale: 100.0,
            missing_numerator_is_zero,
        })
    }

    #[test]
    fn ratio_is_sum_over_sum_scaled_with_requests_as_samples() {
        let q = ratio(true);
        let ids: Vec<String> = q
            .series_queries(0, Side::Canary, 60)
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["m0_c_num", "m0_c_den"]);
        let obs = q.observe(
            0,
            Side::Canary,
            60,
            &[
                series("m0_c_num", &[1.0, 3.0]),
                series("m0_c_den", &[100.0, 300.0]),
            ],
        );
        assert_eq!(
            obs,
            Observation {
                value: Some(1.0),
                samples: 400
            }
        );
    }

    #[test]
    fn ratio_without_requests_is_no_data_not_zero() {
        let q = ratio(true);
        assert_eq!(
            q.observe(0, Side::Canary, 60, &[series("m0_c_num", &[0.0])]),
            Observation::NO_DATA
        );
        assert_eq!(
            q.observe(
                0,
                Side::Canary,
                60,
                &[series("m0_c_num", &[]), series("m0_c_den", &[0.0])]
            ),
            Observation::NO_DATA
        );
    }

    #[test]
    fn silent_numerator_is_zero_or_missing_as_configured() {
        let den = series("m0_c_den", &[50.0]);
        assert_eq!(
            ratio(true).observe(0, Side::Canary, 60, std::slice::from_ref(&den)),
            Observation {
                value: Some(0.0),
                samples: 50
            }
        );
        assert_eq!(
            ratio(false).observe(0, Side::Canary, 60, &[den]),
            Observation {
                value: None,
                samples: 50
            }
        );
    }

    #[test]
    fn average_is_weighted_by_sample_counts() {
        let q = MetricQuery::Statistic(StatisticQuery {
            metric: metric("Latency"),
            stat: Statistic::Average,
        });
        let queries = q.series_queries(1, Side::Stable, 60);
        assert_eq!(queries[0].stat, Statistic::Sum);
        assert_eq!(queries[1].stat, Statistic::SampleCount);
        // 10 samples averaging 100 and 30 averaging 200 average 175, not 150.
        let obs = q.observe(
            1,
            Side::Stable,
            60,
            &[
                series("m1_s_val", &[1000.0, 6000.0]),
                series("m1_s_cnt", &[10.0, 30.0]),
            ],
        );
        assert_eq!(
            obs,
            Observation {
                value: Some(175.0),
                samples: 40
            }
        );
    }

    #[test]
    fn extremes_and_percentiles_take_the_worst_period() {
        let stat = |s| {
            MetricQuery::Statistic(StatisticQuery {
                metric: metric("Latency"),
                stat: s,
            })
        };
        let data = [
            series("m0_c_val", &[120.0, 900.0, 300.0]),
            series("m0_c_cnt", &[5.0, 5.0, 5.0]),
        ];
        let value = |s| stat(s).observe(0, Side::Canary, 60, &data).value;
        assert_eq!(value(Statistic::Maximum), Some(900.0));
        assert_eq!(value(Statistic::Percentile(95.0)), Some(900.0));
        assert_eq!(value(Statistic::Minimum), Some(120.0));
        assert_eq!(value(Statistic::Sum), Some(1320.0));
        assert_eq!(value(Statistic::SampleCount), Some(15.0));
    }

    #[test]
    fn statistic_without_data_is_no_data() {
        let q = MetricQuery::Statistic(StatisticQuery {
            metric: metric("Latency"),
            stat: Statistic::Maximum,
        });
        assert_eq!(q.observe(0, Side::Canary, 60, &[]), Observation::NO_DATA);
        let counted_but_empty = q.observe(
            0,
            Side::Canary,
            60,
            &[series("m0_c_val", &[]), series("m0_c_cnt", &[4.0])],
        );
        assert_eq!(
            counted_but_empty,
            Observation {
                value: None,
                samples: 4
            }
        );
    }

    #[test]
    fn statistics_round_trip_in_cloudwatch_spelling() {
        for text in [
            "Sum",
            "SampleCount",
            "Average",
            "Minimum",
            "Maximum",
            "p95",
            "p99.9",
        ] {
            let stat = Statistic::parse(text).unwrap();
            assert_eq!(stat.as_cloudwatch(), text);
            let json = serde_json::to_string(&stat).unwrap();
            assert_eq!(serde_json::from_str::<Statistic>(&json).unwrap(), stat);
        }
        assert!(Statistic::parse("Median").is_none());
        assert!(serde_json::from_str::<Statistic>("\"pXX\"").is_err());
    }

    #[test]
    fn metric_ref_prints_namespace_name_and_dimensions() {
        assert_eq!(metric("Errors").to_string(), "Demo/Errors{Version=green}");
    }
}
