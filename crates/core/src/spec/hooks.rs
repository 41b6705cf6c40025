//! Pre- and post-traffic hooks: the user's Lambda functions (a smoke test, a version check) the
//! state machine invokes before the first shift and after the last step's analysis. What they
//! receive and must answer is in [`crate::workflow::HookPayload`] and
//! [`crate::workflow::judge_hook`].

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::errors::FieldError;
use super::model::{DeploymentSpec, SlotSpec};

/// Shortest and longest time the state machine waits for one hook invocation. A Lambda
/// function runs at most 900 s, so a longer wait could never be used.
pub const MIN_HOOK_TIMEOUT_SECONDS: u32 = 1;
pub const MAX_HOOK_TIMEOUT_SECONDS: u32 = 900;

/// Which hook: the name the state machine passes, the events record and the views print.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::Display, strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum HookKind {
    PreTraffic,
    PostTraffic,
}

/// `hooks` of a deployment request.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HooksSpec {
    /// Invoked after Validate, before any traffic moves; a failure ends the deployment with
    /// all traffic still on the stable slot.
    pub pre_traffic: Option<String>,
    /// Invoked after the last step's analysis decided to promote, before Finalize; a failure
    /// rolls back.
    pub post_traffic: Option<String>,
    /// How long the state machine waits for one invocation before it counts as failed.
    #[serde(default = "default_hook_timeout_seconds")]
    pub timeout_seconds: u32,
}

impl Default for HooksSpec {
    fn default() -> Self {
        HooksSpec {
            pre_traffic: None,
            post_traffic: None,
            timeout_seconds: default_hook_timeout_seconds(),
        }
    }
}

fn default_hook_timeout_seconds() -> u32 {
    60
}

/// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<version or alias>]`.
static LAMBDA_FUNCTION_ARN: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern, covered by the tests
    Regex::new(
        r"^arn:aws(-[a-z]+)*:lambda:[a-z]{2}(-[a-z]+)+-\d:\d{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$",
    )
    .expect("the Lambda function ARN pattern compiles")
});

/// Whether `arn` is a Lambda function ARN (with or without a version or alias).
pub fn is_lambda_function_arn(arn: &str) -> bool {
    LAMBDA_FUNCTION_ARN.is_match(arn)
}

impl HooksSpec {
    /// Every problem of `hooks`, each naming its field (`hooks.preTraffic`, …).
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        for (field, arn) in [
            ("hooks.preTraffic", &self.pre_traffic),
            ("hooks.postTraffic", &self.post_traffic),
        ] {
            if let Some(arn) = arn
                && !is_lambda_function_arn(arn)
            {
                problems.push(FieldError {
                    field: field.into(),
                    message: format!(
                        "{arn:?} is not a Lambda function ARN \
                         (arn:aws:lambda:<region>:<account>:function:<name>[:<version or alias>])"
                    ),
                });
            }
        }
        if !(MIN_HOOK_TIMEOUT_SECONDS..=MAX_HOOK_TIMEOUT_SECONDS).contains(&self.timeout_seconds) {
            problems.push(FieldError {
                field: "hooks.timeoutSeconds".into(),
                message: format!(
                    "{} must be between {MIN_HOOK_TIMEOUT_SECONDS} and {MAX_HOOK_TIMEOUT_SECONDS} \
                     (a Lambda function runs at most 900 s)",
                    self.timeout_seconds
                ),
            });
        }
        problems
    }

    /// The function ARN of hook `kind`, when it is set.
    pub fn arn(&self, kind: HookKind) -> Option<&str> {
        match kind {
            HookKind::PreTraffic => self.pre_traffic.as_deref(),
            HookKind::PostTraffic => self.post_traffic.as_deref(),
        }
    }

    /// Whether any hook is set.
    pub fn any(&self) -> bool {
        self.pre_traffic.is_some() || self.post_traffic.is_some()
    }
}

impl DeploymentSpec {
    /// Where slot `slot` points: the one place hooks read a slot's target from.
    pub fn slot_target(&self, slot: &str) -> Option<&SlotSpec> {
        self.slots.get(slot)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::{ValidationContext, merge_over_defaults};

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test";

    #[test]
    fn lambda_function_arns_are_recognised() {
        for good in [
            ARN,
            "arn:aws:lambda:eu-central-1:123456789012:function:smoke_test:live",
            "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
            "arn:aws:lambda:us-east-1:123456789012:function:f:7",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f",
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f",
        ] {
            assert!(is_lambda_function_arn(good), "{good}");
        }
        for bad in [
            "",
            "smoke-test",
            "arn:aws:lambda:us-east-1:123456789012:layer:smoke",
            "arn:aws:states:us-east-1:123456789012:stateMachine:smoke",
            "arn:aws:lambda:us-east-1:12345:function:smoke",
            "arn:aws:lambda::123456789012:function:smoke",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:us-east-1:123456789012:function:a b",
            "arn:aws:lambda:us-east-1:123456789012:function:f:live:extra",
            " arn:aws:lambda:us-east-1:123456789012:function:f",
        ] {
            assert!(!is_lambda_function_arn(bad), "{bad}");
        }
    }

    #[test]
    fn hooks_read_with_a_default_timeout_and_refuse_unknown_fields() {
        let hooks: HooksSpec = serde_json::from_value(json!({"preTraffic": ARN})).unwrap();
        assert_eq!(hooks.pre_traffic.as_deref(), Some(ARN));
        assert_eq!(hooks.post_traffic, None);
        assert_eq!(hooks.timeout_seconds, 60);
        assert!(hooks.problems().is_empty());
        assert!(hooks.any());
        assert!(!HooksSpec::default().any());
        let error = serde_json::from_value::<HooksSpec>(json!({"preTrafic": ARN})).unwrap_err();
        assert!(error.to_string().contains("preTrafic"), "{error}");
        // Unset fields stay out of the stored request.
        assert_eq!(
            serde_json::to_value(&hooks).unwrap(),
            json!({"preTraffic": ARN, "timeoutSeconds": 60})
        );
    }

    #[test]
    fn a_bad_arn_or_timeout_names_its_field() {
        let hooks = HooksSpec {
            pre_traffic: Some("arn:aws:sns:us-east-1:123456789012:topic".into()),
            post_traffic: Some("smoke".into()),
            timeout_seconds: 0,
        };
        let fields: Vec<String> = hooks.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "hooks.preTraffic",
                "hooks.postTraffic",
                "hooks.timeoutSeconds"
            ]
        );
        let too_long = HooksSpec {
            timeout_seconds: 901,
            ..HooksSpec::default()
        };
        let problems = too_long.problems();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("901"), "{problems:?}");
        for fine in [1, 900] {
            let hooks = HooksSpec {
                timeout_seconds: fine,
                ..HooksSpec::default()
            };
            assert!(hooks.problems().is_empty(), "{fine}");
        }
    }

    fn request(hooks: serde_json::Value) -> serde_json::Value {
        json!({
            "service": "checkout-api", "version": "v2", "hostedZoneId": "Z1",
            "recordName": "api.example.com",
            "slots": {"blue": {"target": "blue.example.com"}, "green": {"target": "green.example.com"}},
            "analysis": {"metrics": [{
                "name": "p95-latency", "max": 2000,
                "query": {"kind": "statistic", "stat": "p95",
                          "metric": {"namespace": "AWS/ApplicationELB", "metricName": "TargetResponseTime"}}
            }]},
            "hooks": hooks
        })
    }

    #[test]
    fn a_request_with_a_bad_hook_fails_validation_naming_the_field() {
        let spec = DeploymentSpec::from_json(&request(
            json!({"preTraffic": "not-an-arn", "timeoutSeconds": 5000}),
        ))
        .unwrap();
        let errors = spec.validate(&ValidationContext::default()).unwrap_err();
        let fields: Vec<&str> = errors.fields().collect();
        assert_eq!(fields, ["hooks.preTraffic", "hooks.timeoutSeconds"]);
        assert!(errors.to_string().contains("not-an-arn"), "{errors}");

        let spec = DeploymentSpec::from_json(&request(json!({"postTraffic": ARN}))).unwrap();
        spec.validate(&ValidationContext::default()).unwrap();
        assert_eq!(
            spec.hooks.as_ref().and_then(|h| h.post_traffic.as_deref()),
            Some(ARN)
        );
        let error = DeploymentSpec::from_json(&request(json!({"pre": ARN}))).unwrap_err();
        assert_eq!(error.fields().collect::<Vec<_>>(), ["hooks.pre"]);
    }

    #[test]
    fn hooks_merge_over_a_services_defaults_like_other_fields() {
        let defaults = json!({
            "service": "checkout-api",
            "hooks": {"preTraffic": ARN, "timeoutSeconds": 30}
        });
        let merged = merge_over_defaults(
            &defaults,
            &json!({"version": "v3", "hooks": {"postTraffic": ARN}}),
        );
        assert_eq!(
            merged["hooks"],
            json!({"preTraffic": ARN, "postTraffic": ARN, "timeoutSeconds": 30})
        );
        let merged = merge_over_defaults(&defaults, &json!({"version": "v3"}));
        let spec = DeploymentSpec::from_json(&merged).unwrap();
        let hooks = spec.hooks.unwrap();
        assert_eq!(
            (hooks.pre_traffic.as_deref(), hooks.timeout_seconds),
            (Some(ARN), 30)
        );
    }

    #[test]
    fn slot_targets_are_read_by_slot_name() {
        let spec = DeploymentSpec::from_json(&request(json!({}))).unwrap();
        assert_eq!(
            spec.slot_target("green").map(|t| t.target.as_str()),
            Some("green.example.com")
        );
        assert_eq!(
            spec.slot_target("blue").map(|t| t.target.as_str()),
            Some("blue.example.com")
        );
        assert_eq!(spec.slot_target("purple"), None);
    }
}
