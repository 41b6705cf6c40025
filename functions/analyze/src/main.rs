//! analyze: judges the step's live window from CloudWatch (the canary slot, and the stable slot
//! as baseline where the slots' dimensions tell them apart), stores the analysis with every value, threshold and sample count, and returns
//! the decision: advance, promote, extend, await-approval or roll-back. Missing data or too few
//! samples is inconclusive, never a pass.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::Value;
use sluice_core::workflow::{Cursor, analyze_step};
use sluice_handler::{HandlerError, Ports, deployment_span, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Cursor, HandlerError> {
    let cursor: Cursor = parse_event(event)?;
    let span = deployment_span(&cursor.deployment.id);
    Ok(analyze_step(
        ports.store(),
        ports.metrics(),
        ports.alarms(),
        ports.clock(),
        cursor,
    )
    .instrument(span)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;
    use sluice_core::deployment::EventKind;
    use sluice_core::metrics::MetricRef;
    use sluice_core::ports::Deployments;
    use sluice_core::{Deployment, Verdict};
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{MemoryPorts, sample_event, sample_world};
    use sluice_testkit::steps::{live_at, shifted, synced, until_due, validated};

    /// The sample deployment shifted and live, its analysis due; returns the analyze event.
    async fn live_sample() -> (MemoryPorts, Value) {
        let (ports, cursor) = sample_world().await;
        let cursor = shifted(&ports, cursor).await;
        let cursor = synced(&ports, cursor).await;
        let mut event = sample_event("analyze");
        event["changeId"] = json!(cursor.change_id);
        event["analyzeAt"] = json!(cursor.analyze_at);
        (ports, event)
    }

    /// The series the canary slot publishes for one metric of the spec.
    fn canary(deployment: &Deployment, metric: usize) -> (MetricRef, MetricRef) {
        let spec = &deployment.spec;
        let metric = &spec.analysis.metrics[metric];
        let dimensions = spec.metric_dimensions(metric, &deployment.roles.canary);
        match &metric.query.with_dimensions(&dimensions) {
            sluice_core::metrics::MetricQuery::Ratio(r) => {
                (r.numerator.clone(), r.denominator.clone())
            }
            sluice_core::metrics::MetricQuery::Statistic(s) => (s.metric.clone(), s.metric.clone()),
        }
    }

    /// The canary's traffic for the sample's bake: `requests` a second, `errors` of them failing,
    /// `latency` seconds each.
    fn traffic(
        ports: &MemoryPorts,
        from: DateTime<Utc>,
        requests: usize,
        errors: usize,
        latency: f64,
    ) {
        let deployment = ports.store.only_deployment();
        let (errors_metric, requests_metric) = canary(&deployment, 0);
        let (latency_metric, _) = canary(&deployment, 1);
        for s in 0..300 {
            let at = from + Duration::seconds(s);
            ports.metrics.put(&requests_metric, at, 1.0, requests);
            ports.metrics.put(&errors_metric, at, 1.0, errors);
            ports.metrics.put(&latency_metric, at, latency, requests);
        }
    }

    fn due(ports: &MemoryPorts, event: &Value) {
        let at: DateTime<Utc> = serde_json::from_value(event["analyzeAt"].clone()).unwrap();
        ports.clock.set(at);
    }

    #[tokio::test]
    async fn a_healthy_sample_step_advances() {
        let (ports, event) = live_sample().await;
        let live_at = ports
            .store
            .only_deployment()
            .traffic
            .unwrap()
            .live_at
            .unwrap();
        traffic(&ports, live_at, 2, 0, 0.2);
        due(&ports, &event);
        let cursor = handle(&ports, event).await.unwrap();
        assert_eq!(
            (
                cursor.decision.map(|d| d.as_str()),
                cursor.step,
                cursor.percent
            ),
            (Some("advance"), 1, 5.0)
        );
    }

    #[tokio::test]
    async fn empty_metric_data_is_inconclusive() {
        let (ports, event) = live_sample().await;
        due(&ports, &event);
        let cursor = handle(&ports, event).await.unwrap();
        assert_eq!(cursor.decision.map(|d| d.as_str()), Some("extend"));
        assert_eq!(
            ports.store.only_deployment().last_analysis.unwrap().verdict,
            Verdict::Inconclusive
        );
    }

    #[tokio::test]
    async fn too_few_samples_are_inconclusive() {
        let (ports, event) = live_sample().await;
        let live_at = ports
            .store
            .only_deployment()
            .traffic
            .unwrap()
            .live_at
            .unwrap();
        // 300 s × 0 requests but for 40 in the first seconds: fewer than minSamples 50.
        let (_, requests) = canary(&ports.store.only_deployment(), 0);
        ports.metrics.put(&requests, live_at, 1.0, 40);
        due(&ports, &event);
        let cursor = handle(&ports, event).await.unwrap();
        assert_eq!(cursor.decision.map(|d| d.as_str()), Some("extend"));
        assert!(
            cursor
                .reason
                .unwrap()
                .contains("only 40 samples, fewer than minSamples 50")
        );
    }

    #[tokio::test]
    async fn slow_green_rolls_back_with_the_value_recorded() {
        let (ports, event) = live_sample().await;
        let live_at = ports
            .store
            .only_deployment()
            .traffic
            .unwrap()
            .live_at
            .unwrap();
        traffic(&ports, live_at, 2, 0, 3.5);
        due(&ports, &event);
        let cursor = handle(&ports, event).await.unwrap();
        assert_eq!(cursor.decision.map(|d| d.as_str()), Some("roll-back"));
        let deployment = ports.store.only_deployment();
        let analyzed = ports
            .store
            .events(&deployment.id)
            .into_iter()
            .find_map(|e| match e.kind {
                EventKind::Analyzed { metrics, .. } => Some(metrics),
                _ => None,
            });
        let latency = &analyzed.unwrap()[1];
        assert_eq!(
            (latency.name.as_str(), latency.value, latency.max),
            ("p95-latency", Some(3.5), Some(2.0))
        );
        assert_eq!(latency.verdict, Verdict::Fail);
    }

    #[tokio::test]
    async fn on_moto_the_analysis_reads_cloudwatch_and_stores_its_values() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let cursor = validated(p, &world.request, "moto-analyze").await;
        let cursor = shifted(p, cursor).await;
        let cursor = synced(p, cursor).await;
        let live_at = live_at(p, &cursor).await;
        // 20 requests a second, 1 failing: a 5 % error rate, over the 1 % max.
        world.put_green_traffic(live_at, 2, 20.0, 1.0).await;
        until_due(&cursor).await;
        let judged = handle(p, serde_json::to_value(&cursor).unwrap())
            .await
            .unwrap();
        assert_eq!(
            judged.decision.map(|d| d.as_str()),
            Some("roll-back"),
            "{:?}",
            judged.reason
        );
        let history = p.store().history(&cursor.deployment.id).await.unwrap();
        let metrics = history.into_iter().find_map(|e| match e.kind {
            EventKind::Analyzed { metrics, .. } => Some(metrics),
            _ => None,
        });
        let error_rate = &metrics.unwrap()[0];
        assert_eq!(error_rate.samples, 40);
        assert!(
            (error_rate.value.unwrap() - 5.0).abs() < 1e-9,
            "{:?}",
            error_rate.value
        );
    }

    #[tokio::test]
    async fn on_moto_no_data_is_inconclusive() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let cursor = validated(p, &world.request, "moto-analyze-empty").await;
        let cursor = shifted(p, cursor).await;
        let cursor = synced(p, cursor).await;
        until_due(&cursor).await;
        let judged = handle(p, serde_json::to_value(&cursor).unwrap())
            .await
            .unwrap();
        assert_eq!(judged.decision.map(|d| d.as_str()), Some("extend"));
        let stored = p.store().get(&cursor.deployment).await.unwrap().unwrap();
        assert_eq!(stored.last_analysis.unwrap().verdict, Verdict::Inconclusive);
    }
}
