//! How traffic climbs: canary, linear or blue-green, and the step plan each describes.

use serde::{Deserialize, Serialize};

use crate::plan::{StepPlan, linear_percents};

/// How traffic climbs. In JSON a flat object with a `kind`: `{"kind": "canary", "steps":
/// [1, 5, 100], "bakeSeconds": 300}`, `{"kind": "linear", "increment": 10, "intervalSeconds":
/// 60}` or `{"kind": "blue-green", "bakeSeconds": 600}`. (Flat rather than serde's tagged
/// enum so a malformed field's path survives into the error.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawStrategy", into = "RawStrategy")]
pub enum Strategy {
    /// The listed canary percents, in order, each baked then judged.
    Canary(CanaryStrategy),
    /// `increment` more percent every `intervalSeconds`.
    Linear(LinearStrategy),
    /// Everything at once, one bake and one judgement, instant revert.
    BlueGreen(BlueGreenStrategy),
}

impl Strategy {
    /// The plan this strategy describes. The strategy is assumed validated; a linear increment
    /// of 0 or less still yields a single 100 % step rather than looping.
    pub fn plan(&self) -> StepPlan {
        let (percents, bake_seconds) = match self {
            Strategy::Canary(canary) => (canary.steps.clone(), canary.bake_seconds),
            Strategy::Linear(linear) => {
                (linear_percents(linear.increment), linear.interval_seconds)
            }
            Strategy::BlueGreen(blue_green) => (vec![100.0], blue_green.bake_seconds),
        };
        StepPlan::new(percents, bake_seconds)
    }
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy::Canary(CanaryStrategy::default())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum StrategyKind {
    #[default]
    Canary,
    Linear,
    BlueGreen,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStrategy {
    #[serde(default)]
    kind: StrategyKind,
    steps: Option<Vec<f64>>,
    bake_seconds: Option<u32>,
    increment: Option<f64>,
    interval_seconds: Option<u32>,
}

impl TryFrom<RawStrategy> for Strategy {
    type Error = String;
    fn try_from(raw: RawStrategy) -> Result<Self, Self::Error> {
        let misplaced =
            |field: &str, kind: &str| Err(format!("{field} does not apply to a {kind} strategy"));
        match raw.kind {
            StrategyKind::Canary => {
                if raw.increment.is_some() {
                    return misplaced("increment", "canary");
                }
                if raw.interval_seconds.is_some() {
                    return misplaced("intervalSeconds", "canary");
                }
                Ok(Strategy::Canary(CanaryStrategy {
                    steps: raw.steps.unwrap_or_else(default_canary_steps),
                    bake_seconds: raw.bake_seconds.unwrap_or_else(default_bake_seconds),
                }))
            }
            StrategyKind::Linear => {
                if raw.steps.is_some() {
                    return misplaced("steps", "linear");
                }
                if raw.bake_seconds.is_some() {
                    return misplaced("bakeSeconds", "linear");
                }
                Ok(Strategy::Linear(LinearStrategy {
                    increment: raw
                        .increment
                        .ok_or("a linear strategy needs increment (percent per step)")?,
                    interval_seconds: raw
                        .interval_seconds
                        .ok_or("a linear strategy needs intervalSeconds")?,
                }))
            }
            StrategyKind::BlueGreen => {
                for (field, present) in [
                    ("steps", raw.steps.is_some()),
                    ("increment", raw.increment.is_some()),
                    ("intervalSeconds", raw.interval_seconds.is_some()),
                ] {
                    if present {
                        return misplaced(field, "blue-green");
                    }
                }
                Ok(Strategy::BlueGreen(BlueGreenStrategy {
                    bake_seconds: raw.bake_seconds.unwrap_or_else(default_bake_seconds),
                }))
            }
        }
    }
}

impl From<Strategy> for RawStrategy {
    fn from(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Canary(c) => RawStrategy {
                kind: StrategyKind::Canary,
                steps: Some(c.steps),
                bake_seconds: Some(c.bake_seconds),
                ..RawStrategy::default()
            },
            Strategy::Linear(l) => RawStrategy {
                kind: StrategyKind::Linear,
                increment: Some(l.increment),
                interval_seconds: Some(l.interval_seconds),
                ..RawStrategy::default()
            },
            Strategy::BlueGreen(b) => RawStrategy {
                kind: StrategyKind::BlueGreen,
                bake_seconds: Some(b.bake_seconds),
                ..RawStrategy::default()
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CanaryStrategy {
    pub steps: Vec<f64>,
    pub bake_seconds: u32,
}

impl Default for CanaryStrategy {
    fn default() -> Self {
        CanaryStrategy {
            steps: default_canary_steps(),
            bake_seconds: default_bake_seconds(),
        }
    }
}

fn default_canary_steps() -> Vec<f64> {
    vec![1.0, 5.0, 25.0, 50.0, 100.0]
}

fn default_bake_seconds() -> u32 {
    300
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinearStrategy {
    pub increment: f64,
    pub interval_seconds: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreenStrategy {
    pub bake_seconds: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::WeightPair;
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

    #[test]
    fn canary_plan_keeps_the_listed_steps_and_bake() {
        let plan = Strategy::Canary(CanaryStrategy {
            steps: vec![1.0, 5.0, 25.0, 50.0, 100.0],
            bake_seconds: 300,
        })
        .plan();
        let percents: Vec<f64> = plan.steps.iter().map(|s| s.percent).collect();
        assert_eq!(percents, vec![1.0, 5.0, 25.0, 50.0, 100.0]);
        assert!(plan.steps.iter().all(|s| s.bake_seconds == 300));
        assert_eq!(plan.total_bake_seconds(), 1500);
        assert!(plan.is_last(4));
        assert!(!plan.is_last(3));
        assert_eq!(
            plan.step(2).map(|s| s.weights),
            Some(WeightPair::for_percent(25.0))
        );
    }

    #[test]
    fn linear_plan_climbs_by_the_increment_and_caps_at_100() {
        let plan = Strategy::Linear(LinearStrategy {
            increment: 30.0,
            interval_seconds: 60,
        })
        .plan();
        let percents: Vec<f64> = plan.steps.iter().map(|s| s.percent).collect();
        assert_eq!(percents, vec![30.0, 60.0, 90.0, 100.0]);
        assert_eq!(linear_percents(100.0), vec![100.0]);
        assert_eq!(linear_percents(0.0), vec![100.0]);
        assert_eq!(linear_percents(33.3).len(), 4);
    }

    #[test]
    fn blue_green_plan_is_one_full_step() {
        let plan = Strategy::BlueGreen(BlueGreenStrategy { bake_seconds: 600 }).plan();
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].weights, WeightPair::ALL_CANARY);
        assert_eq!(plan.steps[0].bake_seconds, 600);
    }

    proptest! {
        #[test]
        fn canary_plans_are_monotonic_and_end_at_100(
            mut raw in proptest::collection::btree_set(1u32..1000, 0..12),
            bake in 1u32..3600,
        ) {
            raw.insert(1000);
            let steps: Vec<f64> = raw.into_iter().map(|p| f64::from(p) / 10.0).collect();
            let plan = Strategy::Canary(CanaryStrategy { steps, bake_seconds: bake }).plan();
            prop_assert_eq!(plan.steps.last().map(|s| s.percent), Some(100.0));
            for pair in plan.steps.windows(2) {
                prop_assert!(pair[0].percent < pair[1].percent);
                prop_assert!(pair[0].canary_share <= pair[1].canary_share);
            }
        }
    }
}
