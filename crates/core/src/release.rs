//! Release tags as they arrive: a CodeCommit tag creation or an ECR image push (EventBridge
//! events), or a GitHub `create`/`release` webhook (its HMAC checked). Told apart by shape,
//! turned into one [`ReleaseEvent`], matched to a service and its version.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::spec::ReleaseSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerSource {
    Codecommit,
    Ecr,
    Github,
}

impl TriggerSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            TriggerSource::Codecommit => "codecommit",
            TriggerSource::Ecr => "ecr",
            TriggerSource::Github => "github",
        }
    }
}

/// A tag was created in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseEvent {
    pub source: TriggerSource,
    /// The delivery's own id (EventBridge `id`, GitHub `X-GitHub-Delivery`): the same id means
    /// the same delivery repeated.
    pub event_id: String,
    /// CodeCommit/ECR repository name, or GitHub `owner/name`.
    pub repository: String,
    pub tag: String,
}

impl ReleaseEvent {
    /// The idempotency key of this delivery.
    pub fn trigger_key(&self) -> String {
        format!("{}#{}", self.source.as_str(), self.event_id)
    }
}

/// What an incoming event turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Release(ReleaseEvent),
    /// Not a release (a branch, an untagged push, a deleted tag…): why, for the log.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IncomingError {
    #[error("webhook signature rejected: {0}")]
    Unauthorized(String),
    #[error("{field}: {message}")]
    Malformed { field: String, message: String },
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn required<'a>(value: &'a Value, pointer: &str) -> Result<&'a str, IncomingError> {
    text(value, pointer).ok_or_else(|| IncomingError::Malformed {
        field: pointer.trim_start_matches('/').replace('/', "."),
        message: "is missing or empty".into(),
    })
}

/// Reads an EventBridge event from CodeCommit or ECR.
pub fn from_eventbridge(event: &Value) -> Result<Incoming, IncomingError> {
    let id = required(event, "/id")?;
    match required(event, "/source")? {
        "aws.codecommit" => {
            let detail_event = text(event, "/detail/event").unwrap_or_default();
            let kind = text(event, "/detail/referenceType").unwrap_or_default();
            if detail_event != "referenceCreated" || kind != "tag" {
                return Ok(Incoming::Ignored(format!(
                    "CodeCommit {detail_event} of a {kind}, not a tag creation"
                )));
            }
            Ok(Incoming::Release(ReleaseEvent {
                source: TriggerSource::Codecommit,
                event_id: id.into(),
                repository: required(event, "/detail/repositoryName")?.into(),
                tag: required(event, "/detail/referenceName")?.into(),
            }))
        }
        "aws.ecr" => {
            let action = text(event, "/detail/action-type").unwrap_or_default();
            let result = text(event, "/detail/result").unwrap_or_default();
            if action != "PUSH" || result != "SUCCESS" {
                return Ok(Incoming::Ignored(format!(
                    "ECR {action} with result {result}, not a successful push"
                )));
            }
            let Some(tag) = text(event, "/detail/image-tag") else {
                return Ok(Incoming::Ignored("ECR push without a tag".into()));
            };
            Ok(Incoming::Release(ReleaseEvent {
                source: TriggerSource::Ecr,
                event_id: id.into(),
                repository: required(event, "/detail/repository-name")?.into(),
                tag: tag.into(),
            }))
        }
        other => Ok(Incoming::Ignored(format!(
            "events from {other} do not release anything"
        ))),
    }
}

/// Whether `signature` (the `X-Hub-Signature-256` header, `sha256=<hex>`) is the HMAC-SHA256
/// of `body` under `secret`. The comparison takes the same time wherever the bytes differ.
pub fn signature_is_valid(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Reads a GitHub webhook after checking its signature. `headers` are matched without regard
/// to case. A bad or missing signature is `Unauthorized` before anything else is looked at.
pub fn from_github(
    headers: &BTreeMap<String, String>,
    body: &[u8],
    secret: &[u8],
) -> Result<Incoming, IncomingError> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let signature = header("x-hub-signature-256")
        .ok_or_else(|| IncomingError::Unauthorized("no X-Hub-Signature-256 header".into()))?;
    if secret.is_empty() {
        return Err(IncomingError::Unauthorized(
            "no webhook secret is configured".into(),
        ));
    }
    if !signature_is_valid(secret, body, signature) {
        return Err(IncomingError::Unauthorized(
            "X-Hub-Signature-256 does not match the body".into(),
        ));
    }
    let payload: Value = serde_json::from_slice(body).map_err(|e| IncomingError::Malformed {
        field: "body".into(),
        message: format!("is not JSON: {e}"),
    })?;
    let event = header("x-github-event").unwrap_or_default();
    let delivery = header("x-github-delivery").ok_or_else(|| IncomingError::Malformed {
        field: "headers.x-github-delivery".into(),
        message: "is missing".into(),
    })?;
    let tag = match event {
        "create" if text(&payload, "/ref_type") == Some("tag") => required(&payload, "/ref")?,
        "release" if text(&payload, "/action") == Some("published") => {
            required(&payload, "/release/tag_name")?
        }
        "ping" => return Ok(Incoming::Ignored("GitHub ping".into())),
        other => {
            return Ok(Incoming::Ignored(format!(
                "GitHub {other} event is not a tag creation or a published release"
            )));
        }
    };
    Ok(Incoming::Release(ReleaseEvent {
        source: TriggerSource::Github,
        event_id: delivery.into(),
        repository: required(&payload, "/repository/full_name")?.into(),
        tag: tag.into(),
    }))
}

/// A tag matches a release spec's repository when it names the same repository (a GitHub
/// `owner/name` also matches a bare `name`).
pub fn releases(spec: &ReleaseSpec, repository: &str) -> bool {
    spec.repositories.iter().any(|r| {
        r.eq_ignore_ascii_case(repository)
            || repository
                .rsplit_once('/')
                .is_some_and(|(_, name)| r.eq_ignore_ascii_case(name))
    })
}

/// The repository index keys a service's stored defaults are found by (lower case): one per
/// repository its `release` section names. Empty when it has none.
pub fn repository_index_keys(config: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = config
        .pointer("/release/repositories")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .map(str::to_ascii_lowercase)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The index keys under which a tag of `repository` finds the services it releases: the
/// repository itself and, for a GitHub `owner/name`, the bare `name` (the same matches as
/// [`releases`]).
pub fn repository_lookup_keys(repository: &str) -> Vec<String> {
    let mut keys = vec![repository.to_ascii_lowercase()];
    if let Some((_, name)) = repository.rsplit_once('/') {
        keys.push(name.to_ascii_lowercase());
    }
    keys.dedup();
    keys
}

/// The version a tag releases, if it is a release tag: it matches the pattern (when one is
/// set) and its `version` group, or the whole tag, is a semantic version (a leading `v` is
/// allowed). The version keeps the tag's spelling, e.g. `v2.4.0`.
pub fn version_of_tag(tag: &str, pattern: Option<&str>) -> Option<String> {
    let candidate = match pattern {
        Some(pattern) => {
            let captures = regex::Regex::new(pattern).ok()?.captures(tag)?;
            captures
                .name("version")
                .or_else(|| captures.get(0))?
                .as_str()
                .to_string()
        }
        None => tag.to_string(),
    };
    let bare = candidate.strip_prefix('v').unwrap_or(&candidate);
    semver::Version::parse(bare).ok()?;
    Some(candidate)
}

/// The execution name (and so the deployment id) of a service's version: readable, within
/// Step Functions' 80 characters of `[A-Za-z0-9-_]`, and distinct for distinct pairs (a short
/// hash of the exact pair is appended, so `v1.2` and `v1-2` do not collide).
pub fn execution_name(service: &str, version: &str) -> String {
    named(
        service,
        version,
        hex::encode(&Sha256::digest(format!("{service}\n{version}").as_bytes())[..4]),
    )
}

/// The execution name of the `attempt`-th deployment of a service's version. The first is
/// [`execution_name`], so a tag and a `sluice start` of one version end in one deployment;
/// Step Functions keeps an ended execution's name for 90 days, so deploying the version again
/// after a rollback needs another: `-r<attempt>-` and a hash of the exact triple.
pub fn attempt_name(service: &str, version: &str, attempt: usize) -> String {
    if attempt <= 1 {
        return execution_name(service, version);
    }
    let digest = Sha256::digest(format!("{service}\n{version}\n{attempt}").as_bytes());
    named(
        service,
        version,
        format!("r{attempt}-{}", hex::encode(&digest[..4])),
    )
}

/// `<service>-<version>-<suffix>`, characters outside `[A-Za-z0-9-_]` as `-`, the readable
/// part cut so the whole fits 80 characters.
fn named(service: &str, version: &str, suffix: String) -> String {
    let room = 80 - suffix.len() - 1;
    let readable: String = format!("{service}-{version}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    format!("{readable}-{suffix}")
}

#[cfg(test)]
mod tests;
