//! The step plan: which canary percent each step asks for, how long it bakes, and the pair of
//! Route 53 weights that carries it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Route 53 weights of the stable and the canary slot's records. Each is 0–255 (the type
/// guarantees it) and they are never both 0: Route 53 would then split traffic evenly, which
/// nobody asked for. Which slot plays which role is the deployment's `roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawWeights", into = "RawWeights")]
pub struct WeightPair {
    stable: u8,
    canary: u8,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct RawWeights {
    stable: u8,
    canary: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "weights stable 0 and canary 0: Route 53 would split traffic evenly; one of them must be above 0"
)]
pub struct BothWeightsZero;

impl TryFrom<RawWeights> for WeightPair {
    type Error = BothWeightsZero;
    fn try_from(raw: RawWeights) -> Result<Self, Self::Error> {
        WeightPair::new(raw.stable, raw.canary)
    }
}

impl From<WeightPair> for RawWeights {
    fn from(pair: WeightPair) -> Self {
        RawWeights {
            stable: pair.stable,
            canary: pair.canary,
        }
    }
}

impl WeightPair {
    /// Every request on stable.
    pub const ALL_STABLE: WeightPair = WeightPair {
        stable: 1,
        canary: 0,
    };
    /// Every request on canary.
    pub const ALL_CANARY: WeightPair = WeightPair {
        stable: 0,
        canary: 1,
    };

    pub fn new(stable: u8, canary: u8) -> Result<Self, BothWeightsZero> {
        if stable == 0 && canary == 0 {
            return Err(BothWeightsZero);
        }
        Ok(WeightPair { stable, canary })
    }

    pub fn stable(&self) -> u8 {
        self.stable
    }

    pub fn canary(&self) -> u8 {
        self.canary
    }

    /// The share of requests canary receives, in percent.
    pub fn canary_percent(&self) -> f64 {
        f64::from(self.canary) * 100.0 / (f64::from(self.stable) + f64::from(self.canary))
    }

    /// The pair whose canary share is closest to `percent` (clamped to 0–100).
    ///
    /// A percent above 0 always gives canary some traffic and one below 100 always leaves stable
    /// some, even where 0 or 100 would be numerically closer (0.1 % becomes 1/256 ≈ 0.39 %):
    /// a canary step that sends nothing would judge nothing. Among equally close pairs the one
    /// with the smallest weights wins, so 25 % reads as stable 3, canary 1.
    pub fn for_percent(percent: f64) -> WeightPair {
        let percent = if percent.is_nan() {
            0.0
        } else {
            percent.clamp(0.0, 100.0)
        };
        if percent <= 0.0 {
            return WeightPair::ALL_STABLE;
        }
        if percent >= 100.0 {
            return WeightPair::ALL_CANARY;
        }
        let mut best = WeightPair {
            stable: 255,
            canary: 1,
        };
        let mut best_error = (best.canary_percent() - percent).abs();
        for canary in 1..=255u16 {
            // The stable weight that puts canary exactly at `percent`, then its two integer neighbours.
            let ideal_stable = f64::from(canary) * (100.0 - percent) / percent;
            let floor = ideal_stable.floor().clamp(1.0, 255.0) as u8;
            let ceil = ideal_stable.ceil().clamp(1.0, 255.0) as u8;
            for stable in [floor, ceil] {
                let candidate = WeightPair {
                    stable,
                    canary: canary as u8,
                };
                let error = (candidate.canary_percent() - percent).abs();
                let smaller = u16::from(candidate.stable) + u16::from(candidate.canary)
                    < u16::from(best.stable) + u16::from(best.canary);
                if error + 1e-12 < best_error || ((error - best_error).abs() <= 1e-12 && smaller) {
                    best = candidate;
                    best_error = error;
                }
            }
        }
        best
    }
}

impl std::fmt::Display for WeightPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stable {} / canary {} ({:.2}% canary)",
            self.stable,
            self.canary,
            self.canary_percent()
        )
    }
}

/// One weight level of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub index: usize,
    /// The canary percent the spec asked for.
    pub percent: f64,
    /// How long traffic stays at this step before it is judged.
    pub bake_seconds: u32,
    pub weights: WeightPair,
    /// The canary share the weights really give, in percent.
    pub canary_share: f64,
}

/// The ordered steps of a deployment. Green percents increase and the last is 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepPlan {
    pub steps: Vec<Step>,
}

impl StepPlan {
    /// The steps through `percents` (canary percents, increasing, the last 100), each baked
    /// `bake_seconds`.
    pub fn new(percents: Vec<f64>, bake_seconds: u32) -> StepPlan {
        let steps = percents
            .into_iter()
            .enumerate()
            .map(|(index, percent)| {
                let weights = WeightPair::for_percent(percent);
                Step {
                    index,
                    percent,
                    bake_seconds,
                    weights,
                    canary_share: weights.canary_percent(),
                }
            })
            .collect();
        StepPlan { steps }
    }

    pub fn step(&self, index: usize) -> Option<&Step> {
        self.steps.get(index)
    }

    pub fn is_last(&self, index: usize) -> bool {
        index + 1 >= self.steps.len()
    }

    /// The sum of every step's bake, the least time a healthy deployment takes.
    pub fn total_bake_seconds(&self) -> u64 {
        self.steps.iter().map(|s| u64::from(s.bake_seconds)).sum()
    }
}

/// Green percents of a linear strategy: increment, 2 × increment, … capped at 100.
pub fn linear_percents(increment: f64) -> Vec<f64> {
    if !(increment.is_finite() && increment > 0.0) {
        return vec![100.0];
    }
    let mut percents = Vec::new();
    let mut k = 1u32;
    loop {
        // Multiplying instead of summing keeps 3 × 33.3 from drifting.
        let percent = (f64::from(k) * increment * 1e9).round() / 1e9;
        if percent >= 100.0 {
            percents.push(100.0);
            return percents;
        }
        percents.push(percent);
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

    #[test]
    fn common_canary_percents_map_to_exact_small_weights() {
        let cases = [
            (1.0, 99, 1),
            (5.0, 19, 1),
            (25.0, 3, 1),
            (50.0, 1, 1),
            (0.5, 199, 1),
        ];
        for (percent, stable, canary) in cases {
            let pair = WeightPair::for_percent(percent);
            assert_eq!(
                (pair.stable(), pair.canary()),
                (stable, canary),
                "{percent}%"
            );
            assert!((pair.canary_percent() - percent).abs() < 1e-9);
        }
    }

    #[test]
    fn edges_are_all_stable_and_all_canary() {
        assert_eq!(WeightPair::for_percent(0.0), WeightPair::ALL_STABLE);
        assert_eq!(WeightPair::for_percent(-3.0), WeightPair::ALL_STABLE);
        assert_eq!(WeightPair::for_percent(f64::NAN), WeightPair::ALL_STABLE);
        assert_eq!(WeightPair::for_percent(100.0), WeightPair::ALL_CANARY);
        assert_eq!(WeightPair::for_percent(250.0), WeightPair::ALL_CANARY);
        assert_eq!(WeightPair::ALL_STABLE.canary_percent(), 0.0);
        assert_eq!(WeightPair::ALL_CANARY.canary_percent(), 100.0);
    }

    #[test]
    fn a_tiny_percent_still_sends_the_canary_some_traffic() {
        let pair = WeightPair::for_percent(0.1);
        assert_eq!((pair.stable(), pair.canary()), (255, 1));
        let pair = WeightPair::for_percent(99.9);
        assert_eq!((pair.stable(), pair.canary()), (1, 255));
    }

    #[test]
    fn both_weights_zero_is_rejected_also_when_deserialized() {
        assert_eq!(WeightPair::new(0, 0), Err(BothWeightsZero));
        let parsed: Result<WeightPair, _> = serde_json::from_str(r#"{"stable":0,"canary":0}"#);
        assert!(parsed.is_err());
        let parsed: WeightPair = serde_json::from_str(r#"{"stable":3,"canary":1}"#).unwrap();
        assert_eq!(parsed.canary_percent(), 25.0);
    }

    proptest! {
        #[test]
        fn weight_pairs_are_close_and_never_both_zero(percent in 0.0f64..=100.0) {
            let pair = WeightPair::for_percent(percent);
            prop_assert!(pair.stable() > 0 || pair.canary() > 0);
            // Route 53's finest share is 1/256 ≈ 0.39 %, so half a point is always reachable.
            prop_assert!((pair.canary_percent() - percent).abs() <= 0.5,
                "{percent}% -> {pair}");
            if percent > 0.0 { prop_assert!(pair.canary() > 0); }
            if percent < 100.0 { prop_assert!(pair.stable() > 0); }
        }

        #[test]
        fn linear_plans_are_monotonic_and_end_at_100(increment in 0.1f64..=100.0) {
            let percents = linear_percents(increment);
            prop_assert_eq!(percents.last().copied(), Some(100.0));
            for pair in percents.windows(2) {
                prop_assert!(pair[0] < pair[1]);
            }
        }
    }
}
