//! A CloudFormation/SAM template read as JSON, and the intrinsic-function shapes the checks
//! look for (`Ref`, `Fn::GetAtt`).

use std::path::Path;

use serde_json::Value;
use thiserror::Error;

use crate::yaml::{YamlError, to_json};

/// Why a template could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error(transparent)]
    Yaml(#[from] YamlError),
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
        Ok(Template::from_value(to_json(text)?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_in_both_forms() {
        assert!(refers_to(&json!({"Ref": "F"}), "F"));
        assert!(refers_to(&json!({"Fn::GetAtt": ["F", "Arn"]}), "F"));
        assert!(refers_to(&json!({"Fn::GetAtt": "F.Arn"}), "F"));
        assert!(!refers_to(&json!({"Fn::GetAtt": ["F", "Name"]}), "F"));
        assert!(!refers_to(&json!({"Ref": "G"}), "F"));
    }
}
