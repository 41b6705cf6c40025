//! [`TrafficRouter`] on Route 53: a weighted record set with set identifiers `blue` and
//! `green`, both weights changed in one `ChangeResourceRecordSets` batch.
//!
//! Throttling and `PriorRequestNotComplete` (Route 53's "one change per zone at a time") are
//! retried with backoff by the SDK's standard retry mode configured in [`crate::config`]; what
//! still fails after those retries comes back as [`RouterError::Throttled`].

use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_smithy_runtime_api::client::result::SdkError;
use sluice_core::WeightPair;
use sluice_core::ports::{
    ChangeId, ChangeStatus, RecordSet, RouterError, SlotRecord, TrafficRouter, WeightedRecord,
    WeightedRecords,
};
use tokio::time::Instant;

use crate::failure;

/// How [`Route53Router::wait_for_sync`] polls: the first wait, doubled after each poll up to
/// the longest wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolling {
    pub first_wait: Duration,
    pub longest_wait: Duration,
}

impl Default for SyncPolling {
    /// Route 53 usually syncs within a minute: 1 s, 2 s, 4 s, 8 s, then every 10 s.
    fn default() -> Self {
        SyncPolling {
            first_wait: Duration::from_secs(1),
            longest_wait: Duration::from_secs(10),
        }
    }
}

/// Moves traffic between blue and green through Route 53 weighted records.
#[derive(Debug, Clone)]
pub struct Route53Router {
    client: Client,
    polling: SyncPolling,
}

impl Route53Router {
    pub fn new(client: Client) -> Route53Router {
        Route53Router {
            client,
            polling: SyncPolling::default(),
        }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> Route53Router {
        Route53Router::new(Client::new(config))
    }

    /// Polls changes at another pace (tests poll fast).
    pub fn with_sync_polling(mut self, polling: SyncPolling) -> Route53Router {
        self.polling = polling;
        self
    }
}

/// A hosted zone id without its `/hostedzone/` prefix, as the core keeps it.
pub fn bare_zone_id(zone_id: &str) -> &str {
    let zone_id = zone_id.trim();
    zone_id.strip_prefix("/hostedzone/").unwrap_or(zone_id)
}

/// A change id without its `/change/` prefix, as the core keeps it.
pub fn bare_change_id(change_id: &str) -> &str {
    let change_id = change_id.trim();
    change_id.strip_prefix("/change/").unwrap_or(change_id)
}

/// A DNS name as Route 53 lists it, comparable with the core's (lower case, trailing dot):
/// Route 53 spells characters other than letters, digits, '-', '_' and '.' as `\ddd` octal
/// escapes (`*` is `\052`).
fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)))
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match escaped {
            Some(byte) => {
                out.push(char::from(byte));
                i += 4;
            }
            None => {
                out.push(char::from(bytes[i]));
                i += 1;
            }
        }
    }
    out.make_ascii_lowercase();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn record_label(records: &RecordSet) -> String {
    format!("{} {}", records.name, records.record_type.as_str())
}

/// Maps a failed call on a zone to the port's error.
fn zone_error<E, R>(
    operation: &'static str,
    zone: &str,
    subject: &str,
    error: &SdkError<E, R>,
) -> RouterError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = format!("{subject}: {}", failure::describe(error));
    match failure::code(error) {
        Some("NoSuchHostedZone") => RouterError::ZoneNotFound {
            zone: zone.to_string(),
        },
        _ if failure::is_throttled(error) => RouterError::Throttled {
            operation,
            zone: zone.to_string(),
            message,
        },
        _ => RouterError::Unavailable {
            operation,
            zone: zone.to_string(),
            message,
        },
    }
}

/// One UPSERT of a colour's weighted record.
fn upsert(
    records: &RecordSet,
    target: &SlotRecord,
    weight: u8,
) -> Result<Change, aws_smithy_types::error::operation::BuildError> {
    let mut record = ResourceRecordSet::builder()
        .name(&records.name)
        .r#type(RrType::from(records.record_type.as_str()))
        .set_identifier(&target.slot)
        .weight(i64::from(weight));
    record = match &target.alias_hosted_zone_id {
        Some(alias_zone) => record.alias_target(
            AliasTarget::builder()
                .hosted_zone_id(bare_zone_id(alias_zone))
                .dns_name(&target.target)
                .evaluate_target_health(false)
                .build()?,
        ),
        None => record
            .ttl(i64::from(records.ttl_seconds))
            .resource_records(ResourceRecord::builder().value(&target.target).build()?),
    };
    Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(record.build()?)
        .build()
}

fn weighted_record(
    records: &RecordSet,
    zone: &str,
    set: &ResourceRecordSet,
) -> Result<WeightedRecord, RouterError> {
    let identifier = set.set_identifier().unwrap_or_default();
    let weight = set
        .weight()
        .and_then(|w| u8::try_from(w).ok())
        .ok_or_else(|| RouterError::InvalidChange {
            zone: zone.to_string(),
            name: records.name.clone(),
            message: format!(
                "the {} record with set identifier {identifier} is not a weighted record \
                 (weight {:?}); sluice needs weighted records",
                records.record_type.as_str(),
                set.weight()
            ),
        })?;
    let target = match set.alias_target() {
        Some(alias) => alias.dns_name().to_string(),
        None => set
            .resource_records()
            .iter()
            .map(|r| r.value())
            .collect::<Vec<_>>()
            .join(","),
    };
    Ok(WeightedRecord {
        weight,
        target,
        ttl_seconds: set.ttl().and_then(|t| u32::try_from(t).ok()),
    })
}

impl TrafficRouter for Route53Router {
    async fn zone_domain(&self, zone_id: &str) -> Result<String, RouterError> {
        let zone = bare_zone_id(zone_id);
        let output = self
            .client
            .get_hosted_zone()
            .id(zone)
            .send()
            .await
            .map_err(|error| match failure::code(&error) {
                // A malformed id names no zone either.
                Some("InvalidInput") => RouterError::ZoneNotFound {
                    zone: zone.to_string(),
                },
                _ => zone_error("GetHostedZone", zone, "hosted zone", &error),
            })?;
        output
            .hosted_zone()
            .map(|z| z.name().to_string())
            .ok_or_else(|| RouterError::Unavailable {
                operation: "GetHostedZone",
                zone: zone.to_string(),
                message: "the answer names no hosted zone".into(),
            })
    }

    async fn read_weights(&self, records: &RecordSet) -> Result<WeightedRecords, RouterError> {
        let zone = bare_zone_id(&records.hosted_zone_id);
        let wanted_name = canonical_name(&records.name);
        let wanted_type = RrType::from(records.record_type.as_str());
        let mut found = WeightedRecords::default();
        let mut start: (String, RrType, Option<String>) =
            (records.name.clone(), wanted_type.clone(), None);
        loop {
            let output = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(&start.0)
                .start_record_type(start.1.clone())
                .set_start_record_identifier(start.2.clone())
                .send()
                .await
                .map_err(|error| {
                    zone_error(
                        "ListResourceRecordSets",
                        zone,
                        &record_label(records),
                        &error,
                    )
                })?;
            let mut past_the_set = false;
            for set in output.resource_record_sets() {
                if canonical_name(set.name()) != wanted_name || *set.r#type() != wanted_type {
                    // Listed in order: once past the name and type, nothing further matches.
                    past_the_set = true;
                    break;
                }
                let identifier = set.set_identifier();
                if identifier == Some(records.stable.slot.as_str()) {
                    found.stable = Some(weighted_record(records, zone, set)?);
                } else if identifier == Some(records.canary.slot.as_str()) {
                    found.canary = Some(weighted_record(records, zone, set)?);
                }
            }
            if past_the_set || !output.is_truncated() {
                break;
            }
            let next = (
                output.next_record_name().unwrap_or_default().to_string(),
                output
                    .next_record_type()
                    .cloned()
                    .unwrap_or_else(|| wanted_type.clone()),
                output.next_record_identifier().map(str::to_string),
            );
            if next.0.is_empty() || next == start {
                break;
            }
            start = next;
        }
        tracing::debug!(zone, record = %record_label(records), ?found, "read weighted records");
        Ok(found)
    }

    async fn set_weights(
        &self,
        records: &RecordSet,
        weights: WeightPair,
    ) -> Result<ChangeId, RouterError> {
        let zone = bare_zone_id(&records.hosted_zone_id);
        let invalid = |message: String| RouterError::InvalidChange {
            zone: zone.to_string(),
            name: records.name.clone(),
            message,
        };
        let stable = upsert(records, &records.stable, weights.stable())
            .map_err(|e| invalid(format!("stable record {}: {e}", records.stable.slot)))?;
        let canary = upsert(records, &records.canary, weights.canary())
            .map_err(|e| invalid(format!("canary record {}: {e}", records.canary.slot)))?;
        let batch = ChangeBatch::builder()
            .comment(format!(
                "sluice: stable {} {} / canary {} {}",
                records.stable.slot,
                weights.stable(),
                records.canary.slot,
                weights.canary()
            ))
            .changes(stable)
            .changes(canary)
            .build()
            .map_err(|e| invalid(format!("change batch: {e}")))?;
        let output = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|error| {
                let rejected = match error.as_service_error() {
                    Some(ChangeResourceRecordSetsError::InvalidChangeBatch(e)) => {
                        let mut messages = e.messages().to_vec();
                        messages.extend(e.message().map(str::to_string));
                        Some(messages.join("; "))
                    }
                    Some(ChangeResourceRecordSetsError::InvalidInput(e)) => {
                        Some(e.message().unwrap_or("invalid input").to_string())
                    }
                    _ => None,
                };
                match rejected {
                    Some(message) => invalid(message),
                    None => zone_error(
                        "ChangeResourceRecordSets",
                        zone,
                        &record_label(records),
                        &error,
                    ),
                }
            })?;
        let change = output
            .change_info()
            .map(|info| ChangeId(bare_change_id(info.id()).to_string()))
            .ok_or_else(|| RouterError::Unavailable {
                operation: "ChangeResourceRecordSets",
                zone: zone.to_string(),
                message: format!("{}: the answer has no change info", record_label(records)),
            })?;
        tracing::info!(
            zone,
            record = %record_label(records),
            stable = %records.stable.slot,
            stable_weight = weights.stable(),
            canary = %records.canary.slot,
            canary_weight = weights.canary(),
            %change,
            "weights changed"
        );
        Ok(change)
    }

    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus, RouterError> {
        let id = bare_change_id(&change.0);
        let output = self
            .client
            .get_change()
            .id(id)
            .send()
            .await
            .map_err(|error| match failure::code(&error) {
                Some("NoSuchChange") | Some("InvalidInput") => RouterError::ChangeNotFound {
                    change: id.to_string(),
                },
                _ => zone_error("GetChange", "-", &format!("change {id}"), &error),
            })?;
        let status = output
            .change_info()
            .map(|info| info.status().clone())
            .ok_or_else(|| RouterError::Unavailable {
                operation: "GetChange",
                zone: "-".into(),
                message: format!("change {id}: the answer has no change info"),
            })?;
        match status {
            aws_sdk_route53::types::ChangeStatus::Insync => Ok(ChangeStatus::InSync),
            aws_sdk_route53::types::ChangeStatus::Pending => Ok(ChangeStatus::Pending),
            other => Err(RouterError::Unavailable {
                operation: "GetChange",
                zone: "-".into(),
                message: format!("change {id}: unknown status {}", other.as_str()),
            }),
        }
    }

    async fn wait_for_sync(&self, change: &ChangeId, timeout: Duration) -> Result<(), RouterError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut wait = self.polling.first_wait;
        loop {
            if self.change_status(change).await? == ChangeStatus::InSync {
                tracing::info!(%change, waited = ?started.elapsed(), "change in sync");
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RouterError::SyncTimeout {
                    change: bare_change_id(&change.0).to_string(),
                    waited: started.elapsed(),
                });
            }
            let pause = wait.min(deadline - now);
            tracing::debug!(%change, ?pause, "change pending");
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(self.polling.longest_wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_and_bare_ids_kept() {
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
        assert_eq!(bare_change_id("/change/C9"), "C9");
        assert_eq!(bare_change_id("C9"), "C9");
    }

    #[test]
    fn listed_names_compare_with_the_cores() {
        assert_eq!(canonical_name("API.Example.com"), "api.example.com.");
        assert_eq!(canonical_name("api.example.com."), "api.example.com.");
        assert_eq!(canonical_name("\\052.example.com."), "*.example.com.");
        assert_eq!(canonical_name("a\\05"), "a\\05.");
    }
}
