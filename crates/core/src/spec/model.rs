//! The deployment request as data: what a trigger sends, with the defaults serde fills in for
//! what it leaves out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::errors::{FieldError, SpecErrors};
use super::strategy::Strategy;
use crate::metrics::MetricQuery;
use crate::plan::StepPlan;
use crate::slots::SlotRoles;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub hosted_zone_id: String,
    #[serde(default)]
    pub record_name: String,
    #[serde(default)]
    pub record_type: RecordType,
    /// TTL of both weighted records; a step is live this long after Route 53 is in sync.
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u32,
    /// The service's two slots by name (each record's set identifier): where each points and
    /// which CloudWatch dimensions identify its metrics.
    #[serde(default)]
    pub slots: Slots,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default)]
    pub analysis: AnalysisSpec,
    /// CloudWatch alarms that pull the emergency brake for this deployment.
    #[serde(default)]
    pub alarms: Vec<String>,
    #[serde(default)]
    pub approval: Approval,
    /// Deploy even though one of the alarms is already in ALARM.
    #[serde(default)]
    pub hotfix: bool,
    #[serde(default)]
    pub rollback: RollbackSpec,
    /// Requests per second the record usually receives; used to warn when a step cannot
    /// collect `analysis.minSamples` within its bake.
    pub expected_requests_per_second: Option<f64>,
    /// Which repositories' tags release this service (for the release trigger).
    pub release: Option<ReleaseSpec>,
    /// Lambda functions invoked before the first shift and before promotion.
    pub hooks: Option<super::hooks::HooksSpec>,
}

/// Where a service's releases are tagged.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseSpec {
    /// CodeCommit or ECR repository names, or GitHub `owner/name`s, whose tags release it.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// A regular expression tags must match to count as releases; its `version` group (or the
    /// whole tag) must be a semantic version, with or without a leading `v`. Unset, any
    /// semantic-version tag counts.
    pub tag_pattern: Option<String>,
}

fn default_ttl_seconds() -> u32 {
    60
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordType {
    #[default]
    #[serde(rename = "CNAME")]
    Cname,
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
}

impl RecordType {
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordType::Cname => "CNAME",
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }
}

/// A service's slots by name; a valid spec has exactly two.
pub type Slots = BTreeMap<String, SlotSpec>;

/// One slot: where its record points and how its metrics are told apart from the other's.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlotSpec {
    /// A DNS name (CNAME, or an alias target) or an IP address (A / AAAA without alias).
    #[serde(default)]
    pub target: String,
    /// Set for an alias record (an ALB, CloudFront, …): the target's own hosted zone id.
    pub alias_hosted_zone_id: Option<String>,
    /// Added to every metric query read for this slot (e.g. its load balancer), so one query
    /// reads the canary and, as baseline, the stable slot.
    #[serde(default, skip_serializing_if = "Dimensions::is_empty")]
    pub dimensions: Dimensions,
    /// CloudWatch alarms on this slot's own metrics: they pull the emergency brake only while
    /// this slot is the canary (the service-wide `alarms` always do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisSpec {
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    /// Fewer samples than this in a window make its analysis inconclusive, never a pass.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// Failed analyses that roll the deployment back; 1 rolls back on the first failure, a
    /// higher limit re-judges the step after a failure until the limit is reached.
    #[serde(default = "default_failure_limit")]
    pub failure_limit: u32,
    #[serde(default)]
    pub on_inconclusive: InconclusivePolicy,
    /// CloudWatch period of the series read: 1, 5, 10, 30 or a multiple of 60.
    #[serde(default = "default_period_seconds")]
    pub period_seconds: u32,
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        AnalysisSpec {
            metrics: Vec::new(),
            min_samples: default_min_samples(),
            failure_limit: default_failure_limit(),
            on_inconclusive: InconclusivePolicy::default(),
            period_seconds: default_period_seconds(),
        }
    }
}

fn default_min_samples() -> u64 {
    50
}

fn default_failure_limit() -> u32 {
    1
}

fn default_period_seconds() -> u32 {
    60
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    #[serde(default)]
    pub name: String,
    /// What the number means, for people: "percent", "ms", …
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// The series read: namespace, metric and the dimensions both slots share. The slot's own
    /// dimensions are added for the canary and, over the same window, for the stable slot.
    pub query: MetricQuery,
    /// Per slot name, dimensions this metric uses instead of the slot's `dimensions` (a
    /// metric published under other dimensions than the rest).
    pub slot_dimensions: Option<BTreeMap<String, Dimensions>>,
    /// The canary fails above this.
    pub max: Option<f64>,
    /// The canary fails below this.
    pub min: Option<f64>,
    /// The canary fails when it exceeds the stable slot's value by more than this (needs the
    /// slots told apart by dimensions).
    pub max_increase_over_baseline: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InconclusivePolicy {
    #[serde(default)]
    pub action: InconclusiveAction,
    /// How often an inconclusive step is re-judged (each after one more bake) before it is
    /// rolled back.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

impl Default for InconclusivePolicy {
    fn default() -> Self {
        InconclusivePolicy {
            action: InconclusiveAction::default(),
            max_retries: default_max_retries(),
        }
    }
}

fn default_max_retries() -> u32 {
    2
}

/// What an inconclusive analysis leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InconclusiveAction {
    /// Bake again and re-judge, up to `maxRetries`, then roll back.
    #[default]
    Retry,
    /// Wait for an operator's approve or reject.
    Pause,
    /// Roll back at once.
    Rollback,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    #[default]
    None,
    /// An operator approves before the last step's promotion.
    BeforePromote,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackSpec {
    /// Canary percents to ramp down through before 0; empty rolls back in one change.
    #[serde(default)]
    pub steps: Vec<f64>,
    /// Seconds at each ramp-down step.
    #[serde(default)]
    pub step_seconds: u32,
}

impl RollbackSpec {
    /// The canary percents a rollback passes through, ending at 0. No steps mean an instant
    /// rollback: one change to 100 % stable.
    pub fn percents(&self) -> Vec<f64> {
        let mut percents: Vec<f64> = self.steps.iter().copied().filter(|p| *p > 0.0).collect();
        percents.push(0.0);
        percents
    }
}

impl DeploymentSpec {
    /// Reads a request, naming the JSON path of a malformed field (`strategy.steps[1]: invalid
    /// type …`). Field-level rules are checked by [`DeploymentSpec::validate`].
    pub fn from_json(request: &Value) -> Result<DeploymentSpec, SpecErrors> {
        if !request.is_object() {
            return Err(SpecErrors(vec![FieldError {
                field: "request".into(),
                message: "must be a JSON object".into(),
            }]));
        }
        let mut spec: DeploymentSpec =
            serde_path_to_error::deserialize(request).map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." {
                    "request".to_string()
                } else {
                    path
                };
                SpecErrors(vec![FieldError {
                    field,
                    message: error.into_inner().to_string(),
                }])
            })?;
        spec.normalize();
        Ok(spec)
    }

    /// Trims and canonicalises what has one canonical form: the zone id without its
    /// `/hostedzone/` prefix, and the record name with its trailing dot, lower case.
    pub fn normalize(&mut self) {
        self.service = self.service.trim().to_string();
        self.version = self.version.trim().to_string();
        let zone = self.hosted_zone_id.trim();
        self.hosted_zone_id = zone
            .strip_prefix("/hostedzone/")
            .unwrap_or(zone)
            .to_string();
        let name = self.record_name.trim().to_ascii_lowercase();
        self.record_name = if name.is_empty() || name.ends_with('.') {
            name
        } else {
            format!("{name}.")
        };
    }

    /// The steps this spec asks for.
    pub fn plan(&self) -> StepPlan {
        self.strategy.plan()
    }

    /// The slot names in their stored order: the roles of a deployment on a record set where
    /// the first carries all traffic.
    pub fn slot_roles(&self) -> Option<SlotRoles> {
        let mut names = self.slots.keys();
        Some(SlotRoles::new(names.next()?.clone(), names.next()?.clone()))
    }

    /// The dimensions `metric` is read with for `slot`: its own override, else the slot's.
    pub fn metric_dimensions(&self, metric: &MetricSpec, slot: &str) -> Dimensions {
        metric
            .slot_dimensions
            .as_ref()
            .and_then(|per_slot| per_slot.get(slot))
            .or_else(|| self.slots.get(slot).map(|s| &s.dimensions))
            .cloned()
            .unwrap_or_default()
    }

    /// The alarms that pull the emergency brake for a deployment in `roles`, each with the
    /// field that names it: the service-wide `alarms`, then the canary slot's own.
    pub fn brake_alarms(&self, roles: &SlotRoles) -> Vec<(String, String)> {
        let service_wide = self
            .alarms
            .iter()
            .enumerate()
            .map(|(i, alarm)| (format!("alarms[{i}]"), alarm.clone()));
        let canary = self.slots.get(&roles.canary).into_iter().flat_map(|slot| {
            slot.alarms
                .iter()
                .enumerate()
                .map(|(i, alarm)| (format!("slots.{}.alarms[{i}]", roles.canary), alarm.clone()))
        });
        let mut seen = std::collections::BTreeSet::new();
        service_wide
            .chain(canary)
            .filter(|(_, alarm)| seen.insert(alarm.clone()))
            .collect()
    }

    /// Whether `metric` can be read separately for the two slots, so the stable slot gives a
    /// baseline: their dimensions differ.
    pub fn has_baseline(&self, metric: &MetricSpec, roles: &SlotRoles) -> bool {
        self.metric_dimensions(metric, &roles.stable)
            != self.metric_dimensions(metric, &roles.canary)
    }
}

/// Sorted dimensions, so equal metric references compare and print the same.
pub type Dimensions = BTreeMap<String, String>;
