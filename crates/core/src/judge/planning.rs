//! What a step can detect, computed before anything runs (for `sluice plan` and validation).
//!
//! Analytic approximation, no simulation:
//! - *Expected time* (to detect a regression of exactly `maxRatio`, or for a healthy canary to
//!   pass early): the real test is fed the expected counts of each look, and the first look at
//!   which its evidence reaches the bound is reported. The evidence is close to symmetric around
//!   its expected path, so this is close to the median time.
//! - *Probability of detecting* a `maxRatio` regression within the bake: the log-likelihood
//!   ratio of `maxRatio` against 1 is a compound Poisson random walk (drift `mu`, variance
//!   `sigma²` per second, from the expected error counts), approximated by a Brownian motion;
//!   the chance it crosses `b` by the end of the bake is the inverse-Gaussian first-passage
//!   probability. `b` is `ln(1/alpha)` plus what the mixture costs against the best single
//!   alternative on the expected path at the end of the bake, plus Siegmund's `0.583·sigma·√Δ`
//!   for crossings only seen at looks `Δ` apart.
//!
//! The detection benchmark (`cargo run --release -p sluice-bench --bin judge`) simulates the same
//! cases; a unit test keeps the two in agreement.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use super::params::{JudgeParamError, check_alpha, check_max_ratio};
use super::rate_ratio::{CountIncrements, RateRatioConfig, RateRatioTest};
use super::{JudgeError, LookVerdict};

/// Siegmund's correction of a boundary crossed by a random walk only observed at looks.
const DISCRETE_LOOK_CORRECTION: f64 = 0.583;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanInput {
    pub expected_requests_per_second: f64,
    /// The canary's share of the traffic in this step, in `(0, 1)`.
    pub canary_share: f64,
    pub bake_seconds: u64,
    pub check_seconds: u64,
    /// The stable slot's error rate the user expects, in `(0, 1)`.
    pub stable_error_rate: f64,
    pub max_ratio: f64,
    /// The step's alpha.
    pub alpha: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectionPlan {
    /// Looks within the bake.
    pub looks: u64,
    /// Chance that a canary at `maxRatio` × stable's error rate fails within the bake.
    pub detection_probability: f64,
    /// About the median time to detect it; `None` if the expected path stays under the bound.
    pub expected_seconds_to_detect: Option<u64>,
    /// About the median time for a canary as good as stable to pass early; `None` if not within
    /// the bake.
    pub expected_seconds_to_pass: Option<u64>,
}

/// The plan of one step.
pub fn plan_detection(input: &PlanInput) -> Result<DetectionPlan, JudgeError> {
    check_input(input)?;
    let config = RateRatioConfig {
        alpha: input.alpha,
        max_ratio: input.max_ratio,
    };
    let looks = input.bake_seconds / input.check_seconds;
    let look_seconds = input.check_seconds as f64;
    let regressed = expected_path(input, config, input.max_ratio, looks)?;
    let healthy = expected_path(input, config, 1.0, looks)?;

    let walk = LikelihoodWalk::new(input);
    let horizon = looks as f64 * look_seconds;
    let mixture_cost = (walk.drift * horizon - regressed.final_fail_log_evidence).max(0.0);
    let boundary = (1.0 / input.alpha).ln()
        + mixture_cost
        + DISCRETE_LOOK_CORRECTION * walk.variance.sqrt() * look_seconds.sqrt();
    Ok(DetectionPlan {
        looks,
        detection_probability: walk.crossing_probability(boundary, horizon),
        expected_seconds_to_detect: regressed.failed_at.map(|look| look * input.check_seconds),
        expected_seconds_to_pass: healthy.passed_at.map(|look| look * input.check_seconds),
    })
}

fn check_input(input: &PlanInput) -> Result<(), JudgeParamError> {
    check_alpha("alpha", input.alpha)?;
    check_max_ratio("maxRatio", input.max_ratio)?;
    let positive = |field: &str, value: f64| {
        if value > 0.0 && value.is_finite() {
            Ok(())
        } else {
            Err(JudgeParamError::NotPositive {
                field: field.to_owned(),
                value,
            })
        }
    };
    positive(
        "expectedRequestsPerSecond",
        input.expected_requests_per_second,
    )?;
    positive("bake", input.bake_seconds as f64)?;
    for (field, value) in [
        ("canaryShare", input.canary_share),
        ("stableErrorRate", input.stable_error_rate),
    ] {
        if !(value > 0.0 && value < 1.0) {
            return Err(JudgeParamError::NotAShare {
                field: field.to_owned(),
                value,
            });
        }
    }
    if input.check_seconds == 0 || input.check_seconds > input.bake_seconds {
        return Err(JudgeParamError::CheckAboveBake {
            field: "checkSeconds".to_owned(),
            value: input.check_seconds,
            bake_seconds: input.bake_seconds,
        });
    }
    Ok(())
}

struct ExpectedPath {
    failed_at: Option<u64>,
    passed_at: Option<u64>,
    final_fail_log_evidence: f64,
}

/// The test fed each look's expected counts for a canary at `ratio` × stable's error rate.
fn expected_path(
    input: &PlanInput,
    config: RateRatioConfig,
    ratio: f64,
    looks: u64,
) -> Result<ExpectedPath, JudgeError> {
    let requests = input.expected_requests_per_second * input.check_seconds as f64;
    let canary_requests = requests * input.canary_share;
    let stable_requests = requests - canary_requests;
    let increments = CountIncrements {
        canary_errors: canary_requests * (input.stable_error_rate * ratio).min(1.0),
        canary_requests,
        stable_errors: stable_requests * input.stable_error_rate,
        stable_requests,
    };
    let mut test = RateRatioTest::new(config)?;
    let (mut failed_at, mut passed_at) = (None, None);
    for look in 1..=looks {
        match test.update(&increments)? {
            LookVerdict::Fail => {
                failed_at.get_or_insert(look);
            }
            LookVerdict::Pass => {
                passed_at.get_or_insert(look);
            }
            LookVerdict::Continue => {}
        }
    }
    Ok(ExpectedPath {
        failed_at,
        passed_at,
        final_fail_log_evidence: test.fail_log_evidence(),
    })
}

/// The log-likelihood ratio of `maxRatio` against 1, per second, for a canary at `maxRatio`.
struct LikelihoodWalk {
    drift: f64,
    variance: f64,
}

impl LikelihoodWalk {
    fn new(input: &PlanInput) -> Self {
        let share = input.canary_share;
        let ratio = input.max_ratio;
        let canary_errors = share * (input.stable_error_rate * ratio).min(1.0);
        let stable_errors = (1.0 - share) * input.stable_error_rate;
        let errors_per_second =
            input.expected_requests_per_second * (canary_errors + stable_errors);
        let canary_share_of_errors = canary_errors / (canary_errors + stable_errors);
        let alternative = ratio * share / (ratio * share + 1.0 - share);
        let canary_step = (alternative / share).ln();
        let stable_step = ((1.0 - alternative) / (1.0 - share)).ln();
        let mean = |f: &dyn Fn(f64) -> f64| {
            canary_share_of_errors * f(canary_step)
                + (1.0 - canary_share_of_errors) * f(stable_step)
        };
        Self {
            drift: errors_per_second * mean(&|step| step),
            variance: errors_per_second * mean(&|step| step * step),
        }
    }

    /// Chance a Brownian motion with this drift and variance reaches `boundary` by `horizon`.
    fn crossing_probability(&self, boundary: f64, horizon: f64) -> f64 {
        if horizon <= 0.0 || self.variance <= 0.0 {
            return 0.0;
        }
        let spread = (self.variance * horizon).sqrt();
        let ahead = (self.drift * horizon - boundary) / spread;
        let behind = -(self.drift * horizon + boundary) / spread;
        let reflected = (2.0 * self.drift * boundary / self.variance + ln_normal_cdf(behind)).exp();
        (normal_cdf(ahead) + reflected).clamp(0.0, 1.0)
    }
}

fn standard_normal() -> Normal {
    Normal::standard()
}

fn normal_cdf(z: f64) -> f64 {
    standard_normal().cdf(z)
}

/// `ln Φ(z)`, with the Mills-ratio tail where `Φ(z)` underflows.
fn ln_normal_cdf(z: f64) -> f64 {
    if z > -30.0 {
        normal_cdf(z).ln()
    } else {
        -0.5 * z * z - (-z).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }
}
