//! The log-spaced grid of rate ratios the count test mixes over, and its prior weights.

use super::log_sum_exp;

/// Grid steps from ratio 1 to `maxRatio`: both lie on the grid, so the two nulls are exact.
const STEPS_TO_MAX: usize = 6;
/// Grid points on each side of ratio 1: with `maxRatio` 1.5 the grid spans 0.067 to 15.
const HALF_WIDTH: usize = 40;
/// Spread of the alternatives above a null, in grid steps: wide (a factor `maxRatio²` is one
/// standard deviation), since a regression may be much stronger than the one the user named.
const UP_SPREAD: f64 = 2.0 * STEPS_TO_MAX as f64;
/// Spread of the alternatives below a null: narrow around `null / maxRatio` (for PASS: ratio
/// 1, a healthy canary), which is where the evidence to pass early comes from.
const DOWN_SPREAD: f64 = STEPS_TO_MAX as f64 / 2.0;

/// Rate ratios `maxRatio^(j / 6)` for `j` in `-40..=40`, with the mixture weights of the tests
/// against any of them. The weights are fixed by the configuration before any data arrives,
/// which the supermartingale argument needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioGrid {
    log_ratios: Vec<f64>,
    ratios: Vec<f64>,
    fail_log_weights: Vec<f64>,
    pass_log_weights: Vec<f64>,
}

impl RatioGrid {
    /// The grid for `max_ratio` (> 1, checked by the caller).
    pub fn new(max_ratio: f64) -> Self {
        let step = max_ratio.ln() / STEPS_TO_MAX as f64;
        let log_ratios: Vec<f64> = (0..Self::len())
            .map(|index| (index as f64 - HALF_WIDTH as f64) * step)
            .collect();
        Self {
            ratios: log_ratios.iter().map(|log_ratio| log_ratio.exp()).collect(),
            log_ratios,
            fail_log_weights: alternative_log_weights(Self::one(), Side::Above),
            pass_log_weights: alternative_log_weights(Self::max_ratio_index(), Side::Below),
        }
    }

    /// Number of grid points.
    pub const fn len() -> usize {
        2 * HALF_WIDTH + 1
    }

    /// Index of ratio 1.
    pub const fn one() -> usize {
        HALF_WIDTH
    }

    /// Index of `maxRatio`.
    pub const fn max_ratio_index() -> usize {
        HALF_WIDTH + STEPS_TO_MAX
    }

    pub fn log_ratios(&self) -> &[f64] {
        &self.log_ratios
    }

    pub fn ratios(&self) -> &[f64] {
        &self.ratios
    }

    pub fn ratio(&self, index: usize) -> f64 {
        self.ratios[index]
    }

    /// Log of the mixture likelihood ratio of FAIL (alternatives above 1 against ratio 1).
    pub fn fail_log_evidence(&self, log_likelihoods: &[f64]) -> f64 {
        mixture(log_likelihoods, Self::one(), &self.fail_log_weights)
    }

    /// Log of the mixture likelihood ratio of PASS (alternatives below `maxRatio` against it).
    pub fn pass_log_evidence(&self, log_likelihoods: &[f64]) -> f64 {
        mixture(
            log_likelihoods,
            Self::max_ratio_index(),
            &self.pass_log_weights,
        )
    }

    /// Log evidence that the ratio lies above (`Side::Above`) or below the grid's `null`-th
    /// ratio, with the same shape of weights as FAIL and PASS.
    pub fn log_evidence(&self, log_likelihoods: &[f64], null: usize, side: Side) -> f64 {
        mixture(log_likelihoods, null, &alternative_log_weights(null, side))
    }
}

/// Which alternatives a test mixes over, relative to its null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Above,
    Below,
}

/// Log weights over the whole grid (`-inf` off the alternative side): a discretised normal in
/// `ln rho` centred `maxRatio` away from the null, normalised over the alternatives.
fn alternative_log_weights(null: usize, side: Side) -> Vec<f64> {
    let (centre, spread) = match side {
        Side::Above => (null as f64 + STEPS_TO_MAX as f64, UP_SPREAD),
        Side::Below => (null as f64 - STEPS_TO_MAX as f64, DOWN_SPREAD),
    };
    let unnormalised: Vec<f64> = (0..RatioGrid::len())
        .map(|index| {
            let alternative = match side {
                Side::Above => index > null,
                Side::Below => index < null,
            };
            if alternative {
                -0.5 * ((index as f64 - centre) / spread).powi(2)
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    let total = log_sum_exp(unnormalised.iter().copied());
    unnormalised.iter().map(|weight| weight - total).collect()
}

/// `ln Σ_j w_j · L_j / L_null`.
fn mixture(log_likelihoods: &[f64], null: usize, log_weights: &[f64]) -> f64 {
    let null_log_likelihood = log_likelihoods[null];
    log_sum_exp(
        log_likelihoods
            .iter()
            .zip(log_weights)
            .filter(|(_, weight)| weight.is_finite())
            .map(|(log_likelihood, weight)| weight + log_likelihood - null_log_likelihood),
    )
}
