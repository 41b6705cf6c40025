//! Secrets kept in SSM Parameter Store (the GitHub webhook secret), read once at cold start.

use aws_sdk_ssm::Client;
use thiserror::Error;

use crate::failure;

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("SSM parameter {name} could not be read: {message}")]
    Unreadable { name: String, message: String },
    #[error("SSM parameter {name} has no value")]
    Empty { name: String },
}

/// The value of a (SecureString) parameter, decrypted.
pub async fn read_secret(
    config: &aws_config::SdkConfig,
    name: &str,
) -> Result<String, SecretError> {
    let answer = Client::new(config)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SecretError::Unreadable {
            name: name.to_string(),
            message: failure::describe(&e),
        })?;
    answer
        .parameter()
        .and_then(|p| p.value())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| SecretError::Empty {
            name: name.to_string(),
        })
}
