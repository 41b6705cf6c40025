//! Drives a deployment to its end through the workflow steps on any ports, as the state machine
//! would: shift, wait for sync, bake, analyze, and then whatever the definition's decision
//! Choice (`Decide` in `statemachine/deployment.asl.json`) names for the analysis' decision.
//! The routing is read from the definition itself, so a test driven here follows the same
//! table as a real execution: `extend` bakes again, `await-approval` asks the gate.

use std::future::Future;

use serde_json::Value;
use sluice_core::workflow::{
    ApprovalRequest, Cursor, RollbackRequest, WorkflowError, analyze_step, await_approval,
    check_sync, finalize, roll_back, shift_traffic,
};
use sluice_handler::Configured as Ports;

/// The state machine definition the routes are read from.
pub const DEFINITION: &str = include_str!("../../../statemachine/deployment.asl.json");

/// The JSON path of the decision the Choice routes on.
const DECISION_PATH: &str = "$.decision";
/// The task token the drive hands AwaitApproval.
pub const TASK_TOKEN: &str = "drive-task-token";

/// What a state after the decision Choice does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// ShiftTraffic: the next step.
    Shift,
    /// A Wait state before Analyze: the same step bakes again.
    Bake,
    /// AwaitApproval: a task token is stored and the gate waits for an answer.
    AwaitApproval,
    /// Finalize: promoted.
    Finalize,
    /// Rollback: back to blue.
    RollBack,
    /// A Fail or Succeed state of this name: the execution ends there.
    End(String),
}

/// The definition could not be read as routes.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("the state machine definition is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("the definition has no Choice state on {DECISION_PATH}")]
    NoDecisionChoice,
    #[error("Choice {choice}: {problem}")]
    Unsupported { choice: String, problem: String },
    #[error("state {state} (reached from {choice}) is not a step the drive knows: {problem}")]
    UnknownState {
        choice: String,
        state: String,
        problem: String,
    },
}

/// The decision Choice of a definition: its rules in order, each with the route it leads to,
/// and the default route.
#[derive(Debug, Clone)]
pub struct Routes {
    choice: String,
    rules: Vec<(Value, Route)>,
    default: Option<Route>,
}

impl Routes {
    /// The routes of `statemachine/deployment.asl.json`.
    pub fn deployment() -> Result<Routes, RoutesError> {
        Routes::from_definition(&serde_json::from_str(DEFINITION)?)
    }

    /// The routes of a definition's Choice state on `$.decision`.
    pub fn from_definition(definition: &Value) -> Result<Routes, RoutesError> {
        let states = definition
            .get("States")
            .and_then(Value::as_object)
            .ok_or(RoutesError::NoDecisionChoice)?;
        let (choice, state) = states
            .iter()
            .find(|(_, state)| {
                state["Type"] == "Choice" && state.to_string().contains(DECISION_PATH)
            })
            .ok_or(RoutesError::NoDecisionChoice)?;
        let unsupported = |problem: String| RoutesError::Unsupported {
            choice: choice.clone(),
            problem,
        };
        let route_to = |next: &Value| -> Result<Route, RoutesError> {
            let next = next
                .as_str()
                .ok_or_else(|| unsupported(format!("a Next that is not a name: {next}")))?;
            classify(states, choice, next, 0)
        };
        let mut rules = Vec::new();
        for rule in state["Choices"].as_array().into_iter().flatten() {
            // Checked now, so a rule the evaluator cannot read fails here, not mid-drive.
            matches(rule, None).map_err(&unsupported)?;
            rules.push((rule.clone(), route_to(&rule["Next"])?));
        }
        let default = match state.get("Default") {
            Some(next) => Some(route_to(next)?),
            None => None,
        };
        Ok(Routes {
            choice: choice.clone(),
            rules,
            default,
        })
    }

    /// Where the Choice sends `decision` (`None`: the cursor has none).
    pub fn route(&self, decision: Option<&str>) -> Result<&Route, RoutesError> {
        for (rule, route) in &self.rules {
            if matches(rule, decision).map_err(|problem| RoutesError::Unsupported {
                choice: self.choice.clone(),
                problem,
            })? {
                return Ok(route);
            }
        }
        self.default
            .as_ref()
            .ok_or_else(|| RoutesError::Unsupported {
                choice: self.choice.clone(),
                problem: format!("no rule and no Default for decision {decision:?}"),
            })
    }
}

/// Whether a Choice rule holds for `decision`. Reads the comparisons a decision Choice uses
/// (`IsPresent`, `StringEquals`, `And`, `Or`, `Not`) on `$.decision` only.
fn matches(rule: &Value, decision: Option<&str>) -> Result<bool, String> {
    let all = |rules: &Value| -> Result<Vec<bool>, String> {
        rules
            .as_array()
            .ok_or_else(|| format!("not a list of rules: {rules}"))?
            .iter()
            .map(|r| matches(r, decision))
            .collect()
    };
    if let Some(rules) = rule.get("And") {
        return Ok(all(rules)?.into_iter().all(|m| m));
    }
    if let Some(rules) = rule.get("Or") {
        return Ok(all(rules)?.into_iter().any(|m| m));
    }
    if let Some(inner) = rule.get("Not") {
        return Ok(!matches(inner, decision)?);
    }
    if rule["Variable"] != DECISION_PATH {
        return Err(format!(
            "a rule on something else than {DECISION_PATH}: {rule}"
        ));
    }
    if let Some(present) = rule.get("IsPresent").and_then(Value::as_bool) {
        return Ok(decision.is_some() == present);
    }
    if let Some(expected) = rule.get("StringEquals").and_then(Value::as_str) {
        return Ok(decision == Some(expected));
    }
    Err(format!("a comparison the drive cannot read: {rule}"))
}

/// What the state named `name` does, from its type and resource.
fn classify(
    states: &serde_json::Map<String, Value>,
    choice: &str,
    name: &str,
    hops: usize,
) -> Result<Route, RoutesError> {
    let unknown = |problem: &str| RoutesError::UnknownState {
        choice: choice.to_string(),
        state: name.to_string(),
        problem: problem.to_string(),
    };
    let state = states.get(name).ok_or_else(|| unknown("no such state"))?;
    let resource = state["Resource"].as_str().unwrap_or_default();
    match state["Type"].as_str().unwrap_or_default() {
        // A Pass only reshapes the payload (UnknownDecision records its error): the route is
        // where it goes next. Pass states chained into a loop have no route.
        "Pass" => match state["Next"].as_str() {
            Some(next) if hops < states.len() => classify(states, choice, next, hops + 1),
            Some(_) => Err(unknown("Pass states that loop")),
            None => Err(unknown("a Pass state with no Next")),
        },
        // A hook's gate: the drive runs deployments without hooks, which take the Default.
        "Choice" => match state["Default"].as_str() {
            Some(next) if hops < states.len() => classify(states, choice, next, hops + 1),
            Some(_) => Err(unknown("Choice states that loop")),
            None => Err(unknown("a Choice state with no Default")),
        },
        "Wait" => Ok(Route::Bake),
        "Fail" | "Succeed" => Ok(Route::End(name.to_string())),
        "Task" if resource.contains("waitForTaskToken") => Ok(Route::AwaitApproval),
        "Task" if resource.contains("ShiftTraffic") => Ok(Route::Shift),
        "Task" if resource.contains("Finalize") => Ok(Route::Finalize),
        "Task" if resource.contains("Rollback") => Ok(Route::RollBack),
        _ => Err(unknown(
            "neither a Wait, an end, nor a task of a known function",
        )),
    }
}

/// Where the drive is, for [`Pace::at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before ShiftTraffic.
    Shift,
    /// Before each WaitForSync poll.
    Sync,
    /// The Bake wait, before Analyze: the analysis is due at `cursor.analyze_at`.
    Bake,
    /// After Analyze, before the decision is routed.
    Decide,
    /// Between two Rollback invocations: the wait is `cursor.ramp_wait_seconds`.
    RampDown,
}

/// How time passes during a drive: an in-memory world moves its clock and writes the traffic
/// the analysis will read; a moto world waits in real time.
pub trait Pace<P> {
    /// Called as the drive reaches `stage` with `cursor`.
    fn at(&mut self, ports: &P, stage: Stage, cursor: &Cursor) -> impl Future<Output = ()>;

    /// The approver's answer at the gate (AwaitApproval stored [`TASK_TOKEN`]): the cursor
    /// the approval sends back, whose decision is routed next.
    fn approve(&mut self, ports: &P, cursor: Cursor) -> impl Future<Output = Cursor>;
}

/// Real time: the bake sleeps until the analysis is due (plus a little, so the analysis is
/// not early by the clocks' difference); an approval rolls back.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealTime;

impl<P> Pace<P> for RealTime {
    async fn at(&mut self, _ports: &P, stage: Stage, cursor: &Cursor) {
        if let (Stage::Bake, Some(due)) = (stage, cursor.analyze_at) {
            let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait + std::time::Duration::from_millis(200)).await;
        }
        if let (Stage::RampDown, Some(seconds)) = (stage, cursor.ramp_wait_seconds) {
            tokio::time::sleep(std::time::Duration::from_secs(u64::from(seconds))).await;
        }
    }

    async fn approve(&mut self, _ports: &P, cursor: Cursor) -> Cursor {
        with_decision(cursor, "roll-back")
    }
}

/// The cursor with `decision` as its decision (a string on the wire, whatever its Rust type).
pub fn with_decision(cursor: Cursor, decision: &str) -> Cursor {
    let mut json = serde_json::to_value(&cursor).unwrap_or(Value::Null);
    json["decision"] = Value::from(decision);
    serde_json::from_value(json).unwrap_or(cursor)
}

/// The cursor's decision as the state machine reads it.
pub fn decision_of(cursor: &Cursor) -> Option<String> {
    serde_json::to_value(cursor)
        .ok()
        .and_then(|json| json.get("decision")?.as_str().map(str::to_string))
}

/// How a drive ended.
#[derive(Debug, Clone)]
pub struct Ended {
    /// `Finalize`, `RollBack` or `End(state)`.
    pub route: Route,
    /// The cursor the last step returned.
    pub cursor: Cursor,
    /// Every route taken after an analysis, in order.
    pub decisions: Vec<Route>,
}

/// A step of the drive failed (in the state machine its Catch would route it).
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("{step} failed: {source}")]
    Step {
        step: &'static str,
        #[source]
        source: WorkflowError,
    },
    #[error(transparent)]
    Routes(#[from] RoutesError),
}

fn failed(step: &'static str) -> impl FnOnce(WorkflowError) -> DriveError {
    move |source| DriveError::Step { step, source }
}

/// Drives a validated deployment (`cursor` from Validate) to its end on `ports`, routed by
/// `routes`, with time passing as `pace` says.
pub async fn drive_to_end<P: Ports>(
    ports: &P,
    routes: &Routes,
    cursor: Cursor,
    pace: &mut impl Pace<P>,
) -> Result<Ended, DriveError> {
    let mut cursor = cursor;
    let mut decisions = Vec::new();
    let mut route = Route::Shift;
    loop {
        match route {
            Route::Shift => {
                pace.at(ports, Stage::Shift, &cursor).await;
                cursor = shift_traffic(
                    ports.store(),
                    ports.router(),
                    ports.notifier(),
                    ports.clock(),
                    cursor,
                )
                .await
                .map_err(failed("ShiftTraffic"))?;
                loop {
                    pace.at(ports, Stage::Sync, &cursor).await;
                    cursor = check_sync(
                        ports.store(),
                        ports.router(),
                        ports.clock(),
                        ports.config().sync,
                        cursor,
                    )
                    .await
                    .map_err(failed("WaitForSync"))?;
                    if cursor.in_sync {
                        break;
                    }
                }
                cursor = analyzed(ports, pace, cursor).await?;
            }
            Route::Bake => cursor = analyzed(ports, pace, cursor).await?,
            Route::AwaitApproval => {
                await_approval(
                    ports.store(),
                    ports.notifier(),
                    ports.clock(),
                    ApprovalRequest {
                        cursor: cursor.clone(),
                        task_token: TASK_TOKEN.into(),
                    },
                )
                .await
                .map_err(failed("AwaitApproval"))?;
                cursor = pace.approve(ports, cursor).await;
            }
            Route::Finalize => {
                let cursor = finalize(
                    ports.store(),
                    ports.router(),
                    ports.alarms(),
                    ports.notifier(),
                    ports.orchestrator(),
                    ports.clock(),
                    cursor,
                )
                .await
                .map_err(failed("Finalize"))?;
                return Ok(Ended {
                    route: Route::Finalize,
                    cursor,
                    decisions,
                });
            }
            Route::RollBack => {
                // The definition's loop: Rollback, then its wait, until it is complete.
                let mut cursor = cursor;
                loop {
                    let request = RollbackRequest {
                        cursor,
                        error: None,
                    };
                    cursor = roll_back(
                        ports.store(),
                        ports.router(),
                        ports.notifier(),
                        ports.orchestrator(),
                        ports.clock(),
                        ports.config().sync,
                        request,
                    )
                    .await
                    .map_err(failed("Rollback"))?;
                    if cursor.ramp_wait_seconds.is_none() {
                        break;
                    }
                    pace.at(ports, Stage::RampDown, &cursor).await;
                }
                return Ok(Ended {
                    route: Route::RollBack,
                    cursor,
                    decisions,
                });
            }
            Route::End(state) => {
                return Ok(Ended {
                    route: Route::End(state),
                    cursor,
                    decisions,
                });
            }
        }
        route = routes.route(decision_of(&cursor).as_deref())?.clone();
        decisions.push(route.clone());
    }
}

/// Bake, Analyze, and the pause before the decision.
async fn analyzed<P: Ports>(
    ports: &P,
    pace: &mut impl Pace<P>,
    cursor: Cursor,
) -> Result<Cursor, DriveError> {
    pace.at(ports, Stage::Bake, &cursor).await;
    let cursor = analyze_step(
        ports.store(),
        ports.metrics(),
        ports.alarms(),
        ports.clock(),
        cursor,
    )
    .await
    .map_err(failed("Analyze"))?;
    pace.at(ports, Stage::Decide, &cursor).await;
    Ok(cursor)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn the_deployment_definition_routes_every_decision_as_its_choice_says() {
        let routes = Routes::deployment().unwrap();
        assert_eq!(routes.route(Some("advance")).unwrap(), &Route::Shift);
        assert_eq!(routes.route(Some("promote")).unwrap(), &Route::Finalize);
        assert_eq!(routes.route(Some("extend")).unwrap(), &Route::Bake);
        assert_eq!(
            routes.route(Some("await-approval")).unwrap(),
            &Route::AwaitApproval
        );
        assert_eq!(routes.route(Some("roll-back")).unwrap(), &Route::RollBack);
        // No route for the decision: UnknownDecision (a Pass) records the error, then rolls back.
        assert_eq!(routes.route(Some("sideways")).unwrap(), &Route::RollBack);
        assert_eq!(routes.route(None).unwrap(), &Route::RollBack);
    }

    #[test]
    fn rules_are_evaluated_in_order_with_and_or_not() {
        let definition = json!({"States": {
            "Decide": {"Type": "Choice", "Choices": [
                {"Not": {"Variable": "$.decision", "IsPresent": true}, "Next": "Broken"},
                {"Or": [{"Variable": "$.decision", "StringEquals": "a"},
                        {"Variable": "$.decision", "StringEquals": "b"}], "Next": "Next"},
            ], "Default": "Back"},
            "Broken": {"Type": "Fail"},
            "Next": {"Type": "Task", "Resource": "${ShiftTrafficFunctionArn}"},
            "Back": {"Type": "Task", "Resource": "${RollbackFunctionArn}"},
        }});
        let routes = Routes::from_definition(&definition).unwrap();
        assert_eq!(routes.route(None).unwrap(), &Route::End("Broken".into()));
        assert_eq!(routes.route(Some("b")).unwrap(), &Route::Shift);
        assert_eq!(routes.route(Some("c")).unwrap(), &Route::RollBack);
    }

    #[test]
    fn a_choice_the_drive_cannot_read_is_refused_up_front() {
        let definition = json!({"States": {
            "Decide": {"Type": "Choice", "Choices": [
                {"Variable": "$.decision", "StringMatches": "adv*", "Next": "Next"}]},
            "Next": {"Type": "Task", "Resource": "${ShiftTrafficFunctionArn}"},
        }});
        let error = Routes::from_definition(&definition).unwrap_err();
        assert!(matches!(error, RoutesError::Unsupported { .. }), "{error}");
        let unknown = json!({"States": {
            "Decide": {"Type": "Choice", "Choices": [
                {"Variable": "$.decision", "StringEquals": "x", "Next": "Elsewhere"}]},
            "Elsewhere": {"Type": "Pass"},
        }});
        let error = Routes::from_definition(&unknown).unwrap_err();
        assert!(matches!(error, RoutesError::UnknownState { .. }), "{error}");
    }
}
