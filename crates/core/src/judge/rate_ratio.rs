//! The count test: the canary's error rate against the stable slot's, as a rate ratio, look by
//! look. The construction and its guarantee are in the [module documentation](super).

use serde::{Deserialize, Serialize};

use super::grid::{RatioGrid, Side};
use super::params::{check_alpha, check_max_ratio};
use super::{JudgeError, LookVerdict};

/// What the user chose: the regression that must not pass and the chance of a wrong verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateRatioConfig {
    /// The step's share of the deployment's false-rollback bound (see `alpha_per_step`).
    pub alpha: f64,
    /// A canary rate this many times stable's, or worse, must not pass.
    pub max_ratio: f64,
}

/// One look's new counts: what each slot served and failed since the previous look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountIncrements {
    pub canary_errors: f64,
    pub canary_requests: f64,
    pub stable_errors: f64,
    pub stable_requests: f64,
}

impl CountIncrements {
    fn check(&self) -> Result<(), JudgeError> {
        for (field, value) in [
            ("canaryErrors", self.canary_errors),
            ("canaryRequests", self.canary_requests),
            ("stableErrors", self.stable_errors),
            ("stableRequests", self.stable_requests),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(JudgeError::InvalidCount { field, value });
            }
        }
        for (slot, errors, requests) in [
            ("canary", self.canary_errors, self.canary_requests),
            ("stable", self.stable_errors, self.stable_requests),
        ] {
            if errors > requests {
                return Err(JudgeError::ErrorsExceedRequests {
                    slot,
                    errors,
                    requests,
                });
            }
        }
        Ok(())
    }

    fn add(&mut self, other: &CountIncrements) {
        self.canary_errors += other.canary_errors;
        self.canary_requests += other.canary_requests;
        self.stable_errors += other.stable_errors;
        self.stable_requests += other.stable_requests;
    }
}

/// Everything the test carries from one look (one Lambda invocation) to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateRatioState {
    pub looks: u32,
    pub totals: CountIncrements,
    /// Log-likelihood of each grid ratio relative to ratio 1's.
    pub log_likelihoods: Vec<f64>,
    /// First look at which FAIL's evidence reached its bound (sticky).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at_look: Option<u32>,
    /// First look at which PASS's evidence reached its bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_at_look: Option<u32>,
}

/// A confidence sequence for the rate ratio: every ratio on the grid neither test rejects at
/// alpha (so it covers the true ratio at every look with probability at least `1 - 2·alpha`).
/// `None` bounds are beyond the grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatioBand {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

/// One look as stored and shown: the counts, the statistics, their bound and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateRatioLook {
    pub look: u32,
    pub increments: CountIncrements,
    pub totals: CountIncrements,
    pub canary_rate: Option<f64>,
    pub stable_rate: Option<f64>,
    /// Observed ratio of the rates over the whole window so far.
    pub ratio: Option<f64>,
    pub band: RatioBand,
    /// `ln` of FAIL's mixture likelihood ratio; fails at `log_threshold`.
    pub fail_log_evidence: f64,
    /// `ln` of PASS's mixture likelihood ratio; passes at `log_threshold`.
    pub pass_log_evidence: f64,
    /// `ln(1 / alpha)`.
    pub log_threshold: f64,
    pub verdict: LookVerdict,
}

/// The count test of one step: configuration, grid and state.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRatioTest {
    config: RateRatioConfig,
    grid: RatioGrid,
    log_threshold: f64,
    state: RateRatioState,
}

impl RateRatioTest {
    /// A fresh test for a step.
    pub fn new(config: RateRatioConfig) -> Result<Self, JudgeError> {
        let state = RateRatioState {
            looks: 0,
            totals: CountIncrements::default(),
            log_likelihoods: vec![0.0; RatioGrid::len()],
            failed_at_look: None,
            passed_at_look: None,
        };
        Self::resume(config, state)
    }

    /// The test as the previous look left it.
    pub fn resume(config: RateRatioConfig, state: RateRatioState) -> Result<Self, JudgeError> {
        check_alpha("alpha", config.alpha)?;
        check_max_ratio("maxRatio", config.max_ratio)?;
        if state.log_likelihoods.len() != RatioGrid::len() {
            return Err(JudgeError::StateMismatch {
                expected: RatioGrid::len(),
                found: state.log_likelihoods.len(),
            });
        }
        Ok(Self {
            config,
            grid: RatioGrid::new(config.max_ratio),
            log_threshold: (1.0 / config.alpha).ln(),
            state,
        })
    }

    pub fn config(&self) -> RateRatioConfig {
        self.config
    }

    pub fn state(&self) -> &RateRatioState {
        &self.state
    }

    pub fn into_state(self) -> RateRatioState {
        self.state
    }

    /// Takes a look's counts in and returns its verdict. A look in which the stable slot
    /// served nothing carries no comparison: it never passes (an earlier FAIL still stands).
    pub fn update(&mut self, increments: &CountIncrements) -> Result<LookVerdict, JudgeError> {
        increments.check()?;
        self.state.looks += 1;
        self.state.totals.add(increments);
        let errors = increments.canary_errors + increments.stable_errors;
        let informative =
            increments.canary_requests > 0.0 && increments.stable_requests > 0.0 && errors > 0.0;
        if informative {
            // ln L(rho) = x_c·ln p + x_s·ln(1-p) with p = rho·n_c / (rho·n_c + n_s); the terms
            // that do not depend on rho are dropped (they cancel in every ratio).
            let grid = self.grid.log_ratios().iter().zip(self.grid.ratios());
            for (log_likelihood, (log_ratio, ratio)) in
                self.state.log_likelihoods.iter_mut().zip(grid)
            {
                *log_likelihood += increments.canary_errors * log_ratio
                    - errors
                        * (ratio * increments.canary_requests + increments.stable_requests).ln();
            }
            // Relative to ratio 1, so the numbers stay small over a long bake.
            let at_one = self.state.log_likelihoods[RatioGrid::one()];
            for log_likelihood in &mut self.state.log_likelihoods {
                *log_likelihood -= at_one;
            }
            let look = self.state.looks;
            if self.state.failed_at_look.is_none() && self.fail_log_evidence() >= self.log_threshold
            {
                self.state.failed_at_look = Some(look);
            }
            if self.state.passed_at_look.is_none() && self.pass_log_evidence() >= self.log_threshold
            {
                self.state.passed_at_look = Some(look);
            }
        }
        Ok(if self.state.failed_at_look.is_some() {
            LookVerdict::Fail
        } else if self.state.passed_at_look.is_some() && increments.stable_requests > 0.0 {
            LookVerdict::Pass
        } else {
            LookVerdict::Continue
        })
    }

    /// [`update`](Self::update), then everything about the look worth storing.
    pub fn observe(&mut self, increments: &CountIncrements) -> Result<RateRatioLook, JudgeError> {
        let verdict = self.update(increments)?;
        let totals = self.state.totals;
        let canary_rate = rate(totals.canary_errors, totals.canary_requests);
        let stable_rate = rate(totals.stable_errors, totals.stable_requests);
        let ratio = match (canary_rate, stable_rate) {
            (Some(canary), Some(stable)) if stable > 0.0 => Some(canary / stable),
            _ => None,
        };
        Ok(RateRatioLook {
            look: self.state.looks,
            increments: *increments,
            totals,
            canary_rate,
            stable_rate,
            ratio,
            band: self.band(),
            fail_log_evidence: self.fail_log_evidence(),
            pass_log_evidence: self.pass_log_evidence(),
            log_threshold: self.log_threshold,
            verdict,
        })
    }

    pub fn fail_log_evidence(&self) -> f64 {
        self.grid.fail_log_evidence(&self.state.log_likelihoods)
    }

    pub fn pass_log_evidence(&self) -> f64 {
        self.grid.pass_log_evidence(&self.state.log_likelihoods)
    }

    pub fn log_threshold(&self) -> f64 {
        self.log_threshold
    }

    /// The grid ratios not rejected by either one-sided test at alpha.
    pub fn band(&self) -> RatioBand {
        let likelihoods = &self.state.log_likelihoods;
        let plausible = |index: usize| {
            self.grid.log_evidence(likelihoods, index, Side::Above) < self.log_threshold
                && self.grid.log_evidence(likelihoods, index, Side::Below) < self.log_threshold
        };
        let last = RatioGrid::len() - 1;
        let lower = (0..=last).find(|&index| plausible(index));
        let upper = (0..=last).rev().find(|&index| plausible(index));
        RatioBand {
            lower: lower.filter(|&index| index > 0).map(|i| self.grid.ratio(i)),
            upper: upper
                .filter(|&index| index < last)
                .map(|i| self.grid.ratio(i)),
        }
    }
}

fn rate(errors: f64, requests: f64) -> Option<f64> {
    (requests > 0.0).then(|| errors / requests)
}
