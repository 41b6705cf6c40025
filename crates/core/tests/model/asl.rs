//! Just enough of Amazon States Language to walk `statemachine/deployment.asl.json` as Step
//! Functions would: Choice rules, Wait, Pass, Succeed, Fail, and a Task's Retry (first matching
//! retrier, its MaxAttempts), Catch (first matching catcher, its ResultPath) and ResultPath. The
//! routes are read from the definition, so the model follows whatever the definition says today.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

/// The deployment state machine's definition.
pub const DEFINITION: &str = include_str!("../../../../statemachine/deployment.asl.json");

/// Which workflow function a Task state runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Validate,
    Shift,
    Sync,
    Analyze,
    AwaitApproval,
    Finalize,
    Rollback,
}

impl Task {
    /// The function a Task state invokes, from its Resource (or, for an integration such as
    /// `lambda:invoke.waitForTaskToken`, its FunctionName).
    pub fn of(name: &str, state: &Value) -> Task {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let function = state["Parameters"]["FunctionName"]
            .as_str()
            .unwrap_or(resource);
        let known = [
            ("ValidateFunctionArn", Task::Validate),
            ("ShiftTrafficFunctionArn", Task::Shift),
            ("WaitForSyncFunctionArn", Task::Sync),
            ("AnalyzeFunctionArn", Task::Analyze),
            ("AwaitApprovalFunctionArn", Task::AwaitApproval),
            ("FinalizeFunctionArn", Task::Finalize),
            ("RollbackFunctionArn", Task::Rollback),
        ];
        known
            .iter()
            .find(|(arn, _)| function.contains(arn))
            .map(|(_, task)| *task)
            .unwrap_or_else(|| {
                panic!("the model does not know Task state {name} ({function}): teach it in model/asl.rs and model/execution.rs")
            })
    }
}

#[derive(Clone)]
pub struct Definition {
    pub start: String,
    states: Arc<Map<String, Value>>,
}

impl Definition {
    /// The definition, parsed once per test process (every scenario walks it).
    pub fn load() -> Definition {
        static PARSED: OnceLock<Definition> = OnceLock::new();
        PARSED
            .get_or_init(|| {
                let definition: Value = serde_json::from_str(DEFINITION).unwrap();
                Definition {
                    start: definition["StartAt"].as_str().unwrap().to_string(),
                    states: Arc::new(definition["States"].as_object().unwrap().clone()),
                }
            })
            .clone()
    }

    pub fn state(&self, name: &str) -> &Value {
        self.states
            .get(name)
            .unwrap_or_else(|| panic!("the definition has no state {name}"))
    }
}

/// The value at a reference path such as `$.a.b` (`$` is the whole input).
pub fn get<'a>(input: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('$')?;
    rest.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(input, |value, key| value.get(key))
}

/// Sets the value at a reference path, creating objects on the way; `$` replaces the input.
pub fn set(input: &mut Value, path: &str, value: Value) {
    let keys: Vec<&str> = path
        .trim_start_matches('$')
        .split('.')
        .filter(|p| !p.is_empty())
        .collect();
    let Some((last, parents)) = keys.split_last() else {
        *input = value;
        return;
    };
    let mut at = input;
    for key in parents {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at = at
            .as_object_mut()
            .unwrap()
            .entry(key.to_string())
            .or_insert(Value::Object(Map::new()));
    }
    if !at.is_object() {
        *at = Value::Object(Map::new());
    }
    at.as_object_mut().unwrap().insert(last.to_string(), value);
}

/// Applies a ResultPath: absent replaces the input, `null` keeps it, a path sets it there.
pub fn apply_result_path(state: &Value, input: &mut Value, result: Value) {
    match state.get("ResultPath") {
        None => *input = result,
        Some(Value::Null) => {}
        Some(Value::String(path)) => set(input, path, result),
        Some(other) => panic!("ResultPath {other} is not a path"),
    }
}

/// Whether a Choice rule matches the input.
pub fn rule_matches(rule: &Value, input: &Value) -> bool {
    if let Some(all) = rule.get("And").and_then(Value::as_array) {
        return all.iter().all(|r| rule_matches(r, input));
    }
    if let Some(any) = rule.get("Or").and_then(Value::as_array) {
        return any.iter().any(|r| rule_matches(r, input));
    }
    if let Some(not) = rule.get("Not") {
        return !rule_matches(not, input);
    }
    let variable = rule["Variable"].as_str().unwrap_or("$");
    let value = get(input, variable);
    if let Some(present) = rule.get("IsPresent").and_then(Value::as_bool) {
        return value.is_some() == present;
    }
    let Some(value) = value else {
        return false;
    };
    if let Some(expected) = rule.get("StringEquals") {
        return value == expected;
    }
    if let Some(expected) = rule.get("BooleanEquals") {
        return value == expected;
    }
    if let Some(expected) = rule.get("NumericEquals") {
        return value.as_f64() == expected.as_f64();
    }
    if let Some(pattern) = rule.get("StringMatches").and_then(Value::as_str) {
        let text = value.as_str().unwrap_or_default();
        return match pattern.strip_suffix('*') {
            Some(prefix) => text.starts_with(prefix),
            None => text == pattern,
        };
    }
    panic!("the model does not know the Choice rule {rule}: teach it in model/asl.rs")
}

/// The next state of a Choice state for this input.
pub fn choose(state: &Value, input: &Value) -> String {
    state["Choices"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|rule| rule_matches(rule, input))
        .and_then(|rule| rule["Next"].as_str())
        .or_else(|| state["Default"].as_str())
        .unwrap_or_else(|| panic!("no Choice rule matches and no Default: {input}"))
        .to_string()
}

fn error_matches(list: &Value, error: &str) -> bool {
    list.as_array().into_iter().flatten().any(|e| {
        let e = e.as_str().unwrap_or_default();
        e == error || e == "States.ALL" || (e == "States.TaskFailed" && error != "States.Timeout")
    })
}

/// The first retrier matching `error`: its index and MaxAttempts (3 when unset).
pub fn retrier(state: &Value, error: &str) -> Option<(usize, u32)> {
    state["Retry"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, r)| error_matches(&r["ErrorEquals"], error))
        .map(|(i, r)| (i, r["MaxAttempts"].as_u64().unwrap_or(3) as u32))
}

/// The first catcher matching `error`: its Next and the ResultPath the error goes to.
pub fn catcher(state: &Value, error: &str) -> Option<(String, Option<Value>)> {
    state["Catch"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| error_matches(&c["ErrorEquals"], error))
        .map(|c| {
            (
                c["Next"].as_str().unwrap().to_string(),
                c.get("ResultPath").cloned(),
            )
        })
}
