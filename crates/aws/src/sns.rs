//! [`Notifier`] on SNS: each notification published as JSON to one topic, with message
//! attributes `service`, `status` and `deploymentId` so subscribers can filter.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use sluice_core::ports::{Notification, Notifier, NotifyError};

use crate::failure;

/// Publishes deployment notifications to an SNS topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> SnsNotifier {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    pub fn from_conf(config: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> SnsNotifier {
        SnsNotifier::new(Client::new(config), topic_arn)
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    fn unavailable(&self, message: String) -> NotifyError {
        NotifyError::Unavailable {
            topic: self.topic_arn.clone(),
            message,
        }
    }
}

/// SNS subjects: at most 100 printable ASCII characters, no line breaks.
fn subject(notification: &Notification) -> String {
    let text = format!(
        "sluice: {} {} {}",
        notification.service, notification.version, notification.status
    );
    let printable: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    printable.chars().take(100).collect()
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, aws_sdk_sns::error::BuildError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
}

impl Notifier for SnsNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let message = serde_json::to_string(notification)
            .map_err(|e| self.unavailable(format!("notification is not JSON: {e}")))?;
        let status = notification.status.to_string();
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(notification))
            .message(message);
        for (name, value) in [
            ("service", notification.service.as_str()),
            ("status", status.as_str()),
            ("deploymentId", notification.deployment_id.as_str()),
        ] {
            let attribute = string_attribute(value)
                .map_err(|e| self.unavailable(format!("message attribute {name}: {e}")))?;
            request = request.message_attributes(name, attribute);
        }
        if self.topic_arn.ends_with(".fifo") {
            // FIFO topics order per group and drop duplicates: one group per service, one
            // notification per deployment revision of a status.
            request = request
                .message_group_id(&notification.service)
                .message_deduplication_id(format!(
                    "{}-{}-{}",
                    notification.deployment_id,
                    status,
                    notification.at.timestamp_millis()
                ));
        }
        let output = request.send().await.map_err(|error| {
            self.unavailable(format!(
                "notification of deployment {} ({status}): {}",
                notification.deployment_id,
                failure::describe(&error)
            ))
        })?;
        tracing::info!(
            topic = %self.topic_arn,
            deployment = %notification.deployment_id,
            status = %status,
            message_id = ?output.message_id(),
            "notification published"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use sluice_core::{DeploymentId, Status};

    #[test]
    fn subjects_are_short_printable_ascii() {
        let notification = Notification {
            deployment_id: DeploymentId::parse("dep-1").unwrap(),
            service: "checkout".into(),
            version: format!("v1\n{}", "é".repeat(200)),
            status: Status::RolledBack,
            step: None,
            canary_share: 0.0,
            message: "x".into(),
            at: Utc::now(),
        };
        let subject = subject(&notification);
        assert!(subject.starts_with("sluice: checkout v1?"));
        assert!(subject.len() <= 100);
        assert!(subject.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }
}
