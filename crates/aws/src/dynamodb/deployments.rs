//! [`Deployments`] on the table: the record under its service, its history under its id, both
//! written in one transaction conditional on the revision.

use sluice_core::ports::{DeploymentKey, Deployments, DeploymentsError, StorageFailure};
use sluice_core::service_state::ServiceState;
use sluice_core::{Deployment, DeploymentId, HistoryEvent};

use super::items::{self, n, s};
use super::states::state_what;
use super::{
    CONDITIONAL_CHECK_FAILED, Condition, DynamoDbStore, TransactFailure, condition_failed_at,
    deployment_what, keys, request_token,
};

/// How often a save re-reads a service state that changed underneath before giving up.
const STATE_ATTEMPTS: usize = 5;

impl DynamoDbStore {
    /// The service's state after `deployment` ended, with its next revision; `None` when the
    /// deployment has not ended, or its end is recorded already.
    async fn ended_state(
        &self,
        deployment: &Deployment,
    ) -> Result<Option<ServiceState>, StorageFailure> {
        if !deployment.status.is_terminal() {
            return Ok(None);
        }
        let mut state = self
            .read_state(&deployment.service)
            .await?
            .unwrap_or_else(|| ServiceState::new(&deployment.service));
        if !state.record_end(deployment) {
            return Ok(None);
        }
        state.revision += 1;
        Ok(Some(state))
    }
}

impl Deployments for DynamoDbStore {
    async fn create(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> Result<(), DeploymentsError> {
        let key = DeploymentKey::of(deployment);
        let what = deployment_what(&key);
        let record = items::deployment_item(deployment)?;
        let history = items::event_item(&deployment.id, event, self.event_expiry(event))?;
        let token = request_token(&[&record, &history]);
        let writes = vec![
            self.put(record, Some(Condition::absent()))
                .map_err(|e| self.build_error(&what, e))?,
            self.put(history, Some(Condition::absent()))
                .map_err(|e| self.build_error(&what, e))?,
        ];
        match self.transact(writes, Some(token), &what).await {
            Ok(()) => {
                tracing::info!(deployment = %deployment.id, service = %deployment.service, "deployment created");
                Ok(())
            }
            Err(TransactFailure::Cancelled(codes))
                if codes.iter().any(|c| c == CONDITIONAL_CHECK_FAILED) =>
            {
                Err(DeploymentsError::AlreadyExists {
                    id: deployment.id.clone(),
                })
            }
            Err(TransactFailure::Cancelled(codes)) => Err(self.cancelled(&what, &codes).into()),
            Err(TransactFailure::Failed(error)) => Err(error.into()),
        }
    }

    async fn get(&self, key: &DeploymentKey) -> Result<Option<Deployment>, DeploymentsError> {
        self.get_item(
            items::key(keys::service_pk(&key.service), keys::deploy_sk(key)),
            &deployment_what(key),
        )
        .await?
        .map(|item| items::deployment_from_item(&item))
        .transpose()
        .map_err(Into::into)
    }

    async fn find(&self, id: &DeploymentId) -> Result<Option<Deployment>, DeploymentsError> {
        let what = format!("deployment {id} (by id)");
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#g1pk = :pk AND #g1sk = :record")
            .expression_attribute_names("#g1pk", keys::GSI1PK)
            .expression_attribute_names("#g1sk", keys::GSI1SK)
            .expression_attribute_values(":pk", s(keys::deploy_pk(id)))
            .expression_attribute_values(":record", s(keys::RECORD_GSI1SK));
        let found = self.query_all(query, &what).await?;
        let deployment = found.first().map(items::deployment_from_item).transpose()?;
        Ok(deployment)
    }

    async fn save(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> Result<(), DeploymentsError> {
        let key = DeploymentKey::of(deployment);
        let what = deployment_what(&key);
        let expected = deployment.revision.saturating_sub(1);
        let conflict = || DeploymentsError::RevisionConflict {
            id: deployment.id.clone(),
            expected,
        };
        let record = items::deployment_item(deployment)?;
        let history = items::event_item(&deployment.id, event, self.event_expiry(event))?;
        // A deployment's end changes its service's state in the same transaction; the state is
        // read again when another write (a queued release) changed it meanwhile.
        for _attempt in 0..STATE_ATTEMPTS {
            let state = self.ended_state(deployment).await?;
            let mut writes = vec![
                self.put(
                    record.clone(),
                    Some(Condition {
                        expression: "#rev = :expected",
                        names: vec![("#rev", items::REVISION)],
                        values: vec![(":expected", n(expected))],
                    }),
                )
                .map_err(|e| self.build_error(&what, e))?,
                self.put(history.clone(), Some(Condition::absent()))
                    .map_err(|e| self.build_error(&what, e))?,
            ];
            let mut token_items = vec![record.clone(), history.clone()];
            if let Some(state) = &state {
                writes.push(self.state_put(state)?);
                token_items.push(items::state_item(state)?);
            }
            let token = request_token(&token_items.iter().collect::<Vec<_>>());
            match self.transact(writes, Some(token), &what).await {
                Ok(()) => {
                    tracing::info!(
                        deployment = %deployment.id,
                        status = %deployment.status,
                        revision = deployment.revision,
                        "deployment saved"
                    );
                    return Ok(());
                }
                Err(TransactFailure::Cancelled(codes))
                    if condition_failed_at(&codes, 0) || condition_failed_at(&codes, 1) =>
                {
                    tracing::info!(deployment = %deployment.id, expected, "revision conflict");
                    return Err(conflict());
                }
                Err(TransactFailure::Cancelled(codes)) if condition_failed_at(&codes, 2) => {
                    tracing::info!(deployment = %deployment.id, "service state changed meanwhile; read again");
                    continue;
                }
                Err(TransactFailure::Cancelled(codes)) => {
                    return Err(self.cancelled(&what, &codes).into());
                }
                Err(TransactFailure::Failed(error)) => return Err(error.into()),
            }
        }
        Err(StorageFailure::Throttled {
            operation: "TransactWriteItems",
            what: format!("{what} in table {}", self.table()),
            message: format!("the {} kept changing", state_what(&deployment.service)),
        }
        .into())
    }

    async fn history(&self, id: &DeploymentId) -> Result<Vec<HistoryEvent>, DeploymentsError> {
        let what = format!("history of deployment {id}");
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :event)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::deploy_pk(id)))
            .expression_attribute_values(":event", s(keys::EVENT_SK_PREFIX))
            .consistent_read(true)
            .scan_index_forward(true);
        self.query_all(query, &what)
            .await?
            .iter()
            .map(items::event_from_item)
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    async fn list(&self, service: &str, limit: usize) -> Result<Vec<Deployment>, DeploymentsError> {
        let what = format!("deployments of service {service}");
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :deploy)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::service_pk(service)))
            .expression_attribute_values(":deploy", s(keys::DEPLOY_SK_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX).clamp(1, 100))
            .into_paginator()
            .send();
        let mut found = Vec::new();
        // Only as many pages as the newest `limit` deployments need.
        while found.len() < limit
            && let Some(page) = pages.next().await
        {
            let page = page.map_err(|e| self.error("Query", &what, &e))?;
            for item in page.items() {
                found.push(items::deployment_from_item(item)?);
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}
