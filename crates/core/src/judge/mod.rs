//! The judge: anytime-valid comparisons of the canary with the stable slot over the same live
//! window, looked at every `checkSeconds` during a bake, so a step may stop at any look (fail at
//! once, or pass early) without inflating the chance of a wrong verdict.
//!
//! # Counts (errors over requests): [`RateRatioTest`]
//!
//! Errors of each slot are a counting process with intensity `rate × requests`, where the rate
//! may drift over time (traffic mix, time of day) but the ratio `rho = canary rate / stable
//! rate` is what a deployment changes. Conditional on a look's total errors, the canary's share
//! of them is Binomial with `p(rho) = rho·n_c / (rho·n_c + n_s)` (`n` = requests, the exposure):
//! the common, unknown rate cancels, which is the counting-process argument of Lindon & Malek
//! ("Anytime-valid inference for multinomial count data", NeurIPS 2022) behind the continuous
//! canary monitoring of Lindon, Sanden & Shirikian (KDD 2022). The product over looks of
//! `L(rho_a) / L(rho_0)` is a martingale under `rho_0`, and because the Binomial family has a
//! monotone likelihood ratio it is a nonnegative supermartingale under every `rho` on the far
//! side of `rho_0` from `rho_a`. A mixture of such products with fixed weights summing to one is
//! again one, so Ville's inequality bounds the chance it *ever* reaches `1/alpha` by `alpha`:
//! every look may be acted on. Their papers mix with a conjugate Dirichlet; here the exposures
//! change from look to look (the share moves between steps, CloudWatch periods differ), so no
//! conjugate form exists and the mixture is over a discrete log-spaced grid of `rho` (see
//! [`RatioGrid`]), whose running log-likelihoods are the whole state (serde, one Lambda
//! invocation per look).
//!
//! Two tests run together on the same state: FAIL rejects `H0: rho <= 1` (alternatives above 1,
//! weighted around `maxRatio`), PASS rejects `H0: rho >= maxRatio` (alternatives below,
//! weighted around 1). A FAIL is sticky and wins over a PASS: between 1 and `maxRatio` (the
//! indifference zone the user chose) either may come.
//!
//! # Alpha
//!
//! The two tests bound different errors (rolling back a canary no worse than stable; passing
//! one at least `maxRatio` worse), so each gets the step's whole alpha. Within a step Ville's
//! inequality covers every look, so looks need no share of alpha. A step's test starts fresh,
//! so the deployment's alpha is split evenly over its analysed steps ([`alpha_per_step`],
//! Bonferroni): the chance of any false rollback in the deployment stays at most `alpha`.
//!
//! # Continuous metrics (latency): [`PairedPeriodTest`]
//!
//! CloudWatch gives per-period statistics (p95, mean) for both slots over the same periods, not
//! the raw samples, so the test is a sequential sign test on paired periods with a uniform
//! mixture martingale; thresholds (`max`/`min`) combine with it. See [`paired`].
//!
//! # Planning: [`plan_detection`]
//!
//! What a step can detect, before anything runs. See [`planning`].

mod grid;
pub mod paired;
pub mod params;
pub mod planning;
pub mod rate_ratio;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use grid::RatioGrid;
pub use paired::{PairedLook, PairedPeriodConfig, PairedPeriodState, PairedPeriodTest, PeriodPair};
pub use params::{
    JudgeParamError, alpha_per_step, check_alpha, check_check_seconds, check_max_ratio,
    check_max_worse_share,
};
pub use planning::{DetectionPlan, PlanInput, plan_detection};
pub use rate_ratio::{
    CountIncrements, RateRatioConfig, RateRatioLook, RateRatioState, RateRatioTest, RatioBand,
};

/// What one look concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LookVerdict {
    /// Not decided yet: keep watching (at the end of the bake: inconclusive).
    Continue,
    /// The canary is shown better than the regression the user named.
    Pass,
    /// The canary is shown worse than stable.
    Fail,
}

impl std::fmt::Display for LookVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LookVerdict::Continue => "continue",
            LookVerdict::Pass => "pass",
            LookVerdict::Fail => "fail",
        })
    }
}

/// A look's input the judge cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    #[error("{field} must be a finite count of at least 0, got {value}")]
    InvalidCount { field: &'static str, value: f64 },
    #[error("{slot} errors ({errors}) exceed its requests ({requests})")]
    ErrorsExceedRequests {
        slot: &'static str,
        errors: f64,
        requests: f64,
    },
    #[error("stored judge state has {found} grid points, the configuration needs {expected}")]
    StateMismatch { expected: usize, found: usize },
    #[error(transparent)]
    Param(#[from] JudgeParamError),
}

/// `ln Σ exp(terms)`, stable for large and very negative terms; `-inf` for no terms.
pub(crate) fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || max.is_nan() {
        return max;
    }
    max + terms.map(|term| (term - max).exp()).sum::<f64>().ln()
}
