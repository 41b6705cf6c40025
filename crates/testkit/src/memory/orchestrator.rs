//! Step Functions in memory: executions by name, stops with their cause, task answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sluice_core::ports::*;

use super::{Fault, Faults};

/// A task token and its answer: the output, or the error and cause.
pub type TaskAnswer = (String, Result<Value, (String, String)>);

#[derive(Default)]
struct OrchestratorState {
    executions: BTreeMap<String, (Value, ExecutionStatus, Option<String>)>,
    task_answers: Vec<TaskAnswer>,
    /// Errors the next task answers fail with, in order (nothing is recorded for them).
    answer_failures: std::collections::VecDeque<OrchestratorError>,
}

impl OrchestratorState {
    /// A task token is answered once: Step Functions refuses a second answer (the task is
    /// no longer waiting on it).
    fn ensure_unanswered(&self, token: &str) -> Result<(), OrchestratorError> {
        if self.task_answers.iter().any(|(t, _)| t == token) {
            return Err(OrchestratorError::TaskTokenInvalid {
                message: format!("task token {token} was already answered"),
            });
        }
        Ok(())
    }
}

/// Step Functions in memory: executions by name, stops with their cause, task answers.
#[derive(Default, Clone)]
pub struct MemoryOrchestrator {
    state: Arc<Mutex<OrchestratorState>>,
    faults: Faults,
}

impl MemoryOrchestrator {
    pub const MACHINE: &'static str = "arn:aws:states:us-east-1:123456789012:stateMachine:sluice";

    pub fn new() -> Self {
        Self::default()
    }

    /// Step Functions whose calls meet the faults (and yield as) `faults` says.
    pub fn with_faults(faults: &Faults) -> Self {
        MemoryOrchestrator {
            faults: faults.clone(),
            ..Self::default()
        }
    }

    /// Ends a running execution as its definition did (a Succeed or Fail state, a timeout).
    pub fn end_execution(&self, name: &str, status: ExecutionStatus) {
        let mut state = self.state.lock().unwrap();
        if let Some(execution) = state.executions.get_mut(name)
            && execution.1.is_running()
        {
            execution.1 = status;
        }
    }

    /// A task waiting on `token` timed out (its state's `TimeoutSeconds`): the execution goes
    /// on with `States.Timeout`, and a later answer to the token is refused.
    pub fn time_out_task(&self, token: &str) {
        self.state.lock().unwrap().task_answers.push((
            token.into(),
            Err(("States.Timeout".into(), "the task timed out".into())),
        ));
    }

    /// Enters a call: `Err` when a fault stops it before it acts; `Ok(true)` when it is to act
    /// and then lose its answer.
    async fn enter(&self, operation: &'static str, what: &str) -> Result<bool, OrchestratorError> {
        match self.faults.enter(operation).await {
            None => Ok(false),
            Some(Fault::Lost) => Ok(true),
            Some(_) => Err(injected(operation, what, "service unavailable (injected)")),
        }
    }

    pub fn arn_of(name: &str) -> String {
        format!(
            "{}:{name}",
            Self::MACHINE.replace(":stateMachine:", ":execution:")
        )
    }

    pub fn executions(&self) -> Vec<(String, Value, ExecutionStatus)> {
        self.state
            .lock()
            .unwrap()
            .executions
            .iter()
            .map(|(n, (input, status, _))| (n.clone(), input.clone(), *status))
            .collect()
    }

    /// The cause an execution was stopped with.
    pub fn stop_cause(&self, name: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .executions
            .get(name)
            .and_then(|e| e.2.clone())
    }

    pub fn task_answers(&self) -> Vec<TaskAnswer> {
        self.state.lock().unwrap().task_answers.clone()
    }

    /// The next task answer (success or failure) fails with `error` and is not delivered.
    pub fn fail_next_task_answer(&self, error: OrchestratorError) {
        self.state.lock().unwrap().answer_failures.push_back(error);
    }

    fn name_of(arn: &str) -> String {
        arn.rsplit(':').next().unwrap_or(arn).to_string()
    }
}

fn injected(operation: &'static str, what: &str, message: &str) -> OrchestratorError {
    OrchestratorError::Unavailable {
        operation,
        what: what.into(),
        message: message.into(),
    }
}

/// The answer of a call that acted: an error when its answer was lost.
fn answer<T>(
    lost: bool,
    operation: &'static str,
    what: &str,
    value: T,
) -> Result<T, OrchestratorError> {
    if lost {
        Err(injected(
            operation,
            what,
            "timed out (injected; the request took effect)",
        ))
    } else {
        Ok(value)
    }
}

impl Orchestrator for MemoryOrchestrator {
    fn state_machine_arn(&self) -> Option<&str> {
        Some(Self::MACHINE)
    }

    async fn start_execution(
        &self,
        name: &str,
        input: &Value,
    ) -> Result<ExecutionRef, OrchestratorError> {
        let lost = self.enter("StartExecution", name).await?;
        let mut state = self.state.lock().unwrap();
        if let Some((existing, _, _)) = state.executions.get(name) {
            if existing != input {
                return Err(OrchestratorError::NameTakenWithOtherInput { name: name.into() });
            }
            return Ok(ExecutionRef {
                arn: Self::arn_of(name),
                already_existed: true,
            });
        }
        state
            .executions
            .insert(name.into(), (input.clone(), ExecutionStatus::Running, None));
        let started = ExecutionRef {
            arn: Self::arn_of(name),
            already_existed: false,
        };
        answer(lost, "StartExecution", name, started)
    }

    async fn stop_execution(
        &self,
        arn: &str,
        _error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        let lost = self.enter("StopExecution", arn).await?;
        let mut state = self.state.lock().unwrap();
        let execution = state
            .executions
            .get_mut(&Self::name_of(arn))
            .ok_or_else(|| OrchestratorError::ExecutionNotFound { arn: arn.into() })?;
        if execution.1 == ExecutionStatus::Running {
            execution.1 = ExecutionStatus::Aborted;
            execution.2 = Some(cause.into());
        }
        answer(lost, "StopExecution", arn, ())
    }

    async fn execution_outcome(
        &self,
        arn: &str,
    ) -> Result<Option<ExecutionOutcome>, OrchestratorError> {
        match self.execution_status(arn).await {
            Ok(status) if status.is_running() => Ok(None),
            Ok(status) => Ok(Some(ExecutionOutcome {
                status,
                error: None,
                cause: None,
            })),
            Err(OrchestratorError::ExecutionNotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn execution_status(&self, arn: &str) -> Result<ExecutionStatus, OrchestratorError> {
        if self.enter("DescribeExecution", arn).await? {
            return Err(injected("DescribeExecution", arn, "injected failure"));
        }
        self.state
            .lock()
            .unwrap()
            .executions
            .get(&Self::name_of(arn))
            .map(|e| e.1)
            .ok_or_else(|| OrchestratorError::ExecutionNotFound { arn: arn.into() })
    }

    async fn send_task_success(
        &self,
        token: &str,
        output: &Value,
    ) -> Result<(), OrchestratorError> {
        let lost = self.enter("SendTaskSuccess", token).await?;
        let mut state = self.state.lock().unwrap();
        if let Some(error) = state.answer_failures.pop_front() {
            return Err(error);
        }
        state.ensure_unanswered(token)?;
        state.task_answers.push((token.into(), Ok(output.clone())));
        answer(lost, "SendTaskSuccess", token, ())
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        let lost = self.enter("SendTaskFailure", token).await?;
        let mut state = self.state.lock().unwrap();
        if let Some(failure) = state.answer_failures.pop_front() {
            return Err(failure);
        }
        state.ensure_unanswered(token)?;
        state
            .task_answers
            .push((token.into(), Err((error.into(), cause.into()))));
        answer(lost, "SendTaskFailure", token, ())
    }
}
