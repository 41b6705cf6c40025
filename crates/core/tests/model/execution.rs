//! One execution of the deployment state machine, walked as Step Functions would: each Task
//! state runs its workflow function exactly as its Lambda does, one port call per poll; errors
//! go through the state's Retry and Catch; a stopped execution starts nothing more, though an
//! invocation already running carries on (Lambda does not know the execution stopped).

use std::collections::BTreeMap;
use std::task::Poll;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_core::ports::{ExecutionStatus, Orchestrator};
use sluice_core::workflow::{
    ApprovalRequest, Cursor, RollbackRequest, SyncLimits, ValidateRequest, WorkflowError,
    analyze_step, await_approval, check_sync, finalize, roll_back, shift_traffic,
    validate_deployment,
};

use super::asl::{self, Definition, Task};
use super::world::{Call, EXECUTION, World, poll_once};

/// The error name Step Functions reports for a Lambda that timed out or ran out of memory.
pub const LAMBDA_UNKNOWN: &str = "Lambda.Unknown";

/// What one poll of the execution did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A port call was made, or a state was passed.
    Moved,
    /// Waiting for an answer to its task token.
    Waiting,
    /// Ended (or stopped, with nothing left running).
    Ended,
}

pub struct Execution {
    pub arn: String,
    definition: Definition,
    /// The current state and its input.
    pub state: String,
    input: Value,
    /// The running invocation of the current Task state (or, once stopped, the orphan).
    invocation: Option<(Task, Call)>,
    /// Tries made per retrier of the current state.
    attempts: BTreeMap<usize, u32>,
    /// The task token the execution waits on, once AwaitApproval's function returned.
    pub token: Option<String>,
    /// When the task waiting on the token times out (its state's `TimeoutSeconds`, counted
    /// from the attempt's start).
    token_deadline: Option<DateTime<Utc>>,
    tokens_issued: u32,
    /// Where it ended (a Succeed or Fail state), once it did.
    pub ended_in: Option<String>,
    /// The states it went through, and every error a task met.
    pub trace: Vec<String>,
}

impl Execution {
    pub async fn start(world: &World) -> Execution {
        let started = world
            .orchestrator
            .start_execution(EXECUTION, &world.request())
            .await
            .unwrap();
        let definition = Definition::load();
        Execution {
            arn: started.arn,
            state: definition.start.clone(),
            definition,
            input: world.request(),
            invocation: None,
            attempts: BTreeMap::new(),
            token: None,
            token_deadline: None,
            tokens_issued: 0,
            ended_in: None,
            trace: Vec::new(),
        }
    }

    /// Whether Step Functions still runs it.
    pub fn is_running(&self, world: &World) -> bool {
        world
            .orchestrator
            .executions()
            .iter()
            .any(|(name, _, status)| name == EXECUTION && status.is_running())
    }

    /// Whether a function invocation of it is running (possibly orphaned by a stop).
    pub fn is_invoking(&self) -> bool {
        self.invocation.is_some()
    }

    /// Makes one port call of the current Task's function (starting it if needed), passing
    /// through states that are not tasks first.
    pub fn poll(&mut self, world: &World) -> Progress {
        if self.invocation.is_none() {
            if !self.is_running(world) {
                return Progress::Ended;
            }
            if let Some(token) = self.token.clone() {
                return self.look_for_answer(world, &token);
            }
            self.pass_to_task(world);
            if !self.is_running(world) {
                return Progress::Ended;
            }
            let task = Task::of(&self.state, self.definition.state(&self.state));
            let mut call = self.invoke(world, task);
            // Runs to the first port call, which the poll below makes.
            if let Poll::Ready(result) = poll_once(&mut call) {
                self.answered(world, task, result);
                return Progress::Moved;
            }
            self.invocation = Some((task, call));
        }
        let (task, call) = self.invocation.as_mut().unwrap();
        let task = *task;
        if let Poll::Ready(result) = poll_once(call) {
            self.invocation = None;
            self.answered(world, task, result);
        }
        Progress::Moved
    }

    /// When the task waiting for an operator times out, if it does.
    pub fn token_deadline(&self) -> Option<DateTime<Utc>> {
        self.token.as_ref().and(self.token_deadline)
    }

    /// Step Functions times out the task waiting on the token: `States.Timeout`, through the
    /// state's Retry and Catch.
    pub fn time_out(&mut self, world: &World) {
        let Some(token) = self.token.take() else {
            return;
        };
        world.orchestrator.time_out_task(&token);
        self.look_for_answer(world, &token);
    }

    /// The running invocation dies (a Lambda timeout, out of memory): its next port call never
    /// happens, and the task fails with `Lambda.Unknown`.
    pub fn crash(&mut self, world: &World) -> bool {
        let Some((task, _)) = self.invocation.take() else {
            return false;
        };
        self.trace.push(format!("{} crashed", self.state));
        if self.is_running(world) {
            self.failed(world, task, LAMBDA_UNKNOWN, "the function crashed".into());
        }
        true
    }

    fn invoke(&mut self, world: &World, task: Task) -> Call {
        let w = world.clone();
        let input = self.input.clone();
        let cursor = || serde_json::from_value::<Cursor>(input.clone());
        match task {
            Task::Validate => {
                let request = ValidateRequest {
                    request: input.clone(),
                    execution_name: EXECUTION.into(),
                    execution_arn: Some(self.arn.clone()),
                };
                Box::pin(async move {
                    let cursor = validate_deployment(
                        &w.store,
                        &w.router,
                        &w.alarms,
                        &w.notifier,
                        &w.clock,
                        request,
                    )
                    .await?;
                    Ok(json!(cursor))
                })
            }
            Task::Shift => {
                let cursor = cursor().unwrap();
                Box::pin(async move {
                    Ok(json!(
                        shift_traffic(&w.store, &w.router, &w.notifier, &w.clock, cursor).await?
                    ))
                })
            }
            Task::Sync => {
                let cursor = cursor().unwrap();
                Box::pin(async move {
                    let limits = SyncLimits::default();
                    Ok(json!(
                        check_sync(&w.store, &w.router, &w.clock, limits, cursor).await?
                    ))
                })
            }
            Task::Analyze => {
                let cursor = cursor().unwrap();
                Box::pin(async move {
                    Ok(json!(
                        analyze_step(&w.store, &w.metrics, &w.alarms, &w.clock, cursor).await?
                    ))
                })
            }
            Task::AwaitApproval => {
                self.tokens_issued += 1;
                self.token_deadline = self.definition.state(&self.state)["TimeoutSeconds"]
                    .as_i64()
                    .map(|seconds| world.now() + chrono::Duration::seconds(seconds));
                let request = ApprovalRequest {
                    cursor: cursor().unwrap(),
                    task_token: format!("token-{}", self.tokens_issued),
                };
                Box::pin(async move {
                    let token = request.task_token.clone();
                    await_approval(&w.store, &w.notifier, &w.clock, request).await?;
                    Ok(json!({ "token": token }))
                })
            }
            Task::Finalize => {
                let cursor = cursor().unwrap();
                Box::pin(async move {
                    Ok(json!(
                        finalize(
                            &w.store,
                            &w.router,
                            &w.alarms,
                            &w.notifier,
                            &w.orchestrator,
                            &w.clock,
                            cursor
                        )
                        .await?
                    ))
                })
            }
            Task::Rollback => {
                let request: RollbackRequest = serde_json::from_value(input).unwrap();
                Box::pin(async move {
                    Ok(json!(
                        roll_back(
                            &w.store,
                            &w.router,
                            &w.notifier,
                            &w.orchestrator,
                            &w.clock,
                            SyncLimits::default(),
                            request
                        )
                        .await?
                    ))
                })
            }
        }
    }

    /// A function's answer, as the execution takes it (ignored once it no longer runs).
    fn answered(&mut self, world: &World, task: Task, result: Result<Value, WorkflowError>) {
        if !self.is_running(world) {
            self.trace.push(format!(
                "{} answered after the execution stopped: {}",
                self.state,
                describe(&result)
            ));
            return;
        }
        match result {
            Ok(output) if task == Task::AwaitApproval => {
                self.token = output["token"].as_str().map(str::to_string);
            }
            Ok(output) => {
                let state = self.definition.state(&self.state).clone();
                asl::apply_result_path(&state, &mut self.input, output);
                self.go(world, state["Next"].as_str().unwrap().to_string());
            }
            Err(error) => {
                let name = error.error_name().as_str();
                self.failed(world, task, name, error.to_string());
            }
        }
    }

    /// A task failed with `error`: retried while its retrier allows, else caught, else the
    /// execution fails.
    fn failed(&mut self, world: &World, _task: Task, error: &str, cause: String) {
        let state = self.definition.state(&self.state).clone();
        self.trace
            .push(format!("{} failed: {error}: {cause}", self.state));
        if let Some((retrier, max)) = asl::retrier(&state, error) {
            let tries = self.attempts.entry(retrier).or_default();
            if *tries < max {
                *tries += 1;
                world.clock.advance(1 << (*tries - 1).min(5));
                return;
            }
        }
        match asl::catcher(&state, error) {
            Some((next, result_path)) => {
                let caught = json!({"Error": error, "Cause": cause});
                match result_path {
                    None => self.input = caught,
                    Some(Value::Null) => {}
                    Some(Value::String(path)) => asl::set(&mut self.input, &path, caught),
                    Some(other) => panic!("Catch ResultPath {other}"),
                }
                self.go(world, next);
            }
            None => self.end(world, format!("{} (uncaught {error})", self.state), false),
        }
    }

    fn go(&mut self, world: &World, next: String) {
        self.trace.push(format!("{} → {next}", self.state));
        self.state = next;
        self.attempts.clear();
        self.pass_to_task(world);
    }

    /// Passes through Choice, Wait, Pass, Succeed and Fail states up to the next Task.
    fn pass_to_task(&mut self, world: &World) {
        loop {
            let state = self.definition.state(&self.state).clone();
            let next = match state["Type"].as_str().unwrap() {
                "Task" => return,
                "Choice" => asl::choose(&state, &self.input),
                "Wait" => {
                    self.wait(world, &state);
                    state["Next"].as_str().unwrap().to_string()
                }
                "Pass" => {
                    if let Some(result) = state.get("Result") {
                        asl::apply_result_path(&state, &mut self.input, result.clone());
                    }
                    state["Next"].as_str().unwrap().to_string()
                }
                "Succeed" => return self.end(world, self.state.clone(), true),
                "Fail" => return self.end(world, self.state.clone(), false),
                other => panic!("the model does not know state type {other}"),
            };
            self.trace.push(format!("{} → {next}", self.state));
            self.state = next;
            self.attempts.clear();
        }
    }

    /// A Wait state: the clock moves on, and the canary serves traffic meanwhile.
    fn wait(&self, world: &World, state: &Value) {
        let now = world.now();
        let until = if let Some(seconds) = state["Seconds"].as_i64() {
            now + chrono::Duration::seconds(seconds)
        } else if let Some(path) = state["SecondsPath"].as_str() {
            let seconds = asl::get(&self.input, path)
                .and_then(Value::as_i64)
                .unwrap_or(0);
            now + chrono::Duration::seconds(seconds)
        } else if let Some(path) = state["TimestampPath"].as_str() {
            asl::get(&self.input, path)
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.to_utc())
                .unwrap_or(now)
                .max(now)
        } else {
            panic!("the model does not know this Wait: {state}")
        };
        let step = self.input["step"].as_u64().unwrap_or(0) as usize;
        world.traffic_until(until, step);
        world.clock.set(until);
    }

    fn end(&mut self, world: &World, state: String, succeeded: bool) {
        let status = if succeeded {
            ExecutionStatus::Succeeded
        } else {
            ExecutionStatus::Failed
        };
        world.orchestrator.end_execution(EXECUTION, status);
        self.trace
            .push(format!("ended in {state} ({})", status.name()));
        self.ended_in = Some(state);
    }

    /// While waiting on a task token: an answer moves the execution on.
    fn look_for_answer(&mut self, world: &World, token: &str) -> Progress {
        let answer = world
            .orchestrator
            .task_answers()
            .into_iter()
            .find(|(t, _)| t == token);
        let Some((_, answer)) = answer else {
            return Progress::Waiting;
        };
        self.token = None;
        match answer {
            Ok(output) => {
                self.trace.push(format!("{} answered", self.state));
                let state = self.definition.state(&self.state).clone();
                asl::apply_result_path(&state, &mut self.input, output);
                self.go(world, state["Next"].as_str().unwrap().to_string());
            }
            Err((error, cause)) => self.failed(world, Task::AwaitApproval, &error, cause),
        }
        Progress::Moved
    }
}

pub fn describe(result: &Result<Value, WorkflowError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(error) => format!("{}: {error}", error.error_name().as_str()),
    }
}
