//! How the runner names a function binary in AWS's terms: its local Lambda ARN, the binary a
//! Lambda Invoke names, and its state machine substitution key.

use sluice_testkit::moto::{ACCOUNT_ID, REGION};

/// The local ARN of a function binary:
/// `arn:aws:lambda:us-east-1:123456789012:function:<binary>`.
pub fn function_arn(binary: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{binary}")
}

/// The binary a Lambda Invoke names: a plain name, a full function ARN (with or without a
/// qualifier such as `:live` or `:$LATEST`), or a partial ARN `123456789012:function:name`.
pub fn binary_of(function: &str) -> &str {
    match function.split_once("function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => function,
    }
}

/// The state machine substitution key of a function: `await-approval` →
/// `AwaitApprovalFunctionArn`, the names the definition and the SAM template share.
pub fn substitution_key(binary: &str) -> String {
    let mut key = String::new();
    for word in binary.split(['-', '_']).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            key.extend(first.to_uppercase());
            key.push_str(chars.as_str());
        }
    }
    key.push_str("FunctionArn");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_come_from_names_and_arns() {
        assert_eq!(binary_of("validate"), "validate");
        assert_eq!(binary_of(&function_arn("shift-traffic")), "shift-traffic");
        assert_eq!(
            binary_of("arn:aws:lambda:us-east-1:123456789012:function:analyze:$LATEST"),
            "analyze"
        );
        assert_eq!(binary_of("123456789012:function:finalize:live"), "finalize");
    }

    #[test]
    fn substitution_keys_are_pascal_case() {
        assert_eq!(substitution_key("validate"), "ValidateFunctionArn");
        assert_eq!(
            substitution_key("await-approval"),
            "AwaitApprovalFunctionArn"
        );
        assert_eq!(
            substitution_key("emergency-rollback"),
            "EmergencyRollbackFunctionArn"
        );
    }
}
