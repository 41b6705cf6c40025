//! Detection benchmark of the judge: a pure, seeded simulation (no moto, no AWS).
//!
//! `cargo run --release -p sluice-bench --bin judge -- [--trials 2000 | --quick]`
//!
//! Poisson traffic for both slots over the grid of issue 14 (stable error rate 0.1 %, 0.5 %,
//! 2 %; canary share 1 %, 5 %, 25 %; 100 and 1000 requests/s; canary error rate 1× (healthy),
//! 1.5×, 2×, 5× stable's), a ten-minute bake, `maxRatio` 1.5 and alpha 0.01 for the step. Each
//! trial's traffic is judged by three judges side by side:
//! - *thresholds*: today's `maxIncreaseOverBaseline` on canary-minus-stable error rate at the end
//!   of the bake, tuned to the same false-rollback rate: per cell, the threshold is the healthy
//!   99th percentile (1 - alpha) of canary-minus-stable from a separate calibration run of the
//!   same number of trials on another random stream;
//! - *fixed test*: the sequential judge's comparison judged once at the end of the bake (the
//!   exact conditional binomial test of the canary's share of the errors, one-sided at alpha);
//! - *sequential*: the judge of `sluice_core::judge`, looking every 60 s (the period of ALB
//!   metrics) and, on the same traffic, every 10 s (high-resolution metrics).

mod report;
mod simulate;

use clap::Parser;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};
use sluice_core::judge::{CountIncrements, RateRatioConfig, check_alpha, check_max_ratio};

use report::{CellSummary, Row};
use simulate::{Cell, SLICE_SECONDS, Step};

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

const STABLE_RATES: [f64; 3] = [0.001, 0.005, 0.02];
const SHARES: [f64; 3] = [0.01, 0.05, 0.25];
const REQUESTS_PER_SECOND: [f64; 2] = [100.0, 1000.0];
const REGRESSIONS: [f64; 4] = [1.0, 1.5, 2.0, 5.0];

#[derive(Parser)]
struct Args {
    /// Trials per cell (each healthy cell and each regressed one).
    #[arg(long, default_value_t = 2000)]
    trials: usize,
    /// A run of seconds for CI: 100 trials per cell.
    #[arg(long, conflicts_with = "trials")]
    quick: bool,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 14)]
    seed: u64,
    /// The step's false-rollback bound.
    #[arg(long, default_value_t = 0.01)]
    alpha: f64,
    /// The regression that must not pass.
    #[arg(long, default_value_t = 1.5)]
    max_ratio: f64,
    #[arg(long, default_value_t = 600)]
    bake_seconds: u64,
    /// The coarse look interval (a multiple of 10 s).
    #[arg(long, default_value_t = 60)]
    check_seconds: u64,
}

fn main() -> Result<(), Failure> {
    let args = Args::parse();
    let trials = if args.quick { 100 } else { args.trials };
    if args.check_seconds == 0 || args.check_seconds % SLICE_SECONDS != 0 {
        return Err(format!("--check-seconds must be a multiple of {SLICE_SECONDS}").into());
    }
    let step = Step {
        bake_seconds: args.bake_seconds,
        coarse_seconds: args.check_seconds,
        judge: RateRatioConfig {
            alpha: check_alpha("--alpha", args.alpha)?,
            max_ratio: check_max_ratio("--max-ratio", args.max_ratio)?,
        },
    };
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut stream = 0;
    for stable_rate in STABLE_RATES {
        for share in SHARES {
            for requests_per_second in REQUESTS_PER_SECOND {
                let healthy = Cell {
                    stable_rate,
                    share,
                    requests_per_second,
                    regression: 1.0,
                };
                stream += 1;
                let threshold = calibrate(&healthy, &step, trials, args.seed, stream)?;
                for regression in REGRESSIONS {
                    let cell = Cell {
                        regression,
                        ..healthy
                    };
                    stream += 1;
                    let mut rng = rng(args.seed, stream);
                    let outcomes = (0..trials)
                        .map(|_| simulate::trial(&mut rng, &cell, &step))
                        .collect::<Result<Vec<_>, _>>()?;
                    rows.push(Row {
                        cell,
                        summary: CellSummary::new(&outcomes, threshold, &step)?,
                    });
                }
            }
        }
    }
    println!(
        "Judge detection benchmark: {trials} trials per cell, seed {}, bake {} s, maxRatio {}, alpha {} per step; looks every {} s and every {SLICE_SECONDS} s.",
        args.seed, step.bake_seconds, step.judge.max_ratio, step.judge.alpha, step.coarse_seconds
    );
    println!(
        "Healthy rows (canary 1×): 'fail' is the false-rollback rate. Regressed rows: 'fail' is the detection rate within the bake, median/p90 the time to detect ('-': not reached). 'pass': early passes (false passes from {}× up). 'step': median step time under advanceEarly.\n",
        step.judge.max_ratio
    );
    print!("{}", report::table(&rows, &step));
    println!();
    print!("{}", report::targets(&rows, &step));
    println!(
        "\n{} cells in {:.1} s.",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The canary-minus-stable threshold with a false-rollback rate of alpha on healthy traffic:
/// the healthy (1 - alpha) quantile over a calibration run on its own random stream.
fn calibrate(
    healthy: &Cell,
    step: &Step,
    trials: usize,
    seed: u64,
    stream: u64,
) -> Result<f64, Failure> {
    let mut rng = rng(seed ^ 0xca11_b4a7e, stream);
    let bake_requests = healthy.requests_per_second * step.bake_seconds as f64;
    let canary_requests = Poisson::new(bake_requests * healthy.share)?;
    let stable_requests = Poisson::new(bake_requests * (1.0 - healthy.share))?;
    let mut differences = (0..trials)
        .map(|_| {
            let canary = canary_requests.sample(&mut rng) as u64;
            let stable = stable_requests.sample(&mut rng) as u64;
            let totals = CountIncrements {
                canary_errors: Binomial::new(canary, healthy.stable_rate)?.sample(&mut rng) as f64,
                canary_requests: canary as f64,
                stable_errors: Binomial::new(stable, healthy.stable_rate)?.sample(&mut rng) as f64,
                stable_requests: stable as f64,
            };
            Ok(simulate::rate_difference(&totals))
        })
        .collect::<Result<Vec<f64>, Failure>>()?;
    differences.sort_by(f64::total_cmp);
    let index = ((1.0 - step.judge.alpha) * trials as f64).ceil() as usize;
    Ok(differences
        .get(index.min(trials.saturating_sub(1)))
        .copied()
        .unwrap_or(0.0))
}
