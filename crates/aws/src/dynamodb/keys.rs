//! The table's key layout (DESIGN.md §4): every item's `PK`/`SK`, and the `GSI1` keys that
//! find a deployment by id.

use chrono::{DateTime, SecondsFormat, Utc};
use sluice_core::DeploymentId;
use sluice_core::ports::DeploymentKey;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
/// The TTL attribute (epoch seconds) of history events and trigger keys.
pub const EXPIRES_AT: &str = "expiresAt";

pub const LOCK_SK: &str = "LOCK";
pub const CONFIG_SK: &str = "CONFIG";
pub const STATE_SK: &str = "STATE";
pub const TRIGGER_SK: &str = "-";
pub const DEPLOY_SK_PREFIX: &str = "DEPLOY#";
pub const EVENT_SK_PREFIX: &str = "EVENT#";
pub const RECORD_GSI1SK: &str = "RECORD";
/// GSI1 partition of every `LOCK` item (sort key `SERVICE#<service>`): the reconciler's sweep
/// lists the held locks with one query, never a scan of a table that keeps 400 days of history.
pub const LOCKS_GSI1PK: &str = "LOCK";
pub const SERVICE_PREFIX: &str = "SERVICE#";

/// `SERVICE#<service>`: the lock, the config and the deployments of one service.
pub fn service_pk(service: &str) -> String {
    format!("{SERVICE_PREFIX}{service}")
}

/// `ALARM#<alarm>`: which services' deployments an alarm belongs to (SK `SERVICE#<service>`).
pub fn alarm_pk(alarm: &str) -> String {
    format!("ALARM#{alarm}")
}

/// `REPO#<repository, lower case>`: which services a repository's tags release (SK
/// `SERVICE#<service>`).
pub fn repo_pk(repository_key: &str) -> String {
    format!("REPO#{repository_key}")
}

/// `DEPLOY#<id>`: a deployment's history (and, in GSI1, its record).
pub fn deploy_pk(id: &DeploymentId) -> String {
    format!("DEPLOY#{id}")
}

/// `DEPLOY#<started-at, RFC 3339 with milliseconds, Z>#<id>`: newest last in key order.
pub fn deploy_sk(key: &DeploymentKey) -> String {
    format!(
        "{DEPLOY_SK_PREFIX}{}#{}",
        key.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        key.id
    )
}

/// `EVENT#<seq, zero-padded to 10 digits>`: history in key order.
pub fn event_sk(seq: u64) -> String {
    format!("{EVENT_SK_PREFIX}{seq:010}")
}

/// `TRIGGER#<key>`: an incoming event's idempotency key.
pub fn trigger_pk(key: &str) -> String {
    format!("TRIGGER#{key}")
}

/// Instants compared inside DynamoDB (a lock's lease): RFC 3339 with all nine fractional
/// digits and `Z`, so that string order is time order and nothing is lost.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_follow_the_design() {
        let id = DeploymentId::parse("dep-1").unwrap();
        let started_at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap()
            + chrono::Duration::microseconds(123_456);
        let key = DeploymentKey {
            service: "checkout".into(),
            started_at,
            id: id.clone(),
        };
        assert_eq!(service_pk("checkout"), "SERVICE#checkout");
        assert_eq!(deploy_sk(&key), "DEPLOY#2026-03-04T05:06:07.123Z#dep-1");
        assert_eq!(deploy_pk(&id), "DEPLOY#dep-1");
        assert_eq!(event_sk(42), "EVENT#0000000042");
        assert_eq!(trigger_pk("github#7"), "TRIGGER#github#7");
        assert_eq!(repo_pk("acme/checkout"), "REPO#acme/checkout");
        assert_eq!(instant(started_at), "2026-03-04T05:06:07.123456000Z");
    }

    #[test]
    fn instants_sort_as_strings_in_time_order() {
        let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let times = [
            base,
            base + chrono::Duration::nanoseconds(1),
            base + chrono::Duration::milliseconds(500),
            base + chrono::Duration::seconds(1),
        ];
        for pair in times.windows(2) {
            assert!(instant(pair[0]) < instant(pair[1]));
        }
    }
}
