//! What a test or a scenario reads from the running system: executions and their history,
//! the deployment records, the service's lock, the weighted records, the table's keys.

use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_core::ports::{
    Deployments, ServiceConfigs, ServiceLock, ServiceLocks, TrafficRouter, WeightedRecords,
};
use sluice_core::{Deployment, DeploymentId, HistoryEvent, WeightPair};

use super::LocalRunner;
use crate::error::{LocalError, Result, aws_error};
use crate::execution::{Execution, read_execution};

impl LocalRunner {
    /// The execution and its history as they are now.
    pub async fn execution(&self, execution_arn: &str) -> Result<Execution> {
        read_execution(&self.sfn(), execution_arn).await
    }

    /// Polls the execution until it is no longer RUNNING.
    pub async fn wait_for_execution(
        &self,
        execution_arn: &str,
        timeout: Duration,
    ) -> Result<Execution> {
        let started = Instant::now();
        loop {
            let execution = self.execution(execution_arn).await?;
            if !execution.is_running() {
                return Ok(execution);
            }
            if started.elapsed() > timeout {
                return Err(LocalError::ExecutionTimeout {
                    execution_arn: execution_arn.to_string(),
                    waited: started.elapsed(),
                    status: execution.status,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The deployment record of `id` (the execution name), if Validate wrote one.
    pub async fn deployment(&self, id: &str) -> Result<Option<Deployment>> {
        let id = DeploymentId::parse(id).map_err(|e| LocalError::Request(e.to_string()))?;
        Ok(self.store.find(&id).await?)
    }

    /// The deployment's history, oldest first.
    pub async fn deployment_history(&self, id: &str) -> Result<Vec<HistoryEvent>> {
        let id = DeploymentId::parse(id).map_err(|e| LocalError::Request(e.to_string()))?;
        Ok(self.store.history(&id).await?)
    }

    /// Every deployment record of the environment's service, newest first.
    pub async fn deployments(&self) -> Result<Vec<Deployment>> {
        Ok(self.store.list(self.environment.service(), 100).await?)
    }

    /// The service's lock, while a deployment holds it.
    pub async fn lock(&self) -> Result<Option<ServiceLock>> {
        Ok(self.store.lock(self.environment.service()).await?)
    }

    /// The blue and green records as Route 53 holds them now.
    pub async fn records(&self) -> Result<WeightedRecords> {
        Ok(self.route53.read_weights(&self.environment.records).await?)
    }

    /// The blue and green weights Route 53 holds now.
    pub async fn weights(&self) -> Result<WeightPair> {
        self.records()
            .await?
            .weights()
            .ok_or_else(|| LocalError::Aws {
                operation: "ListResourceRecordSets",
                what: self.environment.records.name.clone(),
                message: "the blue or green weighted record is missing".into(),
            })
    }

    /// Stores the service's CONFIG item (its default request, and the `release` section that
    /// names the repositories whose tags release it), as an operator would before release
    /// tags can start deployments.
    pub async fn put_service_config(&self, config: &Value) -> Result<()> {
        Ok(self
            .store
            .put_service_config(self.environment.service(), config)
            .await?)
    }

    /// Every execution of the deployment state machine, newest first, as `ListExecutions`
    /// returns them: (name, status).
    pub async fn executions(&self) -> Result<Vec<(String, String)>> {
        let arn = &self.environment.state_machine_arn;
        let executions = self
            .sfn()
            .list_executions()
            .state_machine_arn(arn)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListExecutions", arn.clone(), &e))?;
        Ok(executions
            .iter()
            .map(|e| (e.name().to_string(), e.status().as_str().to_string()))
            .collect())
    }

    /// The (`PK`, `SK`) of every item in the table, sorted: what a test asserts "nothing was
    /// written" or "one key was written" against.
    pub async fn table_keys(&self) -> Result<Vec<(String, String)>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        use sluice_aws::dynamodb::keys::{PK, SK};
        let table = &self.environment.names.table;
        let text = |item: &std::collections::HashMap<String, AttributeValue>, key: &str| {
            item.get(key)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let items = aws_sdk_dynamodb::Client::new(&self.sdk)
            .scan()
            .table_name(table)
            .projection_expression("#pk, #sk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("Scan", format!("table {table}"), &e))?;
        let mut keys: Vec<(String, String)> =
            items.iter().map(|i| (text(i, PK), text(i, SK))).collect();
        keys.sort();
        Ok(keys)
    }
}
