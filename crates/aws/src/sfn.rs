//! [`Orchestrator`] on Step Functions: one state machine, executions named after their
//! deployment so a repeated trigger finds the execution it already started.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_smithy_runtime_api::client::result::SdkError;
use serde_json::Value;
use sluice_core::ports::{
    ExecutionOutcome, ExecutionRef, ExecutionStatus, Orchestrator, OrchestratorError,
};

use crate::failure;

/// Step Functions' limits on a failure's error name and cause.
const MAX_ERROR_CHARS: usize = 256;
const MAX_CAUSE_CHARS: usize = 32_768;

/// Starts, stops and answers executions of one state machine.
#[derive(Debug, Clone)]
pub struct SfnOrchestrator {
    client: Client,
    state_machine_arn: String,
}

impl SfnOrchestrator {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> SfnOrchestrator {
        SfnOrchestrator {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    pub fn from_conf(
        config: &aws_config::SdkConfig,
        state_machine_arn: impl Into<String>,
    ) -> SfnOrchestrator {
        SfnOrchestrator::new(Client::new(config), state_machine_arn)
    }

    /// The ARN an execution named `name` of this state machine has:
    /// `arn:aws:states:<region>:<account>:execution:<state machine>:<name>`.
    fn arn_of(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }

    /// The execution, or `None` when it does not exist.
    async fn describe(
        &self,
        arn: &str,
    ) -> Result<Option<DescribeExecutionOutput>, OrchestratorError> {
        match self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(output) => Ok(Some(output)),
            Err(error) if failure::code(&error) == Some("ExecutionDoesNotExist") => Ok(None),
            Err(error) => Err(orchestrator_error("DescribeExecution", arn, &error)),
        }
    }

    /// An execution that exists under `name`: the same when its input is `input`.
    fn existing(
        &self,
        name: &str,
        input: &Value,
        execution: &DescribeExecutionOutput,
    ) -> Result<ExecutionRef, OrchestratorError> {
        let stored: Option<Value> = execution
            .input()
            .and_then(|text| serde_json::from_str(text).ok());
        if stored.as_ref() != Some(input) {
            return Err(OrchestratorError::NameTakenWithOtherInput {
                name: name.to_string(),
            });
        }
        tracing::info!(
            name,
            arn = execution.execution_arn(),
            "execution already exists"
        );
        Ok(ExecutionRef {
            arn: execution.execution_arn().to_string(),
            already_existed: true,
        })
    }
}

fn status(status: &aws_sdk_sfn::types::ExecutionStatus) -> Option<ExecutionStatus> {
    use aws_sdk_sfn::types::ExecutionStatus as Sfn;
    Some(match status {
        Sfn::Running => ExecutionStatus::Running,
        Sfn::Succeeded => ExecutionStatus::Succeeded,
        Sfn::Failed => ExecutionStatus::Failed,
        Sfn::TimedOut => ExecutionStatus::TimedOut,
        Sfn::Aborted => ExecutionStatus::Aborted,
        Sfn::PendingRedrive => ExecutionStatus::PendingRedrive,
        _ => return None,
    })
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn orchestrator_error<E, R>(
    operation: &'static str,
    what: &str,
    error: &SdkError<E, R>,
) -> OrchestratorError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = failure::describe(error);
    match failure::code(error) {
        Some("ExecutionDoesNotExist") => OrchestratorError::ExecutionNotFound {
            arn: what.to_string(),
        },
        Some("TaskDoesNotExist" | "InvalidToken" | "TaskTimedOut") => {
            OrchestratorError::TaskTokenInvalid { message }
        }
        Some(
            "InvalidArn"
            | "InvalidName"
            | "InvalidExecutionInput"
            | "InvalidOutput"
            | "StateMachineDoesNotExist"
            | "StateMachineDeleting"
            | "ValidationException",
        ) => OrchestratorError::Invalid {
            operation,
            what: what.to_string(),
            message,
        },
        _ if failure::is_throttled(error)
            || failure::code(error) == Some("ExecutionLimitExceeded") =>
        {
            OrchestratorError::Throttled {
                operation,
                what: what.to_string(),
                message,
            }
        }
        _ => OrchestratorError::Unavailable {
            operation,
            what: what.to_string(),
            message,
        },
    }
}

impl Orchestrator for SfnOrchestrator {
    fn state_machine_arn(&self) -> Option<&str> {
        Some(self.state_machine_arn.as_str()).filter(|arn| !arn.trim().is_empty())
    }

    async fn start_execution(
        &self,
        name: &str,
        input: &Value,
    ) -> Result<ExecutionRef, OrchestratorError> {
        let arn = self.arn_of(name);
        // StartExecution answers a repeat of a running execution (same name and input) with
        // that execution and no sign it existed; looking first tells the two apart.
        if let Some(execution) = self.describe(&arn).await? {
            return self.existing(name, input, &execution);
        }
        let what = format!("execution {name} of {}", self.state_machine_arn);
        let input_text = serde_json::to_string(input).map_err(|e| OrchestratorError::Invalid {
            operation: "StartExecution",
            what: what.clone(),
            message: format!("input is not JSON: {e}"),
        })?;
        let started = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input_text)
            .send()
            .await;
        match started {
            Ok(output) => {
                tracing::info!(name, arn = output.execution_arn(), "execution started");
                Ok(ExecutionRef {
                    arn: output.execution_arn().to_string(),
                    already_existed: false,
                })
            }
            Err(error) if failure::code(&error) == Some("ExecutionAlreadyExists") => {
                // Started by someone else between the look and the start, or already ended.
                match self.describe(&arn).await? {
                    Some(execution) => self.existing(name, input, &execution),
                    None => Err(OrchestratorError::Unavailable {
                        operation: "StartExecution",
                        what,
                        message: format!(
                            "{}, yet {arn} cannot be described",
                            failure::describe(&error)
                        ),
                    }),
                }
            }
            Err(error) => Err(orchestrator_error("StartExecution", &what, &error)),
        }
    }

    async fn stop_execution(
        &self,
        arn: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        let running = |execution: &DescribeExecutionOutput| {
            status(execution.status()).is_none_or(|s| s.is_running())
        };
        match self.describe(arn).await? {
            None => {
                return Err(OrchestratorError::ExecutionNotFound {
                    arn: arn.to_string(),
                });
            }
            Some(execution) if !running(&execution) => {
                tracing::info!(arn, status = ?execution.status(), "execution already ended");
                return Ok(());
            }
            Some(_) => {}
        }
        let stopped = self
            .client
            .stop_execution()
            .execution_arn(arn)
            .error(truncate(error, MAX_ERROR_CHARS))
            .cause(truncate(cause, MAX_CAUSE_CHARS))
            .send()
            .await;
        match stopped {
            Ok(_) => {
                tracing::info!(arn, error, "execution stopped");
                Ok(())
            }
            Err(failed) => match self.describe(arn).await? {
                // It ended by itself meanwhile.
                Some(execution) if !running(&execution) => Ok(()),
                _ => Err(orchestrator_error("StopExecution", arn, &failed)),
            },
        }
    }

    async fn execution_outcome(
        &self,
        arn: &str,
    ) -> Result<Option<ExecutionOutcome>, OrchestratorError> {
        let Some(execution) = self.describe(arn).await? else {
            return Ok(None);
        };
        let status = status(execution.status()).ok_or_else(|| OrchestratorError::Unavailable {
            operation: "DescribeExecution",
            what: arn.to_string(),
            message: format!("unknown status {}", execution.status().as_str()),
        })?;
        if status.is_running() {
            return Ok(None);
        }
        Ok(Some(ExecutionOutcome {
            status,
            error: execution.error().map(str::to_string),
            cause: execution.cause().map(str::to_string),
        }))
    }

    async fn execution_status(&self, arn: &str) -> Result<ExecutionStatus, OrchestratorError> {
        let execution =
            self.describe(arn)
                .await?
                .ok_or_else(|| OrchestratorError::ExecutionNotFound {
                    arn: arn.to_string(),
                })?;
        status(execution.status()).ok_or_else(|| OrchestratorError::Unavailable {
            operation: "DescribeExecution",
            what: arn.to_string(),
            message: format!("unknown status {}", execution.status().as_str()),
        })
    }

    async fn send_task_success(
        &self,
        token: &str,
        output: &Value,
    ) -> Result<(), OrchestratorError> {
        let what = "task token";
        let output = serde_json::to_string(output).map_err(|e| OrchestratorError::Invalid {
            operation: "SendTaskSuccess",
            what: what.into(),
            message: format!("output is not JSON: {e}"),
        })?;
        self.client
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await
            .map_err(|e| orchestrator_error("SendTaskSuccess", what, &e))?;
        tracing::info!("task success sent");
        Ok(())
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        self.client
            .send_task_failure()
            .task_token(token)
            .error(truncate(error, MAX_ERROR_CHARS))
            .cause(truncate(cause, MAX_CAUSE_CHARS))
            .send()
            .await
            .map_err(|e| orchestrator_error("SendTaskFailure", "task token", &e))?;
        tracing::info!(error, "task failure sent");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_derive_from_the_state_machine() {
        let config = aws_sdk_sfn::Config::builder()
            .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
            .build();
        let sfn = SfnOrchestrator::new(
            Client::from_conf(config),
            "arn:aws:states:us-east-1:123456789012:stateMachine:sluice-deploy",
        );
        assert_eq!(
            sfn.arn_of("checkout-v2"),
            "arn:aws:states:us-east-1:123456789012:execution:sluice-deploy:checkout-v2"
        );
    }
}
