//! emergency-rollback: subscribed to the alarm topic. On an alarm's transition to ALARM, every
//! active deployment whose spec names the alarm is taken from the state machine (a conditional
//! write that bumps its revision, so every later step is fenced off), returned to 100 % stable in
//! one Route 53 change, its execution stopped, the rollback recorded with the alarm's reason and
//! how long traffic took to return, the lock released, and a notification sent. OK and
//! INSUFFICIENT_DATA notifications are logged and ignored; repeated deliveries and simultaneous
//! alarms end in one rollback.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use aws_lambda_events::sns::SnsEvent;
use serde_json::Value;
use sluice_core::workflow::{AlarmNotification, Takeover, TakeoverOutcome};
use sluice_handler::{Configured, HandlerError, HandlerPorts, Ports, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::init_logs();
    let ports = HandlerPorts::from_env().await?;
    ports.config().require_state_machine()?;
    sluice_handler::serve(ports, handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Vec<TakeoverOutcome>, HandlerError> {
    let event: SnsEvent = parse_event(event)?;
    let takeover = Takeover {
        store: ports.store(),
        router: ports.router(),
        orchestrator: ports.orchestrator(),
        notifier: ports.notifier(),
        clock: ports.clock(),
    };
    let mut outcomes = Vec::new();
    for (i, record) in event.records.into_iter().enumerate() {
        let message = record.sns.message;
        let alarm: AlarmNotification =
            serde_json::from_str(&message).map_err(|e| HandlerError::BadEvent {
                field: format!("event.Records[{i}].Sns.Message"),
                message: format!("is not a CloudWatch alarm notification: {e}"),
            })?;
        let span =
            tracing::info_span!("alarm", alarm = %alarm.alarm_name, state = %alarm.new_state);
        outcomes.extend(takeover.on_alarm(&alarm).instrument(span).await?);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::ports::{Deployments, RecordSet, ServiceLocks};
    use sluice_core::workflow::ErrorName;
    use sluice_core::{Controller, Status, WeightPair};
    use sluice_testkit::MotoWorld;
    use sluice_testkit::memory::{MemoryPorts, sample_event, sample_world};
    use sluice_testkit::steps::{shifted, validated};

    fn sns(alarm: &str, state: &str) -> Value {
        let mut event = sample_event("emergency-rollback");
        let mut message: Value =
            serde_json::from_str(event["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
        message["AlarmName"] = json!(alarm);
        message["NewStateValue"] = json!(state);
        event["Records"][0]["Sns"]["Message"] = json!(message.to_string());
        event
    }

    async fn shifted_sample() -> MemoryPorts {
        let (ports, cursor) = sample_world().await;
        shifted(&ports, cursor).await;
        ports
    }

    #[tokio::test]
    async fn the_sample_alarm_rolls_the_sample_deployment_back() {
        let ports = shifted_sample().await;
        let outcomes = handle(&ports, sample_event("emergency-rollback"))
            .await
            .unwrap();
        assert!(
            matches!(&outcomes[0], TakeoverOutcome::RolledBack { deployment, .. } if deployment == "checkout-api-v2-4-0"),
            "{outcomes:?}"
        );
        let deployment = ports.store.only_deployment();
        assert_eq!(deployment.status, Status::RolledBack);
        assert_eq!(
            deployment.controller,
            Controller::Alarm {
                alarm: "checkout-api-green-5xx".into()
            }
        );
        assert_eq!(
            ports.router.weights(&RecordSet::of(&deployment)),
            WeightPair::ALL_STABLE
        );
    }

    #[tokio::test]
    async fn ok_notifications_change_nothing() {
        let ports = shifted_sample().await;
        let outcomes = handle(&ports, sns("checkout-api-green-5xx", "OK"))
            .await
            .unwrap();
        assert!(matches!(&outcomes[0], TakeoverOutcome::Ignored { .. }));
        assert_eq!(ports.store.only_deployment().status, Status::Shifting);
    }

    #[tokio::test]
    async fn a_message_that_is_not_an_alarm_is_named() {
        let mut event = sample_event("emergency-rollback");
        event["Records"][0]["Sns"]["Message"] = json!("hello");
        let error = handle(&shifted_sample().await, event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(
            error.to_string().starts_with(
                "event.Records[0].Sns.Message: is not a CloudWatch alarm notification"
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn on_moto_the_alarm_fences_stops_and_returns_blue() {
        let world = MotoWorld::start().await;
        let p = &world.ports;
        let cursor = validated(p, &world.request, "moto-emergency").await;
        let cursor = shifted(p, cursor).await;
        assert_eq!(world.weights().await, WeightPair::new(9, 1).unwrap());
        let outcomes = handle(p, sns(&world.alarm, "ALARM")).await.unwrap();
        assert!(
            matches!(&outcomes[0], TakeoverOutcome::RolledBack { .. }),
            "{outcomes:?}"
        );
        assert_eq!(world.weights().await, WeightPair::ALL_STABLE);
        let stored = p.store().get(&cursor.deployment).await.unwrap().unwrap();
        assert_eq!(stored.status, Status::RolledBack);
        assert!(p.store().lock(&world.service).await.unwrap().is_none());
        // Delivered again: nothing more happens.
        let again = handle(p, sns(&world.alarm, "ALARM")).await.unwrap();
        assert!(
            matches!(&again[0], TakeoverOutcome::NothingActive { .. }),
            "{again:?}"
        );
        assert_eq!(
            p.store()
                .get(&cursor.deployment)
                .await
                .unwrap()
                .unwrap()
                .revision,
            stored.revision
        );
    }
}
