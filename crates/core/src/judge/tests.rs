//! Statistical tests of the judge on seeded simulated traffic: each bound is checked against the
//! rate it promises plus a binomial margin of three standard deviations.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};

use super::*;

/// Traffic of one step: requests per second, the canary's share, stable's error rate and the
/// canary's rate as a multiple of it.
#[derive(Clone, Copy)]
struct Traffic {
    requests_per_second: f64,
    share: f64,
    stable_rate: f64,
    ratio: f64,
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map_or(0, |d| d.sample(rng) as u64)
}

fn binomial(rng: &mut ChaCha8Rng, trials: u64, p: f64) -> u64 {
    Binomial::new(trials, p.clamp(0.0, 1.0)).map_or(0, |d| d.sample(rng))
}

/// One look's counts; `stable_scale` moves stable's (and so the canary's) rate over time.
fn look(
    rng: &mut ChaCha8Rng,
    traffic: Traffic,
    seconds: f64,
    stable_scale: f64,
) -> CountIncrements {
    let requests = traffic.requests_per_second * seconds;
    let canary_requests = poisson(rng, requests * traffic.share);
    let stable_requests = poisson(rng, requests * (1.0 - traffic.share));
    let stable_rate = traffic.stable_rate * stable_scale;
    CountIncrements {
        canary_errors: binomial(rng, canary_requests, stable_rate * traffic.ratio) as f64,
        canary_requests: canary_requests as f64,
        stable_errors: binomial(rng, stable_requests, stable_rate) as f64,
        stable_requests: stable_requests as f64,
    }
}

/// Runs `looks` looks; returns the look of the first FAIL and the first PASS.
fn run(
    seed: u64,
    traffic: Traffic,
    config: RateRatioConfig,
    looks: u32,
    seconds: f64,
) -> (Option<u32>, Option<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut test = RateRatioTest::new(config).unwrap();
    for index in 0..looks {
        // The rate drifts by ±50 % over the bake: the ratio test must not care.
        let scale = 1.0 + 0.5 * (f64::from(index) / 3.0).sin();
        test.update(&look(&mut rng, traffic, seconds, scale))
            .unwrap();
    }
    let state = test.state();
    (state.failed_at_look, state.passed_at_look)
}

/// Three standard deviations above `rate` out of `trials`.
fn upper_margin(rate: f64, trials: usize) -> f64 {
    rate + 3.0 * (rate * (1.0 - rate) / trials as f64).sqrt()
}

const CONFIG: RateRatioConfig = RateRatioConfig {
    alpha: 0.05,
    max_ratio: 1.5,
};

#[test]
fn healthy_canaries_are_rolled_back_at_most_alpha_of_the_time_over_every_look() {
    let traffic = Traffic {
        requests_per_second: 200.0,
        share: 0.2,
        stable_rate: 0.01,
        ratio: 1.0,
    };
    let streams = 500;
    let failed = (0..streams)
        .filter(|&seed| run(seed, traffic, CONFIG, 60, 10.0).0.is_some())
        .count();
    let rate = failed as f64 / streams as f64;
    assert!(
        rate <= upper_margin(CONFIG.alpha, streams as usize),
        "false rollback rate {rate}"
    );
}

#[test]
fn canaries_at_max_ratio_pass_at_most_alpha_of_the_time() {
    let traffic = Traffic {
        requests_per_second: 200.0,
        share: 0.2,
        stable_rate: 0.01,
        ratio: CONFIG.max_ratio,
    };
    let streams = 500;
    let passed = (0..streams)
        .filter(|&seed| run(1_000 + seed, traffic, CONFIG, 60, 10.0).1.is_some())
        .count();
    let rate = passed as f64 / streams as f64;
    assert!(
        rate <= upper_margin(CONFIG.alpha, streams as usize),
        "false pass rate {rate}"
    );
}

#[test]
fn a_strong_regression_fails_within_the_expected_number_of_errors() {
    let config = RateRatioConfig {
        alpha: 0.01,
        max_ratio: 1.5,
    };
    let traffic = Traffic {
        requests_per_second: 100.0,
        share: 0.1,
        stable_rate: 0.01,
        ratio: 5.0,
    };
    // Per error, the canary's share moves from 0.1 to 5·0.1 / (5·0.1 + 0.9); the evidence grows
    // by the Kullback-Leibler divergence of the two per error. Allow twice the errors a single
    // likelihood ratio would need to reach ln(1/alpha), plus the mixture's cost.
    let (null, alternative) = (0.1_f64, 0.5 / 1.4);
    let divergence = alternative * (alternative / null).ln()
        + (1.0 - alternative) * ((1.0 - alternative) / (1.0 - null)).ln();
    let errors_needed = 2.0 * ((1.0 / config.alpha).ln() + 3.0) / divergence;
    let errors_per_look = 10.0 * 100.0 * 0.01 * (0.9 + 0.1 * 5.0);
    let looks_allowed = (errors_needed / errors_per_look).ceil() as u32;
    let streams = 200;
    let found = (0..streams)
        .filter(|&seed| {
            run(2_000 + seed, traffic, config, looks_allowed, 10.0)
                .0
                .is_some()
        })
        .count();
    assert!(
        found as f64 >= 0.95 * streams as f64,
        "found {found} of {streams} within {looks_allowed} looks ({errors_needed:.0} errors)"
    );
}

#[test]
fn clearly_healthy_canaries_pass_early() {
    let config = RateRatioConfig {
        alpha: 0.01,
        max_ratio: 1.5,
    };
    let traffic = Traffic {
        requests_per_second: 1_000.0,
        share: 0.25,
        stable_rate: 0.02,
        ratio: 1.0,
    };
    let streams = 200;
    // Half of a ten-minute bake of looks every 60 s.
    let early = (0..streams)
        .filter(|&seed| run(3_000 + seed, traffic, config, 5, 60.0).1.is_some())
        .count();
    assert!(
        early as f64 >= 0.95 * streams as f64,
        "{early} of {streams} passed early"
    );
}

#[test]
fn a_look_without_stable_traffic_never_passes() {
    let mut test = RateRatioTest::new(CONFIG).unwrap();
    let healthy = CountIncrements {
        canary_errors: 100.0,
        canary_requests: 10_000.0,
        stable_errors: 1_000.0,
        stable_requests: 100_000.0,
    };
    for _ in 0..20 {
        test.update(&healthy).unwrap();
    }
    assert_eq!(test.update(&healthy).unwrap(), LookVerdict::Pass);
    let no_stable = CountIncrements {
        stable_errors: 0.0,
        stable_requests: 0.0,
        ..healthy
    };
    assert_eq!(test.update(&no_stable).unwrap(), LookVerdict::Continue);
    assert_eq!(test.update(&healthy).unwrap(), LookVerdict::Pass);
}

#[test]
fn a_fail_stays_and_wins_over_a_pass() {
    let mut test = RateRatioTest::new(CONFIG).unwrap();
    let regressed = CountIncrements {
        canary_errors: 300.0,
        canary_requests: 10_000.0,
        stable_errors: 1_000.0,
        stable_requests: 100_000.0,
    };
    assert_eq!(test.update(&regressed).unwrap(), LookVerdict::Fail);
    let healthy = CountIncrements {
        canary_errors: 0.0,
        ..regressed
    };
    for _ in 0..10 {
        assert_eq!(test.update(&healthy).unwrap(), LookVerdict::Fail);
    }
}

#[test]
fn the_band_holds_the_observed_ratio_and_narrows_with_data() {
    let mut test = RateRatioTest::new(CONFIG).unwrap();
    let increments = CountIncrements {
        canary_errors: 20.0,
        canary_requests: 1_000.0,
        stable_errors: 100.0,
        stable_requests: 10_000.0,
    };
    let first = test.observe(&increments).unwrap();
    let mut last = first.clone();
    for _ in 0..30 {
        last = test.observe(&increments).unwrap();
    }
    let width = |band: RatioBand| band.upper.unwrap_or(f64::INFINITY) / band.lower.unwrap_or(0.0);
    assert_eq!(last.ratio, Some(2.0));
    let (lower, upper) = (last.band.lower.unwrap(), last.band.upper.unwrap());
    assert!(lower < 2.0 && 2.0 < upper, "band {lower}..{upper}");
    assert!(width(last.band) < width(first.band));
    assert_eq!(last.verdict, LookVerdict::Fail);
    assert!(last.fail_log_evidence >= last.log_threshold);
}

#[test]
fn bad_counts_are_refused_naming_the_field() {
    let mut test = RateRatioTest::new(CONFIG).unwrap();
    let negative = CountIncrements {
        stable_requests: -1.0,
        ..CountIncrements::default()
    };
    assert_eq!(
        test.update(&negative),
        Err(JudgeError::InvalidCount {
            field: "stableRequests",
            value: -1.0
        })
    );
    let too_many = CountIncrements {
        canary_errors: 5.0,
        canary_requests: 4.0,
        ..CountIncrements::default()
    };
    let error = test.update(&too_many).unwrap_err().to_string();
    assert!(
        error.contains("canary errors (5) exceed its requests (4)"),
        "{error}"
    );
}

#[test]
fn parameters_out_of_range_name_the_field() {
    for alpha in [0.0, -0.1, 0.51, f64::NAN] {
        let error = check_alpha("analysis.alpha", alpha)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("analysis.alpha must be"), "{error}");
    }
    assert_eq!(check_alpha("alpha", 0.5), Ok(0.5));
    for ratio in [1.0, 0.5, f64::INFINITY] {
        let error = check_max_ratio("maxRatio", ratio).unwrap_err().to_string();
        assert!(
            error.starts_with("maxRatio must be greater than 1"),
            "{error}"
        );
    }
    let below = check_check_seconds("checkSeconds", 30, 60, 600).unwrap_err();
    assert!(
        below
            .to_string()
            .contains("at least the metric period (60 s)"),
        "{below}"
    );
    let above = check_check_seconds("checkSeconds", 900, 60, 600).unwrap_err();
    assert!(
        above.to_string().contains("at most the bake (600 s)"),
        "{above}"
    );
    assert_eq!(check_check_seconds("checkSeconds", 60, 60, 600), Ok(60));
    assert_eq!(alpha_per_step(0.01, 4), Ok(0.0025));
    assert!(
        RateRatioTest::new(RateRatioConfig {
            alpha: 0.01,
            max_ratio: 1.0
        })
        .is_err()
    );
}

#[test]
fn a_stored_state_of_another_shape_is_refused() {
    let mut state = RateRatioTest::new(CONFIG).unwrap().into_state();
    state.log_likelihoods.pop();
    assert_eq!(
        RateRatioTest::resume(CONFIG, state),
        Err(JudgeError::StateMismatch {
            expected: RatioGrid::len(),
            found: RatioGrid::len() - 1
        })
    );
}

fn increments() -> impl Strategy<Value = CountIncrements> {
    (0u32..5_000, 0u32..50_000, 0.0..0.2f64, 0.0..0.2f64).prop_map(
        |(canary_requests, stable_requests, canary_rate, stable_rate)| CountIncrements {
            canary_errors: (f64::from(canary_requests) * canary_rate).floor(),
            canary_requests: f64::from(canary_requests),
            stable_errors: (f64::from(stable_requests) * stable_rate).floor(),
            stable_requests: f64::from(stable_requests),
        },
    )
}

proptest! {
    // Each case runs a whole bake (with the band, quadratic in the grid): fewer cases suffice.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_state_round_trips_through_json_and_the_test_goes_on_alike(
        before in prop::collection::vec(increments(), 1..12),
        after in prop::collection::vec(increments(), 1..6),
    ) {
        let mut kept = RateRatioTest::new(CONFIG).unwrap();
        for look in &before {
            kept.update(look).unwrap();
        }
        let json = serde_json::to_string(kept.state()).unwrap();
        let state: RateRatioState = serde_json::from_str(&json).unwrap();
        // JSON keeps a float to within its last bit.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + a.abs());
        prop_assert_eq!(&state.totals, &kept.state().totals);
        prop_assert!(state.log_likelihoods.iter().zip(&kept.state().log_likelihoods).all(|(a, b)| close(*a, *b)));
        let mut resumed = RateRatioTest::resume(CONFIG, state).unwrap();
        for look in &after {
            let (expected, got) = (kept.observe(look).unwrap(), resumed.observe(look).unwrap());
            prop_assert_eq!((expected.verdict, expected.totals, expected.band), (got.verdict, got.totals, got.band));
            prop_assert!(close(expected.fail_log_evidence, got.fail_log_evidence));
            prop_assert!(close(expected.pass_log_evidence, got.pass_log_evidence));
        }
    }

    #[test]
    fn verdicts_follow_the_evidence_and_a_fail_is_final(
        looks in prop::collection::vec(increments(), 1..20),
    ) {
        let mut test = RateRatioTest::new(CONFIG).unwrap();
        let mut failed = false;
        for look in &looks {
            let seen = test.observe(look).unwrap();
            prop_assert!(seen.fail_log_evidence.is_finite() && seen.pass_log_evidence.is_finite());
            if seen.fail_log_evidence >= seen.log_threshold {
                failed = true;
            }
            prop_assert_eq!(seen.verdict == LookVerdict::Fail, failed);
            if seen.verdict == LookVerdict::Pass {
                prop_assert!(test.state().passed_at_look.is_some());
            }
        }
    }
}

mod paired_periods {
    use super::*;

    const CONFIG: PairedPeriodConfig = PairedPeriodConfig {
        alpha: 0.05,
        max_worse_share: 0.75,
        max: None,
        min: None,
    };

    /// One period's p95-like value for each slot: log-normal noise around `level`.
    fn period(rng: &mut ChaCha8Rng, canary_factor: f64) -> PeriodPair {
        let noise = rand_distr::LogNormal::new(0.0, 0.2).unwrap();
        let level = 100.0 * (1.0 + 0.5 * noise.sample(rng));
        PeriodPair {
            canary: Some(level * canary_factor * noise.sample(rng)),
            stable: Some(level * noise.sample(rng)),
        }
    }

    fn run(seed: u64, canary_factor: f64, looks: usize) -> PairedPeriodState {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut test = PairedPeriodTest::new(CONFIG).unwrap();
        for _ in 0..looks {
            test.observe(&[period(&mut rng, canary_factor)], None);
        }
        test.into_state()
    }

    #[test]
    fn healthy_canaries_fail_at_most_alpha_of_the_time() {
        let streams = 500;
        let failed = (0..streams)
            .filter(|&seed| run(seed, 1.0, 120).failed_at_look.is_some())
            .count();
        let rate = failed as f64 / streams as f64;
        assert!(
            rate <= upper_margin(CONFIG.alpha, streams as usize),
            "false rollback rate {rate}"
        );
    }

    #[test]
    fn a_consistently_slower_canary_fails_and_a_healthy_one_passes() {
        let streams = 100;
        let slow_found = (0..streams)
            .filter(|&seed| run(500 + seed, 1.5, 60).failed_at_look.is_some())
            .count();
        assert!(
            slow_found >= 95,
            "{slow_found} of {streams} slow canaries failed"
        );
        let healthy_passed = (0..streams)
            .filter(|&seed| run(700 + seed, 1.0, 60).passed_at_look.is_some())
            .count();
        assert!(
            healthy_passed >= 90,
            "{healthy_passed} of {streams} healthy canaries passed"
        );
    }

    #[test]
    fn a_threshold_breach_fails_the_look_and_missing_stable_never_passes() {
        let config = PairedPeriodConfig {
            max: Some(500.0),
            ..CONFIG
        };
        let mut test = PairedPeriodTest::new(config).unwrap();
        let better = PeriodPair {
            canary: Some(90.0),
            stable: Some(100.0),
        };
        for _ in 0..30 {
            test.observe(&[better], Some(90.0));
        }
        assert_eq!(
            test.observe(&[better], Some(90.0)).verdict,
            LookVerdict::Pass
        );
        let unpaired = PeriodPair {
            canary: Some(90.0),
            stable: None,
        };
        assert_eq!(
            test.observe(&[unpaired], Some(90.0)).verdict,
            LookVerdict::Continue
        );
        let breach = test.observe(&[better], Some(600.0));
        assert_eq!(
            (breach.verdict, breach.threshold_breached),
            (LookVerdict::Fail, Some(500.0))
        );
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let state = run(9, 1.2, 10);
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            serde_json::from_str::<PairedPeriodState>(&json).unwrap(),
            state
        );
    }
}

mod plans {
    use super::*;

    fn target_cell() -> PlanInput {
        PlanInput {
            expected_requests_per_second: 1_000.0,
            canary_share: 0.05,
            bake_seconds: 600,
            check_seconds: 60,
            stable_error_rate: 0.005,
            max_ratio: 1.5,
            alpha: 0.01,
        }
    }

    /// Simulated chance of detecting a `maxRatio` regression and the median look of detection.
    fn simulate(input: &PlanInput, streams: u64) -> (f64, Option<u32>) {
        let traffic = Traffic {
            requests_per_second: input.expected_requests_per_second,
            share: input.canary_share,
            stable_rate: input.stable_error_rate,
            ratio: input.max_ratio,
        };
        let config = RateRatioConfig {
            alpha: input.alpha,
            max_ratio: input.max_ratio,
        };
        let looks = (input.bake_seconds / input.check_seconds) as usize;
        let mut detected: Vec<u32> = (0..streams)
            .filter_map(|seed| {
                let mut rng = ChaCha8Rng::seed_from_u64(5_000 + seed);
                let mut test = RateRatioTest::new(config).unwrap();
                for _ in 0..looks {
                    let counts = look(&mut rng, traffic, input.check_seconds as f64, 1.0);
                    test.update(&counts).unwrap();
                }
                test.state().failed_at_look
            })
            .collect();
        detected.sort_unstable();
        let probability = detected.len() as f64 / streams as f64;
        let median =
            (2 * detected.len() > streams as usize).then(|| detected[streams as usize / 2]);
        (probability, median)
    }

    #[test]
    fn the_plan_agrees_with_simulation() {
        for input in [
            target_cell(),
            PlanInput {
                canary_share: 0.01,
                check_seconds: 10,
                ..target_cell()
            },
            PlanInput {
                expected_requests_per_second: 100.0,
                stable_error_rate: 0.02,
                canary_share: 0.25,
                ..target_cell()
            },
        ] {
            let plan = plan_detection(&input).unwrap();
            let (probability, median_look) = simulate(&input, 400);
            assert!(
                (plan.detection_probability - probability).abs() <= 0.1,
                "planned {} simulated {probability} for {input:?}",
                plan.detection_probability
            );
            if let (Some(planned), Some(look)) = (plan.expected_seconds_to_detect, median_look) {
                let simulated = u64::from(look) * input.check_seconds;
                assert!(
                    planned.abs_diff(simulated) <= 2 * input.check_seconds.max(30),
                    "planned {planned} s simulated median {simulated} s for {input:?}"
                );
            }
        }
    }

    #[test]
    fn planning_refuses_bad_input_naming_the_field() {
        let error = plan_detection(&PlanInput {
            canary_share: 1.0,
            ..target_cell()
        })
        .unwrap_err();
        assert!(
            error.to_string().starts_with("canaryShare must be"),
            "{error}"
        );
        let error = plan_detection(&PlanInput {
            max_ratio: 0.9,
            ..target_cell()
        })
        .unwrap_err();
        assert!(error.to_string().starts_with("maxRatio must be"), "{error}");
    }

    #[test]
    fn the_target_cell_detects_max_ratio_within_the_bake_and_passes_a_healthy_canary_by_half() {
        let plan = plan_detection(&target_cell()).unwrap();
        assert!(plan.detection_probability >= 0.9, "{plan:?}");
        assert!(
            plan.expected_seconds_to_detect.is_some_and(|s| s <= 420),
            "{plan:?}"
        );
        assert!(
            plan.expected_seconds_to_pass.is_some_and(|s| s <= 300),
            "{plan:?}"
        );
        let thin = plan_detection(&PlanInput {
            expected_requests_per_second: 100.0,
            canary_share: 0.01,
            stable_error_rate: 0.001,
            ..target_cell()
        })
        .unwrap();
        assert!(thin.detection_probability < 0.1, "{thin:?}");
        assert_eq!(thin.expected_seconds_to_detect, None);
    }
}
