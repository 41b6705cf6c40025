//! sluice's own metrics in CloudWatch embedded metric format: every history event a handler
//! writes is also printed as EMF lines (namespace `Sluice`, dimension `Service`), which Lambda's
//! log pipeline turns into the metrics the deployment dashboard shows.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_core::deployment::{Deployment, DeploymentId, HistoryEvent};
use sluice_core::ports::{
    DeploymentKey, Deployments, DeploymentsError, LockError, QueueWrite, ServiceConfigError,
    ServiceConfigs, ServiceLock, ServiceLocks, ServiceStateError, ServiceStates, TriggerClaim,
    TriggerLedger, TriggerLedgerError, TriggerRecord,
};
use sluice_core::service_state::{QueuedRelease, ServiceState};
use sluice_core::telemetry::{MetricPoint, NAMESPACE, points_for};

/// One EMF document for one metric point of `deployment`.
pub fn emf_line(deployment: &Deployment, event: &HistoryEvent, point: &MetricPoint) -> Value {
    let dimensions = if point.metric.is_some() {
        json!([["Service", "Metric"]])
    } else {
        json!([["Service"]])
    };
    let mut line = json!({
        "_aws": {
            "Timestamp": event.at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": [{"Name": point.name, "Unit": point.unit}],
            }],
        },
        "Service": deployment.service,
        point.name: point.value,
        "deploymentId": deployment.id.as_str(),
        "version": deployment.spec.version,
    });
    if let Some(metric) = &point.metric {
        line["Metric"] = json!(metric);
    }
    if let Some(step) = deployment.step {
        line["step"] = json!(step);
    }
    line
}

fn emit(deployment: &Deployment, event: &HistoryEvent) {
    for point in points_for(deployment, event) {
        // Straight to stdout, one JSON document a line, as EMF wants: not inside a log record.
        println!("{}", emf_line(deployment, event, &point));
    }
}

/// The storage ports, printing the metrics of every event written.
#[derive(Debug, Clone)]
pub struct MeteredStore<S>(pub S);

impl<S: ServiceConfigs> ServiceConfigs for MeteredStore<S> {
    async fn service_config(&self, service: &str) -> Result<Option<Value>, ServiceConfigError> {
        self.0.service_config(service).await
    }
    async fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> Result<(), ServiceConfigError> {
        self.0.put_service_config(service, config).await
    }
    async fn service_configs(&self) -> Result<Vec<(String, Value)>, ServiceConfigError> {
        self.0.service_configs().await
    }
    async fn services_released_from(
        &self,
        repository: &str,
    ) -> Result<Vec<(String, Value)>, ServiceConfigError> {
        self.0.services_released_from(repository).await
    }
}

impl<S: ServiceStates> ServiceStates for MeteredStore<S> {
    async fn service_state(
        &self,
        service: &str,
    ) -> Result<Option<ServiceState>, ServiceStateError> {
        self.0.service_state(service).await
    }
    async fn queue_release(
        &self,
        service: &str,
        release: &QueuedRelease,
        now: DateTime<Utc>,
    ) -> Result<QueueWrite, ServiceStateError> {
        self.0.queue_release(service, release, now).await
    }
    async fn update_service_state<F>(
        &self,
        service: &str,
        change: F,
    ) -> Result<ServiceState, ServiceStateError>
    where
        F: Fn(&mut ServiceState) -> bool + Send + Sync,
    {
        self.0.update_service_state(service, change).await
    }
}

impl<S: ServiceLocks> ServiceLocks for MeteredStore<S> {
    async fn acquire_lock(&self, lock: &ServiceLock, now: DateTime<Utc>) -> Result<(), LockError> {
        self.0.acquire_lock(lock, now).await
    }
    async fn release_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
    ) -> Result<(), LockError> {
        self.0.release_lock(service, deployment).await
    }
    async fn lock(&self, service: &str) -> Result<Option<ServiceLock>, LockError> {
        self.0.lock(service).await
    }
    async fn renew_lock(
        &self,
        service: &str,
        deployment: &DeploymentId,
        lease_until: DateTime<Utc>,
    ) -> Result<(), LockError> {
        self.0.renew_lock(service, deployment, lease_until).await
    }
    async fn locked_services(&self) -> Result<Vec<String>, LockError> {
        self.0.locked_services().await
    }
    async fn locks_for_alarm(&self, alarm: &str) -> Result<Vec<ServiceLock>, LockError> {
        self.0.locks_for_alarm(alarm).await
    }
}

impl<S: Deployments> Deployments for MeteredStore<S> {
    async fn create(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> Result<(), DeploymentsError> {
        self.0.create(deployment, event).await?;
        emit(deployment, event);
        Ok(())
    }
    async fn get(&self, key: &DeploymentKey) -> Result<Option<Deployment>, DeploymentsError> {
        self.0.get(key).await
    }
    async fn find(&self, id: &DeploymentId) -> Result<Option<Deployment>, DeploymentsError> {
        self.0.find(id).await
    }
    async fn save(
        &self,
        deployment: &Deployment,
        event: &HistoryEvent,
    ) -> Result<(), DeploymentsError> {
        self.0.save(deployment, event).await?;
        emit(deployment, event);
        Ok(())
    }
    async fn history(&self, id: &DeploymentId) -> Result<Vec<HistoryEvent>, DeploymentsError> {
        self.0.history(id).await
    }
    async fn list(&self, service: &str, limit: usize) -> Result<Vec<Deployment>, DeploymentsError> {
        self.0.list(service, limit).await
    }
}

impl<S: TriggerLedger> TriggerLedger for MeteredStore<S> {
    async fn claim_trigger(
        &self,
        key: &str,
        record: &TriggerRecord,
        expires_at: DateTime<Utc>,
    ) -> Result<TriggerClaim, TriggerLedgerError> {
        self.0.claim_trigger(key, record, expires_at).await
    }
    async fn complete_trigger(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> Result<(), TriggerLedgerError> {
        self.0.complete_trigger(key, execution_arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::DeploymentSpec;
    use sluice_core::deployment::{EventKind, Status};

    #[test]
    fn analysis_values_carry_the_metric_dimension() {
        let spec = DeploymentSpec::from_json(&json!({"service": "checkout-api", "version": "v2"}))
            .unwrap();
        let mut deployment =
            Deployment::new(DeploymentId::parse("d-1").unwrap(), spec, None, Utc::now());
        deployment.step = Some(2);
        let event = deployment
            .transition(
                Status::Shifting,
                Utc::now(),
                EventKind::Failed { error: "x".into() },
            )
            .unwrap();
        let point = MetricPoint {
            name: "AnalysisValue",
            unit: "None",
            value: 0.4,
            metric: Some("error-rate".into()),
        };
        let line = emf_line(&deployment, &event, &point);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Sluice");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Metric"]])
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0],
            json!({"Name": "AnalysisValue", "Unit": "None"})
        );
        assert_eq!(
            (
                line["Service"].as_str(),
                line["Metric"].as_str(),
                line["AnalysisValue"].as_f64()
            ),
            (Some("checkout-api"), Some("error-rate"), Some(0.4))
        );
        assert_eq!(
            (line["deploymentId"].as_str(), line["step"].as_u64()),
            (Some("d-1"), Some(2))
        );
    }
}
