use std::time::Duration;

use sluice_core::workflow::SyncLimits;
use thiserror::Error;

/// Every handler's settings, read once from the environment at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `SLUICE_TABLE`: the DynamoDB table.
    pub table: String,
    /// `SLUICE_NOTIFICATIONS_TOPIC_ARN`: where state changes are published; unset, they are
    /// only logged.
    pub notifications_topic_arn: Option<String>,
    /// `SLUICE_STATE_MACHINE_ARN`: the deployment state machine, for the functions that start,
    /// stop or answer executions.
    pub state_machine_arn: Option<String>,
    /// `SLUICE_SYNC_POLL_SECONDS` (default 5) and `SLUICE_SYNC_MAX_POLLS` (default 120).
    pub sync: SyncLimits,
    /// `SLUICE_HISTORY_TTL_DAYS`: history items expire after this many days; unset, never.
    pub history_ttl: Option<Duration>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {var} is required: {what}")]
    Missing {
        var: &'static str,
        what: &'static str,
    },
    #[error("environment variable {var}={value:?} is not valid: {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let number = |var: &'static str, default: u32| -> Result<u32, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(value) => {
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(ConfigError::Invalid {
                            var,
                            value,
                            expected: "a whole number above 0",
                        })
                }
            }
        };
        let defaults = SyncLimits::default();
        let history_days = match get("SLUICE_HISTORY_TTL_DAYS") {
            None => None,
            Some(_) => Some(number("SLUICE_HISTORY_TTL_DAYS", 1)?),
        };
        Ok(Config {
            table: get("SLUICE_TABLE").ok_or(ConfigError::Missing {
                var: "SLUICE_TABLE",
                what: "the DynamoDB table holding deployments",
            })?,
            notifications_topic_arn: get("SLUICE_NOTIFICATIONS_TOPIC_ARN"),
            state_machine_arn: get("SLUICE_STATE_MACHINE_ARN"),
            sync: SyncLimits {
                poll_seconds: number("SLUICE_SYNC_POLL_SECONDS", defaults.poll_seconds)?,
                max_polls: number("SLUICE_SYNC_MAX_POLLS", defaults.max_polls)?,
            },
            history_ttl: history_days.map(|days| Duration::from_secs(u64::from(days) * 86_400)),
        })
    }

    /// What the AWS ports are built from.
    pub fn settings(&self) -> sluice_aws::Settings {
        sluice_aws::Settings {
            table: self.table.clone(),
            state_machine_arn: self.state_machine_arn.clone(),
            notifications_topic_arn: self.notifications_topic_arn.clone(),
            history_ttl: self.history_ttl,
        }
    }

    /// The state machine ARN, for the functions that cannot work without one.
    pub fn require_state_machine(&self) -> Result<&str, ConfigError> {
        self.state_machine_arn
            .as_deref()
            .ok_or(ConfigError::Missing {
                var: "SLUICE_STATE_MACHINE_ARN",
                what: "the deployment state machine this function starts or stops executions of",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn the_table_is_required_and_the_rest_has_defaults() {
        assert_eq!(
            config(&[]).unwrap_err(),
            ConfigError::Missing {
                var: "SLUICE_TABLE",
                what: "the DynamoDB table holding deployments"
            }
        );
        let c = config(&[("SLUICE_TABLE", "sluice")]).unwrap();
        assert_eq!(c.table, "sluice");
        assert_eq!(c.sync, SyncLimits::default());
        assert_eq!(c.notifications_topic_arn, None);
        assert_eq!(c.history_ttl, None);
        assert!(
            c.require_state_machine()
                .unwrap_err()
                .to_string()
                .contains("SLUICE_STATE_MACHINE_ARN")
        );
    }

    #[test]
    fn numbers_are_checked_and_named() {
        let c = config(&[
            ("SLUICE_TABLE", "t"),
            ("SLUICE_SYNC_POLL_SECONDS", "1"),
            ("SLUICE_SYNC_MAX_POLLS", "30"),
            ("SLUICE_HISTORY_TTL_DAYS", "90"),
        ])
        .unwrap();
        assert_eq!(
            c.sync,
            SyncLimits {
                poll_seconds: 1,
                max_polls: 30
            }
        );
        assert_eq!(c.history_ttl, Some(Duration::from_secs(90 * 86_400)));
        let err =
            config(&[("SLUICE_TABLE", "t"), ("SLUICE_SYNC_POLL_SECONDS", "soon")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable SLUICE_SYNC_POLL_SECONDS=\"soon\" is not valid: a whole number above 0"
        );
        assert!(config(&[("SLUICE_TABLE", "t"), ("SLUICE_SYNC_MAX_POLLS", "0")]).is_err());
    }
}
