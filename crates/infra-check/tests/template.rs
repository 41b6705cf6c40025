//! infra/template.yaml against the workspace it deploys: the function crates under
//! functions/, the state machine definition, the table layout of the DynamoDB store.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use sluice_aws::dynamodb::keys;
use sluice_infra_check::checks;
use sluice_infra_check::workspace::{function_packages, placeholders, workspace_root};
use sluice_infra_check::{Template, ref_target};

fn infra() -> PathBuf {
    root().join("infra")
}

fn template() -> Template {
    let path = infra().join("template.yaml");
    Template::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn root() -> PathBuf {
    workspace_root().unwrap_or_else(|e| panic!("{e}"))
}

/// The binary crates under functions/ (a directory with a Cargo.toml).
fn function_crates() -> BTreeSet<String> {
    function_packages(&root())
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .collect()
}

fn assert_none(problems: Vec<String>, what: &str) {
    assert!(
        problems.is_empty(),
        "infra/template.yaml: {what}:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn every_function_crate_is_deployed_and_every_deployed_function_has_a_crate() {
    let crates = function_crates();
    assert!(
        crates.contains("validate"),
        "functions/ was not found: {crates:?}"
    );
    assert_none(checks::function_problems(&template(), &crates), "functions");
}

#[test]
fn functions_are_built_from_the_workspace_root() {
    // SAM's cargo-lambda builder runs in CodeUri and takes target/lambda/<binary>/bootstrap
    // from there: CodeUri must be the workspace root.
    let t = template();
    let root = root().canonicalize().unwrap();
    for f in checks::functions(&t) {
        let code_uri = t
            .function_property(f.resource, "CodeUri")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: no CodeUri", f.id));
        let dir = infra().join(code_uri).canonicalize().unwrap();
        assert_eq!(
            dir, root,
            "{}: CodeUri {code_uri} is not the workspace root",
            f.id
        );
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("[workspace]"));
}

fn definition(t: &Template) -> (PathBuf, String) {
    let (id, machine) = checks::state_machine(t).unwrap_or_else(|e| panic!("{e}"));
    let uri = Template::property(machine, "DefinitionUri")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{id}: DefinitionUri is not a path"));
    let path = infra().join(uri);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{id}: DefinitionUri {uri}: {e}"));
    (path, text)
}

#[test]
fn the_state_machine_deploys_the_definition_with_every_substitution() {
    let t = template();
    let (path, text) = definition(&t);
    assert_eq!(
        path.canonicalize().unwrap(),
        root()
            .join("statemachine/deployment.asl.json")
            .canonicalize()
            .unwrap()
    );
    serde_json::from_str::<Value>(&text).expect("the definition is JSON");
    assert!(
        !placeholders(&text).is_empty(),
        "the definition has no ${{...}} placeholders: nothing would be checked"
    );
    assert_none(checks::state_machine_problems(&t, &text), "state machine");
}

#[test]
fn every_write_permission_names_its_resources() {
    let t = template();
    let statements = sluice_infra_check::iam::statements(&t);
    assert!(
        statements.len() > 20,
        "only {} IAM statements found: is the walk still finding the policies?",
        statements.len()
    );
    assert_none(checks::policy_problems(&t), "IAM");
}

#[test]
fn the_table_is_the_one_the_store_expects() {
    let t = template();
    let tables: Vec<(&str, &Value)> = t.of_type("AWS::DynamoDB::Table").collect();
    let [(_, table)] = tables.as_slice() else {
        panic!("expected one table, found {}", tables.len());
    };
    let p = |pointer: &str| table.pointer(&format!("/Properties{pointer}"));
    let key_schema = |schema: Option<&Value>| -> Vec<(String, String)> {
        schema
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap_or_default().to_string(),
                    k["KeyType"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let pair = |hash: &str, range: &str| {
        vec![
            (hash.to_string(), "HASH".to_string()),
            (range.to_string(), "RANGE".to_string()),
        ]
    };
    assert_eq!(key_schema(p("/KeySchema")), pair(keys::PK, keys::SK));
    let indexes = p("/GlobalSecondaryIndexes")
        .and_then(Value::as_array)
        .unwrap();
    let gsi1 = indexes
        .iter()
        .find(|i| i["IndexName"] == keys::GSI1)
        .expect("index GSI1");
    assert_eq!(
        key_schema(gsi1.get("KeySchema")),
        pair(keys::GSI1PK, keys::GSI1SK)
    );
    assert_eq!(gsi1["Projection"]["ProjectionType"], "ALL");
    assert_eq!(
        p("/TimeToLiveSpecification/AttributeName").and_then(Value::as_str),
        Some(keys::EXPIRES_AT)
    );
    assert_eq!(
        p("/TimeToLiveSpecification/Enabled"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        p("/BillingMode").and_then(Value::as_str),
        Some("PAY_PER_REQUEST")
    );
    assert_eq!(
        p("/PointInTimeRecoverySpecification/PointInTimeRecoveryEnabled"),
        Some(&Value::Bool(true))
    );
    assert_eq!(p("/SSESpecification/SSEEnabled"), Some(&Value::Bool(true)));
}

fn function_of_binary<'a>(t: &'a Template, binary: &str) -> (&'a str, &'a Value) {
    let found = checks::functions(t)
        .into_iter()
        .find(|f| f.binary == Some(binary))
        .unwrap_or_else(|| panic!("no function builds {binary}"));
    (found.id, found.resource)
}

#[test]
fn emergency_rollback_listens_to_the_alarm_topic_that_only_this_accounts_cloudwatch_may_use() {
    let t = template();
    let (id, function) = function_of_binary(&t, "emergency-rollback");
    let events = Template::property(function, "Events")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{id} has no events"));
    let topic = events
        .values()
        .filter(|e| e["Type"] == "SNS")
        .find_map(|e| ref_target(&e["Properties"]["Topic"]))
        .unwrap_or_else(|| panic!("{id} is not subscribed to a topic of the template"));
    assert_eq!(t.type_of(topic), Some("AWS::SNS::Topic"));
    let policy = t
        .of_type("AWS::SNS::TopicPolicy")
        .find(|(_, p)| {
            Template::property(p, "Topics")
                .and_then(Value::as_array)
                .is_some_and(|topics| topics.iter().any(|x| ref_target(x) == Some(topic)))
        })
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{topic} has no topic policy"));
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    assert!(statements.iter().any(|s| {
        s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
            && s["Action"] == "sns:Publish"
            && ref_target(&s["Condition"]["StringEquals"]["aws:SourceAccount"])
                == Some("AWS::AccountId")
    }));
}

#[test]
fn each_release_source_is_optional_and_reaches_release_trigger() {
    let t = template();
    let (id, _) = function_of_binary(&t, "release-trigger");
    let triggers = checks::own_triggers(&t, id);
    for kind in ["AWS::Events::Rule", "AWS::Lambda::Url"] {
        let of_kind: Vec<(&str, &Value)> = t.of_type(kind).collect();
        assert!(
            !of_kind.is_empty() && triggers.iter().any(|x| x.starts_with(kind)),
            "no {kind} triggers {id}: {triggers:?}"
        );
        for (rule, resource) in of_kind {
            assert!(
                resource.get("Condition").is_some(),
                "{rule} ({kind}) is not optional: it has no Condition"
            );
        }
    }
    // Every Lambda permission of an optional trigger is as optional as the trigger.
    for (permission, resource) in t.of_type("AWS::Lambda::Permission") {
        assert!(
            resource.get("Condition").is_some(),
            "{permission} has no Condition"
        );
    }
}

/// The metric names the README documents for the functions to emit (namespace `Sluice`).
fn documented_metrics() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(infra().join("README.md")).unwrap_or_default();
    let section = readme
        .split_once("## Metrics the dashboard shows")
        .map(|(_, after)| after)
        .unwrap_or_else(|| panic!("infra/README.md has no metrics section"));
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

/// Every `MetricName="…"` of a `SEARCH('{Sluice,…}…')` expression in the dashboard.
fn dashboard_metrics(body: &Value, found: &mut BTreeSet<String>) {
    match body {
        Value::String(text) if text.contains("{Sluice,") => {
            let mut rest = text.as_str();
            while let Some((_, after)) = rest.split_once("MetricName=\"") {
                let Some((name, tail)) = after.split_once('"') else {
                    break;
                };
                found.insert(name.to_string());
                rest = tail;
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_metrics(v, found)),
        Value::Object(object) => object.values().for_each(|v| dashboard_metrics(v, found)),
        _ => {}
    }
}

#[test]
fn the_dashboard_is_json_and_shows_exactly_the_documented_metrics() {
    let t = template();
    let dashboards: Vec<(&str, &Value)> = t.of_type("AWS::CloudWatch::Dashboard").collect();
    let [(id, dashboard)] = dashboards.as_slice() else {
        panic!("expected one dashboard, found {}", dashboards.len());
    };
    let sub = Template::property(dashboard, "DashboardBody")
        .and_then(|b| b.get("Fn::Sub"))
        .unwrap_or_else(|| panic!("{id}: DashboardBody is not an Fn::Sub"));
    let text = match sub {
        Value::Array(parts) => parts.first().and_then(Value::as_str),
        other => other.as_str(),
    }
    .unwrap_or_else(|| panic!("{id}: DashboardBody's Fn::Sub has no template string"));
    // Substituted values are names and ARNs: any plain word stands in for them.
    let mut plain = String::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once("${") {
        plain.push_str(before);
        plain.push('x');
        rest = after.split_once('}').map_or("", |(_, tail)| tail);
    }
    plain.push_str(rest);
    let body: Value =
        serde_json::from_str(&plain).unwrap_or_else(|e| panic!("{id}: body is not JSON: {e}"));
    let mut shown = BTreeSet::new();
    dashboard_metrics(&body, &mut shown);
    assert_eq!(
        shown,
        documented_metrics(),
        "the dashboard's Sluice metrics and infra/README.md's metric table differ"
    );
}

#[test]
fn reconcile_runs_on_failed_executions_of_the_state_machine_and_on_a_schedule() {
    let t = template();
    let (id, function) = function_of_binary(&t, "reconcile");
    let events = Template::property(function, "Events")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{id} has no events"));
    let rule = events
        .values()
        .find(|e| e["Type"] == "EventBridgeRule")
        .unwrap_or_else(|| panic!("{id} has no EventBridge rule"));
    let pattern = &rule["Properties"]["Pattern"];
    assert_eq!(pattern["source"], serde_json::json!(["aws.states"]));
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!(["Step Functions Execution Status Change"])
    );
    let mut statuses: Vec<&str> = pattern["detail"]["status"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["ABORTED", "FAILED", "TIMED_OUT"]);
    let machines = pattern["detail"]["stateMachineArn"].as_array().unwrap();
    let (machine, _) = checks::state_machine(&t).unwrap();
    assert!(
        machines.iter().any(|m| ref_target(m) == Some(machine)),
        "{id}'s rule is not limited to {machine}: {machines:?}"
    );
    assert!(
        events.values().any(|e| e["Type"] == "Schedule"
            && e["Properties"]["Schedule"]
                .as_str()
                .is_some_and(|s| s.starts_with("rate("))),
        "{id} has no schedule"
    );
}

#[test]
fn the_brakes_have_reserved_concurrency_and_the_webhook_cannot_exhaust_the_account() {
    let t = template();
    for (binary, at_most) in [
        ("emergency-rollback", 50),
        ("reconcile", 10),
        ("release-trigger", 10),
    ] {
        let (id, function) = function_of_binary(&t, binary);
        let reserved = Template::property(function, "ReservedConcurrentExecutions")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{id} has no ReservedConcurrentExecutions"));
        assert!(
            (1..=at_most).contains(&reserved),
            "{id}: reserved concurrency {reserved} is not within 1..={at_most}"
        );
    }
}
