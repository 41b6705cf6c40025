use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_core::workflow::{ErrorName, WorkflowError};
use thiserror::Error;

/// A handler's failure, as the state machine sees it: `errorType` is the name its `Retry` and
/// `Catch` match (`Sluice.Invalid`, `Sluice.Retryable`, …), `errorMessage` what a person reads.
#[derive(Debug, Error)]
pub enum HandlerError {
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error("{field}: {message}")]
    BadEvent { field: String, message: String },
}

impl HandlerError {
    pub fn error_name(&self) -> ErrorName {
        match self {
            HandlerError::Workflow(error) => error.error_name(),
            HandlerError::BadEvent { .. } => ErrorName::Invalid,
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        let name = error.error_name();
        let error_type = name.to_string();
        if name == ErrorName::Fenced {
            tracing::info!(%error, "step refused: the deployment was taken over");
        } else {
            tracing::error!(error_type, %error, "step failed");
        }
        Diagnostic {
            error_type,
            error_message: error.to_string(),
        }
    }
}

/// Reads a handler's event, naming the JSON path of what is wrong (`event.deployment.id: …`).
pub fn parse_event<T: DeserializeOwned>(event: Value) -> Result<T, HandlerError> {
    serde_path_to_error::deserialize(event).map_err(|error| {
        let path = error.path().to_string();
        HandlerError::BadEvent {
            field: if path == "." {
                "event".into()
            } else {
                format!("event.{path}")
            },
            message: error.into_inner().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::workflow::Cursor;

    #[test]
    fn a_bad_event_names_its_field_and_is_invalid() {
        let error = parse_event::<Cursor>(serde_json::json!({"deployment": {"service": "s", "startedAt": "never", "id": "x"}, "step": 0, "stepCount": 1, "percent": 1})).unwrap_err();
        assert_eq!(error.error_name(), ErrorName::Invalid);
        assert!(
            error
                .to_string()
                .starts_with("event.deployment.startedAt: "),
            "{error}"
        );
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "Sluice.Invalid");
        assert!(diagnostic.error_message.contains("startedAt"));
    }

    #[test]
    fn workflow_errors_keep_their_names() {
        let error = HandlerError::from(WorkflowError::NotFound("d-1".into()));
        let diagnostic = Diagnostic::from(error);
        assert_eq!(
            (
                diagnostic.error_type.as_str(),
                diagnostic.error_message.as_str()
            ),
            ("Sluice.NotFound", "deployment d-1 not found")
        );
    }
}
