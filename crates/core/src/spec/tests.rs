use super::*;
use serde_json::{Value, json};

/// A request that passes every rule; each test breaks one thing.
fn valid() -> Value {
    json!({
        "service": "checkout-api",
        "version": "v2.4.0",
        "hostedZoneId": "Z0123456789ABC",
        "recordName": "api.example.com.",
        "recordType": "CNAME",
        "ttlSeconds": 60,
        "slots": {
            "blue": { "target": "blue-alb-123.us-east-1.elb.amazonaws.com",
                      "dimensions": { "TargetGroup": "targetgroup/blue/1" } },
            "green": { "target": "green-alb-456.us-east-1.elb.amazonaws.com",
                       "dimensions": { "TargetGroup": "targetgroup/green/2" } }
        },
        "strategy": { "kind": "canary", "steps": [1, 5, 25, 50, 100], "bakeSeconds": 300 },
        "analysis": {
            "metrics": [
                {
                    "name": "error-rate", "unit": "percent", "max": 0.5,
                    "query": {
                        "kind": "ratio", "scale": 100,
                        "numerator": { "namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_Target_5XX_Count" },
                        "denominator": { "namespace": "AWS/ApplicationELB", "metricName": "RequestCount" }
                    }
                },
                {
                    "name": "p95-latency", "unit": "ms", "max": 2000,
                    "query": { "kind": "statistic", "stat": "p95",
                               "metric": { "namespace": "AWS/ApplicationELB", "metricName": "TargetResponseTime" } }
                }
            ],
            "minSamples": 50, "failureLimit": 1
        },
        "alarms": ["checkout-api-green-5xx"],
        "approval": "none"
    })
}

/// `request` with the field at `pointer` set (added when absent).
fn with(mut request: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let parent = request
        .pointer_mut(parent)
        .expect("the parent exists in the valid request");
    match parent {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("an index")] = value,
        _ => panic!("{pointer} has no object or array parent"),
    }
    request
}

fn context() -> ValidationContext {
    ValidationContext {
        zone_domain: Some("example.com.".into()),
    }
}

/// The fields named by every problem of `request`.
fn problems(request: Value) -> Vec<String> {
    match DeploymentSpec::from_json(&request) {
        Err(errors) => errors.0.into_iter().map(|e| e.to_string()).collect(),
        Ok(spec) => match spec.validate(&context()) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.0.into_iter().map(|e| e.to_string()).collect(),
        },
    }
}

fn assert_problem(request: Value, expected_prefix: &str) {
    let found = problems(request);
    assert!(
        found.iter().any(|p| p.starts_with(expected_prefix)),
        "expected a problem starting with {expected_prefix:?}, got {found:?}"
    );
}

#[test]
fn the_design_example_is_valid() {
    assert_eq!(problems(valid()), Vec::<String>::new());
}

#[test]
fn defaults_fill_strategy_analysis_limits_and_ttl() {
    let spec = DeploymentSpec::from_json(&json!({"service": "s", "version": "1"})).unwrap();
    assert_eq!(
        spec.strategy,
        Strategy::Canary(CanaryStrategy {
            steps: vec![1.0, 5.0, 25.0, 50.0, 100.0],
            bake_seconds: 300
        })
    );
    assert_eq!(spec.analysis.min_samples, 50);
    assert_eq!(spec.analysis.failure_limit, 1);
    assert_eq!(
        spec.analysis.on_inconclusive.action,
        InconclusiveAction::Retry
    );
    assert_eq!(spec.ttl_seconds, 60);
    assert_eq!(spec.record_type, RecordType::Cname);
    assert_eq!(spec.approval, Approval::None);
}

#[test]
fn every_missing_required_field_is_named_at_once() {
    let found = problems(json!({}));
    for field in [
        "service:",
        "version:",
        "hostedZoneId:",
        "recordName:",
        "slots:",
        "analysis.metrics:",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(field)),
            "{field} missing from {found:?}"
        );
    }
}

#[test]
fn service_and_version_have_safe_shapes() {
    assert_problem(
        with(valid(), "/service", json!("checkout#api")),
        "service: \"checkout#api\" must be",
    );
    assert_problem(with(valid(), "/service", json!("-lead")), "service:");
    assert_problem(with(valid(), "/service", json!("x".repeat(65))), "service:");
    assert_problem(with(valid(), "/version", json!("v 2")), "version:");
    assert_problem(
        with(valid(), "/version", json!("v".repeat(129))),
        "version:",
    );
}

#[test]
fn zone_id_and_record_name_are_checked_and_normalised() {
    assert_problem(
        with(valid(), "/hostedZoneId", json!("z-lower")),
        "hostedZoneId:",
    );
    let spec = DeploymentSpec::from_json(&with(
        with(valid(), "/hostedZoneId", json!("/hostedzone/Z9")),
        "/recordName",
        json!("API.Example.com"),
    ))
    .unwrap();
    assert_eq!(spec.hosted_zone_id, "Z9");
    assert_eq!(spec.record_name, "api.example.com.");
    assert_problem(
        with(valid(), "/recordName", json!("api..example.com")),
        "recordName: \"api..example.com.\" is not a valid DNS name",
    );
    assert_problem(
        with(valid(), "/recordName", json!("api.other.org.")),
        "recordName: \"api.other.org.\" must end with the hosted zone's domain example.com.",
    );
    // The apex itself is inside the zone; a name that merely ends in the same letters is not.
    assert_eq!(
        problems(with(valid(), "/recordName", json!("example.com"))),
        Vec::<String>::new()
    );
    assert_problem(
        with(valid(), "/recordName", json!("notexample.com")),
        "recordName:",
    );
}

#[test]
fn without_a_zone_domain_the_suffix_rule_is_skipped() {
    let spec =
        DeploymentSpec::from_json(&with(valid(), "/recordName", json!("api.other.org."))).unwrap();
    assert!(spec.validate(&ValidationContext::default()).is_ok());
}

#[test]
fn ttl_is_bounded() {
    assert_problem(
        with(valid(), "/ttlSeconds", json!(MAX_TTL_SECONDS + 1)),
        "ttlSeconds:",
    );
}

#[test]
fn targets_match_the_record_type() {
    assert_problem(
        with(
            valid(),
            "/slots/green/target",
            json!("blue-alb-123.us-east-1.elb.amazonaws.com."),
        ),
        "slots.green.target: must differ from slots.blue.target",
    );
    assert_problem(
        with(valid(), "/slots/green/target", json!("not a host")),
        "slots.green.target: \"not a host\" is not a valid DNS name",
    );
    let a_record = with(valid(), "/recordType", json!("A"));
    assert_problem(
        a_record.clone(),
        "slots.blue.target: \"blue-alb-123.us-east-1.elb.amazonaws.com\" is not an IPv4 address",
    );
    let a_record = with(
        with(a_record, "/slots/blue/target", json!("10.0.0.1")),
        "/slots/green/target",
        json!("10.0.0.2"),
    );
    assert_eq!(problems(a_record), Vec::<String>::new());
    let aaaa = with(
        with(
            with(valid(), "/recordType", json!("AAAA")),
            "/slots/blue/target",
            json!("::1"),
        ),
        "/slots/green/target",
        json!("10.0.0.2"),
    );
    assert_problem(
        aaaa,
        "slots.green.target: \"10.0.0.2\" is not an IPv6 address",
    );
    let alias = with(
        with(valid(), "/recordType", json!("A")),
        "/slots/blue",
        json!({"target": "blue-alb.elb.amazonaws.com", "aliasHostedZoneId": "Z35SXDOTRQ7X7K"}),
    );
    assert_problem(alias.clone(), "slots.green.target:");
    assert!(!problems(alias).iter().any(|p| p.starts_with("slots.blue")));
    let cname_alias = with(
        valid(),
        "/slots/blue/aliasHostedZoneId",
        json!("Z35SXDOTRQ7X7K"),
    );
    assert_problem(
        cname_alias,
        "slots.blue.aliasHostedZoneId: alias records must be of type A or AAAA",
    );
    assert_problem(
        with(valid(), "/recordType", json!("MX")),
        "recordType: unknown variant `MX`",
    );
}

#[test]
fn canary_steps_must_increase_end_at_100_and_be_percents() {
    assert_problem(
        with(valid(), "/strategy/steps", json!([1, 5, 5, 50, 100])),
        "strategy.steps[2]: steps must increase (5 after 5)",
    );
    assert_problem(
        with(valid(), "/strategy/steps", json!([1, 25, 5, 100])),
        "strategy.steps[2]: steps must increase",
    );
    assert_problem(
        with(valid(), "/strategy/steps", json!([1, 5, 50])),
        "strategy.steps[2]: the last step must be 100, not 50",
    );
    assert_problem(
        with(valid(), "/strategy/steps", json!([0, 100])),
        "strategy.steps[0]: 0 is not a percent in (0, 100]",
    );
    assert_problem(
        with(valid(), "/strategy/steps", json!([1, 150])),
        "strategy.steps[1]: 150 is not a percent",
    );
    assert_problem(
        with(valid(), "/strategy/steps", json!([])),
        "strategy.steps: at least one step is required",
    );
    let many: Vec<f64> = (1..=60).map(|i| f64::from(i) * 100.0 / 60.0).collect();
    assert_problem(
        with(valid(), "/strategy/steps", json!(many)),
        "strategy.steps: 60 steps are more than",
    );
    assert_problem(
        with(valid(), "/strategy/steps", json!([1, "five", 100])),
        "strategy.steps[1]: invalid type",
    );
}

#[test]
fn bakes_must_be_positive_and_at_most_a_day() {
    assert_problem(
        with(valid(), "/strategy/bakeSeconds", json!(0)),
        "strategy.bakeSeconds: must be at least 1",
    );
    assert_problem(
        with(
            valid(),
            "/strategy/bakeSeconds",
            json!(MAX_BAKE_SECONDS + 1),
        ),
        "strategy.bakeSeconds:",
    );
    assert_problem(
        with(valid(), "/strategy/bakeSeconds", json!(-5)),
        "strategy.bakeSeconds: invalid value",
    );
}

#[test]
fn linear_and_blue_green_strategies_are_checked() {
    let linear = with(
        valid(),
        "/strategy",
        json!({"kind": "linear", "increment": 0, "intervalSeconds": 0}),
    );
    assert_problem(linear.clone(), "strategy.increment: 0 is not a percent");
    assert_problem(linear, "strategy.intervalSeconds: must be at least 1");
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "linear", "increment": 1, "intervalSeconds": 60}),
        ),
        "strategy.increment: 1% makes more than",
    );
    assert_eq!(
        problems(with(
            valid(),
            "/strategy",
            json!({"kind": "linear", "increment": 10, "intervalSeconds": 60})
        )),
        Vec::<String>::new()
    );
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "blue-green", "bakeSeconds": 0}),
        ),
        "strategy.bakeSeconds:",
    );
    assert_problem(
        with(valid(), "/strategy", json!({"kind": "big-bang"})),
        "strategy.kind: unknown variant `big-bang`",
    );
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "canary", "bakeSecond": 5}),
        ),
        "strategy.bakeSecond: unknown field `bakeSecond`",
    );
}

#[test]
fn metrics_need_names_thresholds_and_complete_queries() {
    assert_problem(
        with(valid(), "/analysis/metrics", json!([])),
        "analysis.metrics: at least one metric is required",
    );
    assert_problem(
        with(valid(), "/analysis/metrics/1/name", json!("error-rate")),
        "analysis.metrics[1].name: \"error-rate\" is used twice",
    );
    assert_problem(
        with(valid(), "/analysis/metrics/0/name", json!("")),
        "analysis.metrics[0].name: is required",
    );
    let no_threshold = with(valid(), "/analysis/metrics/1/max", Value::Null);
    assert_problem(
        no_threshold,
        "analysis.metrics[1]: needs max, min or maxIncreaseOverBaseline",
    );
    assert_problem(
        with(valid(), "/analysis/metrics/1/min", json!(3000)),
        "analysis.metrics[1].min: 3000 is above max 2000",
    );
    // The valid request's slots are told apart by TargetGroup: a baseline exists.
    assert!(
        problems(with(
            valid(),
            "/analysis/metrics/0/maxIncreaseOverBaseline",
            json!(0.1),
        ))
        .is_empty()
    );
    let undivided = with(
        with(valid(), "/slots/blue/dimensions", json!({})),
        "/slots/green/dimensions",
        json!({}),
    );
    assert_problem(
        with(
            undivided,
            "/analysis/metrics/0/maxIncreaseOverBaseline",
            json!(0.1),
        ),
        "analysis.metrics[0].maxIncreaseOverBaseline: needs the slots told apart",
    );
    assert_problem(
        with(
            valid(),
            "/analysis/metrics/0/query/numerator/metricName",
            json!(""),
        ),
        "analysis.metrics[0].query.numerator.metricName: is required",
    );
    assert_problem(
        with(
            valid(),
            "/analysis/metrics/0/query/denominator/namespace",
            json!(" "),
        ),
        "analysis.metrics[0].query.denominator.namespace: is required",
    );
    assert_problem(
        with(valid(), "/analysis/metrics/0/query/scale", json!(0)),
        "analysis.metrics[0].query.scale:",
    );
    assert_problem(
        with(valid(), "/analysis/metrics/1/query/stat", json!("p100")),
        "analysis.metrics[1].query.stat: p100 is not a percentile",
    );
    assert_problem(
        with(valid(), "/analysis/metrics/1/query/stat", json!("Median")),
        "analysis.metrics[1].query.stat: unknown statistic",
    );
    assert_problem(
        with(
            valid(),
            "/analysis/metrics/1/query/metric/dimensions",
            json!({"TargetGroup": ""}),
        ),
        "analysis.metrics[1].query.metric.dimensions.TargetGroup:",
    );
    assert_problem(
        with(
            valid(),
            "/analysis/metrics/1/baselineQuery",
            json!({"kind": "statistic", "stat": "p95", "metric": {"namespace": "N", "metricName": "T"}}),
        ),
        "analysis.metrics[1].baselineQuery: unknown field",
    );
    assert_problem(
        with(
            valid(),
            "/analysis/metrics/1/slotDimensions",
            json!({"blue": {"TargetGroup": "tg/b"}, "purple": {"TargetGroup": "tg/p"}}),
        ),
        "analysis.metrics[1].slotDimensions.purple: no slot is named \"purple\" (slots: blue, green)",
    );
}

#[test]
fn exactly_two_named_slots_with_their_own_targets() {
    assert_problem(
        with(
            valid(),
            "/slots",
            json!({"blue": {"target": "blue.example.net"}}),
        ),
        "slots: names 1 slot(s); exactly two are needed",
    );
    assert_problem(
        with(
            valid(),
            "/slots/purple",
            json!({"target": "purple.example.net"}),
        ),
        "slots: names 3 slot(s)",
    );
    let renamed = with(
        valid(),
        "/slots",
        json!({"a b": {"target": "a.example.net"}, "c": {"target": "c.example.net"}}),
    );
    assert_problem(
        renamed,
        "slots.a b: a slot name is its record's set identifier",
    );
    assert_problem(
        with(
            valid(),
            "/slots/green/dimensions",
            json!({"TargetGroup": " "}),
        ),
        "slots.green.dimensions: dimension names and values must not be empty",
    );
    let spec = DeploymentSpec::from_json(&valid()).unwrap();
    assert_eq!(
        spec.slot_roles(),
        Some(crate::slots::SlotRoles::new("blue", "green"))
    );
}

#[test]
fn analysis_limits_are_checked() {
    assert_problem(
        with(valid(), "/analysis/minSamples", json!(0)),
        "analysis.minSamples: must be at least 1",
    );
    assert_problem(
        with(valid(), "/analysis/failureLimit", json!(0)),
        "analysis.failureLimit: must be at least 1",
    );
    let policy = with(
        valid(),
        "/analysis/onInconclusive",
        json!({"action": "retry", "maxRetries": 11}),
    );
    assert_problem(policy, "analysis.onInconclusive.maxRetries: 11 is above 10");
    let policy = with(
        valid(),
        "/analysis/onInconclusive",
        json!({"action": "shrug"}),
    );
    assert_problem(
        policy,
        "analysis.onInconclusive.action: unknown variant `shrug`",
    );
    let mut period = valid();
    period["analysis"]["periodSeconds"] = json!(45);
    assert_problem(
        period,
        "analysis.periodSeconds: 45 must be 1, 5, 10, 30 or a multiple of 60",
    );
}

#[test]
fn alarms_are_non_empty_unique_and_short() {
    assert_problem(
        with(valid(), "/alarms", json!(["a", "a"])),
        "alarms[1]: \"a\" is listed twice",
    );
    assert_problem(
        with(valid(), "/alarms", json!([""])),
        "alarms[0]: must not be empty",
    );
    assert_problem(
        with(valid(), "/alarms", json!(["x".repeat(256)])),
        "alarms[0]: is longer than 255",
    );
}

#[test]
fn rollback_ramp_down_must_decrease() {
    let mut request = valid();
    request["rollback"] = json!({"steps": [25, 50], "stepSeconds": 0});
    assert_problem(
        request.clone(),
        "rollback.steps[1]: ramp-down steps must decrease (50 after 25)",
    );
    assert_problem(request, "rollback.stepSeconds: must be at least 1");
    let mut request = valid();
    request["rollback"] = json!({"steps": [100]});
    assert_problem(
        request,
        "rollback.steps[0]: 100 is not a percent in (0, 100)",
    );
}

#[test]
fn unknown_fields_and_bad_types_name_their_path() {
    let mut request = valid();
    request["bakeSeconds"] = json!(10);
    assert_problem(request, "bakeSeconds: unknown field `bakeSeconds`");
    assert_problem(json!([1, 2]), "request: must be a JSON object");
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "linear", "steps": [100]}),
        ),
        "strategy: steps does not apply to a linear strategy",
    );
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "linear", "bakeSeconds": 3, "increment": 10, "intervalSeconds": 5}),
        ),
        "strategy: bakeSeconds does not apply to a linear strategy",
    );
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "blue-green", "steps": [100]}),
        ),
        "strategy: steps does not apply to a blue-green strategy",
    );
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "canary", "increment": 3}),
        ),
        "strategy: increment does not apply to a canary strategy",
    );
    assert_problem(
        with(
            valid(),
            "/strategy",
            json!({"kind": "linear", "increment": 10}),
        ),
        "strategy: a linear strategy needs intervalSeconds",
    );
    assert_problem(
        with(
            valid(),
            "/analysis/metrics/0/query/metric",
            json!({"namespace": "N", "metricName": "M"}),
        ),
        "analysis.metrics[0].query: metric and stat belong to a statistic query",
    );
    assert_problem(
        with(valid(), "/analysis/metrics/1/query/kind", json!("ratio")),
        "analysis.metrics[1].query: metric and stat belong",
    );
    assert_problem(
        with(
            valid(),
            "/analysis/metrics/0/query/denominator/metricNam",
            json!("x"),
        ),
        "analysis.metrics[0].query.denominator.metricNam: unknown field",
    );
    assert_problem(
        with(valid(), "/hotfix", json!("yes")),
        "hotfix: invalid type",
    );
    let mut request = valid();
    request["expectedRequestsPerSecond"] = json!(-1);
    assert_problem(
        request,
        "expectedRequestsPerSecond: must be a number above 0",
    );
}

#[test]
fn errors_display_as_one_readable_line() {
    let errors = DeploymentSpec::from_json(&json!({"service": "s"}))
        .unwrap()
        .validate(&context())
        .unwrap_err();
    let text = errors.to_string();
    assert!(text.starts_with("the deployment request has "), "{text}");
    assert!(text.contains("version: is required; "), "{text}");
    assert!(errors.fields().any(|f| f == "hostedZoneId"));
}

#[test]
fn short_steps_for_the_expected_traffic_are_warned_about() {
    let mut request = valid();
    request["expectedRequestsPerSecond"] = json!(10);
    let spec = DeploymentSpec::from_json(&request).unwrap();
    // 10 rps × 1 % × 300 s = 30 < 50; 10 × 5 % × 300 = 150 is enough.
    let warnings = spec.sample_size_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].field, "strategy.steps[0]");
    assert!(
        warnings[0].message.contains("about 30 requests"),
        "{}",
        warnings[0].message
    );
    let no_estimate = DeploymentSpec::from_json(&valid()).unwrap();
    assert!(no_estimate.sample_size_warnings().is_empty());
}

#[test]
fn requests_merge_over_service_defaults() {
    let defaults = valid();
    let request = json!({"service": "checkout-api", "version": "v2.5.0", "strategy": {"bakeSeconds": 30}, "alarms": []});
    let merged = merge_over_defaults(&defaults, &request);
    let spec = DeploymentSpec::from_json(&merged).unwrap();
    assert_eq!(spec.version, "v2.5.0");
    assert_eq!(
        spec.strategy,
        Strategy::Canary(CanaryStrategy {
            steps: vec![1.0, 5.0, 25.0, 50.0, 100.0],
            bake_seconds: 30
        })
    );
    assert!(spec.alarms.is_empty(), "arrays replace, not append");
    assert_eq!(spec.analysis.metrics.len(), 2);
    // Another kind of strategy replaces the default one instead of inheriting its steps.
    let linear = json!({"strategy": {"kind": "linear", "increment": 20, "intervalSeconds": 5}});
    let spec = DeploymentSpec::from_json(&merge_over_defaults(&defaults, &linear)).unwrap();
    assert_eq!(
        spec.strategy,
        Strategy::Linear(LinearStrategy {
            increment: 20.0,
            interval_seconds: 5
        })
    );
}

#[test]
fn specs_round_trip_through_json() {
    let spec = DeploymentSpec::from_json(&valid()).unwrap();
    let again = DeploymentSpec::from_json(&serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(spec, again);
}

#[test]
fn release_sources_need_repositories_and_a_valid_pattern() {
    let mut request = valid();
    request["release"] = json!({"repositories": [], "tagPattern": "v(\\d+"});
    assert_problem(
        request.clone(),
        "release.repositories: at least one repository is required",
    );
    assert_problem(request, "release.tagPattern: is not a regular expression");
    let mut request = valid();
    request["release"] = json!({"repositories": ["checkout-api", "acme/checkout-api"], "tagPattern": "^release-(?P<version>.+)$"});
    assert_eq!(problems(request), Vec::<String>::new());
}

#[test]
fn rollback_percents_end_at_zero() {
    let instant = RollbackSpec::default().percents();
    assert_eq!(instant, vec![0.0]);
    let gradual = RollbackSpec {
        steps: vec![25.0, 5.0],
        step_seconds: 10,
    }
    .percents();
    assert_eq!(gradual, vec![25.0, 5.0, 0.0]);
}

#[test]
fn slot_alarms_are_checked_like_the_service_wide_ones_and_armed_by_role() {
    let request = with(
        valid(),
        "/slots/green/alarms",
        json!(["checkout-api-green-5xx", "checkout-api-green-5xx"]),
    );
    assert_problem(
        request,
        "slots.green.alarms[1]: \"checkout-api-green-5xx\" is listed twice",
    );
    let spec = DeploymentSpec::from_json(&with(
        valid(),
        "/slots/blue/alarms",
        json!(["checkout-api-blue-5xx"]),
    ))
    .unwrap();
    let first = crate::slots::SlotRoles::new("blue", "green");
    let names = |roles: &crate::slots::SlotRoles| -> Vec<String> {
        spec.brake_alarms(roles)
            .into_iter()
            .map(|(_, a)| a)
            .collect()
    };
    assert_eq!(names(&first), vec!["checkout-api-green-5xx".to_string()]);
    assert_eq!(
        spec.brake_alarms(&first.swapped()),
        vec![
            (
                "alarms[0]".to_string(),
                "checkout-api-green-5xx".to_string()
            ),
            (
                "slots.blue.alarms[0]".to_string(),
                "checkout-api-blue-5xx".to_string()
            ),
        ]
    );
}
