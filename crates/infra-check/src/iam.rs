//! IAM statements of a template and whether their resources are specific.
//!
//! A resource value is rendered to the strings it may evaluate to: `Ref`s and `GetAtt`s stay
//! placeholders (`${Table}`, `${Table.Arn}`: a resource or parameter of the stack, specific),
//! `Fn::Sub`, `Fn::Join`, `Fn::Split` and `Fn::If` are followed (both branches of an `If`), and
//! any other function is opaque, which counts as not specific. A string is specific unless it
//! is `*` or an ARN with a wildcard partition, region or account, or a resource part that is
//! only a wildcard (`table/*`, `alarm:*`); `execution:${Machine.Name}:*` is specific: it names
//! one state machine's executions.

use serde_json::Value;

use crate::template::Template;

/// Write actions that AWS does not let a policy scope to a resource, so `"*"` is the only
/// resource they can have. Allowed on `"*"`, and only these:
/// - Step Functions' execution logging (vended log delivery to CloudWatch Logs): AWS documents
///   these with `"Resource": "*"` for the state machine's role;
/// - X-Ray tracing of the state machine.
pub const UNSCOPABLE_WRITES: &[&str] = &[
    "logs:CreateLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:PutResourcePolicy",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

/// Stops a rendering that would multiply out of hand (nested `If`s inside `Join`s).
const MAX_RENDERINGS: usize = 256;

/// One statement of a policy document in the template, and where it is.
#[derive(Debug, Clone)]
pub struct Statement<'a> {
    /// `<logical id> <path to the statement> (<Sid>)`.
    pub location: String,
    pub value: &'a Value,
}

impl Statement<'_> {
    pub fn is_allow(&self) -> bool {
        self.value.get("Effect").and_then(Value::as_str) == Some("Allow")
    }

    /// The literal actions (a non-literal action is reported by [`actions_problem`]).
    ///
    /// [`actions_problem`]: Statement::actions_problem
    pub fn actions(&self) -> Vec<&str> {
        match self.value.get("Action") {
            Some(Value::String(action)) => vec![action.as_str()],
            Some(Value::Array(actions)) => actions.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn actions_problem(&self) -> Option<String> {
        match self.value.get("Action") {
            Some(Value::String(_)) => None,
            Some(Value::Array(actions)) if actions.iter().all(Value::is_string) => None,
            Some(_) => Some(format!("{}: Action is not a list of names", self.location)),
            None => Some(format!("{}: has no Action", self.location)),
        }
    }

    pub fn resources(&self) -> Option<&Value> {
        self.value.get("Resource")
    }
}

/// Every statement of every policy document under `Resources`: identity policies (roles'
/// inline policies, managed policies) and resource policies (topic policies, …). Trust
/// policies (`AssumeRolePolicyDocument`) have no resources and are left out.
pub fn statements(template: &Template) -> Vec<Statement<'_>> {
    let mut found = Vec::new();
    for (id, resource) in template.resources() {
        collect(resource, id, &mut found);
    }
    found
}

fn collect<'a>(value: &'a Value, path: &str, found: &mut Vec<Statement<'a>>) {
    match value {
        Value::Object(object) => {
            if let Some(statement) = object.get("Statement") {
                let list: Vec<&Value> = match statement {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                for (i, item) in list.into_iter().flat_map(branches).enumerate() {
                    let sid = item
                        .get("Sid")
                        .and_then(Value::as_str)
                        .map(|sid| format!(" ({sid})"))
                        .unwrap_or_default();
                    found.push(Statement {
                        location: format!("{path}.Statement[{i}]{sid}"),
                        value: item,
                    });
                }
            }
            for (key, child) in object {
                if key == "AssumeRolePolicyDocument" || key == "Statement" {
                    continue;
                }
                collect(child, &format!("{path}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// A statement, or both statements of a conditional one (`Fn::If`; `AWS::NoValue` is none), so
/// that no statement escapes the checks by being conditional.
fn branches(item: &Value) -> Vec<&Value> {
    match item
        .get("Fn::If")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([_, then, otherwise]) if item.as_object().is_some_and(|o| o.len() == 1) => {
            let mut both = branches(then);
            both.extend(branches(otherwise));
            both
        }
        _ if crate::template::ref_target(item) == Some("AWS::NoValue") => Vec::new(),
        _ => vec![item],
    }
}

/// `Get*`, `List*`, `Describe*`, `BatchGet*`, `Query` and `Scan` read; anything else (a
/// wildcard such as `dynamodb:*` too) may write.
pub fn is_read_only(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, name)| name);
    ["Get", "List", "Describe", "BatchGet"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || name == "Query"
        || name == "Scan"
}

/// The strings `value` may evaluate to, flattened over list items and `If` branches.
pub fn render(value: &Value) -> Vec<String> {
    let mut out = render_inner(value);
    out.truncate(MAX_RENDERINGS);
    out
}

fn render_inner(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(render_inner).collect(),
        Value::Object(object) if object.len() == 1 => {
            let (name, args) = object
                .iter()
                .next()
                .map_or(("", &Value::Null), |(k, v)| (k.as_str(), v));
            match name {
                "Ref" if args.as_str() == Some("AWS::NoValue") => Vec::new(),
                "Ref" => vec![format!("${{{}}}", args.as_str().unwrap_or("?"))],
                "Fn::GetAtt" => match crate::template::get_att(value) {
                    Some((resource, attribute)) => vec![format!("${{{resource}.{attribute}}}")],
                    None => vec![opaque(name)],
                },
                "Fn::If" => match args.as_array().map(Vec::as_slice) {
                    Some([_, then, otherwise]) => {
                        let mut both = render_inner(then);
                        both.extend(render_inner(otherwise));
                        both
                    }
                    _ => vec![opaque(name)],
                },
                "Fn::Sub" => render_sub(args).unwrap_or_else(|| vec![opaque(name)]),
                "Fn::Join" => render_join(args).unwrap_or_else(|| vec![opaque(name)]),
                "Fn::Split" => match args.as_array().map(Vec::as_slice) {
                    Some([Value::String(delimiter), source]) => render_inner(source)
                        .iter()
                        .flat_map(|s| {
                            s.split(delimiter.as_str())
                                .map(str::to_string)
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                    _ => vec![opaque(name)],
                },
                _ => vec![opaque(name)],
            }
        }
        _ => vec![opaque(
            "a value that is neither a string nor one intrinsic function",
        )],
    }
}

/// Marks what cannot be followed; [`is_specific`] treats it as a wildcard.
fn opaque(what: &str) -> String {
    format!("<opaque {what}>")
}

fn render_sub(args: &Value) -> Option<Vec<String>> {
    let (text, variables) = match args {
        Value::String(text) => (text.as_str(), None),
        Value::Array(items) => match items.as_slice() {
            [Value::String(text), Value::Object(variables)] => (text.as_str(), Some(variables)),
            _ => return None,
        },
        _ => return None,
    };
    let mut out = vec![text.to_string()];
    for (name, value) in variables.into_iter().flatten() {
        let placeholder = format!("${{{name}}}");
        let replacements = render_inner(value);
        out = out
            .iter()
            .flat_map(|s| {
                replacements
                    .iter()
                    .map(|r| s.replace(&placeholder, r))
                    .collect::<Vec<_>>()
            })
            .take(MAX_RENDERINGS)
            .collect();
    }
    Some(out)
}

fn render_join(args: &Value) -> Option<Vec<String>> {
    let [Value::String(delimiter), parts] = args.as_array()?.as_slice() else {
        return None;
    };
    let parts: Vec<Vec<String>> = match parts {
        // Each item may itself have several renderings (an `If`): every combination.
        Value::Array(items) => items.iter().map(render_inner).collect(),
        // A list from a function (`Ref` to a CommaDelimitedList): its placeholder.
        other => vec![render_inner(other)],
    };
    // (rendering so far, whether anything was joined into it yet)
    let mut out = vec![(String::new(), false)];
    for alternatives in &parts {
        if alternatives.is_empty() {
            continue;
        }
        out = out
            .iter()
            .flat_map(|(prefix, started)| {
                alternatives.iter().map(move |a| {
                    let joined = if *started {
                        format!("{prefix}{delimiter}{a}")
                    } else {
                        a.clone()
                    };
                    (joined, true)
                })
            })
            .take(MAX_RENDERINGS)
            .collect();
    }
    let out = out.into_iter().map(|(joined, _)| joined).collect();
    Some(out)
}

/// Whether a rendered resource names something specific (see the module's documentation).
pub fn is_specific(resource: &str) -> bool {
    let resource = resource.trim();
    if resource.is_empty() || resource == "*" || resource.starts_with("<opaque") {
        return false;
    }
    // Placeholders are stack resources or parameters; their own colons must not split the ARN.
    let flat = placeholders_flattened(resource);
    if !flat.starts_with("arn:") {
        // `${Table.Arn}/index/GSI1`, `${Bucket.Arn}/*`: under a named resource.
        return !flat.starts_with('*');
    }
    let parts: Vec<&str> = flat.splitn(6, ':').collect();
    let [_, partition, _service, region, account, resource_part] = parts.as_slice() else {
        return false;
    };
    if [partition, region, account].iter().any(|p| p.contains('*')) {
        return false;
    }
    let after_type = resource_part
        .split_once(['/', ':'])
        .map_or(*resource_part, |(_, rest)| rest);
    !(after_type.is_empty() || after_type.chars().all(|c| c == '*' || c == '/'))
}

fn placeholders_flattened(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push('§');
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every write action an `Allow` statement grants on a resource that is not specific (unless
/// AWS cannot scope it: [`UNSCOPABLE_WRITES`]), and every statement whose scope cannot be told.
pub fn problems(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    for statement in statements(template) {
        if !statement.is_allow() {
            continue;
        }
        let at = &statement.location;
        for forbidden in ["NotAction", "NotResource"] {
            if statement.value.get(forbidden).is_some() {
                problems.push(format!(
                    "{at}: {forbidden} in an Allow statement grants more than it names"
                ));
            }
        }
        if let Some(problem) = statement.actions_problem() {
            problems.push(problem);
            continue;
        }
        let writes: Vec<&str> = statement
            .actions()
            .into_iter()
            .filter(|a| !is_read_only(a))
            .collect();
        if writes.is_empty() {
            continue;
        }
        let Some(resources) = statement.resources() else {
            problems.push(format!(
                "{at}: grants {} without naming a Resource",
                writes.join(", ")
            ));
            continue;
        };
        let rendered = render(resources);
        let wide: Vec<&String> = rendered.iter().filter(|r| !is_specific(r)).collect();
        if rendered.is_empty() {
            problems.push(format!("{at}: Resource evaluates to nothing"));
            continue;
        }
        if wide.is_empty() {
            continue;
        }
        let unscoped: Vec<&str> = writes
            .into_iter()
            .filter(|a| !UNSCOPABLE_WRITES.contains(a))
            .collect();
        if !unscoped.is_empty() {
            problems.push(format!(
                "{at}: write action(s) {} on non-specific resource(s) {}",
                unscoped.join(", "),
                wide.iter()
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_are_get_list_describe_batchget_query_scan() {
        for read in [
            "dynamodb:GetItem",
            "route53:ListResourceRecordSets",
            "cloudwatch:DescribeAlarms",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "cloudwatch:GetMetricData",
        ] {
            assert!(is_read_only(read), "{read}");
        }
        for write in [
            "dynamodb:PutItem",
            "dynamodb:ConditionCheckItem",
            "route53:ChangeResourceRecordSets",
            "states:StopExecution",
            "sns:Publish",
            "dynamodb:*",
            "*",
            "s3:Put*",
        ] {
            assert!(!is_read_only(write), "{write}");
        }
    }

    #[test]
    fn rendering_follows_sub_join_split_and_both_branches_of_if() {
        let zones = json!({"Fn::If": ["China",
            {"Fn::Split": [",", {"Fn::Join": ["", ["arn:aws-cn:route53:::hostedzone/",
                {"Fn::Join": [",arn:aws-cn:route53:::hostedzone/", {"Ref": "HostedZoneIds"}]}]]}]},
            {"Fn::Split": [",", {"Fn::Join": ["", ["arn:aws:route53:::hostedzone/",
                {"Fn::Join": [",arn:aws:route53:::hostedzone/", {"Ref": "HostedZoneIds"}]}]]}]}]});
        assert_eq!(
            render(&zones),
            vec![
                "arn:aws-cn:route53:::hostedzone/${HostedZoneIds}",
                "arn:aws:route53:::hostedzone/${HostedZoneIds}"
            ]
        );
        assert_eq!(
            render(
                &json!({"Fn::Sub": ["${T}/index/GSI1", {"T": {"Fn::GetAtt": ["Table", "Arn"]}}]})
            ),
            vec!["${Table.Arn}/index/GSI1"]
        );
        assert_eq!(
            render(&json!([{"Ref": "Topic"}, {"Ref": "AWS::NoValue"}, "*"])),
            vec!["${Topic}", "*"]
        );
        assert_eq!(
            render(&json!({"Fn::Join": [":", ["a", {"Fn::If": ["C", "b", "c"]}, "d"]]})),
            vec!["a:b:d", "a:c:d"]
        );
        assert_eq!(
            render(&json!({"Fn::FindInMap": ["M", "k", "v"]})),
            vec!["<opaque Fn::FindInMap>"]
        );
    }

    #[test]
    fn specific_means_a_named_resource() {
        for specific in [
            "${Table.Arn}",
            "${Table.Arn}/index/GSI1",
            "${NotificationsTopic}",
            "arn:aws:route53:::hostedzone/${HostedZoneIds}",
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Machine.Name}:*",
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Name}",
            "arn:aws:sns:us-east-1:123456789012:topic",
        ] {
            assert!(is_specific(specific), "{specific}");
        }
        for wide in [
            "*",
            " * ",
            "",
            "arn:aws:dynamodb:us-east-1:123456789012:table/*",
            "arn:aws:sns:*:123456789012:topic",
            "arn:aws:sns:us-east-1:*:topic",
            "arn:*:sns:us-east-1:123456789012:topic",
            "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
            "arn:aws:route53:::change/*",
            "arn:aws:s3:::*",
            "<opaque Fn::FindInMap>",
        ] {
            assert!(!is_specific(wide), "{wide}");
        }
    }

    fn template(resources: serde_json::Value) -> Template {
        Template::from_value(json!({"Resources": resources}))
    }

    #[test]
    fn a_write_on_a_wildcard_is_a_problem_and_a_read_is_not() {
        let t = template(json!({
            "Role": {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
                    {"Sid": "Reads", "Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
                    {"Sid": "Writes", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "*"},
                    {"Sid": "Scoped", "Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "Topic"}},
                    {"Sid": "Denied", "Effect": "Deny", "Action": "*", "Resource": "*"}
                ]}}]
            }}
        }));
        assert_eq!(
            problems(&t),
            vec![
                "Role.Properties.Policies[0].PolicyDocument.Statement[1] (Writes): write action(s) dynamodb:PutItem on non-specific resource(s) \"*\""
            ]
        );
    }

    #[test]
    fn one_wildcard_branch_of_an_if_is_enough_to_fail() {
        let t = template(json!({
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets",
                 "Resource": {"Fn::If": ["HasZones", {"Fn::Sub": "arn:aws:route53:::hostedzone/${Zone}"}, "*"]}}
            ]}}}
        }));
        let found = problems(&t);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("route53:ChangeResourceRecordSets"),
            "{found:?}"
        );
    }

    #[test]
    fn a_conditional_statement_is_checked_in_both_branches() {
        let t = template(json!({
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement": [
                {"Fn::If": ["Enabled",
                    {"Sid": "Wide", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"},
                    {"Ref": "AWS::NoValue"}]}
            ]}}}
        }));
        let found = problems(&t);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("(Wide): write action(s) sqs:SendMessage"),
            "{found:?}"
        );
    }

    #[test]
    fn missing_resources_not_actions_and_opaque_scopes_are_problems() {
        let t = template(json!({
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement": [
                {"Sid": "NoResource", "Effect": "Allow", "Action": "sns:Publish"},
                {"Sid": "NotResource", "Effect": "Allow", "Action": "sns:Publish", "NotResource": "arn:aws:sns:us-east-1:1:t", "Resource": {"Ref": "T"}},
                {"Sid": "Opaque", "Effect": "Allow", "Action": "sns:Publish", "Resource": {"Fn::ImportValue": "x"}},
                {"Sid": "Unscopable", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "logs:CreateLogDelivery"], "Resource": "*"}
            ]}}}
        }));
        let found = problems(&t);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].contains("(NoResource): grants sns:Publish without naming a Resource"));
        assert!(found[1].contains("(NotResource): NotResource"));
        assert!(found[2].contains("(Opaque)") && found[2].contains("<opaque Fn::ImportValue>"));
    }
}
