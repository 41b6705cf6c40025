//! infra/README.md's example service config and the DynamoDB item next to it
//! (infra/examples/) are the same config, in the store's key layout, and a valid deployment
//! request once given a version.

use serde_json::{Map, Value, json};
use sluice_aws::dynamodb::keys;
use sluice_core::DeploymentSpec;
use sluice_core::spec::ValidationContext;
use sluice_infra_check::workspace::workspace_root;

fn read(path: &str) -> String {
    let root = workspace_root().unwrap_or_else(|e| panic!("{e}"));
    let path = root.join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// DynamoDB JSON (`{"S": ..}`, `{"N": ..}`, `{"M": ..}`, …) as plain JSON.
fn plain(value: &Value) -> Value {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .unwrap_or_else(|| panic!("not a DynamoDB attribute value: {value}"));
    let (kind, inner) = object.iter().next().unwrap_or_else(|| unreachable!());
    match kind.as_str() {
        "S" => inner.clone(),
        "N" => {
            let text = inner.as_str().unwrap_or_default();
            serde_json::from_str(text).unwrap_or_else(|e| panic!("N {text:?}: {e}"))
        }
        "BOOL" => inner.clone(),
        "NULL" => Value::Null,
        "L" => Value::Array(inner.as_array().into_iter().flatten().map(plain).collect()),
        "M" => Value::Object(
            inner
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect::<Map<_, _>>(),
        ),
        other => panic!("unexpected DynamoDB type {other}"),
    }
}

/// The fenced json block after `<!-- example-config -->`.
fn readme_config() -> Value {
    let readme = read("infra/README.md");
    let after = readme
        .split_once("<!-- example-config -->")
        .map(|(_, after)| after)
        .unwrap_or_else(|| panic!("infra/README.md has no <!-- example-config --> marker"));
    let block = after
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("no ```json block follows the example-config marker"));
    serde_json::from_str(block).unwrap_or_else(|e| panic!("README example config: {e}"))
}

#[test]
fn the_example_item_is_the_readme_config_under_the_service_keys() {
    let item: Value = serde_json::from_str(&read("infra/examples/checkout-api.config-item.json"))
        .expect("the example item is JSON");
    let config = readme_config();
    let service = config["service"]
        .as_str()
        .expect("the config names its service");
    assert_eq!(plain(&item[keys::PK]), json!(keys::service_pk(service)));
    assert_eq!(plain(&item[keys::SK]), json!(keys::CONFIG_SK));
    assert_eq!(plain(&item["service"]), json!(service));
    assert_eq!(plain(&item["config"]), config);
}

#[test]
fn the_readme_config_is_a_valid_request_once_given_a_version() {
    let mut request = readme_config();
    assert!(
        request.get("version").is_none(),
        "a service config has no version"
    );
    request["version"] = json!("v2.5.0");
    let spec = DeploymentSpec::from_json(&request).unwrap_or_else(|e| panic!("{e}"));
    let context = ValidationContext {
        zone_domain: Some("example.com.".into()),
    };
    spec.validate(&context).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        spec.release.is_some(),
        "the example shows the release section"
    );
}
