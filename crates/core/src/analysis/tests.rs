use super::*;
use crate::metrics::{
    Datapoint, MetricQuery, MetricRef, Observation, RatioQuery, Statistic, StatisticQuery,
};
use crate::spec::{CanaryStrategy, InconclusivePolicy, Strategy};
use chrono::{TimeZone, Utc};

fn metric_ref(name: &str, version: &str) -> MetricRef {
    MetricRef {
        namespace: "Demo".into(),
        metric_name: name.into(),
        dimensions: [("Version".to_string(), version.to_string())].into(),
    }
}

fn error_rate(baseline: bool) -> MetricSpec {
    let ratio = |v: &str| {
        MetricQuery::Ratio(RatioQuery {
            numerator: metric_ref("Errors", v),
            denominator: metric_ref("Requests", v),
            scale: 100.0,
            missing_numerator_is_zero: true,
        })
    };
    MetricSpec {
        name: "error-rate".into(),
        unit: "percent".into(),
        query: ratio("green"),
        baseline_query: baseline.then(|| ratio("blue")),
        max: Some(0.5),
        min: None,
        max_increase_over_baseline: baseline.then_some(0.2),
    }
}

fn latency() -> MetricSpec {
    MetricSpec {
        name: "latency".into(),
        unit: "ms".into(),
        query: MetricQuery::Statistic(StatisticQuery {
            metric: metric_ref("Latency", "green"),
            stat: Statistic::Average,
        }),
        baseline_query: None,
        max: Some(2000.0),
        min: None,
        max_increase_over_baseline: None,
    }
}

fn spec(metrics: Vec<MetricSpec>) -> AnalysisSpec {
    AnalysisSpec {
        metrics,
        min_samples: 50,
        ..AnalysisSpec::default()
    }
}

fn series(id: &str, value: f64) -> Series {
    Series {
        id: id.into(),
        points: vec![Datapoint {
            at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            value,
        }],
    }
}

#[test]
fn queries_cover_green_and_configured_baselines() {
    let ids: Vec<String> = analysis_queries(&spec(vec![error_rate(true), latency()]))
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(
        ids,
        [
            "m0_g_num", "m0_g_den", "m0_b_num", "m0_b_den", "m1_g_val", "m1_g_cnt"
        ]
    );
}

#[test]
fn healthy_values_pass() {
    let results = judge(
        &spec(vec![error_rate(false), latency()]),
        &[
            series("m0_g_num", 1.0),
            series("m0_g_den", 1000.0),
            series("m1_g_val", 100_000.0),
            series("m1_g_cnt", 1000.0),
        ],
    );
    assert_eq!(
        results.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        [Verdict::Pass, Verdict::Pass]
    );
    assert_eq!(results[0].value, Some(0.1));
    assert_eq!(results[0].samples, 1000);
    assert_eq!(results[0].max, Some(0.5));
    assert_eq!(results[1].value, Some(100.0));
    assert_eq!(overall_verdict(&results), Verdict::Pass);
}

#[test]
fn a_value_over_max_fails_and_names_both_numbers() {
    let results = judge(
        &spec(vec![error_rate(false)]),
        &[series("m0_g_num", 30.0), series("m0_g_den", 1000.0)],
    );
    assert_eq!(results[0].verdict, Verdict::Fail);
    assert_eq!(results[0].reason, "3.0000 percent is above max 0.5");
    assert_eq!(overall_verdict(&results), Verdict::Fail);
}

#[test]
fn a_value_under_min_fails() {
    let mut m = latency();
    m.min = Some(10.0);
    let results = judge(
        &spec(vec![m]),
        &[series("m0_g_val", 500.0), series("m0_g_cnt", 100.0)],
    );
    assert_eq!(results[0].verdict, Verdict::Fail);
    assert!(results[0].reason.contains("below min 10"));
}

#[test]
fn missing_data_is_inconclusive_never_pass() {
    let results = judge(&spec(vec![error_rate(false)]), &[]);
    assert_eq!(results[0].verdict, Verdict::Inconclusive);
    assert_eq!(results[0].value, None);
    assert!(results[0].reason.starts_with("no data"));
    assert_eq!(overall_verdict(&results), Verdict::Inconclusive);
}

#[test]
fn too_few_samples_is_inconclusive_even_with_a_perfect_value() {
    let results = judge(
        &spec(vec![error_rate(false)]),
        &[series("m0_g_num", 0.0), series("m0_g_den", 49.0)],
    );
    assert_eq!(results[0].verdict, Verdict::Inconclusive);
    assert_eq!(
        results[0].reason,
        "only 49 samples, fewer than minSamples 50"
    );
    let results = judge(
        &spec(vec![error_rate(false)]),
        &[series("m0_g_num", 0.0), series("m0_g_den", 50.0)],
    );
    assert_eq!(results[0].verdict, Verdict::Pass);
}

#[test]
fn green_worse_than_blue_by_more_than_allowed_fails() {
    let data = |green_errors: f64, blue_errors: f64| {
        vec![
            series("m0_g_num", green_errors),
            series("m0_g_den", 1000.0),
            series("m0_b_num", blue_errors),
            series("m0_b_den", 1000.0),
        ]
    };
    let s = spec(vec![error_rate(true)]);
    // 0.4 % vs 0.1 %: under max 0.5 but 0.3 above blue, more than 0.2.
    let results = judge(&s, &data(4.0, 1.0));
    assert_eq!(results[0].verdict, Verdict::Fail);
    assert!(
        results[0].reason.contains("exceeds blue's 0.1000"),
        "{}",
        results[0].reason
    );
    assert_eq!(
        results[0].baseline,
        Some(Observation {
            value: Some(0.1),
            samples: 1000
        })
    );
    let results = judge(&s, &data(2.0, 1.0));
    assert_eq!(results[0].verdict, Verdict::Pass);
    assert!(results[0].reason.contains("blue 0.1000"));
}

#[test]
fn missing_baseline_falls_back_to_thresholds_or_is_inconclusive_without_them() {
    let only_green = [series("m0_g_num", 1.0), series("m0_g_den", 1000.0)];
    let results = judge(&spec(vec![error_rate(true)]), &only_green);
    assert_eq!(results[0].verdict, Verdict::Pass);
    assert!(results[0].reason.contains("no blue baseline data"));
    let mut relative_only = error_rate(true);
    relative_only.max = None;
    let results = judge(&spec(vec![relative_only]), &only_green);
    assert_eq!(results[0].verdict, Verdict::Inconclusive);
}

#[test]
fn fail_beats_inconclusive_and_no_metrics_is_inconclusive() {
    let results = judge(
        &spec(vec![error_rate(false), latency()]),
        &[series("m0_g_num", 100.0), series("m0_g_den", 1000.0)],
    );
    assert_eq!(results[1].verdict, Verdict::Inconclusive);
    assert_eq!(overall_verdict(&results), Verdict::Fail);
    assert_eq!(
        verdict_reasons(&results, Verdict::Fail),
        "error-rate: 10.0000 percent is above max 0.5"
    );
    assert_eq!(overall_verdict(&[]), Verdict::Inconclusive);
    assert_eq!(verdict_reasons(&[], Verdict::Fail), "no metrics");
}

fn plan() -> StepPlan {
    Strategy::Canary(CanaryStrategy {
        steps: vec![10.0, 50.0, 100.0],
        bake_seconds: 30,
    })
    .plan()
}

#[test]
fn pass_advances_then_promotes_or_waits_for_approval() {
    let s = spec(vec![]);
    let mut counters = AnalysisCounters {
        failures: 0,
        inconclusive_retries: 1,
    };
    assert_eq!(
        decide(
            &s,
            Approval::None,
            &plan(),
            0,
            Verdict::Pass,
            "",
            &mut counters
        ),
        Decision::Advance { next_step: 1 }
    );
    assert_eq!(
        counters.inconclusive_retries, 0,
        "a pass resets the step's retries"
    );
    assert_eq!(
        decide(
            &s,
            Approval::None,
            &plan(),
            2,
            Verdict::Pass,
            "",
            &mut counters
        ),
        Decision::Promote
    );
    let gated = decide(
        &s,
        Approval::BeforePromote,
        &plan(),
        2,
        Verdict::Pass,
        "",
        &mut counters,
    );
    assert!(matches!(gated, Decision::AwaitApproval { .. }));
    assert_eq!(gated.action(), DecisionAction::AwaitApproval);
}

#[test]
fn failures_roll_back_when_the_limit_is_reached() {
    let mut s = spec(vec![]);
    let mut counters = AnalysisCounters::default();
    let decision = decide(
        &s,
        Approval::None,
        &plan(),
        0,
        Verdict::Fail,
        "error-rate: high",
        &mut counters,
    );
    assert_eq!(decision.action(), DecisionAction::RollBack);
    assert!(
        matches!(&decision, Decision::RollBack { reason } if reason.contains("error-rate: high") && reason.contains("step 1"))
    );
    s.failure_limit = 2;
    let mut counters = AnalysisCounters::default();
    assert_eq!(
        decide(
            &s,
            Approval::None,
            &plan(),
            1,
            Verdict::Fail,
            "x",
            &mut counters
        ),
        Decision::Extend {
            bake_seconds: 30,
            reason: "analysis failed (1 of 2); judging the step again: x".into()
        }
    );
    assert_eq!(
        decide(
            &s,
            Approval::None,
            &plan(),
            1,
            Verdict::Fail,
            "x",
            &mut counters
        )
        .action(),
        DecisionAction::RollBack
    );
    assert_eq!(counters.failures, 2);
}

#[test]
fn inconclusive_follows_the_policy() {
    let mut s = spec(vec![]);
    s.on_inconclusive = InconclusivePolicy {
        action: InconclusiveAction::Retry,
        max_retries: 2,
    };
    let mut counters = AnalysisCounters::default();
    for expected_retry in 1..=2 {
        let d = decide(
            &s,
            Approval::None,
            &plan(),
            0,
            Verdict::Inconclusive,
            "no data",
            &mut counters,
        );
        assert_eq!(d.action(), DecisionAction::Extend);
        assert_eq!(counters.inconclusive_retries, expected_retry);
    }
    let d = decide(
        &s,
        Approval::None,
        &plan(),
        0,
        Verdict::Inconclusive,
        "no data",
        &mut counters,
    );
    assert!(
        matches!(&d, Decision::RollBack { reason } if reason.contains("stayed inconclusive after 2 retries"))
    );
    s.on_inconclusive.action = InconclusiveAction::Pause;
    assert_eq!(
        decide(
            &s,
            Approval::None,
            &plan(),
            0,
            Verdict::Inconclusive,
            "x",
            &mut counters
        )
        .action(),
        DecisionAction::AwaitApproval
    );
    s.on_inconclusive.action = InconclusiveAction::Rollback;
    assert_eq!(
        decide(
            &s,
            Approval::None,
            &plan(),
            0,
            Verdict::Inconclusive,
            "x",
            &mut counters
        )
        .action(),
        DecisionAction::RollBack
    );
}

#[test]
fn decisions_serialise_with_the_action_the_state_machine_routes_on() {
    let json = serde_json::to_value(Decision::Advance { next_step: 3 }).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"action": "advance", "nextStep": 3})
    );
    let json = serde_json::to_value(Decision::Promote).unwrap();
    assert_eq!(json, serde_json::json!({"action": "promote"}));
}

#[test]
fn the_routed_action_is_the_serialised_decision_tag() {
    use strum::IntoEnumIterator;
    let decisions = [
        Decision::Advance { next_step: 1 },
        Decision::Promote,
        Decision::Extend {
            bake_seconds: 30,
            reason: "r".into(),
        },
        Decision::AwaitApproval { reason: "r".into() },
        Decision::RollBack { reason: "r".into() },
    ];
    let mut actions: Vec<DecisionAction> = decisions.iter().map(Decision::action).collect();
    actions.dedup();
    assert_eq!(actions, DecisionAction::iter().collect::<Vec<_>>());
    for decision in &decisions {
        let action = decision.action();
        let tag = serde_json::to_value(decision).unwrap()["action"].clone();
        assert_eq!(serde_json::to_value(action).unwrap(), tag, "{decision:?}");
        assert_eq!(tag, action.as_str());
        assert_eq!(action.to_string(), action.as_str());
        let read: DecisionAction = serde_json::from_value(tag).unwrap();
        assert_eq!(read, action);
    }
    assert_eq!(DecisionAction::AwaitApproval.as_str(), "await-approval");
    assert_eq!(DecisionAction::RollBack.as_str(), "roll-back");
}
