//! The state machine definition agrees with the code: every transition names a state, every
//! `${...}` substitution is one the local runner provides for a function package that exists,
//! and every error name a Retry or Catch matches is one something can raise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sluice_core::workflow::ERROR_NAMES;
use sluice_local::workspace::{
    Workspace, placeholders, render_definition, substitution_key, substitutions,
};

/// Errors the definition raises itself (Fail states) or operators send with SendTaskFailure.
const RAISED_BY_THE_DEFINITION_OR_OPERATORS: [&str; 2] = ["Sluice.RolledBack", "Sluice.Rejected"];

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
        let function = if resource.starts_with("arn:aws:states:::lambda:invoke") {
            state["Parameters"]["FunctionName"].as_str().unwrap()
        } else {
            resource
        };
        let binary = sluice_local::workspace::binary_of(function);
        assert!(
            functions.iter().any(|f| f == binary),
            "{name} runs {function}, no function package"
        );
    }
}

#[test]
fn every_error_name_matched_or_raised_is_known() {
    let machine = definition();
    let known: BTreeSet<&str> = ERROR_NAMES
        .iter()
        .chain(RAISED_BY_THE_DEFINITION_OR_OPERATORS.iter())
        .copied()
        .collect();
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
            if let Some(error) = state.get("Error").and_then(Value::as_str) {
                assert!(allowed(error), "{path}/{name} fails with unknown {error:?}");
            }
        }
    }
    // The names the steps route on are really used.
    for name in ["Sluice.Retryable", "Sluice.Fenced", "States.ALL"] {
        assert!(matched.contains(name), "no Retry/Catch matches {name}");
    }
}
