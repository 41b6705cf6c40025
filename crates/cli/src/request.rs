//! Building a deployment request from the command line, validating it like the state machine
//! does, and naming its execution.

use serde_json::{Map, Value};
use sluice_core::ports::{ServiceConfigs, TrafficRouter};
use sluice_core::workflow::{WorkflowError, check_request};
use sluice_core::{DeploymentSpec, FieldError, SpecErrors};

use crate::error::CliError;

/// One `--set PATH=VALUE`: the path's segments and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub path: Vec<String>,
    pub value: Value,
}

impl Assignment {
    /// `strategy.bakeSeconds=60` → `["strategy", "bakeSeconds"]`, `60`. The value is JSON when
    /// it parses as JSON (`60`, `true`, `[1,5,100]`, `{"kind":"linear"}`, `"v2"`), a string
    /// otherwise (`before-promote`, `v2.4.0`).
    pub fn parse(input: &str) -> Result<Assignment, CliError> {
        let bad = |message: &str| CliError::BadSet {
            input: input.to_string(),
            message: message.to_string(),
        };
        let (path, value) = input
            .split_once('=')
            .ok_or_else(|| bad("expected PATH=VALUE, e.g. strategy.bakeSeconds=60"))?;
        let path: Vec<String> = path.trim().split('.').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad("the path has an empty segment"));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        Ok(Assignment { path, value })
    }

    /// Writes the value into `request`, creating objects on the way. A segment that is a
    /// number indexes an existing array (`analysis.metrics.0.max=1`).
    pub fn apply(&self, request: &mut Value) -> Result<(), CliError> {
        let text = || format!("{}={}", self.path.join("."), self.value);
        let mut here = request;
        for (depth, segment) in self.path.iter().enumerate() {
            let last = depth + 1 == self.path.len();
            let at = self.path[..=depth].join(".");
            if let Value::Array(items) = here {
                let len = items.len();
                let index: usize = segment.parse().map_err(|_| CliError::BadSet {
                    input: text(),
                    message: format!("{at}: an array is indexed by a number"),
                })?;
                let slot = items.get_mut(index).ok_or_else(|| CliError::BadSet {
                    input: text(),
                    message: format!("{at}: the array has {len} elements"),
                })?;
                if last {
                    *slot = self.value.clone();
                    return Ok(());
                }
                here = slot;
                continue;
            }
            if here.is_null() {
                *here = Value::Object(Map::new());
            }
            let Value::Object(map) = here else {
                return Err(CliError::BadSet {
                    input: text(),
                    message: format!("{} is {here}, not an object", self.path[..depth].join(".")),
                });
            };
            if last {
                map.insert(segment.clone(), self.value.clone());
                return Ok(());
            }
            here = map.entry(segment.clone()).or_insert(Value::Null);
        }
        Ok(())
    }
}

/// The request as the operator asked for it: the spec file (or `{}`), with service, version
/// and every assignment applied, in that order.
pub fn build_request(
    spec_file: Option<Value>,
    service: &str,
    version: &str,
    assignments: &[Assignment],
) -> Result<Value, CliError> {
    let mut request = spec_file.unwrap_or_else(|| Value::Object(Map::new()));
    let Value::Object(object) = &mut request else {
        return Err(CliError::Invalid(SpecErrors(vec![FieldError {
            field: "request".into(),
            message: "the spec file must hold a JSON object".into(),
        }])));
    };
    object.insert("service".into(), Value::String(service.into()));
    object.insert("version".into(), Value::String(version.into()));
    for assignment in assignments {
        assignment.apply(&mut request)?;
    }
    Ok(request)
}

/// The request checked as the state machine's Validate step checks it (spec rules, service
/// defaults, hosted zone); every problem is returned, each naming its field.
pub async fn validate(
    store: &impl ServiceConfigs,
    router: &impl TrafficRouter,
    request: &Value,
) -> Result<DeploymentSpec, CliError> {
    check_request(store, router, request)
        .await
        .map_err(|error| match error {
            WorkflowError::Invalid(problems) => CliError::Invalid(problems),
            other => CliError::from(other),
        })
}

pub use sluice_core::release::attempt_name;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn set(input: &str) -> Assignment {
        Assignment::parse(input).unwrap()
    }

    #[test]
    fn values_are_json_when_they_parse_and_strings_otherwise() {
        assert_eq!(set("strategy.bakeSeconds=60").value, json!(60));
        assert_eq!(set("hotfix=true").value, json!(true));
        assert_eq!(set("strategy.steps=[1,5,100]").value, json!([1, 5, 100]));
        assert_eq!(
            set("approval=before-promote").value,
            json!("before-promote")
        );
        assert_eq!(set("version=v2.4.0").value, json!("v2.4.0"));
        assert_eq!(set("version=\"2\"").value, json!("2"));
        assert_eq!(set("blue.target=a=b").value, json!("a=b"));
        assert_eq!(
            set("strategy.bakeSeconds=60").path,
            vec!["strategy", "bakeSeconds"]
        );
    }

    #[test]
    fn malformed_assignments_name_the_input() {
        for bad in ["no-equals", "a..b=1", "=1"] {
            let error = Assignment::parse(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn assignments_create_objects_and_index_arrays() {
        let mut request = json!({"analysis": {"metrics": [{"name": "error-rate", "max": 0.5}]}});
        set("strategy.bakeSeconds=5").apply(&mut request).unwrap();
        set("analysis.metrics.0.max=1").apply(&mut request).unwrap();
        assert_eq!(request["strategy"], json!({"bakeSeconds": 5}));
        assert_eq!(request["analysis"]["metrics"][0]["max"], json!(1));

        let error = set("analysis.metrics.3.max=1")
            .apply(&mut request)
            .unwrap_err()
            .to_string();
        assert!(error.contains("the array has 1 elements"), "{error}");
        let error = set("analysis.metrics.x=1")
            .apply(&mut request)
            .unwrap_err()
            .to_string();
        assert!(error.contains("indexed by a number"), "{error}");
        let error = set("strategy.bakeSeconds.x=1")
            .apply(&mut request)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not an object"), "{error}");
    }

    #[test]
    fn service_and_version_flags_win_over_the_file_and_sets_win_over_both() {
        let file = json!({"service": "old", "version": "v1", "approval": "none"});
        let request = build_request(
            Some(file),
            "checkout",
            "v2",
            &[set("approval=before-promote")],
        )
        .unwrap();
        assert_eq!(
            request,
            json!({"service": "checkout", "version": "v2", "approval": "before-promote"})
        );
        assert!(matches!(
            build_request(Some(json!([1])), "s", "v", &[]),
            Err(CliError::Invalid(_))
        ));
    }
}
