//! The checks, each returning every problem it finds (empty: the template passes), so one run
//! shows all that is wrong.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::iam;
use crate::template::{Template, get_att, ref_target, refers_to};
use crate::workspace::placeholders;

pub const FUNCTION: &str = "AWS::Serverless::Function";
pub const STATE_MACHINE: &str = "AWS::Serverless::StateMachine";
const ROLE: &str = "AWS::IAM::Role";
const MANAGED_POLICY: &str = "AWS::IAM::ManagedPolicy";
const LOG_GROUP: &str = "AWS::Logs::LogGroup";

/// How every function is built and run.
pub const BUILD_METHOD: &str = "rust-cargolambda";
pub const RUNTIME: &str = "provided.al2023";
pub const ARCHITECTURE: &str = "arm64";
pub const MEMORY_MB: u64 = 128;

/// A function of the template and the binary it is built from.
#[derive(Debug, Clone)]
pub struct Function<'a> {
    pub id: &'a str,
    pub resource: &'a Value,
    /// `Metadata.BuildProperties.Binary`.
    pub binary: Option<&'a str>,
    /// `Metadata.BuildMethod`.
    pub build_method: Option<&'a str>,
}

pub fn functions(template: &Template) -> Vec<Function<'_>> {
    template
        .of_type(FUNCTION)
        .map(|(id, resource)| {
            let metadata = resource.get("Metadata");
            Function {
                id,
                resource,
                binary: metadata
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str),
                build_method: metadata
                    .and_then(|m| m.get("BuildMethod"))
                    .and_then(Value::as_str),
            }
        })
        .collect()
}

/// What invokes a function besides the state machine: its SAM events, EventBridge rules, a
/// function URL, SNS subscriptions, event source mappings.
pub fn own_triggers(template: &Template, function: &str) -> Vec<String> {
    let mut triggers = Vec::new();
    if let Some(events) = template
        .resource(function)
        .and_then(|f| Template::property(f, "Events"))
        .and_then(Value::as_object)
    {
        for (name, event) in events {
            let kind = event.get("Type").and_then(Value::as_str).unwrap_or("?");
            triggers.push(format!("event {name} ({kind})"));
        }
    }
    for (id, resource) in template.resources() {
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or("");
        let targets_it = match kind {
            "AWS::Events::Rule" => Template::property(resource, "Targets")
                .and_then(Value::as_array)
                .is_some_and(|targets| {
                    targets
                        .iter()
                        .any(|t| t.get("Arn").is_some_and(|arn| refers_to(arn, function)))
                }),
            "AWS::Lambda::Url" => Template::property(resource, "TargetFunctionArn")
                .is_some_and(|arn| refers_to(arn, function)),
            "AWS::SNS::Subscription" => {
                Template::property(resource, "Endpoint").is_some_and(|arn| refers_to(arn, function))
            }
            "AWS::Lambda::EventSourceMapping" => Template::property(resource, "FunctionName")
                .is_some_and(|name| refers_to(name, function)),
            _ => false,
        };
        if targets_it {
            triggers.push(format!("{kind} {id}"));
        }
    }
    triggers
}

/// Every function crate is deployed, every deployed function has a crate, and each is built,
/// run, logged and permitted the way the template promises.
pub fn function_problems(template: &Template, crates: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let functions = functions(template);
    for name in crates {
        let built: Vec<&str> = functions
            .iter()
            .filter(|f| f.binary == Some(name.as_str()))
            .map(|f| f.id)
            .collect();
        match built.as_slice() {
            [] => problems.push(format!(
                "functions/{name} is not deployed: no {FUNCTION} has Metadata.BuildProperties.Binary: {name}"
            )),
            [_] => {}
            many => problems.push(format!(
                "functions/{name} is built by several functions: {}",
                many.join(", ")
            )),
        }
    }
    let mut log_groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut roles: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in &functions {
        let id = f.id;
        if f.build_method != Some(BUILD_METHOD) {
            problems.push(format!(
                "{id}: Metadata.BuildMethod is {:?}, not {BUILD_METHOD}",
                f.build_method
            ));
        }
        match f.binary {
            None => problems.push(format!("{id}: no Metadata.BuildProperties.Binary")),
            Some(binary) if !crates.contains(binary) => problems.push(format!(
                "{id}: builds binary {binary}, but there is no functions/{binary}"
            )),
            Some(_) => {}
        }
        let property = |name: &str| template.function_property(f.resource, name);
        let expect = |name: &str, wanted: &Value, problems: &mut Vec<String>| {
            if property(name) != Some(wanted) {
                problems.push(format!(
                    "{id}: {name} is {}, not {wanted}",
                    property(name).map_or("unset".to_string(), Value::to_string)
                ));
            }
        };
        expect("Runtime", &Value::from(RUNTIME), &mut problems);
        expect(
            "Architectures",
            &Value::from(vec![ARCHITECTURE]),
            &mut problems,
        );
        expect("MemorySize", &Value::from(MEMORY_MB), &mut problems);
        expect("Handler", &Value::from("bootstrap"), &mut problems);

        let logging = property("LoggingConfig");
        if logging
            .and_then(|l| l.get("LogFormat"))
            .and_then(Value::as_str)
            != Some("JSON")
        {
            problems.push(format!("{id}: LoggingConfig.LogFormat is not JSON"));
        }
        match logging.and_then(|l| l.get("LogGroup")).and_then(ref_target) {
            Some(group) if template.type_of(group) == Some(LOG_GROUP) => {
                let retention = template
                    .resource(group)
                    .and_then(|g| Template::property(g, "RetentionInDays"));
                if retention.is_none() {
                    problems.push(format!(
                        "{id}: its log group {group} has no RetentionInDays"
                    ));
                }
                log_groups.entry(group).or_default().push(id);
            }
            _ => problems.push(format!(
                "{id}: LoggingConfig.LogGroup is not a Ref to an {LOG_GROUP} of the template"
            )),
        }

        if property("Policies").is_some() {
            problems.push(format!(
                "{id}: uses SAM Policies; give it a Role of the template instead (SAM would generate a role with AWS managed policies)"
            ));
        }
        match property("Role").and_then(get_att) {
            Some((role, "Arn")) if template.type_of(role) == Some(ROLE) => {
                roles.entry(role).or_default().push(id);
            }
            _ => problems.push(format!(
                "{id}: Role is not the Arn of an {ROLE} of the template"
            )),
        }
        let has_table = property("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.get("SLUICE_TABLE"))
            .is_some()
            || template
                .value()
                .pointer("/Globals/Function/Environment/Variables/SLUICE_TABLE")
                .is_some();
        if !has_table {
            problems.push(format!("{id}: no SLUICE_TABLE in its environment"));
        }
    }
    for (shared, what) in [(&log_groups, "log group"), (&roles, "role")] {
        for (name, users) in shared {
            if users.len() > 1 {
                // Sorted: the template's resource order depends on serde_json's map features.
                let mut users = users.clone();
                users.sort_unstable();
                problems.push(format!(
                    "{what} {name} is shared by {}: each function has its own",
                    users.join(", ")
                ));
            }
        }
    }
    problems
}

/// The state machine of the template (there is exactly one).
pub fn state_machine(template: &Template) -> Result<(&str, &Value), String> {
    let machines: Vec<(&str, &Value)> = template.of_type(STATE_MACHINE).collect();
    match machines.as_slice() {
        [one] => Ok(*one),
        other => Err(format!(
            "expected one {STATE_MACHINE}, found {}",
            other.len()
        )),
    }
}

/// The statements that apply to a role: its inline policies, the managed policies of the
/// template it attaches, and `AWS::IAM::Policy` resources naming it.
fn role_statements<'a>(template: &'a Template, role: &str) -> Vec<iam::Statement<'a>> {
    let role_resource = template.resource(role);
    let mut owners: BTreeSet<String> = BTreeSet::from([role.to_string()]);
    if let Some(arns) = role_resource
        .and_then(|r| Template::property(r, "ManagedPolicyArns"))
        .and_then(Value::as_array)
    {
        owners.extend(arns.iter().filter_map(ref_target).map(str::to_string));
    }
    for (id, resource) in template.of_type("AWS::IAM::Policy") {
        if Template::property(resource, "Roles")
            .and_then(Value::as_array)
            .is_some_and(|roles| roles.iter().any(|r| ref_target(r) == Some(role)))
        {
            owners.insert(id.to_string());
        }
    }
    iam::statements(template)
        .into_iter()
        .filter(|s| {
            let owner = s.location.split(['.', '[']).next().unwrap_or_default();
            owners.contains(owner)
        })
        .collect()
}

/// The state machine's substitutions are exactly its definition's placeholders, each a
/// function of the template; its role invokes exactly those functions; every function that
/// nothing else triggers is one of them; it is a Standard workflow with logging and tracing.
pub fn state_machine_problems(template: &Template, definition: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let (id, machine) = match state_machine(template) {
        Ok(found) => found,
        Err(problem) => return vec![problem],
    };
    let property = |name: &str| Template::property(machine, name);
    if property("Type").and_then(Value::as_str) != Some("STANDARD") {
        problems.push(format!("{id}: Type is not STANDARD"));
    }
    if property("Tracing").and_then(|t| t.get("Enabled")) != Some(&Value::Bool(true)) {
        problems.push(format!("{id}: Tracing.Enabled is not true"));
    }
    let logging = property("Logging");
    let has_destination = logging
        .and_then(|l| l.get("Destinations"))
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty());
    let level = logging.and_then(|l| l.get("Level")).and_then(Value::as_str);
    if !has_destination || matches!(level, None | Some("OFF")) {
        problems.push(format!(
            "{id}: Logging has no log group destination or its Level is OFF"
        ));
    }
    if property("Policies").is_some() {
        problems.push(format!(
            "{id}: uses SAM Policies; give it a Role of the template instead"
        ));
    }

    let wanted = placeholders(definition);
    let substitutions = property("DefinitionSubstitutions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for name in &wanted {
        if !substitutions.contains_key(name) {
            problems.push(format!(
                "{id}: the definition's ${{{name}}} is not in DefinitionSubstitutions"
            ));
        }
    }
    let mut substituted: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, value) in &substitutions {
        if !wanted.contains(name) {
            problems.push(format!(
                "{id}: DefinitionSubstitutions.{name} is not used by the definition"
            ));
        }
        match get_att(value) {
            Some((function, "Arn")) if template.type_of(function) == Some(FUNCTION) => {
                substituted.insert(function, name);
            }
            _ => problems.push(format!(
                "{id}: DefinitionSubstitutions.{name} is not the Arn of a {FUNCTION} of the template"
            )),
        }
    }

    for f in functions(template) {
        if !substituted.contains_key(f.id) && own_triggers(template, f.id).is_empty() {
            problems.push(format!(
                "{} (binary {}): nothing triggers it and it is not in {id}'s DefinitionSubstitutions",
                f.id,
                f.binary.unwrap_or("?")
            ));
        }
    }

    let role = match property("Role").and_then(get_att) {
        Some((role, "Arn")) if template.type_of(role) == Some(ROLE) => role,
        _ => {
            problems.push(format!(
                "{id}: Role is not the Arn of an {ROLE} of the template"
            ));
            return problems;
        }
    };
    let mut invoked: BTreeSet<String> = BTreeSet::new();
    for statement in role_statements(template, role) {
        if !statement.is_allow() {
            continue;
        }
        let invokes = statement.actions().iter().any(|a| {
            matches!(
                *a,
                "lambda:InvokeFunction" | "lambda:*" | "lambda:Invoke*" | "*"
            )
        });
        if !invokes {
            continue;
        }
        for resource in statement.resources().map(iam::render).unwrap_or_default() {
            match resource
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix(".Arn}"))
            {
                Some(function) if substituted.contains_key(function) => {
                    invoked.insert(function.to_string());
                }
                // The services' hook functions, named by the operator at deploy time.
                _ if resource == format!("${{{HOOK_FUNCTIONS_PARAMETER}}}")
                    && is_function_list_parameter(template, HOOK_FUNCTIONS_PARAMETER) => {}
                _ => problems.push(format!(
                    "{}: the state machine may invoke {resource:?}, which is not one of its substituted functions",
                    statement.location
                )),
            }
        }
    }
    for (function, name) in &substituted {
        if !invoked.contains(*function) {
            problems.push(format!(
                "{id}: its role {role} may not invoke {function} (substituted as {name})"
            ));
        }
    }
    problems
}

/// The parameter listing the hook functions (`hooks.preTraffic` / `hooks.postTraffic` of the
/// services) the state machine may invoke besides its own functions.
pub const HOOK_FUNCTIONS_PARAMETER: &str = "HookFunctionArns";

/// Whether `name` is a `CommaDelimitedList` parameter of the template.
fn is_function_list_parameter(template: &Template, name: &str) -> bool {
    template
        .value()
        .pointer(&format!("/Parameters/{name}/Type"))
        .and_then(Value::as_str)
        == Some("CommaDelimitedList")
}

/// Roles attach only managed policies of the template (whose statements are checked), and a
/// resource policy that lets an AWS service in is limited to this account.
pub fn policy_problems(template: &Template) -> Vec<String> {
    let mut problems = iam::problems(template);
    for (id, role) in template.of_type(ROLE) {
        for arn in Template::property(role, "ManagedPolicyArns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let local =
                ref_target(arn).is_some_and(|m| template.type_of(m) == Some(MANAGED_POLICY));
            if !local {
                problems.push(format!(
                    "{id}: attaches {arn}, which is not a managed policy of the template (its statements cannot be checked)"
                ));
            }
        }
    }
    for statement in iam::statements(template) {
        let service = statement
            .value
            .get("Principal")
            .and_then(|p| p.get("Service"))
            .is_some();
        let source_account = statement
            .value
            .pointer("/Condition/StringEquals/aws:SourceAccount")
            .is_some_and(|v| ref_target(v) == Some("AWS::AccountId"));
        if statement.is_allow() && service && !source_account {
            problems.push(format!(
                "{}: lets an AWS service in without Condition StringEquals aws:SourceAccount = AWS::AccountId",
                statement.location
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A minimal template that passes every check; the tests break one thing at a time.
    fn good() -> Value {
        let function = |binary: &str, role: &str, logs: &str| {
            json!({"Type": FUNCTION,
                "Metadata": {"BuildMethod": BUILD_METHOD, "BuildProperties": {"Binary": binary}},
                "Properties": {"Role": {"Fn::GetAtt": [role, "Arn"]},
                    "LoggingConfig": {"LogFormat": "JSON", "LogGroup": {"Ref": logs}}}})
        };
        let role = |statements: Value| {
            json!({"Type": ROLE, "Properties": {
                "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": statements}}]}})
        };
        let logs = json!({"Type": LOG_GROUP, "Properties": {"RetentionInDays": 30}});
        json!({
            "Globals": {"Function": {"Runtime": RUNTIME, "Architectures": [ARCHITECTURE],
                "MemorySize": MEMORY_MB, "Handler": "bootstrap",
                "Environment": {"Variables": {"SLUICE_TABLE": {"Ref": "Table"}}}}},
            "Resources": {
                "StepFunction": function("step", "StepRole", "StepLogs"),
                "StepRole": role(json!([{"Effect": "Allow", "Action": "dynamodb:PutItem",
                    "Resource": {"Fn::GetAtt": ["Table", "Arn"]}}])),
                "StepLogs": logs.clone(),
                "HookFunction": function("hook", "HookRole", "HookLogs"),
                "HookRole": role(json!([])),
                "HookLogs": logs,
                "Hook": {"Type": "AWS::Lambda::Url", "Properties": {
                    "AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": ["HookFunction", "Arn"]}}},
                "Machine": {"Type": STATE_MACHINE, "Properties": {
                    "Type": "STANDARD", "Tracing": {"Enabled": true},
                    "Logging": {"Level": "ALL", "Destinations": [{"CloudWatchLogsLogGroup": {}}]},
                    "DefinitionSubstitutions": {"StepArn": {"Fn::GetAtt": ["StepFunction", "Arn"]}},
                    "Role": {"Fn::GetAtt": ["MachineRole", "Arn"]}}},
                "MachineRole": {"Type": ROLE, "Properties": {"Policies": [{"PolicyName": "p",
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                        "Resource": [{"Fn::GetAtt": ["StepFunction", "Arn"]}]}]}}]}}
            }
        })
    }

    const DEFINITION: &str = r#"{"States": {"Step": {"Resource": "${StepArn}"}}}"#;

    fn crates(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn all_problems(value: Value, crate_names: &[&str], definition: &str) -> Vec<String> {
        let t = Template::from_value(value);
        let mut problems = function_problems(&t, &crates(crate_names));
        problems.extend(state_machine_problems(&t, definition));
        problems.extend(policy_problems(&t));
        problems
    }

    #[test]
    fn the_minimal_template_passes() {
        assert_eq!(
            all_problems(good(), &["step", "hook"], DEFINITION),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_function_crate_missing_from_the_template_fails() {
        let problems = all_problems(good(), &["step", "hook", "new-step"], DEFINITION);
        assert_eq!(
            problems,
            vec![format!(
                "functions/new-step is not deployed: no {FUNCTION} has Metadata.BuildProperties.Binary: new-step"
            )]
        );
    }

    #[test]
    fn a_template_function_without_a_crate_fails() {
        let problems = all_problems(good(), &["step"], DEFINITION);
        assert_eq!(
            problems,
            vec!["HookFunction: builds binary hook, but there is no functions/hook"]
        );
    }

    #[test]
    fn a_placeholder_without_a_substitution_fails_and_so_does_an_unused_one() {
        let definition = r#"{"A": "${StepArn}", "B": "${OtherArn}"}"#;
        assert_eq!(
            all_problems(good(), &["step", "hook"], definition),
            vec!["Machine: the definition's ${OtherArn} is not in DefinitionSubstitutions"]
        );
        assert_eq!(
            all_problems(good(), &["step", "hook"], "{}"),
            vec!["Machine: DefinitionSubstitutions.StepArn is not used by the definition"]
        );
    }

    #[test]
    fn a_step_function_left_out_of_the_substitutions_fails() {
        let mut t = good();
        t["Resources"]["Machine"]["Properties"]["DefinitionSubstitutions"] = json!({});
        let problems = all_problems(t, &["step", "hook"], "{}");
        assert!(
            problems.contains(
                &"StepFunction (binary step): nothing triggers it and it is not in Machine's DefinitionSubstitutions"
                    .to_string()
            ),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains(
                "may invoke \"${StepFunction.Arn}\", which is not one of its substituted functions"
            )),
            "{problems:#?}"
        );
    }

    #[test]
    fn the_state_machine_must_invoke_exactly_its_functions() {
        let mut t = good();
        t["Resources"]["MachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            [0]["Resource"] = json!([{"Fn::GetAtt": ["HookFunction", "Arn"]}]);
        let problems = all_problems(t, &["step", "hook"], DEFINITION);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("may invoke \"${HookFunction.Arn}\"")),
            "{problems:#?}"
        );
        assert!(
            problems.contains(&"Machine: its role MachineRole may not invoke StepFunction (substituted as StepArn)".to_string()),
            "{problems:#?}"
        );
    }

    #[test]
    fn the_state_machine_may_invoke_the_hook_functions_parameter_and_no_other() {
        let hooks = json!({"Fn::If": ["HasHooks", {"Effect": "Allow", "Action": "lambda:InvokeFunction",
            "Resource": {"Ref": HOOK_FUNCTIONS_PARAMETER}}, {"Ref": "AWS::NoValue"}]});
        let mut t = good();
        t["Resources"]["MachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array_mut()
            .unwrap()
            .push(hooks.clone());
        // Without the parameter the Ref names nothing the check knows.
        let problems = all_problems(t.clone(), &["step", "hook"], DEFINITION);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("may invoke \"${HookFunctionArns}\""),
            "{problems:?}"
        );
        t["Parameters"] =
            json!({HOOK_FUNCTIONS_PARAMETER: {"Type": "CommaDelimitedList", "Default": ""}});
        assert_eq!(
            all_problems(t.clone(), &["step", "hook"], DEFINITION),
            Vec::<String>::new()
        );
        // Another parameter, or a String one, is not the hook list.
        t["Parameters"] = json!({
            HOOK_FUNCTIONS_PARAMETER: {"Type": "String"},
            "Other": {"Type": "CommaDelimitedList"}
        });
        let problems = all_problems(t, &["step", "hook"], DEFINITION);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_write_on_star_in_a_function_role_fails() {
        let mut t = good();
        t["Resources"]["StepRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
            ["Resource"] = json!("*");
        assert_eq!(
            all_problems(t, &["step", "hook"], DEFINITION),
            vec![
                "StepRole.Properties.Policies[0].PolicyDocument.Statement[0]: write action(s) dynamodb:PutItem on non-specific resource(s) \"*\""
            ]
        );
    }

    #[test]
    fn generated_roles_foreign_managed_policies_and_shared_log_groups_fail() {
        let mut t = good();
        let step = &mut t["Resources"]["StepFunction"]["Properties"];
        step["Policies"] = json!(["AWSLambdaBasicExecutionRole"]);
        step["LoggingConfig"]["LogGroup"] = json!({"Ref": "HookLogs"});
        t["Resources"]["HookRole"]["Properties"]["ManagedPolicyArns"] =
            json!(["arn:aws:iam::aws:policy/AdministratorAccess"]);
        t["Globals"]["Function"]["Architectures"] = json!(["x86_64"]);
        let problems = all_problems(t, &["step", "hook"], DEFINITION);
        for expected in [
            "StepFunction: uses SAM Policies",
            "log group HookLogs is shared by HookFunction, StepFunction",
            "HookRole: attaches \"arn:aws:iam::aws:policy/AdministratorAccess\", which is not a managed policy of the template",
            "StepFunction: Architectures is [\"x86_64\"], not [\"arm64\"]",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected}\n{problems:#?}"
            );
        }
    }

    #[test]
    fn a_service_let_in_without_source_account_fails() {
        let mut t = good();
        t["Resources"]["TopicPolicy"] = json!({"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "PolicyDocument": {"Statement": [{"Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish", "Resource": {"Ref": "Topic"}}]}}});
        let problems = all_problems(t.clone(), &["step", "hook"], DEFINITION);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("without Condition StringEquals aws:SourceAccount"));
        t["Resources"]["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"] =
            json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}});
        assert_eq!(
            all_problems(t, &["step", "hook"], DEFINITION),
            Vec::<String>::new()
        );
    }
}
