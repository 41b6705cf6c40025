//! A Step Functions execution as the runner reads it back: DescribeExecution and the full
//! GetExecutionHistory, reduced to what tests and the demo look at.

use aws_sdk_sfn as sfn;
use chrono::{DateTime, Utc};

use crate::error::{Result, aws_error};

/// One event of an execution's history.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The event type as Step Functions names it: `TaskStateEntered`, `LambdaFunctionFailed`, …
    pub kind: String,
    /// The state entered or exited, for state events.
    pub state: Option<String>,
    /// Error and cause, for failure events.
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// An execution and its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub arn: String,
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub output: Option<String>,
    pub history: Vec<ExecutionEvent>,
}

impl Execution {
    pub fn is_running(&self) -> bool {
        self.status == "RUNNING"
    }

    /// The states entered, in order.
    pub fn states_entered(&self) -> Vec<&str> {
        self.history
            .iter()
            .filter(|e| e.kind.ends_with("StateEntered"))
            .filter_map(|e| e.state.as_deref())
            .collect()
    }

    /// Every failure event of one kind (`LambdaFunctionFailed`, `TaskFailed`, …).
    pub fn failures(&self, kind: &str) -> Vec<&ExecutionEvent> {
        self.history.iter().filter(|e| e.kind == kind).collect()
    }

    /// How long it ran (so far).
    pub fn duration(&self) -> Option<chrono::Duration> {
        let start = self.started_at?;
        Some(self.stopped_at.unwrap_or_else(Utc::now) - start)
    }
}

fn time(at: &sfn::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(at.to_millis().ok()?)
}

/// Reads an execution and its whole history.
pub async fn read_execution(client: &sfn::Client, arn: &str) -> Result<Execution> {
    let described = client
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("DescribeExecution", arn, &e))?;
    let mut history = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(arn)
            .max_results(1000)
            .set_next_token(next_token.clone())
            .send()
            .await
            .map_err(|e| aws_error("GetExecutionHistory", arn, &e))?;
        history.extend(page.events().iter().map(event));
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    Ok(Execution {
        arn: arn.to_string(),
        name: described.name().unwrap_or_default().to_string(),
        status: described.status().as_str().to_string(),
        started_at: time(described.start_date()),
        stopped_at: described.stop_date().and_then(time),
        error: described.error().map(str::to_string),
        cause: described.cause().map(str::to_string),
        output: described.output().map(str::to_string),
        history,
    })
}

fn event(e: &sfn::types::HistoryEvent) -> ExecutionEvent {
    let state = e
        .state_entered_event_details()
        .map(|d| d.name().to_string())
        .or_else(|| e.state_exited_event_details().map(|d| d.name().to_string()));
    let (error, cause) = if let Some(d) = e.lambda_function_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.task_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.execution_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.execution_aborted_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.lambda_function_timed_out_event_details() {
        (d.error(), d.cause())
    } else {
        (None, None)
    };
    ExecutionEvent {
        id: e.id(),
        at: time(e.timestamp()).unwrap_or_else(Utc::now),
        kind: e.r#type().as_str().to_string(),
        state,
        // moto records a stopped execution's error and cause as empty strings.
        error: error.filter(|e| !e.is_empty()).map(str::to_string),
        cause: cause.filter(|c| !c.is_empty()).map(str::to_string),
    }
}
