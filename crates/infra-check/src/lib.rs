//! Structural checks of `infra/template.yaml`, the SAM template that deploys sluice, against
//! the workspace it deploys:
//!
//! - every function crate under `functions/` is a function of the template built from its
//!   binary, and every function of the template is built from a crate that exists;
//! - every function is on `provided.al2023`/arm64 with its own log group and JSON logs, under
//!   a role of the template's own (no role SAM would generate out of sight);
//! - the state machine's `DefinitionSubstitutions` are exactly the `${...}` placeholders of its
//!   ASL file, each a function of the template, and its role may invoke exactly those;
//!   every function that nothing else triggers is one of them;
//! - every IAM statement that grants a write action names specific resources ([`iam`]).
//!
//! `tests/template.rs` runs these on the real files; the unit tests show each check failing on
//! a template that breaks it.

pub mod checks;
pub mod iam;
mod yaml;

use std::path::{Path, PathBuf};

use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Syntax(String),
    #[error("{0}")]
    Unsupported(String),
}

/// The workspace root (this crate lives in `crates/infra-check`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A CloudFormation/SAM template as JSON, intrinsic functions in their long form.
#[derive(Debug, Clone)]
pub struct Template {
    value: Value,
}

impl Template {
    pub fn load(path: &Path) -> Result<Template, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, LoadError> {
        yaml::to_json(text).map(Template::from_value)
    }

    pub fn from_value(value: Value) -> Template {
        Template { value }
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// `(logical id, resource)` in template order.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.value
            .get("Resources")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(id, resource)| (id.as_str(), resource))
    }

    pub fn resource(&self, id: &str) -> Option<&Value> {
        self.value.get("Resources")?.get(id)
    }

    pub fn type_of(&self, id: &str) -> Option<&str> {
        self.resource(id)?.get("Type")?.as_str()
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.resources()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
    }

    /// A property of a resource.
    pub fn property<'a>(resource: &'a Value, name: &str) -> Option<&'a Value> {
        resource.get("Properties")?.get(name)
    }

    /// A property of a `AWS::Serverless::Function` as deployed: its own, or else `Globals`'.
    pub fn function_property<'a>(&'a self, function: &'a Value, name: &str) -> Option<&'a Value> {
        Template::property(function, name).or_else(|| {
            self.value
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get(name))
        })
    }

    /// The parameter names of the template.
    pub fn parameters(&self) -> impl Iterator<Item = &str> {
        self.value
            .get("Parameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, _)| name.as_str())
    }
}

/// `{"Ref": id}` → `id`.
pub fn ref_target(value: &Value) -> Option<&str> {
    value
        .as_object()
        .filter(|o| o.len() == 1)?
        .get("Ref")?
        .as_str()
}

/// `{"Fn::GetAtt": [resource, attribute]}` (or `"resource.attribute"`) → both.
pub fn get_att(value: &Value) -> Option<(&str, &str)> {
    match value
        .as_object()
        .filter(|o| o.len() == 1)?
        .get("Fn::GetAtt")?
    {
        Value::Array(parts) => match parts.as_slice() {
            [Value::String(resource), Value::String(attribute)] => {
                Some((resource.as_str(), attribute.as_str()))
            }
            _ => None,
        },
        Value::String(text) => text.split_once('.'),
        _ => None,
    }
}

/// Whether `value` is `Ref id` or `GetAtt id.Arn`: how a template names a function or topic.
pub fn refers_to(value: &Value, id: &str) -> bool {
    ref_target(value) == Some(id) || get_att(value) == Some((id, "Arn"))
}

/// The `${Name}` placeholders of a state machine definition (`DefinitionSubstitutions` keys).
pub fn placeholders(definition: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                found.insert(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_read_from_the_definition_text() {
        let asl = r#"{"A": {"Resource": "${ValidateFunctionArn}"}, "B": {"Parameters":
            {"FunctionName": "${AwaitApprovalFunctionArn}", "x.$": "$.y"}}, "C": "${ValidateFunctionArn}"}"#;
        assert_eq!(
            placeholders(asl).into_iter().collect::<Vec<_>>(),
            vec!["AwaitApprovalFunctionArn", "ValidateFunctionArn"]
        );
    }

    #[test]
    fn references_in_both_forms() {
        assert!(refers_to(&json!({"Ref": "F"}), "F"));
        assert!(refers_to(&json!({"Fn::GetAtt": ["F", "Arn"]}), "F"));
        assert!(refers_to(&json!({"Fn::GetAtt": "F.Arn"}), "F"));
        assert!(!refers_to(&json!({"Fn::GetAtt": ["F", "Name"]}), "F"));
        assert!(!refers_to(&json!({"Ref": "G"}), "F"));
    }
}
