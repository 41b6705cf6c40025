//! One simulated step: Poisson traffic for both slots, each request failing independently, in
//! 10-second slices, judged by the three judges side by side on the same traffic.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};
use sluice_core::judge::{CountIncrements, LookVerdict, RateRatioConfig, RateRatioTest};
use statrs::distribution::{Binomial as BinomialLaw, DiscreteCDF};

use crate::Failure;

/// The finest look interval (high-resolution metrics); the coarse one is a multiple of it.
pub const SLICE_SECONDS: u64 = 10;

/// One cell of the grid.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub stable_rate: f64,
    pub share: f64,
    pub requests_per_second: f64,
    /// The canary's error rate as a multiple of stable's; 1 is healthy.
    pub regression: f64,
}

/// What a sequential judge did in one trial (times in seconds from the step going live).
#[derive(Debug, Clone, Copy, Default)]
pub struct SequentialOutcome {
    pub failed_at: Option<u64>,
    pub passed_at: Option<u64>,
}

impl SequentialOutcome {
    /// The step's time under `advanceEarly`: until the first decision, or the whole bake.
    pub fn step_seconds(&self, bake_seconds: u64) -> u64 {
        match (self.failed_at, self.passed_at) {
            (Some(failed), Some(passed)) => failed.min(passed),
            (Some(at), None) | (None, Some(at)) => at,
            (None, None) => bake_seconds,
        }
    }
}

/// One trial's totals over the bake and the sequential judges' outcomes.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    pub totals: CountIncrements,
    /// Looks every `coarse_seconds`.
    pub coarse: SequentialOutcome,
    /// Looks every `SLICE_SECONDS`.
    pub fine: SequentialOutcome,
}

pub struct Step {
    pub bake_seconds: u64,
    pub coarse_seconds: u64,
    pub judge: RateRatioConfig,
}

/// A sequential judge looking every `every` slices. After a FAIL it stops (the step rolls
/// back); after a PASS it keeps looking, so a FAIL later in the bake still counts as a false
/// rollback (the bound is checked over every look, not only up to the first pass).
struct Looker {
    test: RateRatioTest,
    every: u64,
    pending: CountIncrements,
    outcome: SequentialOutcome,
}

impl Looker {
    fn new(judge: RateRatioConfig, every: u64) -> Result<Self, Failure> {
        Ok(Self {
            test: RateRatioTest::new(judge)?,
            every,
            pending: CountIncrements::default(),
            outcome: SequentialOutcome::default(),
        })
    }

    fn slice(&mut self, index: u64, counts: &CountIncrements) -> Result<(), Failure> {
        if self.outcome.failed_at.is_some() {
            return Ok(());
        }
        add(&mut self.pending, counts);
        if !(index + 1).is_multiple_of(self.every) {
            return Ok(());
        }
        let seconds = (index + 1) * SLICE_SECONDS;
        match self.test.update(&std::mem::take(&mut self.pending))? {
            LookVerdict::Fail => self.outcome.failed_at = Some(seconds),
            LookVerdict::Pass => {
                self.outcome.passed_at.get_or_insert(seconds);
            }
            LookVerdict::Continue => {}
        }
        Ok(())
    }
}

pub fn trial(rng: &mut ChaCha8Rng, cell: &Cell, step: &Step) -> Result<Trial, Failure> {
    let slices = step.bake_seconds / SLICE_SECONDS;
    let mut coarse = Looker::new(step.judge, step.coarse_seconds / SLICE_SECONDS)?;
    let mut fine = Looker::new(step.judge, 1)?;
    let mut totals = CountIncrements::default();
    let requests = cell.requests_per_second * SLICE_SECONDS as f64;
    let canary_requests = Poisson::new(requests * cell.share)?;
    let stable_requests = Poisson::new(requests * (1.0 - cell.share))?;
    let canary_rate = (cell.stable_rate * cell.regression).min(1.0);
    for index in 0..slices {
        let canary_served = canary_requests.sample(rng) as u64;
        let stable_served = stable_requests.sample(rng) as u64;
        let counts = CountIncrements {
            canary_errors: Binomial::new(canary_served, canary_rate)?.sample(rng) as f64,
            canary_requests: canary_served as f64,
            stable_errors: Binomial::new(stable_served, cell.stable_rate)?.sample(rng) as f64,
            stable_requests: stable_served as f64,
        };
        add(&mut totals, &counts);
        coarse.slice(index, &counts)?;
        fine.slice(index, &counts)?;
    }
    Ok(Trial {
        totals,
        coarse: coarse.outcome,
        fine: fine.outcome,
    })
}

fn add(sum: &mut CountIncrements, counts: &CountIncrements) {
    sum.canary_errors += counts.canary_errors;
    sum.canary_requests += counts.canary_requests;
    sum.stable_errors += counts.stable_errors;
    sum.stable_requests += counts.stable_requests;
}

/// Today's comparison: the canary's error rate minus stable's over the bake.
pub fn rate_difference(totals: &CountIncrements) -> f64 {
    let rate = |errors: f64, requests: f64| {
        if requests > 0.0 {
            errors / requests
        } else {
            0.0
        }
    };
    rate(totals.canary_errors, totals.canary_requests)
        - rate(totals.stable_errors, totals.stable_requests)
}

/// The same comparison as the sequential judge, once at the end of the bake: the exact
/// conditional test of the canary's share of all errors against its share of the requests,
/// one-sided at `alpha`.
pub fn fixed_sample_fails(totals: &CountIncrements, alpha: f64) -> Result<bool, Failure> {
    let errors = totals.canary_errors + totals.stable_errors;
    let requests = totals.canary_requests + totals.stable_requests;
    if errors < 1.0 || totals.canary_errors < 1.0 || requests <= 0.0 {
        return Ok(false);
    }
    let share = totals.canary_requests / requests;
    let law = BinomialLaw::new(share, errors as u64)?;
    // P(X >= canary errors) = P(X > canary errors - 1).
    Ok(law.sf(totals.canary_errors as u64 - 1) <= alpha)
}
