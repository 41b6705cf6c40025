//! shift-traffic: sets the current step's blue and green weights in one Route 53 change, after
//! checking the deployment is still the state machine's to drive (`Sluice.Fenced` otherwise,
//! touching nothing). Records the change id, the asked percent and the real share.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::Value;
use sluice_core::workflow::{Cursor, shift_traffic};
use sluice_handler::{HandlerError, Ports, deployment_span, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Cursor, HandlerError> {
    let cursor: Cursor = parse_event(event)?;
    let span = deployment_span(&cursor.deployment.id);
    Ok(shift_traffic(
        ports.store(),
        ports.router(),
        ports.notifier(),
        ports.clock(),
        cursor,
    )
    .instrument(span)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::WeightPair;
    use sluice_core::deployment::{Controller, Status};
    use sluice_core::ports::{Deployments, RecordSet};
    use sluice_core::workflow::ErrorName;
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{sample_event, sample_world};
    use sluice_testkit::steps::validated;

    #[tokio::test]
    async fn the_sample_event_shifts_the_first_step() {
        let (ports, _) = sample_world().await;
        let cursor = handle(&ports, sample_event("shift-traffic")).await.unwrap();
        let deployment = ports.store.only_deployment();
        assert_eq!(
            ports.router.weights(&RecordSet::of(&deployment)),
            WeightPair::new(99, 1).unwrap()
        );
        assert_eq!(
            cursor.change_id,
            Some(deployment.traffic.unwrap().change_id)
        );
    }

    #[tokio::test]
    async fn a_fenced_deployment_is_refused_and_traffic_untouched() {
        let (ports, _) = sample_world().await;
        let mut taken = ports.store.only_deployment();
        taken.controller = Controller::Alarm {
            alarm: "checkout-api-green-5xx".into(),
        };
        taken.status = Status::RollingBack;
        taken.revision += 1;
        ports.store.replace(taken.clone());
        let error = handle(&ports, sample_event("shift-traffic"))
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Fenced);
        assert!(ports.router.changes().is_empty());
        assert_eq!(
            ports.router.weights(&RecordSet::of(&taken)),
            WeightPair::ALL_STABLE
        );
    }

    #[tokio::test]
    async fn an_unknown_deployment_or_step_is_named() {
        let (ports, _) = sample_world().await;
        let mut event = sample_event("shift-traffic");
        event["deployment"]["id"] = json!("nope");
        assert_eq!(
            handle(&ports, event).await.unwrap_err().error_name(),
            ErrorName::NotFound
        );
        let mut event = sample_event("shift-traffic");
        event["step"] = json!(9);
        let error = handle(&ports, event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(error.to_string().starts_with("step: "), "{error}");
    }

    #[tokio::test]
    async fn on_moto_both_weights_change_in_route53_and_the_record_keeps_the_change() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let cursor = validated(p, &world.request, "moto-shift").await;
        let shifted = handle(&world.ports, serde_json::to_value(&cursor).unwrap())
            .await
            .unwrap();
        assert_eq!(world.weights().await, WeightPair::new(9, 1).unwrap());
        let stored = p.store().get(&cursor.deployment).await.unwrap().unwrap();
        let traffic = stored.traffic.unwrap();
        assert_eq!((traffic.asked_percent, traffic.canary_share), (10.0, 10.0));
        assert_eq!(Some(traffic.change_id), shifted.change_id);
        assert_eq!(stored.revision, 3, "claimed, then recorded");
    }

    #[tokio::test]
    async fn on_moto_a_fence_bumped_underneath_refuses_without_changing_weights() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let cursor = validated(p, &world.request, "moto-fence").await;
        // The emergency path takes the deployment: a conditional write that bumps the revision.
        let mut taken = p.store().get(&cursor.deployment).await.unwrap().unwrap();
        taken.controller = Controller::Alarm {
            alarm: world.alarm.clone(),
        };
        let event = taken
            .transition(
                Status::RollingBack,
                chrono::Utc::now(),
                sluice_core::EventKind::RollbackStarted {
                    reason: "alarm".into(),
                    controller: taken.controller.clone(),
                },
            )
            .unwrap();
        p.store().save(&taken, &event).await.unwrap();
        let error = handle(&world.ports, serde_json::to_value(&cursor).unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Fenced);
        assert_eq!(world.weights().await, WeightPair::ALL_STABLE);
        assert_eq!(
            p.store()
                .get(&cursor.deployment)
                .await
                .unwrap()
                .unwrap()
                .revision,
            taken.revision
        );
    }
}
