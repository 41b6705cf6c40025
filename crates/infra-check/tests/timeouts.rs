//! The functions' timeouts in infra/template.yaml against the SDK's: a hung AWS call must fail
//! inside the function that made it (which reports it, or retries what it was doing), never
//! outlive it; a function that restores traffic after a takeover must have time to verify it.

use std::time::Duration;

use serde_json::Value;
use sluice_aws::config::OPERATION_TIMEOUT;
use sluice_core::workflow::{PROMOTION_SYNC_TIMEOUT, verify_budget};
use sluice_infra_check::Template;
use sluice_infra_check::workspace::workspace_root;

fn template() -> Template {
    let path = workspace_root()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("infra")
        .join("template.yaml");
    Template::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every function's timeout as deployed (its own, or the Globals'), by logical id.
fn function_timeouts(template: &Template) -> Vec<(String, Duration)> {
    template
        .of_type("AWS::Serverless::Function")
        .map(|(id, function)| {
            let seconds = template
                .function_property(function, "Timeout")
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("{id} has no numeric Timeout (nor Globals)"));
            (id.to_string(), Duration::from_secs(seconds))
        })
        .collect()
}

#[test]
fn every_function_outlives_a_hung_sdk_call_with_room_to_report_it() {
    let timeouts = function_timeouts(&template());
    assert!(!timeouts.is_empty());
    for (id, timeout) in timeouts {
        assert!(
            timeout >= 2 * OPERATION_TIMEOUT,
            "{id}: Timeout {timeout:?} is not at least twice the SDK operation timeout {OPERATION_TIMEOUT:?}"
        );
    }
}

#[test]
fn functions_that_restore_traffic_have_time_to_verify_it() {
    let template = template();
    let timeouts = function_timeouts(&template);
    let of = |id: &str| {
        timeouts
            .iter()
            .find(|(name, _)| name == id)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("{id} is not a function of the template"))
    };
    // Their own calls before the restore (read, claim, write, record, re-read), each up to the
    // SDK's operation timeout, then the verification's reads, re-asserts and waits.
    let restore = 4 * OPERATION_TIMEOUT + verify_budget(OPERATION_TIMEOUT);
    for (id, waits) in [
        ("ShiftTrafficFunction", Duration::ZERO),
        ("EmergencyRollbackFunction", Duration::ZERO),
        ("FinalizeFunction", PROMOTION_SYNC_TIMEOUT),
    ] {
        let needed = restore + waits;
        assert!(
            of(id) >= needed,
            "{id}: Timeout {:?} is shorter than the {needed:?} a verified restore may take",
            of(id)
        );
    }
}
