//! The continuous-metric test (latency): a sequential sign test on paired periods.
//!
//! CloudWatch returns, per period, a statistic of each slot (p95, mean) and a sample count, not
//! the samples, so a test on the raw distributions (Mann-Whitney as in Kayenta, or the
//! quantile confidence sequences of Lindon et al.) is out of reach. What is available is the
//! pair (canary's statistic, stable's statistic) for each period. For a canary no worse than
//! stable, the canary's value is above stable's in at most half of the periods that are not
//! ties: the sign test's null `q <= 1/2`, which needs no assumption about the shape of the
//! latency distribution or its drift over the day (both slots share the period). The worse
//! count is Binomial given the untied periods, so a uniform mixture over `q` in `(1/2, 1)` of
//! likelihood ratios against `1/2` is a nonnegative supermartingale under the null (monotone
//! likelihood ratio), and Ville's inequality makes it valid at every look: the sign-test
//! analogue of a beta-binomial mixture, on a fine discrete grid. PASS rejects `q >=
//! maxWorseShare` the same way, with alternatives below it.
//!
//! Caveat: with a small share the canary's per-period statistic comes from fewer samples, so
//! it is noisier than stable's, and a p95 from few samples is slightly biased; the two are then
//! only nearly exchangeable and the bound holds approximately. Thresholds (`max`/`min`) on the
//! look's canary value combine with the test: a breach fails the look.

use serde::{Deserialize, Serialize};

use super::params::{check_alpha, check_max_worse_share};
use super::{JudgeError, LookVerdict, log_sum_exp};

/// Points of the grid of `q` (the chance that the canary is worse in a period): `i / 100`.
const SHARE_GRID: usize = 99;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedPeriodConfig {
    pub alpha: f64,
    /// PASS shows the canary worse in fewer than this share of periods (in `(0.5, 1)`).
    pub max_worse_share: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// One period's statistic of each slot; `None` when the slot had no data in the period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodPair {
    pub canary: Option<f64>,
    pub stable: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedPeriodState {
    pub looks: u32,
    /// Periods in which the canary's value was above stable's.
    pub worse: u32,
    /// Periods in which it was below.
    pub better: u32,
    pub ties: u32,
    /// Periods without a value for both slots.
    pub unpaired: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at_look: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_at_look: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedLook {
    pub look: u32,
    pub worse: u32,
    pub better: u32,
    pub ties: u32,
    pub canary_value: Option<f64>,
    /// The threshold the look's canary value broke, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_breached: Option<f64>,
    pub fail_log_evidence: f64,
    pub pass_log_evidence: f64,
    pub log_threshold: f64,
    pub verdict: LookVerdict,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PairedPeriodTest {
    config: PairedPeriodConfig,
    log_threshold: f64,
    state: PairedPeriodState,
}

impl PairedPeriodTest {
    pub fn new(config: PairedPeriodConfig) -> Result<Self, JudgeError> {
        Self::resume(config, PairedPeriodState::default())
    }

    pub fn resume(
        config: PairedPeriodConfig,
        state: PairedPeriodState,
    ) -> Result<Self, JudgeError> {
        check_alpha("alpha", config.alpha)?;
        check_max_worse_share("maxWorseShare", config.max_worse_share)?;
        Ok(Self {
            config,
            log_threshold: (1.0 / config.alpha).ln(),
            state,
        })
    }

    pub fn state(&self) -> &PairedPeriodState {
        &self.state
    }

    pub fn into_state(self) -> PairedPeriodState {
        self.state
    }

    /// Takes the look's new periods and the look's canary value (for the thresholds). A look
    /// without a single paired period never passes.
    pub fn observe(&mut self, periods: &[PeriodPair], canary_value: Option<f64>) -> PairedLook {
        self.state.looks += 1;
        let mut paired = 0;
        for period in periods {
            match (period.canary, period.stable) {
                (Some(canary), Some(stable)) if canary.is_finite() && stable.is_finite() => {
                    paired += 1;
                    if canary > stable {
                        self.state.worse += 1;
                    } else if canary < stable {
                        self.state.better += 1;
                    } else {
                        self.state.ties += 1;
                    }
                }
                _ => self.state.unpaired += 1,
            }
        }
        let look = self.state.looks;
        let fail_log_evidence = self.fail_log_evidence();
        let pass_log_evidence = self.pass_log_evidence();
        if self.state.failed_at_look.is_none() && fail_log_evidence >= self.log_threshold {
            self.state.failed_at_look = Some(look);
        }
        if self.state.passed_at_look.is_none() && pass_log_evidence >= self.log_threshold {
            self.state.passed_at_look = Some(look);
        }
        let threshold_breached = canary_value.and_then(|value| self.breached(value));
        let verdict = if self.state.failed_at_look.is_some() || threshold_breached.is_some() {
            LookVerdict::Fail
        } else if self.state.passed_at_look.is_some() && paired > 0 {
            LookVerdict::Pass
        } else {
            LookVerdict::Continue
        };
        PairedLook {
            look,
            worse: self.state.worse,
            better: self.state.better,
            ties: self.state.ties,
            canary_value,
            threshold_breached,
            fail_log_evidence,
            pass_log_evidence,
            log_threshold: self.log_threshold,
            verdict,
        }
    }

    fn breached(&self, value: f64) -> Option<f64> {
        let above = self.config.max.filter(|max| value > *max);
        let below = self.config.min.filter(|min| value < *min);
        above.or(below)
    }

    /// `ln` of the uniform mixture over `q > 1/2` against `q = 1/2`.
    pub fn fail_log_evidence(&self) -> f64 {
        sign_log_evidence(&self.state, 0.5, |share| share > 0.5)
    }

    /// `ln` of the uniform mixture over `q < maxWorseShare` against `q = maxWorseShare`.
    pub fn pass_log_evidence(&self) -> f64 {
        let null = self.config.max_worse_share;
        sign_log_evidence(&self.state, null, |share| share < null)
    }
}

fn sign_log_evidence(
    state: &PairedPeriodState,
    null: f64,
    alternative: impl Fn(f64) -> bool,
) -> f64 {
    let worse = f64::from(state.worse);
    let better = f64::from(state.better);
    let shares = (1..=SHARE_GRID)
        .map(|i| i as f64 / (SHARE_GRID + 1) as f64)
        .filter(|share| alternative(*share));
    let log_weight = -(shares.clone().count() as f64).ln();
    log_sum_exp(shares.map(|share| {
        log_weight + worse * (share / null).ln() + better * ((1.0 - share) / (1.0 - null)).ln()
    }))
}
