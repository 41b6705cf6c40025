//! `sluice unlock`: frees a service's lock that a dead execution left held, the way the
//! reconciler does (the deployment taken over, 100 % stable, recorded, released), with who and
//! why. Refused while the execution holding it runs, unless forced.

use std::io::Write;

use serde::Serialize;
use sluice_core::workflow::{ReconcileOutcome, Reconciler, Settler};

use crate::args::Output;
use crate::backend::Ports;
use crate::error::{CliError, exit};

/// What an unlock did, for people and scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockResult {
    pub service: String,
    /// `free`, `rolled-back`, `already-ended`, `orphan-released`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    pub message: String,
}

pub async fn unlock(
    ports: &impl Ports,
    service: &str,
    who: &str,
    reason: &str,
    force: bool,
    output: Output,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let reconciler = Reconciler {
        store: ports.store(),
        router: ports.router(),
        orchestrator: ports.orchestrator(),
        notifier: ports.notifier(),
        clock: ports.clock(),
    };
    let settler = Settler::Operator {
        who: who.to_string(),
        reason: reason.to_string(),
        force,
    };
    let outcome = reconciler.settle(service, &settler).await?;
    let result = match outcome {
        ReconcileOutcome::Free { service } => UnlockResult {
            message: format!("service {service} is not locked; nothing to do"),
            service,
            result: "free",
            deployment_id: None,
        },
        ReconcileOutcome::RolledBack {
            service,
            deployment,
            reason,
        } => UnlockResult {
            message: format!(
                "service {service} unlocked: deployment {deployment} rolled back to stable 100% and released ({reason})"
            ),
            service,
            result: "rolled-back",
            deployment_id: Some(deployment),
        },
        ReconcileOutcome::AlreadyEnded {
            service,
            deployment,
            status,
        } => UnlockResult {
            message: format!(
                "service {service} unlocked: deployment {deployment} had ended ({status}); its lock is released"
            ),
            service,
            result: "already-ended",
            deployment_id: Some(deployment),
        },
        ReconcileOutcome::OrphanReleased {
            service,
            deployment,
            reason,
        } => UnlockResult {
            message: format!(
                "service {service} unlocked: the lock of {deployment} had no deployment record; released ({reason})"
            ),
            service,
            result: "orphan-released",
            deployment_id: Some(deployment),
        },
        ReconcileOutcome::Live {
            service,
            deployment,
            execution,
        } => {
            return Err(CliError::WrongState {
                id: deployment.clone(),
                message: format!(
                    "holds the lock of {service} and its {execution}: not unlocked; \
                     `sluice abort {deployment}` stops it, or `sluice unlock {service} --force` takes it over"
                ),
            });
        }
        ReconcileOutcome::HeldByTakeover {
            service,
            deployment,
            by,
            status,
        } => {
            return Err(CliError::WrongState {
                id: deployment,
                message: format!(
                    "({status}) of {service} is being ended by {by}, not rolled back: not unlocked; \
                     let that finish (or run it again)"
                ),
            });
        }
        ReconcileOutcome::Failed { service, error } => {
            return Err(CliError::WrongState {
                id: service,
                message: format!("could not be reconciled: {error}"),
            });
        }
    };
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string(&result)?)?,
        Output::Text => writeln!(out, "{}", result.message)?,
    }
    Ok(exit::OK)
}
