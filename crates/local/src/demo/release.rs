//! How a deployment is started: StartExecution, or a CodeCommit tag through the real
//! `release-trigger` function.

use std::io::Write;

use serde_json::{Value, json};

use super::output::line;
use super::scenarios::{Scenario, Start, execution_name};
use crate::environment::LocalEnvironment;
use crate::error::{LocalError, Result};
use crate::router::InvocationOutcome;
use crate::runner::LocalRunner;

/// The function that turns release tags into deployments.
pub const RELEASE_TRIGGER_FUNCTION: &str = "release-trigger";

/// The EventBridge event CodeCommit sends when a tag is created (the shape of
/// `events/release-trigger-codecommit.json`).
pub fn codecommit_tag_event(repository: &str, tag: &str, event_id: &str) -> Value {
    json!({
        "version": "0",
        "id": event_id,
        "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit",
        "account": sluice_testkit::moto::ACCOUNT_ID,
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": sluice_testkit::moto::REGION,
        "resources": [format!(
            "arn:aws:codecommit:{}:{}:{repository}",
            sluice_testkit::moto::REGION,
            sluice_testkit::moto::ACCOUNT_ID
        )],
        "detail": {
            "callerUserArn": format!("arn:aws:iam::{}:user/release-bot", sluice_testkit::moto::ACCOUNT_ID),
            "commitId": "7f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
            "event": "referenceCreated",
            "referenceFullName": format!("refs/tags/{tag}"),
            "referenceName": tag,
            "referenceType": "tag",
            "repositoryId": "12345678-1234-1234-1234-123456789012",
            "repositoryName": repository,
        }
    })
}

/// The execution a `release-trigger` answer started (or found already started): its name
/// and ARN. Any other answer (ignored, an error) is an error naming it.
pub fn started_execution(outcome: &InvocationOutcome) -> Result<(String, String)> {
    let trigger_error = |message: String| LocalError::Trigger {
        function: RELEASE_TRIGGER_FUNCTION.to_string(),
        message,
    };
    let output = match outcome {
        InvocationOutcome::Succeeded { output } => output,
        other => return Err(trigger_error(format!("it answered {other:?}"))),
    };
    output
        .get("outcomes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| matches!(o["outcome"].as_str(), Some("started" | "already-started")))
        .and_then(|o| {
            Some((
                o.get("executionName")?.as_str()?.to_string(),
                o.get("executionArn")?.as_str()?.to_string(),
            ))
        })
        .ok_or_else(|| trigger_error(format!("it answered {output}")))
}
/// `release-trigger`'s answer in a few words: `queued v2.3.0 (checkout-api-v2-3-0-…)`.
pub(super) fn describe_trigger_answer(outcome: &InvocationOutcome) -> String {
    let InvocationOutcome::Succeeded { output } = outcome else {
        return format!("{outcome:?}");
    };
    let answers: Vec<String> = output
        .get("outcomes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| {
            let field = |name: &str| o.get(name).and_then(Value::as_str).unwrap_or_default();
            let mut text = format!(
                "{} {} ({})",
                field("outcome"),
                field("version"),
                field("executionName")
            );
            if let Some(superseded) = o.get("superseded").and_then(Value::as_str) {
                text.push_str(&format!(", superseding {superseded}"));
            }
            if o.get("outcome").and_then(Value::as_str) == Some("ignored") {
                text = format!("ignored: {}", field("reason"));
            }
            text
        })
        .collect();
    answers.join("; ")
}

/// Starts the scenario's deployment as its [`Start`] says; returns the execution's name (the
/// deployment id) and ARN.
pub(super) async fn start(
    scenario: &Scenario,
    runner: &LocalRunner,
    env: &LocalEnvironment,
    out: &mut (impl Write + Send),
) -> Result<(String, String)> {
    match scenario.start {
        // The train starts its own deployments, one tag after another.
        Start::StartExecution | Start::ReleaseTrain { .. } => {
            let request = scenario.request.to_json(env);
            let name = execution_name(env.service(), &scenario.request.version, scenario.name);
            let arn = runner.start_deployment(&name, &request).await?;
            line(
                out,
                format!("StartExecution {name} on {}", env.names.state_machine),
            );
            Ok((name, arn))
        }
        Start::ReleaseTag { repository } => {
            let config = scenario.request.service_config(env, &[repository]);
            runner.put_service_config(&config).await?;
            line(
                out,
                format!(
                    "CONFIG of {} (SERVICE#{} / CONFIG): its deployment request without a version (each tag names one); release.repositories = [{repository}]",
                    env.service(),
                    env.service()
                ),
            );
            let tag = &scenario.request.version;
            let event_id = chrono::Utc::now()
                .format("demo-%Y%m%d-%H%M%S%.3f")
                .to_string();
            let event = codecommit_tag_event(repository, tag, &event_id);
            line(
                out,
                format!(
                    "CodeCommit: tag {tag} created in {repository} → EventBridge event {event_id} → {RELEASE_TRIGGER_FUNCTION}"
                ),
            );
            let outcome = runner.invoke(RELEASE_TRIGGER_FUNCTION, &event).await;
            let (name, arn) = started_execution(&outcome)?;
            line(
                out,
                format!(
                    "{RELEASE_TRIGGER_FUNCTION}: {} {tag} → StartExecution {name} on {}",
                    env.service(),
                    env.names.state_machine
                ),
            );
            Ok((name, arn))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codecommit_event_has_the_sample_events_shape_and_starts_a_release() {
        let sample: Value = serde_json::from_str(include_str!(
            "../../../../events/release-trigger-codecommit.json"
        ))
        .unwrap();
        let event = codecommit_tag_event("checkout-api", "v2.0.0", "e-1");
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys(&event), keys(&sample));
        assert_eq!(keys(&event["detail"]), keys(&sample["detail"]));
        let incoming = sluice_core::release::from_eventbridge(&event).unwrap();
        let sluice_core::release::Incoming::Release(release) = incoming else {
            panic!("{incoming:?}");
        };
        assert_eq!(
            (
                release.repository.as_str(),
                release.tag.as_str(),
                release.event_id.as_str()
            ),
            ("checkout-api", "v2.0.0", "e-1")
        );
    }

    #[test]
    fn release_trigger_answers_name_the_execution_they_started() {
        let started = InvocationOutcome::Succeeded {
            output: json!({"outcomes": [{"outcome": "started", "service": "checkout-api",
                "version": "v2.0.0", "executionName": "checkout-api-v2-0-0-1a2b3c4d",
                "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sluice-deployment:checkout-api-v2-0-0-1a2b3c4d"}]}),
        };
        let (name, arn) = started_execution(&started).unwrap();
        assert_eq!(name, "checkout-api-v2-0-0-1a2b3c4d");
        assert!(arn.ends_with(&name));
        let ignored = InvocationOutcome::Succeeded {
            output: json!({"outcomes": [{"outcome": "ignored", "reason": "no service is released from repository x"}]}),
        };
        let error = started_execution(&ignored).unwrap_err().to_string();
        assert!(
            error.starts_with("release-trigger did not start a deployment: it answered")
                && error.contains("no service is released from repository x"),
            "{error}"
        );
    }
}
