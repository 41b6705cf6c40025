use super::*;
use crate::metrics::{
    Datapoint, MetricQuery, MetricRef, Observation, RatioQuery, Statistic, StatisticQuery,
};
use crate::spec::{CanaryStrategy, Dimensions, InconclusivePolicy, Strategy};
use chrono::{TimeZone, Utc};

fn metric_ref(name: &str) -> MetricRef {
    MetricRef {
        namespace: "Demo".into(),
        metric_name: name.into(),
        dimensions: [("Service".to_string(), "checkout-api".to_string())].into(),
    }
}

fn error_rate(baseline: bool) -> MetricSpec {
    MetricSpec {
        name: "error-rate".into(),
        unit: "percent".into(),
        query: MetricQuery::Ratio(RatioQuery {
            numerator: metric_ref("Errors"),
            denominator: metric_ref("Requests"),
            scale: 100.0,
            missing_numerator_is_zero: true,
        }),
        slot_dimensions: None,
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
            metric: metric_ref("Latency"),
            stat: Statistic::Average,
        }),
        slot_dimensions: None,
        max: Some(2000.0),
        min: None,
        max_increase_over_baseline: None,
    }
}

fn version(slot: &str) -> Dimensions {
    [("Version".to_string(), slot.to_string())].into()
}

/// Slots blue and green, told apart by a `Version` dimension.
fn spec(metrics: Vec<MetricSpec>) -> DeploymentSpec {
    let mut spec = spec_without_slot_dimensions(metrics);
    for (name, slot) in spec.slots.iter_mut() {
        slot.dimensions = version(name);
    }
    spec
}

fn spec_without_slot_dimensions(metrics: Vec<MetricSpec>) -> DeploymentSpec {
    let mut spec = DeploymentSpec::from_json(&serde_json::json!({
        "slots": {"blue": {"target": "blue.example.net"}, "green": {"target": "green.example.net"}}
    }))
    .unwrap();
    spec.analysis = AnalysisSpec {
        metrics,
        min_samples: 50,
        ..AnalysisSpec::default()
    };
    spec
}

fn first_roles() -> SlotRoles {
    SlotRoles::new("blue", "green")
}

fn judge(spec: &DeploymentSpec, series: &[Series]) -> Vec<MetricResult> {
    super::judge(spec, &first_roles(), series)
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
fn every_metric_is_read_on_the_canary_and_as_baseline_on_the_stable_slot() {
    let queries = analysis_queries(&spec(vec![error_rate(true), latency()]), &first_roles());
    let ids: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "m0_c_num", "m0_c_den", "m0_s_num", "m0_s_den", "m1_c_val", "m1_c_cnt", "m1_s_val",
            "m1_s_cnt"
        ]
    );
    let dimensions = |id: &str| {
        let query = queries.iter().find(|q| q.id == id).unwrap();
        query.metric.dimensions.clone()
    };
    let mut canary = version("green");
    canary.insert("Service".into(), "checkout-api".into());
    let mut stable = version("blue");
    stable.insert("Service".into(), "checkout-api".into());
    assert_eq!(dimensions("m0_c_num"), canary);
    assert_eq!(dimensions("m1_s_val"), stable);
}

#[test]
fn after_a_promotion_the_roles_swap_and_so_do_the_series() {
    let swapped = first_roles().swapped();
    let queries = analysis_queries(&spec(vec![latency()]), &swapped);
    let canary = queries.iter().find(|q| q.id == "m0_c_val").unwrap();
    assert_eq!(canary.metric.dimensions["Version"], "blue");
    let stable = queries.iter().find(|q| q.id == "m0_s_val").unwrap();
    assert_eq!(stable.metric.dimensions["Version"], "green");
}

#[test]
fn slots_without_dimensions_read_the_canary_only() {
    let queries = analysis_queries(
        &spec_without_slot_dimensions(vec![latency()]),
        &first_roles(),
    );
    let ids: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["m0_c_val", "m0_c_cnt"]);
}

#[test]
fn a_metric_s_own_slot_dimensions_replace_the_slot_s() {
    let mut metric = latency();
    metric.slot_dimensions = Some(
        [
            (
                "blue".to_string(),
                [("TargetGroup".to_string(), "tg/blue".to_string())].into(),
            ),
            (
                "green".to_string(),
                [("TargetGroup".to_string(), "tg/green".to_string())].into(),
            ),
        ]
        .into(),
    );
    let queries = analysis_queries(&spec(vec![metric]), &first_roles());
    let canary = queries.iter().find(|q| q.id == "m0_c_val").unwrap();
    assert_eq!(
        canary
            .metric
            .dimensions
            .get("TargetGroup")
            .map(String::as_str),
        Some("tg/green")
    );
    assert!(!canary.metric.dimensions.contains_key("Version"));
}

#[test]
fn healthy_values_pass() {
    let results = judge(
        &spec(vec![error_rate(false), latency()]),
        &[
            series("m0_c_num", 1.0),
            series("m0_c_den", 1000.0),
            series("m1_c_val", 100_000.0),
            series("m1_c_cnt", 1000.0),
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
        &[series("m0_c_num", 30.0), series("m0_c_den", 1000.0)],
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
        &[series("m0_c_val", 500.0), series("m0_c_cnt", 100.0)],
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
        &[series("m0_c_num", 0.0), series("m0_c_den", 49.0)],
    );
    assert_eq!(results[0].verdict, Verdict::Inconclusive);
    assert_eq!(
        results[0].reason,
        "only 49 samples, fewer than minSamples 50"
    );
    let results = judge(
        &spec(vec![error_rate(false)]),
        &[series("m0_c_num", 0.0), series("m0_c_den", 50.0)],
    );
    assert_eq!(results[0].verdict, Verdict::Pass);
}

#[test]
fn a_canary_worse_than_stable_by_more_than_allowed_fails() {
    let data = |canary_errors: f64, stable_errors: f64| {
        vec![
            series("m0_c_num", canary_errors),
            series("m0_c_den", 1000.0),
            series("m0_s_num", stable_errors),
            series("m0_s_den", 1000.0),
        ]
    };
    let s = spec(vec![error_rate(true)]);
    // 0.4 % vs 0.1 %: under max 0.5 but 0.3 above stable, more than 0.2.
    let results = judge(&s, &data(4.0, 1.0));
    assert_eq!(results[0].verdict, Verdict::Fail);
    assert!(
        results[0].reason.contains("exceeds stable's 0.1000"),
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
    assert!(results[0].reason.contains("stable 0.1000"));
}

#[test]
fn missing_baseline_falls_back_to_thresholds_or_is_inconclusive_without_them() {
    let only_canary = [series("m0_c_num", 1.0), series("m0_c_den", 1000.0)];
    let results = judge(&spec(vec![error_rate(true)]), &only_canary);
    assert_eq!(results[0].verdict, Verdict::Pass);
    assert!(results[0].reason.contains("no stable baseline data"));
    let mut relative_only = error_rate(true);
    relative_only.max = None;
    let results = judge(&spec(vec![relative_only]), &only_canary);
    assert_eq!(results[0].verdict, Verdict::Inconclusive);
}

#[test]
fn fail_beats_inconclusive_and_no_metrics_is_inconclusive() {
    let results = judge(
        &spec(vec![error_rate(false), latency()]),
        &[series("m0_c_num", 100.0), series("m0_c_den", 1000.0)],
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
    let s = AnalysisSpec {
        min_samples: 50,
        ..AnalysisSpec::default()
    };
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
    let mut s = AnalysisSpec {
        min_samples: 50,
        ..AnalysisSpec::default()
    };
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
    let mut s = AnalysisSpec {
        min_samples: 50,
        ..AnalysisSpec::default()
    };
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

#[test]
fn a_value_exactly_at_its_limits_passes() {
    // Binary-exact shares (x / 256 × 100) so the comparison is at the limit, not near it.
    let data = |canary_errors: f64, stable_errors: f64| {
        vec![
            series("m0_c_num", canary_errors),
            series("m0_c_den", 256.0),
            series("m0_s_num", stable_errors),
            series("m0_s_den", 256.0),
        ]
    };
    let metric = MetricSpec {
        max: Some(25.0),
        max_increase_over_baseline: Some(12.5),
        ..error_rate(true)
    };
    let s = spec(vec![metric]);
    // 25 % against stable's 12.5 %: at max and exactly the allowed increase.
    let results = judge(&s, &data(64.0, 32.0));
    assert_eq!(results[0].verdict, Verdict::Pass, "{}", results[0].reason);
    // One error more is over both.
    let results = judge(&s, &data(65.0, 32.0));
    assert_eq!(results[0].verdict, Verdict::Fail, "{}", results[0].reason);
}

#[test]
fn a_passing_step_that_waits_for_approval_holds_the_promotion() {
    let waiting = Decision::AwaitApproval {
        reason: "approval before promotion".into(),
    };
    let none = OperatorRequests::default();
    let (decision, held) = with_operator_requests(
        waiting.clone(),
        Verdict::Pass,
        &none,
        Approval::BeforePromote,
    );
    assert_eq!(decision, waiting);
    assert_eq!(held, Some(Decision::Promote));
    // An inconclusive step that pauses holds nothing to resume into.
    let (_, held) = with_operator_requests(
        waiting,
        Verdict::Inconclusive,
        &none,
        Approval::BeforePromote,
    );
    assert_eq!(held, None);
}
