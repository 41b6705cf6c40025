//! The template's YAML as JSON, with CloudFormation's short-form tags (`!Ref X`, `!GetAtt A.B`,
//! `!Sub ...`) turned into the long form (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`,
//! `{"Fn::Sub": ...}`) they stand for, so checks see one shape whichever form the template uses.

use saphyr::{LoadableYamlNode, Scalar, Tag, Yaml};
use serde_json::{Map, Number, Value};

/// Why the template's text is not a template this crate can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("{0}")]
    Syntax(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Functions with a short form, written `!Name` for `Fn::Name`.
const FN_TAGS: &[&str] = &[
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
];

/// Parses one YAML document into JSON, intrinsic functions in their long form.
pub fn to_json(text: &str) -> Result<Value, YamlError> {
    let documents =
        Yaml::load_from_str(text).map_err(|e| YamlError::Syntax(format!("not YAML: {e}")))?;
    match documents.as_slice() {
        [document] => convert(document, "$"),
        other => Err(YamlError::Unsupported(format!(
            "expected one YAML document, found {}",
            other.len()
        ))),
    }
}

fn convert(node: &Yaml, at: &str) -> Result<Value, YamlError> {
    match node {
        Yaml::Value(scalar) => Ok(scalar_value(scalar)),
        // Only left unresolved by lazy loading, which `load_from_str` does not do.
        Yaml::Representation(text, _, _) => Ok(Value::String(text.to_string())),
        Yaml::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| convert(item, &format!("{at}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Yaml::Mapping(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key = key_text(key, at)?;
                let converted = convert(value, &format!("{at}.{key}"))?;
                if object.insert(key.clone(), converted).is_some() {
                    return Err(YamlError::Unsupported(format!("{at}: duplicate key {key}")));
                }
            }
            Ok(Value::Object(object))
        }
        Yaml::Tagged(tag, inner) => intrinsic(tag, inner, at),
        // The loader resolves aliases to copies of their anchor's node; one left is a bug.
        Yaml::Alias(_) => Err(YamlError::Unsupported(format!(
            "{at}: unresolved YAML alias"
        ))),
        Yaml::BadValue => Err(YamlError::Unsupported(format!("{at}: unreadable value"))),
    }
}

fn scalar_value(scalar: &Scalar) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number(Number::from(*i)),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.to_string())),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

fn key_text(key: &Yaml, at: &str) -> Result<String, YamlError> {
    match key {
        Yaml::Value(Scalar::String(s)) => Ok(s.to_string()),
        Yaml::Value(Scalar::Integer(i)) => Ok(i.to_string()),
        Yaml::Value(Scalar::Boolean(b)) => Ok(b.to_string()),
        Yaml::Representation(text, _, _) => Ok(text.to_string()),
        other => Err(YamlError::Unsupported(format!(
            "{at}: mapping key {other:?} is not a scalar"
        ))),
    }
}

fn intrinsic(tag: &Tag, inner: &Yaml, at: &str) -> Result<Value, YamlError> {
    let value = convert(inner, at)?;
    if tag.is_yaml_core_schema() {
        return Ok(value);
    }
    if tag.handle != "!" {
        return Err(YamlError::Unsupported(format!(
            "{at}: unknown tag {}{}",
            tag.handle, tag.suffix
        )));
    }
    let name = tag.suffix.as_str();
    let (key, value) = match name {
        "Ref" | "Condition" => (name.to_string(), value),
        // `!GetAtt Resource.Attribute` is `Fn::GetAtt: [Resource, Attribute]`.
        "GetAtt" => {
            let value = match value {
                Value::String(text) => match text.split_once('.') {
                    Some((resource, attribute)) => Value::Array(vec![
                        Value::String(resource.to_string()),
                        Value::String(attribute.to_string()),
                    ]),
                    None => Value::String(text),
                },
                other => other,
            };
            ("Fn::GetAtt".to_string(), value)
        }
        _ if FN_TAGS.contains(&name) => (format!("Fn::{name}"), value),
        _ => {
            return Err(YamlError::Unsupported(format!("{at}: unknown tag !{name}")));
        }
    };
    Ok(Value::Object(Map::from_iter([(key, value)])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_form_tags_become_the_long_form() {
        let text = "\
A: !Ref Table
B: !GetAtt Fn.Arn
C: !Sub ['${X}/index', {X: !GetAtt [Table, Arn]}]
D: !If [Cond, !Split [',', !Join ['', [a, !Ref L]]], !Ref AWS::NoValue]
E: {'Fn::Sub': 'long ${form}'}
F: !Not [!Equals [!Ref P, '']]
G: 2010-09-09
H: '128'
I: 128
";
        assert_eq!(
            to_json(text).unwrap(),
            json!({
                "A": {"Ref": "Table"},
                "B": {"Fn::GetAtt": ["Fn", "Arn"]},
                "C": {"Fn::Sub": ["${X}/index", {"X": {"Fn::GetAtt": ["Table", "Arn"]}}]},
                "D": {"Fn::If": ["Cond",
                    {"Fn::Split": [",", {"Fn::Join": ["", ["a", {"Ref": "L"}]]}]},
                    {"Ref": "AWS::NoValue"}]},
                "E": {"Fn::Sub": "long ${form}"},
                "F": {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]},
                "G": "2010-09-09",
                "H": "128",
                "I": 128
            })
        );
    }

    #[test]
    fn unknown_tags_and_duplicate_keys_are_refused() {
        let unknown = to_json("A: !Reference X\n").unwrap_err().to_string();
        assert!(unknown.contains("unknown tag !Reference"), "{unknown}");
        let duplicate = to_json("A: 1\nA: 2\n").unwrap_err().to_string();
        assert!(
            duplicate.contains("duplicate key A") || duplicate.contains("not YAML"),
            "{duplicate}"
        );
    }
}
