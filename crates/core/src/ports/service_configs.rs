//! Services' stored defaults: the spec fields a deployment request of that service may leave out.

use std::future::Future;

use serde_json::Value;
use thiserror::Error;

use super::storage::StorageFailure;

#[derive(Debug, Error)]
pub enum ServiceConfigError {
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl ServiceConfigError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ServiceConfigError::Storage(failure) => failure.is_retryable(),
        }
    }
}

/// Keeps each service's default spec.
pub trait ServiceConfigs: Send + Sync {
    /// A service's stored default spec (a JSON object), if registered.
    fn service_config(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<Value>, ServiceConfigError>> + Send;

    fn put_service_config(
        &self,
        service: &str,
        config: &Value,
    ) -> impl Future<Output = Result<(), ServiceConfigError>> + Send;

    /// The services whose release spec names `repository`, with their defaults: found through
    /// the repository index written with every config, never by reading every config
    /// ([`crate::release::repository_lookup_keys`]). Sorted by service.
    fn services_released_from(
        &self,
        repository: &str,
    ) -> impl Future<Output = Result<Vec<(String, Value)>, ServiceConfigError>> + Send;

    /// Every registered service's defaults, as (service, config). Reads every config: for
    /// operators' listings, never for a path that runs per event.
    fn service_configs(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, Value)>, ServiceConfigError>> + Send;
}
