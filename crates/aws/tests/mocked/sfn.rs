use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use aws_sdk_sfn::types::error::{
    ExecutionAlreadyExists, ExecutionDoesNotExist, InvalidToken, TaskTimedOut,
};
use aws_smithy_mocks::{Rule, mock};
use serde_json::json;
use sluice_aws::SfnOrchestrator;
use sluice_core::ports::{ExecutionOutcome, ExecutionStatus, Orchestrator, OrchestratorError};

use crate::{meta, mocked};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:sluice";
const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:sluice:checkout-v2";

fn orchestrator(rules: &[&Rule]) -> SfnOrchestrator {
    SfnOrchestrator::new(mocked!(aws_sdk_sfn, rules), MACHINE)
}

fn not_found() -> DescribeExecutionError {
    DescribeExecutionError::ExecutionDoesNotExist(
        ExecutionDoesNotExist::builder()
            .message("Execution Does Not Exist")
            .meta(meta("ExecutionDoesNotExist", "Execution Does Not Exist"))
            .build(),
    )
}

fn existing(input: &str, status: SfnStatus) -> DescribeExecutionOutput {
    DescribeExecutionOutput::builder()
        .execution_arn(EXECUTION)
        .state_machine_arn(MACHINE)
        .name("checkout-v2")
        .status(status)
        .start_date(aws_smithy_types::DateTime::from_secs(1_800_000_000))
        .input(input)
        .build()
        .unwrap()
}

fn already_exists() -> StartExecutionError {
    StartExecutionError::ExecutionAlreadyExists(
        ExecutionAlreadyExists::builder()
            .message(format!("Execution Already Exists: '{EXECUTION}'"))
            .meta(meta("ExecutionAlreadyExists", "Execution Already Exists"))
            .build(),
    )
}

#[tokio::test]
async fn an_execution_already_existing_with_the_same_input_is_returned() {
    let describe = mock!(Client::describe_execution)
        .sequence()
        .error(not_found)
        .output(|| {
            existing(
                r#"{"service":"checkout","version":"v2"}"#,
                SfnStatus::Succeeded,
            )
        })
        .build();
    let start = mock!(Client::start_execution)
        .match_requests(|req| {
            req.name() == Some("checkout-v2") && req.state_machine_arn() == Some(MACHINE)
        })
        .then_error(already_exists);

    let execution = orchestrator(&[&describe, &start])
        .start_execution(
            "checkout-v2",
            &json!({"version": "v2", "service": "checkout"}),
        )
        .await
        .unwrap();

    assert_eq!(execution.arn, EXECUTION);
    assert!(execution.already_existed);
}

#[tokio::test]
async fn an_execution_name_taken_with_other_input_is_refused() {
    let describe = mock!(Client::describe_execution).then_output(|| {
        existing(
            r#"{"service":"checkout","version":"v1"}"#,
            SfnStatus::Running,
        )
    });
    let error = orchestrator(&[&describe])
        .start_execution(
            "checkout-v2",
            &json!({"service": "checkout", "version": "v2"}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OrchestratorError::NameTakenWithOtherInput { name } if name == "checkout-v2"),
        "{error:?}"
    );
}

#[tokio::test]
async fn stopping_an_ended_execution_succeeds_without_stopping_it() {
    // No StopExecution rule: a call to it would fail the test.
    let describe =
        mock!(Client::describe_execution).then_output(|| existing("{}", SfnStatus::Succeeded));
    orchestrator(&[&describe])
        .stop_execution(EXECUTION, "Sluice.Aborted", "operator abort")
        .await
        .unwrap();
}

#[tokio::test]
async fn stopping_a_missing_execution_is_execution_not_found() {
    let describe = mock!(Client::describe_execution).then_error(not_found);
    let error = orchestrator(&[&describe])
        .stop_execution(EXECUTION, "Sluice.Aborted", "operator abort")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OrchestratorError::ExecutionNotFound { arn } if arn == EXECUTION),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_ended_execution_tells_its_error_and_cause_and_a_running_or_missing_one_nothing() {
    let failed = mock!(Client::describe_execution).then_output(|| {
        let mut output = existing("{}", SfnStatus::Failed);
        output.error = Some("Sluice.Invalid".into());
        output.cause = Some("recordName is outside the zone".into());
        output
    });
    let outcome = orchestrator(&[&failed])
        .execution_outcome(EXECUTION)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Some(ExecutionOutcome {
            status: ExecutionStatus::Failed,
            error: Some("Sluice.Invalid".into()),
            cause: Some("recordName is outside the zone".into()),
        })
    );
    assert_eq!(
        outcome.map(|o| (o.status.name(), o.explanation())),
        Some((
            "FAILED",
            "Sluice.Invalid: recordName is outside the zone".into()
        ))
    );

    let running =
        mock!(Client::describe_execution).then_output(|| existing("{}", SfnStatus::Running));
    assert_eq!(
        orchestrator(&[&running])
            .execution_outcome(EXECUTION)
            .await
            .unwrap(),
        None
    );
    let missing = mock!(Client::describe_execution).then_error(not_found);
    assert_eq!(
        orchestrator(&[&missing])
            .execution_outcome(EXECUTION)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn expired_or_unknown_task_tokens_are_task_token_invalid() {
    let success = mock!(Client::send_task_success).then_error(|| {
        SendTaskSuccessError::TaskTimedOut(
            TaskTimedOut::builder()
                .message("Task Timed Out")
                .meta(meta("TaskTimedOut", "Task Timed Out"))
                .build(),
        )
    });
    let failure = mock!(Client::send_task_failure).then_error(|| {
        SendTaskFailureError::InvalidToken(
            InvalidToken::builder()
                .message("Invalid Token")
                .meta(meta("InvalidToken", "Invalid Token"))
                .build(),
        )
    });
    let sfn = orchestrator(&[&success, &failure]);

    let error = sfn
        .send_task_success("token-1", &json!({"approved": true}))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OrchestratorError::TaskTokenInvalid { message } if message.contains("TaskTimedOut")),
        "{error:?}"
    );
    let error = sfn
        .send_task_failure("token-1", "Sluice.Rejected", "no")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OrchestratorError::TaskTokenInvalid { message } if message.contains("InvalidToken")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}
