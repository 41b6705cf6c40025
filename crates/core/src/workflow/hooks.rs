//! Pre- and post-traffic hooks as the state machine runs them: what the cursor carries so the
//! definition can invoke a hook (`arn:aws:states:::lambda:invoke`, `FunctionName.$` from the
//! cursor), the payload a hook receives, how its answer is judged, and the step that records
//! the verdict.
//!
//! The contract with a hook function:
//! - it receives a [`HookPayload`]: `{"hook": "pre-traffic" | "post-traffic", "deploymentId",
//!   "service", "version", "canarySlot", "canaryTarget"}`;
//! - it passes only by returning a JSON object with `"status": "Succeeded"` (an optional
//!   `"message"` string is recorded with it);
//! - `"status": "Failed"` (with an optional `"message"`), any other answer, a function error,
//!   or no answer within `hooks.timeoutSeconds` is a failure. A pre-traffic failure ends the
//!   deployment before any traffic moved; a post-traffic failure rolls it back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cursor::Cursor;
use super::error::WorkflowError;
use super::record::{ensure_driven, fenced, load, save_driven};
use crate::deployment::{Deployment, EventKind};
use crate::ports::{Clock, Deployments};
use crate::spec::HookKind;

/// What the state machine needs to invoke a deployment's hooks; on the cursor only when the
/// spec has a hook, so the definition's Choice states test `$.hooks.preTraffic` /
/// `$.hooks.postTraffic` for presence.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookInvocations {
    pub pre_traffic: Option<String>,
    pub post_traffic: Option<String>,
    /// The invoking task's `TimeoutSecondsPath`.
    pub timeout_seconds: u32,
    /// What the definition copies into each hook's payload.
    pub subject: HookSubject,
}

/// The deployment a hook is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookSubject {
    pub deployment_id: String,
    pub service: String,
    pub version: String,
    /// The slot that runs the new version.
    pub canary_slot: String,
    /// Where the canary slot's record points.
    pub canary_target: String,
}

/// What a hook function receives (the definition builds it from [`HookInvocations`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookPayload {
    pub hook: HookKind,
    #[serde(flatten)]
    pub subject: HookSubject,
}

/// The answer that passes a hook: `{"status": "Succeeded"}`, with an optional message.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookAnswer {
    pub status: String,
    pub message: Option<String>,
}

/// The status a hook answers to pass.
pub const HOOK_SUCCEEDED: &str = "Succeeded";
/// The status a hook answers to fail on purpose.
pub const HOOK_FAILED: &str = "Failed";

impl HookAnswer {
    pub fn succeeded(message: impl Into<String>) -> HookAnswer {
        HookAnswer {
            status: HOOK_SUCCEEDED.into(),
            message: Some(message.into()),
        }
    }

    pub fn failed(message: impl Into<String>) -> HookAnswer {
        HookAnswer {
            status: HOOK_FAILED.into(),
            message: Some(message.into()),
        }
    }
}

impl HookInvocations {
    /// The hooks of `deployment`, with its canary slot; `None` when it has none.
    pub fn of(deployment: &Deployment) -> Option<HookInvocations> {
        let hooks = deployment.spec.hooks.as_ref().filter(|h| h.any())?;
        let canary = &deployment.roles.canary;
        Some(HookInvocations {
            pre_traffic: hooks.pre_traffic.clone(),
            post_traffic: hooks.post_traffic.clone(),
            timeout_seconds: hooks.timeout_seconds,
            subject: HookSubject {
                deployment_id: deployment.id.to_string(),
                service: deployment.service.clone(),
                version: deployment.spec.version.clone(),
                canary_slot: canary.clone(),
                canary_target: deployment
                    .spec
                    .slot_target(canary)
                    .map(|t| t.target.clone())
                    .unwrap_or_default(),
            },
        })
    }
}

/// How a hook's invocation ended, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookVerdict {
    Passed {
        message: Option<String>,
    },
    /// What was wrong; [`failure_reason`] adds the hook and its ARN.
    Failed {
        problem: String,
    },
}

/// Why a deployment ends after a hook failed: the hook, its ARN and the problem.
pub fn failure_reason(hook: HookKind, arn: &str, problem: &str) -> String {
    format!("{hook} hook {arn} failed: {problem}")
}

/// Judges what the invoking task left at `$.hookResult`: Lambda's invoke result
/// (`{"Payload": …, "StatusCode": …}`) or the error its `Catch` recorded (`{"Error", "Cause"}`).
/// Only a payload object with `"status": "Succeeded"` passes.
pub fn judge_hook(timeout_seconds: u32, result: &Value) -> HookVerdict {
    let failed = |problem: String| HookVerdict::Failed { problem };
    if let Some(error) = result.get("Error").and_then(Value::as_str) {
        let cause = result.get("Cause").and_then(Value::as_str).unwrap_or("");
        return failed(match error {
            "States.Timeout" => format!("no answer within {timeout_seconds} s (States.Timeout)"),
            _ => {
                let cause = readable_cause(cause);
                if cause.is_empty() {
                    format!("the invocation failed with {error}")
                } else {
                    format!("the invocation failed with {error}: {cause}")
                }
            }
        });
    }
    let Some(payload) = result.get("Payload") else {
        return failed(format!(
            "the state machine recorded no answer (hook result {})",
            excerpt(result)
        ));
    };
    let Some(object) = payload.as_object() else {
        return failed(format!(
            "it answered {}, not a JSON object with \"status\": \"{HOOK_SUCCEEDED}\"",
            excerpt(payload)
        ));
    };
    let message = object
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string);
    match object.get("status").and_then(Value::as_str) {
        Some(HOOK_SUCCEEDED) => HookVerdict::Passed { message },
        Some(HOOK_FAILED) => failed(format!(
            "it reported {HOOK_FAILED}: {}",
            message.as_deref().unwrap_or("(no message)")
        )),
        _ => failed(format!(
            "it answered {}, without \"status\": \"{HOOK_SUCCEEDED}\"",
            excerpt(payload)
        )),
    }
}

/// A function error's cause is `{"errorType", "errorMessage"}` as JSON; the message is what a
/// person wants to read.
fn readable_cause(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| {
            let message = v.get("errorMessage").and_then(Value::as_str)?;
            Some(match v.get("errorType").and_then(Value::as_str) {
                Some(kind) if !kind.is_empty() => format!("{kind}: {message}"),
                _ => message.to_string(),
            })
        })
        .unwrap_or_else(|| truncate(cause.trim()))
}

/// A value as JSON, cut to a readable length.
fn excerpt(value: &Value) -> String {
    truncate(&value.to_string())
}

fn truncate(text: &str) -> String {
    const LIMIT: usize = 200;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// What the hook-checking task receives: which hook, and the state with its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookCheckRequest {
    pub hook: HookKind,
    pub cursor: Cursor,
    /// `$.hookResult`: the invoke result or the caught error.
    pub result: Value,
}

/// Judges a hook's result and records it (`hook-passed` / `hook-failed`) under the state
/// machine's fence. The cursor comes back with `hookPassed` for the definition to route on and,
/// on a failure, the reason the rollback records.
pub async fn check_hook(
    store: &impl Deployments,
    clock: &impl Clock,
    request: HookCheckRequest,
) -> Result<Cursor, WorkflowError> {
    let HookCheckRequest {
        hook,
        cursor,
        result,
    } = request;
    let mut deployment = load(store, &cursor.deployment).await?;
    ensure_driven(&deployment)?;
    let hooks = deployment.spec.hooks.clone().unwrap_or_default();
    let Some(arn) = hooks.arn(hook).map(str::to_string) else {
        return Err(WorkflowError::BadInput {
            what: "hook".into(),
            message: format!(
                "deployment {} has no {hook} hook, yet its result arrived",
                deployment.id
            ),
        });
    };
    // A retried check whose answer was lost after the save: answer what was recorded, once.
    let history = store.history(&deployment.id).await?;
    let recorded = history
        .iter()
        .rev()
        .find(|e| e.seq == deployment.revision)
        .and_then(|e| match &e.kind {
            EventKind::HookPassed { hook: h, .. } if *h == hook => Some(None),
            EventKind::HookFailed {
                hook: h, reason, ..
            } if *h == hook => Some(Some(reason.clone())),
            _ => None,
        });
    if let Some(failure) = recorded {
        return Ok(Cursor {
            hook_passed: Some(failure.is_none()),
            reason: failure.or(cursor.reason.clone()),
            ..cursor
        });
    }
    let verdict = judge_hook(hooks.timeout_seconds, &result);
    let (event, failure) = match verdict {
        HookVerdict::Passed { message } => (
            EventKind::HookPassed {
                hook,
                function_arn: arn,
                message,
            },
            None,
        ),
        HookVerdict::Failed { problem } => {
            let reason = failure_reason(hook, &arn, &problem);
            (
                EventKind::HookFailed {
                    hook,
                    function_arn: arn,
                    problem,
                    reason: reason.clone(),
                },
                Some(reason),
            )
        }
    };
    // Recorded in the status the deployment is in: the hook decides where it goes next.
    let status = deployment.status;
    let event = deployment
        .transition(status, clock.now(), event)
        .map_err(|_| fenced(&deployment))?;
    save_driven(store, &deployment, &event).await?;
    match &failure {
        None => tracing::info!(deployment_id = %deployment.id, %hook, "hook passed"),
        Some(reason) => tracing::warn!(deployment_id = %deployment.id, %reason, "hook failed"),
    }
    Ok(Cursor {
        hook_passed: Some(failure.is_none()),
        reason: failure.or(cursor.reason.clone()),
        ..cursor
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:smoke";

    fn judge(result: Value) -> HookVerdict {
        judge_hook(30, &result)
    }

    /// The reason a pre-traffic failure is recorded with.
    fn reason(result: Value) -> String {
        match judge(result) {
            HookVerdict::Failed { problem } => failure_reason(HookKind::PreTraffic, ARN, &problem),
            passed => panic!("expected a failure, got {passed:?}"),
        }
    }

    #[test]
    fn only_a_succeeded_status_passes() {
        assert_eq!(
            judge(json!({"Payload": {"status": "Succeeded"}, "StatusCode": 200})),
            HookVerdict::Passed { message: None }
        );
        assert_eq!(
            judge(json!({"Payload": {"status": "Succeeded", "message": "v2 serves"}})),
            HookVerdict::Passed {
                message: Some("v2 serves".into())
            }
        );
    }

    #[test]
    fn a_reported_failure_names_the_hook_its_arn_and_its_message() {
        assert_eq!(
            reason(json!({"Payload": {"status": "Failed", "message": "green serves v1"}})),
            format!("pre-traffic hook {ARN} failed: it reported Failed: green serves v1")
        );
        assert!(
            reason(json!({"Payload": {"status": "Failed"}})).ends_with("(no message)"),
            "a failure without a message still says so"
        );
    }

    #[test]
    fn malformed_answers_fail_and_say_what_arrived() {
        for (payload, shown) in [
            (json!("ok"), "\"ok\""),
            (json!(null), "null"),
            (json!([1]), "[1]"),
            (json!({"status": "succeeded"}), "\"succeeded\""),
            (json!({"ok": true}), "{\"ok\":true}"),
        ] {
            let reason = reason(json!({"Payload": payload}));
            assert!(
                reason.starts_with(&format!("pre-traffic hook {ARN} failed: it answered ")),
                "{reason}"
            );
            assert!(reason.contains(shown), "{reason} shows {shown}");
        }
        let long = "x".repeat(1000);
        let cut = reason(json!({"Payload": long}));
        assert!(cut.len() < 400, "{cut}");
        assert!(cut.contains('…'), "{cut}");
        assert!(reason(json!({})).contains("recorded no answer"));
    }

    #[test]
    fn a_timeout_and_an_error_are_failures_with_their_cause() {
        assert_eq!(
            judge_hook(45, &json!({"Error": "States.Timeout", "Cause": ""})),
            HookVerdict::Failed {
                problem: "no answer within 45 s (States.Timeout)".into()
            }
        );
        assert_eq!(
            failure_reason(
                HookKind::PostTraffic,
                ARN,
                "no answer within 45 s (States.Timeout)"
            ),
            format!("post-traffic hook {ARN} failed: no answer within 45 s (States.Timeout)")
        );
        assert_eq!(
            reason(json!({
                "Error": "HandlerError",
                "Cause": "{\"errorType\":\"HandlerError\",\"errorMessage\":\"smoke test: 3 of 10 requests failed\"}"
            })),
            format!(
                "pre-traffic hook {ARN} failed: the invocation failed with HandlerError: \
                 HandlerError: smoke test: 3 of 10 requests failed"
            )
        );
        assert_eq!(
            reason(
                json!({"Error": "Lambda.ResourceNotFoundException", "Cause": "Function not found"})
            ),
            format!(
                "pre-traffic hook {ARN} failed: the invocation failed with \
                 Lambda.ResourceNotFoundException: Function not found"
            )
        );
        assert!(reason(json!({"Error": "States.TaskFailed"})).ends_with("States.TaskFailed"));
    }

    #[test]
    fn the_payload_a_hook_receives_is_flat() {
        let payload = HookPayload {
            hook: HookKind::PreTraffic,
            subject: HookSubject {
                deployment_id: "d-1".into(),
                service: "checkout-api".into(),
                version: "v2".into(),
                canary_slot: "green".into(),
                canary_target: "green.example.com".into(),
            },
        };
        let json = serde_json::to_value(&payload).unwrap();
        assert_eq!(
            json,
            json!({
                "hook": "pre-traffic", "deploymentId": "d-1", "service": "checkout-api",
                "version": "v2", "canarySlot": "green", "canaryTarget": "green.example.com"
            })
        );
        assert_eq!(
            serde_json::from_value::<HookPayload>(json).unwrap(),
            payload
        );
        assert_eq!(
            serde_json::to_value(HookAnswer::succeeded("fine")).unwrap(),
            json!({"status": "Succeeded", "message": "fine"})
        );
    }
}
