//! The state machine definition agrees with the code: every transition names a state, every
//! `${...}` substitution is one the local runner provides for a function package that exists,
//! every decision and every `Sluice.*` error name the code produces is routed, and the
//! definition routes no decision or error name the code cannot produce.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use sluice_core::DecisionAction;
use sluice_core::workflow::ErrorName;
use sluice_infra_check::workspace::placeholders;
use sluice_local::function_names::{binary_of, substitution_key};
use sluice_local::workspace::{Workspace, render_definition, substitutions};
use strum::IntoEnumIterator;

fn definition_text() -> String {
    let path = Workspace::locate().unwrap().definition_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn definition() -> Value {
    serde_json::from_str(&definition_text()).unwrap()
}

/// Every `States` map of the definition (the top level and any Map/Parallel inside), with a
/// path for messages.
fn state_maps<'a>(machine: &'a Value, path: &str, found: &mut Vec<(String, &'a Value)>) {
    let Some(states) = machine.get("States") else {
        return;
    };
    found.push((path.to_string(), machine));
    for (name, state) in states.as_object().unwrap() {
        for nested in ["Iterator", "ItemProcessor"] {
            if let Some(inner) = state.get(nested) {
                state_maps(inner, &format!("{path}/{name}/{nested}"), found);
            }
        }
        for (i, branch) in state
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            state_maps(branch, &format!("{path}/{name}/Branches[{i}]"), found);
        }
    }
}

/// Every state name a transition points at, with where it is written.
fn targets(state_name: &str, state: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut add = |at: String, value: &Value| {
        if let Some(target) = value.as_str() {
            found.push((at, target.to_string()));
        }
    };
    for key in ["Next", "Default"] {
        if let Some(value) = state.get(key) {
            add(format!("{state_name}.{key}"), value);
        }
    }
    fn choice_rules(rules: &[Value], at: &str, add: &mut dyn FnMut(String, &Value)) {
        for (i, rule) in rules.iter().enumerate() {
            if let Some(next) = rule.get("Next") {
                add(format!("{at}[{i}].Next"), next);
            }
        }
    }
    if let Some(choices) = state.get("Choices").and_then(Value::as_array) {
        choice_rules(choices, &format!("{state_name}.Choices"), &mut add);
    }
    if let Some(catches) = state.get("Catch").and_then(Value::as_array) {
        choice_rules(catches, &format!("{state_name}.Catch"), &mut add);
    }
    found
}

#[test]
fn every_transition_names_a_state_of_its_scope() {
    let machine = definition();
    let mut maps = Vec::new();
    state_maps(&machine, "", &mut maps);
    assert!(!maps.is_empty());
    for (path, scope) in maps {
        let states = scope["States"].as_object().unwrap();
        let names: BTreeSet<&str> = states.keys().map(String::as_str).collect();
        let start = scope["StartAt"].as_str().unwrap();
        assert!(names.contains(start), "{path}: StartAt {start} is no state");
        let mut reached = BTreeSet::from([start.to_string()]);
        for (name, state) in states {
            let kind = state["Type"].as_str().unwrap();
            let ends = state.get("End") == Some(&Value::Bool(true))
                || matches!(kind, "Succeed" | "Fail" | "Choice");
            assert!(
                ends || state.get("Next").is_some(),
                "{path}/{name}: a {kind} state needs Next or End"
            );
            for (at, target) in targets(name, state) {
                assert!(
                    names.contains(target.as_str()),
                    "{path}/{at} names {target:?}, which is no state (states: {names:?})"
                );
                reached.insert(target);
            }
        }
        let unreachable: Vec<&&str> = names.iter().filter(|n| !reached.contains(**n)).collect();
        assert!(
            unreachable.is_empty(),
            "{path}: unreachable states {unreachable:?}"
        );
    }
}

#[test]
fn every_substitution_is_a_function_the_runner_provides() {
    let workspace = Workspace::locate().unwrap();
    let functions = workspace.functions().unwrap();
    let provided = substitutions(&functions);
    let text = definition_text();
    let used: BTreeSet<String> = placeholders(&text).into_iter().collect();
    assert!(!used.is_empty(), "the definition has no substitutions");
    let by_key: BTreeMap<String, &String> =
        functions.iter().map(|f| (substitution_key(f), f)).collect();
    for key in &used {
        let function = by_key.get(key).unwrap_or_else(|| {
            panic!("${{{key}}} names no function package (the runner provides {provided:?})")
        });
        let package = workspace
            .root()
            .join("functions")
            .join(function.as_str())
            .join("Cargo.toml");
        assert!(package.is_file(), "{key} → {}", package.display());
    }
    let rendered = render_definition(&text, &provided).unwrap();
    assert!(placeholders(&rendered).is_empty());
    let rendered: Value = serde_json::from_str(&rendered).unwrap();
    // Every Lambda task points at a local function ARN once rendered.
    for (name, state) in rendered["States"].as_object().unwrap() {
        if state["Type"] != "Task" {
            continue;
        }
        let resource = state["Resource"].as_str().unwrap();
        if is_hook_invocation(state) {
            // A service's hook: the function comes from the cursor, not the workspace.
            continue;
        }
        let function = if resource.starts_with("arn:aws:states:::lambda:invoke") {
            state["Parameters"]["FunctionName"].as_str().unwrap()
        } else {
            resource
        };
        let binary = binary_of(function);
        assert!(
            functions.iter().any(|f| f == binary),
            "{name} runs {function}, no function package"
        );
    }
}

#[test]
fn every_error_name_matched_or_raised_is_known() {
    let machine = definition();
    let known: BTreeSet<&str> = ErrorName::iter().map(ErrorName::as_str).collect();
    let allowed = |name: &str| {
        name.starts_with("States.") || name.starts_with("Lambda.") || known.contains(name)
    };
    let mut maps = Vec::new();
    state_maps(&machine, "", &mut maps);
    let mut matched = BTreeSet::new();
    for (path, scope) in maps {
        for (name, state) in scope["States"].as_object().unwrap() {
            for key in ["Retry", "Catch"] {
                for (i, rule) in state
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    for error in rule["ErrorEquals"].as_array().unwrap() {
                        let error = error.as_str().unwrap();
                        assert!(
                            allowed(error),
                            "{path}/{name}.{key}[{i}] matches {error:?}, which nothing raises \
                             (known: States.*, Lambda.*, {known:?})"
                        );
                        matched.insert(error.to_string());
                    }
                }
            }
            for error in [&state["Error"], &state["Result"]["Error"]] {
                if let Some(error) = error.as_str() {
                    assert!(allowed(error), "{path}/{name} raises unknown {error:?}");
                }
            }
        }
    }
    // The names the steps route on are really used.
    for name in ["Sluice.Retryable", "Sluice.Fenced", "States.ALL"] {
        assert!(matched.contains(name), "no Retry/Catch matches {name}");
    }
}

/// Whether a Task invokes a service's hook: `lambda:invoke` of the function the cursor names.
fn is_hook_invocation(state: &Value) -> bool {
    state["Resource"] == "arn:aws:states:::lambda:invoke"
        && state["Parameters"]["FunctionName.$"]
            .as_str()
            .is_some_and(|path| path.starts_with("$.hooks."))
}

/// The top-level states by name.
fn top_states(machine: &Value) -> &serde_json::Map<String, Value> {
    machine["States"].as_object().unwrap()
}

/// Every `StringEquals` a Choice rule (and the rules nested in its And/Or/Not) compares
/// `variable` with.
fn compared_values(rule: &Value, variable: &str, found: &mut Vec<String>) {
    if rule["Variable"] == variable
        && let Some(value) = rule["StringEquals"].as_str()
    {
        found.push(value.to_string());
    }
    for nested in ["And", "Or"] {
        for inner in rule[nested].as_array().into_iter().flatten() {
            compared_values(inner, variable, found);
        }
    }
    if rule.get("Not").is_some() {
        compared_values(&rule["Not"], variable, found);
    }
}

#[test]
fn every_decision_is_routed_and_every_routed_decision_is_one_the_code_makes() {
    let machine = definition();
    let states = top_states(&machine);
    // Where each decision must lead. The match has no wildcard: a new decision does not compile
    // here until someone says where the definition takes it.
    let expected = |action: DecisionAction| match action {
        DecisionAction::Advance => "ShiftTraffic",
        // Through the post-traffic hook, when there is one (see the hook test).
        DecisionAction::Promote => "HasPostTrafficHook",
        DecisionAction::Extend => "Bake",
        DecisionAction::AwaitApproval => "AwaitApproval",
        DecisionAction::RollBack => "Rollback",
    };
    let mut routed: HashMap<DecisionAction, Vec<String>> = HashMap::new();
    for (name, state) in states {
        for rule in state["Choices"].as_array().into_iter().flatten() {
            let mut values = Vec::new();
            compared_values(rule, "$.decision", &mut values);
            for value in values {
                let action: DecisionAction = serde_json::from_value(Value::from(value.as_str()))
                    .unwrap_or_else(|e| {
                        panic!("{name} routes decision {value:?}, which the code never makes: {e}")
                    });
                assert_eq!(
                    name, "Decide",
                    "decision {value:?} is routed outside Decide"
                );
                routed
                    .entry(action)
                    .or_default()
                    .push(rule["Next"].as_str().unwrap().to_string());
            }
        }
    }
    for action in DecisionAction::iter() {
        let wire = serde_json::to_value(action).unwrap();
        assert_eq!(
            wire,
            action.as_str(),
            "the cursor carries {action:?} as {wire}"
        );
        assert_eq!(
            routed.get(&action).map(Vec::as_slice),
            Some([expected(action).to_string()].as_slice()),
            "Decide routes decision {wire} once, to {}",
            expected(action)
        );
    }
    // Whatever else arrives is not rolled back silently: the Default records its own error
    // and still rolls back, so no traffic stays split.
    let default = states["Decide"]["Default"].as_str().unwrap();
    assert_ne!(
        default, "Rollback",
        "an unknown decision must not roll back silently"
    );
    let fallback = &states[default];
    assert_eq!(
        (
            fallback["Type"].as_str(),
            fallback["Result"]["Error"].as_str(),
            fallback["ResultPath"].as_str(),
            fallback["Next"].as_str(),
        ),
        (
            Some("Pass"),
            Some(ErrorName::UnknownDecision.as_str()),
            Some("$.error"),
            Some("Rollback")
        ),
        "Decide's Default {default}"
    );
}

/// The state a Task's Catch sends `error` to: the first rule naming it or `States.ALL`.
fn caught_to(state: &Value, error: &str) -> Option<String> {
    state["Catch"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|rule| {
            let names = rule["ErrorEquals"].as_array().unwrap();
            names
                .iter()
                .any(|n| n == error || n == "States.ALL")
                .then(|| rule["Next"].as_str().unwrap().to_string())
        })
}

/// Whether a Task's Retry names `error` itself (not through `States.ALL`).
fn retried(state: &Value, error: &str) -> bool {
    state["Retry"].as_array().into_iter().flatten().any(|rule| {
        rule["ErrorEquals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == error)
    })
}

/// How the definition handles an error name.
#[derive(Debug, PartialEq)]
enum Routing {
    /// Every task retries it, and catches it to the rollback once the retries are spent.
    Retried,
    /// Every task after Validate catches it to TakenOver: someone else owns the outcome.
    TakenOver,
    /// Validate explains it, every later task rolls back, a failed rollback fails loudly.
    RolledBack,
    /// A Fail state raises it.
    RaisedByAFailState,
    /// Decide's Default records it before rolling back.
    RecordedByDecide,
    /// StopExecution ends the execution with it; nothing inside the definition can catch it.
    StopsTheExecution,
}

#[test]
fn every_error_name_is_routed_as_the_code_means_it() {
    let machine = definition();
    let states = top_states(&machine);
    // The hook invocations run the services' functions, not ours: their own test below.
    let tasks: Vec<(&String, &Value)> = states
        .iter()
        .filter(|(_, s)| s["Type"] == "Task" && !is_hook_invocation(s))
        .collect();
    assert!(tasks.len() >= 6, "{tasks:?}");
    // After a failed task: Validate explains the failure, Rollback fails loudly (after longer
    // retries; the reconciler then returns the deployment to stable), any other task rolls back.
    let after_failure = |task: &str| match task {
        "Validate" => "ExplainValidationFailure",
        "Rollback" => "RollbackFailed",
        _ => "Rollback",
    };
    for name in ErrorName::iter() {
        let wire = name.as_str();
        // No wildcard: a new error name does not compile here until its routing is decided.
        let routing = match name {
            ErrorName::Retryable => Routing::Retried,
            ErrorName::Fenced => Routing::TakenOver,
            ErrorName::Invalid
            | ErrorName::Conflict
            | ErrorName::NotFound
            | ErrorName::SyncTimeout
            | ErrorName::Internal
            | ErrorName::Aborted => Routing::RolledBack,
            ErrorName::RolledBack => Routing::RaisedByAFailState,
            ErrorName::UnknownDecision => Routing::RecordedByDecide,
            ErrorName::TakenOver => Routing::StopsTheExecution,
        };
        match routing {
            Routing::Retried => {
                for (task, state) in &tasks {
                    assert!(retried(state, wire), "{task} does not retry {wire}");
                    assert_eq!(
                        caught_to(state, wire).as_deref(),
                        Some(after_failure(task)),
                        "{task}: {wire} after its retries"
                    );
                }
            }
            Routing::TakenOver => {
                for (task, state) in &tasks {
                    let expected = if task.as_str() == "Validate" {
                        after_failure(task)
                    } else {
                        "TakenOver"
                    };
                    assert_eq!(
                        caught_to(state, wire).as_deref(),
                        Some(expected),
                        "{task}: {wire}"
                    );
                }
                assert_eq!(states["TakenOver"]["Type"], "Succeed");
            }
            Routing::RolledBack => {
                for (task, state) in &tasks {
                    assert!(
                        !retried(state, wire),
                        "{task} retries {wire}, which cannot help"
                    );
                    assert_eq!(
                        caught_to(state, wire).as_deref(),
                        Some(after_failure(task)),
                        "{task}: {wire}"
                    );
                }
            }
            Routing::RaisedByAFailState => assert!(
                states
                    .values()
                    .any(|s| s["Type"] == "Fail" && s["Error"] == wire),
                "no Fail state raises {wire}"
            ),
            Routing::RecordedByDecide => {
                let default = states["Decide"]["Default"].as_str().unwrap();
                assert_eq!(
                    states[default]["Result"]["Error"], wire,
                    "Decide's Default {default}"
                );
            }
            Routing::StopsTheExecution => {
                for (task, state) in &tasks {
                    for key in ["Retry", "Catch"] {
                        for rule in state[key].as_array().into_iter().flatten() {
                            assert!(
                                !rule["ErrorEquals"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .any(|n| n == wire),
                                "{task}.{key} names {wire}, which stops the execution and is never caught"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn hooks_run_where_the_code_expects_and_every_outcome_is_judged() {
    let machine = definition();
    let states = top_states(&machine);
    // (the Choice that looks for the hook, where it goes without one, the invoking task, the
    // check, the verdict, where a pass goes)
    let hooks = [
        (
            "HasPreTrafficHook",
            "$.hooks.preTraffic",
            "ShiftTraffic",
            "PreTrafficHook",
            "CheckPreTrafficHook",
            "PreTrafficHookVerdict",
            "pre-traffic",
        ),
        (
            "HasPostTrafficHook",
            "$.hooks.postTraffic",
            "Finalize",
            "PostTrafficHook",
            "CheckPostTrafficHook",
            "PostTrafficHookVerdict",
            "post-traffic",
        ),
    ];
    assert_eq!(states["Validate"]["Next"], "HasPreTrafficHook");
    let mut invocations: Vec<&String> = states
        .iter()
        .filter(|(_, s)| is_hook_invocation(s))
        .map(|(name, _)| name)
        .collect();
    invocations.sort();
    assert_eq!(invocations, ["PostTrafficHook", "PreTrafficHook"]);
    for (has, path, without, invoke, check, verdict, kind) in hooks {
        let choice = &states[has];
        assert_eq!(choice["Choices"][0]["Variable"], path, "{has}");
        assert_eq!(choice["Choices"][0]["IsPresent"], true, "{has}");
        assert_eq!(choice["Choices"][0]["Next"], invoke, "{has}");
        assert_eq!(choice["Default"], without, "{has}");

        let task = &states[invoke];
        assert_eq!(task["Parameters"]["FunctionName.$"], path, "{invoke}");
        let payload = &task["Parameters"]["Payload"];
        assert_eq!(payload["hook"], kind, "{invoke}");
        for field in [
            "deploymentId",
            "service",
            "version",
            "canarySlot",
            "canaryTarget",
        ] {
            assert_eq!(
                payload[format!("{field}.$")],
                format!("$.hooks.subject.{field}"),
                "{invoke}: {field}"
            );
        }
        assert_eq!(task["TimeoutSecondsPath"], "$.hooks.timeoutSeconds");
        assert_eq!(task["ResultPath"], "$.hookResult");
        // Lambda's own passing failures only: the hook's errors are judged, never retried.
        let retried: Vec<&str> = task["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(
            retried,
            [
                "Lambda.ServiceException",
                "Lambda.TooManyRequestsException",
                "Lambda.SdkClientException"
            ]
        );
        assert!(task["Retry"][0]["JitterStrategy"] == "FULL");
        // Whatever else happens (a timeout, a function error) is judged by the check.
        assert_eq!(
            task["Catch"],
            serde_json::json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.hookResult", "Next": check}])
        );
        assert_eq!(task["Next"], check);

        let checking = &states[check];
        assert_eq!(checking["Parameters"]["hook"], kind);
        assert_eq!(checking["Parameters"]["result.$"], "$.hookResult");
        assert_eq!(checking["Next"], verdict);
        let routed = &states[verdict];
        assert_eq!(routed["Type"], "Choice");
        assert_eq!(
            routed["Default"], "Rollback",
            "{verdict}: a failure rolls back"
        );
        let rule = &routed["Choices"][0];
        assert_eq!(rule["And"][1]["Variable"], "$.hookPassed");
        assert_eq!(rule["And"][1]["BooleanEquals"], true);
        assert_eq!(rule["Next"], without, "{verdict}: a pass goes on");
    }
}

/// The names a retrier lists.
fn retrier_names(rule: &Value) -> Vec<&str> {
    rule["ErrorEquals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect()
}

#[test]
fn every_task_of_ours_retries_lambdas_passing_failures_with_jitter_and_a_bounded_delay() {
    let machine = definition();
    let states = top_states(&machine);
    let tasks: Vec<(&String, &Value)> =
        states.iter().filter(|(_, s)| s["Type"] == "Task").collect();
    assert!(tasks.len() >= 9, "{tasks:?}");
    for (task, state) in tasks {
        // A hook's own crash or timeout (Lambda.Unknown) is the hook failing: judged, never
        // retried (the hooks' test above); every other passing failure of Lambda is retried.
        let needed: &[&str] = if is_hook_invocation(state) {
            &["Lambda.ServiceException", "Lambda.TooManyRequestsException"]
        } else {
            &[
                "Lambda.Unknown",
                "Lambda.ServiceException",
                "Lambda.TooManyRequestsException",
            ]
        };
        for name in needed {
            let rule = state["Retry"]
                .as_array()
                .unwrap_or_else(|| panic!("{task} has no Retry"))
                .iter()
                .find(|rule| retrier_names(rule).contains(name))
                .unwrap_or_else(|| panic!("{task} does not retry {name}"));
            assert_eq!(rule["JitterStrategy"], "FULL", "{task}: {name}");
            let max_delay = rule["MaxDelaySeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{task}: {name} has no MaxDelaySeconds"));
            assert!((1..=300).contains(&max_delay), "{task}: {max_delay}");
            assert!(rule["MaxAttempts"].as_u64().unwrap() >= 2, "{task}: {name}");
        }
    }
    // The rollback retries longest: its failure leaves traffic to the reconciler.
    let attempts = |task: &str| {
        states[task]["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|rule| retrier_names(rule).contains(&"Lambda.Unknown"))
            .map(|rule| rule["MaxAttempts"].as_u64().unwrap())
            .unwrap()
    };
    assert!(attempts("Rollback") > attempts("ShiftTraffic"));
}

#[test]
fn the_execution_timeout_is_the_one_validation_bounds_every_plan_below() {
    use sluice_core::spec::{
        APPROVAL_TIMEOUT_SECONDS, DeploymentSpec, EXECUTION_TIMEOUT_SECONDS, ValidationContext,
    };
    let machine = definition();
    assert_eq!(
        machine["TimeoutSeconds"].as_u64(),
        Some(EXECUTION_TIMEOUT_SECONDS),
        "the definition's TimeoutSeconds"
    );
    // The approval wait is the one the analysis leases the lock for (past it, with a margin).
    let approval = &top_states(&machine)["AwaitApproval"];
    assert_eq!(
        approval["TimeoutSeconds"].as_u64(),
        Some(APPROVAL_TIMEOUT_SECONDS)
    );
    // A plan just inside the bound is valid, one just past it is refused.
    let request = |bake: u32| {
        serde_json::json!({
            "service": "checkout-api", "version": "v2",
            "hostedZoneId": "Z0123456789ABC", "recordName": "api.example.com.",
            "slots": {"blue": {"target": "blue.example.net"}, "green": {"target": "green.example.net"}},
            "strategy": {"kind": "canary", "steps": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], "bakeSeconds": bake},
            "analysis": {"metrics": [{"name": "e", "max": 1,
                "query": {"kind": "statistic", "stat": "Sum",
                          "metric": {"namespace": "N", "metricName": "M"}}}],
                "onInconclusive": {"action": "retry", "maxRetries": 2}},
            "approval": "before-promote",
        })
    };
    let fits = |bake: u32| {
        let spec = DeploymentSpec::from_json(&request(bake)).unwrap();
        let valid = spec.validate(&ValidationContext::default()).is_ok();
        (valid, spec.longest_run_seconds())
    };
    // The longest run grows with the bake: find the largest bake that is valid.
    assert!(fits(1).0, "a one-second bake fits");
    let (mut largest, mut refused) = (1u32, 86_401u32);
    while refused - largest > 1 {
        let middle = largest + (refused - largest) / 2;
        if fits(middle).0 {
            largest = middle;
        } else {
            refused = middle;
        }
    }
    assert!(fits(largest).1 <= EXECUTION_TIMEOUT_SECONDS);
    if largest < 86_400 {
        let (valid, longest) = fits(largest + 1);
        assert!(!valid && longest > EXECUTION_TIMEOUT_SECONDS);
    }
}

#[test]
fn the_rollback_loops_through_a_wait_until_it_hands_back_no_wait() {
    let machine = definition();
    let states = top_states(&machine);
    let rollback = &states["Rollback"];
    let after = rollback["Next"].as_str().unwrap();
    let choice = &states[after];
    assert_eq!(choice["Type"], "Choice", "{after}");
    // The field the Rollback step hands back, as the cursor writes it.
    let mut cursor: sluice_core::workflow::Cursor = serde_json::from_value(serde_json::json!({
        "deployment": {"service": "s", "startedAt": "2026-11-01T12:00:00Z", "id": "d"},
        "step": 0, "stepCount": 1, "percent": 100.0,
    }))
    .unwrap();
    cursor.ramp_wait_seconds = Some(7);
    let written = serde_json::to_value(&cursor).unwrap();
    assert_eq!(written["rampWaitSeconds"], 7);
    assert_eq!(choice["Choices"][0]["Variable"], "$.rampWaitSeconds");
    assert_eq!(choice["Choices"][0]["IsPresent"], true);
    let wait_name = choice["Choices"][0]["Next"].as_str().unwrap();
    let wait = &states[wait_name];
    assert_eq!(wait["Type"], "Wait");
    assert_eq!(wait["SecondsPath"], "$.rampWaitSeconds");
    assert_eq!(wait["Next"], "Rollback", "the wait leads back to Rollback");
    assert_eq!(
        choice["Default"], "RolledBack",
        "no wait: traffic is on stable"
    );
    assert_eq!(states["RolledBack"]["Type"], "Fail");
    // A failed rollback ends the execution (FAILED) for the reconciler, after its retries.
    assert_eq!(
        caught_to(rollback, "Sluice.Internal").as_deref(),
        Some("RollbackFailed")
    );
    assert_eq!(states["RollbackFailed"]["Type"], "Fail");
}
