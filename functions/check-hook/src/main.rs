//! check-hook: judges what a pre- or post-traffic hook answered (or the error the state machine
//! caught while invoking it), records `hook-passed` / `hook-failed` in the deployment's history
//! under the fence, and returns the cursor with `hookPassed` (and, on a failure, the reason the
//! rollback records). It changes no traffic.

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use serde_json::Value;
use sluice_core::workflow::{Cursor, HookCheckRequest, check_hook};
use sluice_handler::{HandlerError, Ports, deployment_span, parse_event};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_handler::run(handle).await
}

async fn handle(ports: &impl Ports, event: Value) -> Result<Cursor, HandlerError> {
    let request: HookCheckRequest = parse_event(event)?;
    let span = deployment_span(&request.cursor.deployment.id);
    Ok(check_hook(ports.store(), ports.clock(), request)
        .instrument(span)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::deployment::Controller;
    use sluice_core::ports::RecordSet;
    use sluice_core::spec::DeploymentSpec;
    use sluice_core::workflow::{ErrorName, ValidateRequest, validate_deployment};
    use sluice_core::{EventKind, Status, WeightPair};
    use sluice_testkit::memory::{MemoryPorts, sample_event};

    const SMOKE: &str = "arn:aws:lambda:us-east-1:123456789012:function:checkout-api-smoke-test";

    /// The sample world, its request given a pre-traffic hook (the sample event's).
    async fn world_with_hooks() -> MemoryPorts {
        let mut event = sample_event("validate");
        event["request"]["hooks"] = json!({"preTraffic": SMOKE, "timeoutSeconds": 60});
        let request: ValidateRequest = serde_json::from_value(event).unwrap();
        let spec = DeploymentSpec::from_json(&request.request).unwrap();
        let ports = MemoryPorts::ready_for(&spec);
        let cursor = validate_deployment(
            &ports.store,
            &ports.router,
            &ports.alarms,
            &ports.notifier,
            &ports.clock,
            request,
        )
        .await
        .unwrap();
        // What the definition invokes the hook with comes from the cursor Validate returns.
        let hooks = cursor.hooks.expect("a cursor with hooks");
        assert_eq!(hooks.pre_traffic.as_deref(), Some(SMOKE));
        assert_eq!(hooks.subject.canary_slot, "green");
        assert_eq!(
            hooks.subject.canary_target,
            "green-alb-456.us-east-1.elb.amazonaws.com"
        );
        ports
    }

    fn hook_events(ports: &MemoryPorts) -> Vec<EventKind> {
        let deployment = ports.store.only_deployment();
        ports
            .store
            .events(&deployment.id)
            .into_iter()
            .map(|e| e.kind)
            .filter(|k| {
                matches!(
                    k,
                    EventKind::HookPassed { .. } | EventKind::HookFailed { .. }
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn the_sample_event_records_a_failed_hook_and_moves_no_traffic() {
        let ports = world_with_hooks().await;
        let before = ports.store.only_deployment();
        let cursor = handle(&ports, sample_event("check-hook")).await.unwrap();
        let reason = format!(
            "pre-traffic hook {SMOKE} failed: it reported Failed: GET \
             https://green-alb-456.us-east-1.elb.amazonaws.com/version answered v2.3.1, expected v2.4.0"
        );
        assert_eq!(cursor.hook_passed, Some(false));
        assert_eq!(cursor.reason.as_deref(), Some(reason.as_str()));
        let after = ports.store.only_deployment();
        assert_eq!(
            after.status, before.status,
            "the rollback ends it, not the check"
        );
        assert_eq!(after.revision, before.revision + 1);
        match hook_events(&ports).as_slice() {
            [
                EventKind::HookFailed {
                    function_arn,
                    reason: recorded,
                    ..
                },
            ] => {
                assert_eq!(function_arn, SMOKE);
                assert_eq!(recorded, &reason);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ports.router.weights(&RecordSet::of(&after)),
            WeightPair::ALL_STABLE
        );
        assert!(ports.router.changes().is_empty(), "no Route 53 change");
    }

    #[tokio::test]
    async fn a_succeeded_answer_passes_and_is_recorded_with_its_message() {
        let ports = world_with_hooks().await;
        let mut event = sample_event("check-hook");
        event["result"]["Payload"] =
            json!({"status": "Succeeded", "message": "green serves v2.4.0"});
        let cursor = handle(&ports, event).await.unwrap();
        assert_eq!(cursor.hook_passed, Some(true));
        assert_eq!(cursor.reason, None);
        assert_eq!(
            hook_events(&ports),
            [EventKind::HookPassed {
                hook: sluice_core::spec::HookKind::PreTraffic,
                function_arn: SMOKE.into(),
                message: Some("green serves v2.4.0".into()),
            }]
        );
    }

    #[tokio::test]
    async fn a_hook_the_spec_does_not_have_is_invalid_and_a_taken_over_deployment_is_fenced() {
        let ports = world_with_hooks().await;
        let mut event = sample_event("check-hook");
        event["hook"] = json!("post-traffic");
        let error = handle(&ports, event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(
            error.to_string().contains("no post-traffic hook"),
            "{error}"
        );

        let mut taken = ports.store.only_deployment();
        taken.controller = Controller::Alarm {
            alarm: "checkout-api-green-errors".into(),
        };
        taken.status = Status::RolledBack;
        ports.store.replace(taken);
        let error = handle(&ports, sample_event("check-hook"))
            .await
            .unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Fenced);
        assert!(hook_events(&ports).is_empty(), "nothing recorded");
    }

    #[tokio::test]
    async fn a_malformed_event_names_its_field() {
        let ports = world_with_hooks().await;
        let mut event = sample_event("check-hook");
        event["hook"] = json!("mid-traffic");
        let error = handle(&ports, event).await.unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(error.to_string().starts_with("event.hook"), "{error}");
    }
}
