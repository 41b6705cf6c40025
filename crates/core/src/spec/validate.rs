//! The rules a request must follow. Validation reports every problem at once, each naming its
//! field, so a console user fixes the request in one go.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::errors::{FieldError, SpecErrors, SpecWarning};
use super::limits::{EXECUTION_TIMEOUT_SECONDS, MAX_ROLLBACK_RAMP_SECONDS};
use super::model::{AnalysisSpec, DeploymentSpec, RecordType, ReleaseSpec, RollbackSpec, SlotSpec};
use super::strategy::Strategy;
use crate::metrics::{MetricQuery, MetricRef, Statistic};

/// Longest plan the state machine is asked to walk; keeps an execution's history small.
pub const MAX_STEPS: usize = 50;
/// Longest bake of one step (a day).
pub const MAX_BAKE_SECONDS: u32 = 86_400;
/// Largest TTL accepted for the weighted records: the analysis window starts a TTL after each
/// change, so a long TTL makes every step slow.
pub const MAX_TTL_SECONDS: u32 = 172_800;

/// What validation can only know from outside: the hosted zone's domain, once looked up.
#[derive(Debug, Clone, Default)]
pub struct ValidationContext {
    /// The hosted zone's domain, e.g. `example.com.`.
    pub zone_domain: Option<String>,
}

impl DeploymentSpec {
    /// Every rule the request breaks, each naming its field; `Ok` when there is none.
    pub fn validate(&self, context: &ValidationContext) -> Result<(), SpecErrors> {
        let mut errors = Problems::default();
        self.check_identity(&mut errors);
        self.check_record(context, &mut errors);
        check_strategy(&self.strategy, &mut errors);
        check_analysis(&self.analysis, &mut errors);
        self.check_alarms(&mut errors);
        check_rollback(&self.rollback, &mut errors);
        if let Some(release) = &self.release {
            check_release(release, &mut errors);
        }
        if let Some(hooks) = &self.hooks {
            errors.0.extend(hooks.problems());
        }
        self.check_duration(&mut errors);
        if let Some(rps) = self.expected_requests_per_second
            && !(rps.is_finite() && rps > 0.0)
        {
            errors.push("expectedRequestsPerSecond", "must be a number above 0");
        }
        errors.into_result()
    }

    /// Steps too short for the expected traffic to reach `analysis.minSamples`: expected
    /// requests per second × the step's canary share × its bake.
    pub fn sample_size_warnings(&self) -> Vec<SpecWarning> {
        let Some(rps) = self
            .expected_requests_per_second
            .filter(|r| r.is_finite() && *r > 0.0)
        else {
            return Vec::new();
        };
        self.plan()
            .steps
            .iter()
            .filter_map(|step| {
                let expected = rps * step.canary_share / 100.0 * f64::from(step.bake_seconds);
                (expected < self.analysis.min_samples as f64).then(|| SpecWarning {
                    field: format!("strategy.steps[{}]", step.index),
                    message: format!(
                        "at {}% for {} s about {expected:.0} requests reach the canary, fewer than \
                         analysis.minSamples ({}): its analysis will likely be inconclusive; \
                         bake longer or start with a larger step",
                        step.percent, step.bake_seconds, self.analysis.min_samples
                    ),
                })
            })
            .collect()
    }

    /// The ramp-down and the whole plan must fit their bounds, so the state machine's timeout
    /// never cuts a valid deployment short.
    fn check_duration(&self, errors: &mut Problems) {
        let ramp = self.rollback_ramp_seconds();
        if ramp > MAX_ROLLBACK_RAMP_SECONDS {
            errors.push(
                "rollback.stepSeconds",
                format!(
                    "{} ramp-down steps of {} s hold for {ramp} s, more than the \
                     {MAX_ROLLBACK_RAMP_SECONDS} s a rollback may take: use fewer steps or \
                     shorter holds",
                    self.rollback.percents().len() - 1,
                    self.rollback.step_seconds
                ),
            );
        }
        let longest = self.longest_run_seconds();
        if longest > EXECUTION_TIMEOUT_SECONDS {
            errors.push(
                self.bake_field(),
                format!(
                    "the plan can run for {longest} s (every step's sync, TTL and bake, each \
                     re-judgement analysis.failureLimit and analysis.onInconclusive allow, the \
                     approvals and the rollback), more than the {EXECUTION_TIMEOUT_SECONDS} s a \
                     deployment may run: bake shorter, or use fewer steps or re-judgements"
                ),
            );
        }
    }

    fn check_identity(&self, errors: &mut Problems) {
        if self.service.is_empty() {
            errors.push("service", "is required");
        } else if !is_service_name(&self.service) {
            errors.push(
                "service",
                format!(
                    "{:?} must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                    self.service
                ),
            );
        }
        if self.version.is_empty() {
            errors.push("version", "is required");
        } else if self.version.len() > 128 || self.version.chars().any(char::is_whitespace) {
            errors.push(
                "version",
                format!(
                    "{:?} must be at most 128 characters without spaces",
                    self.version
                ),
            );
        }
    }

    fn check_record(&self, context: &ValidationContext, errors: &mut Problems) {
        if self.hosted_zone_id.is_empty() {
            errors.push("hostedZoneId", "is required");
        } else if !(self.hosted_zone_id.len() <= 32
            && self
                .hosted_zone_id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        {
            errors.push(
                "hostedZoneId",
                format!(
                    "{:?} is not a Route 53 hosted zone id (upper-case letters and digits, like Z0123456789ABC)",
                    self.hosted_zone_id
                ),
            );
        }
        if self.record_name.is_empty() {
            errors.push("recordName", "is required");
        } else if !is_dns_name(&self.record_name) {
            errors.push(
                "recordName",
                format!("{:?} is not a valid DNS name", self.record_name),
            );
        } else if let Some(domain) = &context.zone_domain {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            let name = self.record_name.trim_end_matches('.');
            if !(name == domain || name.ends_with(&format!(".{domain}"))) {
                errors.push(
                    "recordName",
                    format!(
                        "{:?} must end with the hosted zone's domain {domain}.",
                        self.record_name
                    ),
                );
            }
        }
        if self.ttl_seconds > MAX_TTL_SECONDS {
            errors.push(
                "ttlSeconds",
                format!(
                    "{} is above {MAX_TTL_SECONDS}: each step only goes live a TTL after the change",
                    self.ttl_seconds
                ),
            );
        }
        self.check_slots(errors);
    }

    fn check_slots(&self, errors: &mut Problems) {
        if self.slots.len() != 2 {
            errors.push(
                "slots",
                format!(
                    "names {} slot(s); exactly two are needed, one per weighted record, e.g. \
                     {{\"blue\": {{\"target\": …}}, \"green\": {{\"target\": …}}}}",
                    self.slots.len()
                ),
            );
        }
        for (name, slot) in &self.slots {
            if !is_set_identifier(name) {
                errors.push(
                    format!("slots.{name}"),
                    "a slot name is its record's set identifier: 1–128 letters, digits, '-' or '_'",
                );
            }
            self.check_target(name, slot, errors);
            for (key, value) in &slot.dimensions {
                if key.trim().is_empty() || value.trim().is_empty() {
                    errors.push(
                        format!("slots.{name}.dimensions"),
                        "dimension names and values must not be empty",
                    );
                }
            }
        }
        let targets: Vec<(&String, String)> = self
            .slots
            .iter()
            .filter(|(_, slot)| !slot.target.trim().is_empty())
            .map(|(name, slot)| {
                (
                    name,
                    slot.target
                        .trim()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                )
            })
            .collect();
        if let [(first, a), (second, b)] = targets.as_slice()
            && a == b
        {
            errors.push(
                format!("slots.{second}.target"),
                format!("must differ from slots.{first}.target: two slots cannot share one target"),
            );
        }
        if self.slots.len() == 2 {
            for (i, metric) in self.analysis.metrics.iter().enumerate() {
                let base = format!("analysis.metrics[{i}]");
                for slot in metric.slot_dimensions.iter().flat_map(|m| m.keys()) {
                    if !self.slots.contains_key(slot) {
                        errors.push(
                            format!("{base}.slotDimensions.{slot}"),
                            format!(
                                "no slot is named {slot:?} (slots: {})",
                                self.slots.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                }
                if metric.max_increase_over_baseline.is_some()
                    && let Some(roles) = self.slot_roles()
                    && !self.has_baseline(metric, &roles)
                {
                    errors.push(
                        format!("{base}.maxIncreaseOverBaseline"),
                        "needs the slots told apart: give each slot (or this metric's \
                         slotDimensions) its own dimensions, so the stable slot gives a baseline",
                    );
                }
            }
        }
    }

    fn check_target(&self, slot: &str, target: &SlotSpec, errors: &mut Problems) {
        let colour = format!("slots.{slot}");
        let field = format!("{colour}.target");
        if target.target.trim().is_empty() {
            errors.push(field, "is required");
            return;
        }
        let value = target.target.trim();
        match (self.record_type, &target.alias_hosted_zone_id) {
            (RecordType::Cname, Some(_)) => errors.push(
                format!("{colour}.aliasHostedZoneId"),
                "alias records must be of type A or AAAA, not CNAME",
            ),
            (_, Some(zone)) if zone.trim().is_empty() => errors.push(
                format!("{colour}.aliasHostedZoneId"),
                "must not be empty when given",
            ),
            (RecordType::Cname, None) | (_, Some(_)) => {
                if !is_dns_name(value) {
                    errors.push(field, format!("{value:?} is not a valid DNS name"));
                }
            }
            (RecordType::A, None) => {
                if value.parse::<Ipv4Addr>().is_err() {
                    errors.push(
                        field,
                        format!(
                            "{value:?} is not an IPv4 address (an A record without aliasHostedZoneId points at an address)"
                        ),
                    );
                }
            }
            (RecordType::Aaaa, None) => {
                if value.parse::<Ipv6Addr>().is_err() {
                    errors.push(
                        field,
                        format!(
                            "{value:?} is not an IPv6 address (an AAAA record without aliasHostedZoneId points at an address)"
                        ),
                    );
                }
            }
        }
    }

    fn check_alarms(&self, errors: &mut Problems) {
        check_alarm_list("alarms", &self.alarms, errors);
        for (name, slot) in &self.slots {
            check_alarm_list(&format!("slots.{name}.alarms"), &slot.alarms, errors);
        }
    }
}

fn check_alarm_list(base: &str, alarms: &[String], errors: &mut Problems) {
    let mut seen = BTreeSet::new();
    for (i, alarm) in alarms.iter().enumerate() {
        let field = format!("{base}[{i}]");
        if alarm.trim().is_empty() {
            errors.push(field, "must not be empty");
        } else if alarm.len() > 255 {
            errors.push(field, "is longer than 255 characters, CloudWatch's limit");
        } else if !seen.insert(alarm.as_str()) {
            errors.push(field, format!("{alarm:?} is listed twice"));
        }
    }
}

fn check_strategy(strategy: &Strategy, errors: &mut Problems) {
    match strategy {
        Strategy::Canary(canary) => {
            if canary.steps.is_empty() {
                errors.push("strategy.steps", "at least one step is required");
            }
            if canary.steps.len() > MAX_STEPS {
                errors.push(
                    "strategy.steps",
                    format!(
                        "{} steps are more than the {MAX_STEPS} allowed",
                        canary.steps.len()
                    ),
                );
            }
            for (i, percent) in canary.steps.iter().enumerate() {
                let field = format!("strategy.steps[{i}]");
                if !(percent.is_finite() && *percent > 0.0 && *percent <= 100.0) {
                    errors.push(field, format!("{percent} is not a percent in (0, 100]"));
                } else if i > 0 && *percent <= canary.steps[i - 1] {
                    errors.push(
                        field,
                        format!(
                            "steps must increase ({percent} after {})",
                            canary.steps[i - 1]
                        ),
                    );
                }
            }
            if let Some(last) = canary.steps.last()
                && *last != 100.0
            {
                errors.push(
                    format!("strategy.steps[{}]", canary.steps.len() - 1),
                    format!("the last step must be 100, not {last}"),
                );
            }
            check_bake("strategy.bakeSeconds", canary.bake_seconds, errors);
        }
        Strategy::Linear(linear) => {
            if !(linear.increment.is_finite()
                && linear.increment > 0.0
                && linear.increment <= 100.0)
            {
                errors.push(
                    "strategy.increment",
                    format!("{} is not a percent in (0, 100]", linear.increment),
                );
            } else if (100.0 / linear.increment).ceil() as usize > MAX_STEPS {
                errors.push(
                    "strategy.increment",
                    format!(
                        "{}% makes more than the {MAX_STEPS} steps allowed",
                        linear.increment
                    ),
                );
            }
            check_bake("strategy.intervalSeconds", linear.interval_seconds, errors);
        }
        Strategy::BlueGreen(blue_green) => {
            check_bake("strategy.bakeSeconds", blue_green.bake_seconds, errors);
        }
    }
}

fn check_bake(field: &str, seconds: u32, errors: &mut Problems) {
    if seconds == 0 {
        errors.push(field, "must be at least 1: a step needs time to be judged");
    } else if seconds > MAX_BAKE_SECONDS {
        errors.push(
            field,
            format!("{seconds} is above {MAX_BAKE_SECONDS} (a day)"),
        );
    }
}

fn check_analysis(analysis: &AnalysisSpec, errors: &mut Problems) {
    if analysis.metrics.is_empty() {
        errors.push(
            "analysis.metrics",
            "at least one metric is required: a step cannot be judged without one",
        );
    }
    let mut names = BTreeSet::new();
    for (i, metric) in analysis.metrics.iter().enumerate() {
        let base = format!("analysis.metrics[{i}]");
        if metric.name.trim().is_empty() {
            errors.push(format!("{base}.name"), "is required");
        } else if !names.insert(metric.name.as_str()) {
            errors.push(
                format!("{base}.name"),
                format!("{:?} is used twice", metric.name),
            );
        }
        for (field, value) in [
            ("max", metric.max),
            ("min", metric.min),
            ("maxIncreaseOverBaseline", metric.max_increase_over_baseline),
        ] {
            if let Some(v) = value
                && !v.is_finite()
            {
                errors.push(format!("{base}.{field}"), "must be a finite number");
            }
        }
        if metric.max.is_none()
            && metric.min.is_none()
            && metric.max_increase_over_baseline.is_none()
        {
            errors.push(
                base.clone(),
                "needs max, min or maxIncreaseOverBaseline: a threshold to judge against",
            );
        }
        if let (Some(min), Some(max)) = (metric.min, metric.max)
            && min > max
        {
            errors.push(format!("{base}.min"), format!("{min} is above max {max}"));
        }
        check_query(&format!("{base}.query"), &metric.query, errors);
    }
    if analysis.min_samples == 0 {
        errors.push(
            "analysis.minSamples",
            "must be at least 1: a window without samples proves nothing",
        );
    }
    if analysis.failure_limit == 0 {
        errors.push("analysis.failureLimit", "must be at least 1");
    }
    if analysis.on_inconclusive.max_retries > 10 {
        errors.push(
            "analysis.onInconclusive.maxRetries",
            format!("{} is above 10", analysis.on_inconclusive.max_retries),
        );
    }
    let period = analysis.period_seconds;
    if !(matches!(period, 1 | 5 | 10 | 30) || (period >= 60 && period.is_multiple_of(60))) {
        errors.push(
            "analysis.periodSeconds",
            format!("{period} must be 1, 5, 10, 30 or a multiple of 60 (CloudWatch's periods)"),
        );
    }
}

fn check_query(base: &str, query: &MetricQuery, errors: &mut Problems) {
    match query {
        MetricQuery::Ratio(ratio) => {
            check_metric_ref(&format!("{base}.numerator"), &ratio.numerator, errors);
            check_metric_ref(&format!("{base}.denominator"), &ratio.denominator, errors);
            if !(ratio.scale.is_finite() && ratio.scale > 0.0) {
                errors.push(format!("{base}.scale"), "must be a number above 0");
            }
        }
        MetricQuery::Statistic(stat) => {
            check_metric_ref(&format!("{base}.metric"), &stat.metric, errors);
            if let Statistic::Percentile(p) = stat.stat
                && !(p > 0.0 && p < 100.0)
            {
                errors.push(
                    format!("{base}.stat"),
                    format!("p{p} is not a percentile in (0, 100)"),
                );
            }
        }
    }
}

fn check_metric_ref(base: &str, metric: &MetricRef, errors: &mut Problems) {
    if metric.namespace.trim().is_empty() {
        errors.push(format!("{base}.namespace"), "is required");
    }
    if metric.metric_name.trim().is_empty() {
        errors.push(format!("{base}.metricName"), "is required");
    }
    if metric.dimensions.len() > 30 {
        errors.push(
            format!("{base}.dimensions"),
            "more than CloudWatch's 30 dimensions",
        );
    }
    for (name, value) in &metric.dimensions {
        if name.trim().is_empty() || value.trim().is_empty() {
            errors.push(
                format!("{base}.dimensions.{name}"),
                "dimension names and values must not be empty",
            );
        }
    }
}

fn check_rollback(rollback: &RollbackSpec, errors: &mut Problems) {
    for (i, percent) in rollback.steps.iter().enumerate() {
        let field = format!("rollback.steps[{i}]");
        if !(percent.is_finite() && *percent > 0.0 && *percent < 100.0) {
            errors.push(field, format!("{percent} is not a percent in (0, 100)"));
        } else if i > 0 && *percent >= rollback.steps[i - 1] {
            errors.push(
                field,
                format!(
                    "ramp-down steps must decrease ({percent} after {})",
                    rollback.steps[i - 1]
                ),
            );
        }
    }
    if !rollback.steps.is_empty() && rollback.step_seconds == 0 {
        errors.push(
            "rollback.stepSeconds",
            "must be at least 1 when rollback.steps are given",
        );
    }
    debug_assert!(rollback.percents().last() == Some(&0.0));
}

fn check_release(release: &ReleaseSpec, errors: &mut Problems) {
    if release.repositories.is_empty() {
        errors.push(
            "release.repositories",
            "at least one repository is required",
        );
    }
    for (i, repository) in release.repositories.iter().enumerate() {
        if repository.trim().is_empty() {
            errors.push(format!("release.repositories[{i}]"), "must not be empty");
        }
    }
    if let Some(pattern) = &release.tag_pattern
        && let Err(error) = regex::Regex::new(pattern)
    {
        errors.push(
            "release.tagPattern",
            format!("is not a regular expression: {error}"),
        );
    }
}

fn is_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_set_identifier(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*'))
        })
}

/// Collects field problems in the order they were found.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    fn into_result(self) -> Result<(), SpecErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SpecErrors(self.0))
        }
    }
}
