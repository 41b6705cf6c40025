//! What EventBridge does in AWS and moto does not (DESIGN.md §7): an execution of the deployment
//! state machine that ends FAILED, TIMED_OUT or ABORTED is delivered to `reconcile` as a "Step
//! Functions Execution Status Change" event. The runner polls the state machine's executions
//! and delivers each such end once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::{Value, json};

use crate::error::{Result, aws_error};
use crate::router::{InvocationOutcome, LambdaRouter};

/// The function the execution-status rule invokes, as in AWS (infra/template.yaml).
pub const RECONCILE_FUNCTION: &str = "reconcile";

/// One execution end delivered to `reconcile`, and how the invocation ended.
#[derive(Debug, Clone)]
pub struct ExecutionEventDelivery {
    pub execution_arn: String,
    pub status: String,
    pub outcome: InvocationOutcome,
}

/// Polls the state machine's executions and delivers their failed ends to `reconcile`.
#[derive(Clone)]
pub struct ExecutionEvents {
    sfn: aws_sdk_sfn::Client,
    state_machine_arn: String,
    router: LambdaRouter,
    delivered: Arc<Mutex<BTreeSet<String>>>,
    deliveries: Arc<Mutex<Vec<ExecutionEventDelivery>>>,
}

impl ExecutionEvents {
    pub fn new(
        sdk: &sluice_aws::SdkConfig,
        state_machine_arn: &str,
        router: LambdaRouter,
    ) -> ExecutionEvents {
        ExecutionEvents {
            sfn: aws_sdk_sfn::Client::new(sdk),
            state_machine_arn: state_machine_arn.to_string(),
            router,
            delivered: Arc::default(),
            deliveries: Arc::default(),
        }
    }

    /// Every delivery so far, oldest first.
    pub fn deliveries(&self) -> Vec<ExecutionEventDelivery> {
        self.deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    /// Polls every `interval` until dropped.
    pub fn run(
        &self,
        interval: Duration,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let events = self.clone();
        async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if let Err(error) = events.deliver_ended().await {
                    tracing::warn!(%error, "execution events not delivered; trying again next tick");
                }
            }
        }
    }

    /// Delivers every failed end not delivered yet.
    pub async fn deliver_ended(&self) -> Result<()> {
        for arn in self.newly_ended().await? {
            let event = self.event_of(&arn).await?;
            // Delivered once: EventBridge, too, retries only a failed invoke.
            if let Ok(mut delivered) = self.delivered.lock() {
                delivered.insert(arn.clone());
            }
            let status = event["detail"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            tracing::info!(execution = %arn, %status, "delivering the execution's end to reconcile");
            let outcome = self.router.invoke(RECONCILE_FUNCTION, &event).await;
            if !matches!(outcome, InvocationOutcome::Succeeded { .. }) {
                tracing::warn!(execution = %arn, ?outcome, "reconcile failed on the execution's end");
            }
            if let Ok(mut deliveries) = self.deliveries.lock() {
                deliveries.push(ExecutionEventDelivery {
                    execution_arn: arn,
                    status,
                    outcome,
                });
            }
        }
        Ok(())
    }

    /// Executions that ended FAILED, TIMED_OUT or ABORTED and were not delivered yet.
    async fn newly_ended(&self) -> Result<Vec<String>> {
        let mut ended = Vec::new();
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                aws_error(
                    "ListExecutions",
                    format!("executions of {}", self.state_machine_arn),
                    &e,
                )
            })?;
            ended.extend(
                page.executions()
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.status(),
                            ExecutionStatus::Failed
                                | ExecutionStatus::TimedOut
                                | ExecutionStatus::Aborted
                        )
                    })
                    .map(|e| e.execution_arn().to_string()),
            );
        }
        let Ok(delivered) = self.delivered.lock() else {
            return Ok(Vec::new());
        };
        Ok(ended
            .into_iter()
            .filter(|arn| !delivered.contains(arn))
            .collect())
    }

    /// The event EventBridge sends for the execution's end (AWS's documented shape).
    async fn event_of(&self, arn: &str) -> Result<Value> {
        let execution = self
            .sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeExecution", arn.to_string(), &e))?;
        let millis =
            |t: Option<&aws_sdk_sfn::primitives::DateTime>| t.and_then(|t| t.to_millis().ok());
        Ok(json!({
            "version": "0",
            "id": format!("local-{}", execution.name().unwrap_or_default()),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": sluice_testkit::moto::ACCOUNT_ID,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": sluice_testkit::moto::REGION,
            "resources": [arn],
            "detail": {
                "executionArn": arn,
                "stateMachineArn": execution.state_machine_arn(),
                "name": execution.name(),
                "status": execution.status().as_str(),
                "startDate": millis(Some(execution.start_date())),
                "stopDate": millis(execution.stop_date()),
                "input": execution.input(),
                "inputDetails": {"included": true},
                "output": execution.output(),
                "outputDetails": null,
                "error": execution.error(),
                "cause": execution.cause(),
            }
        }))
    }
}
