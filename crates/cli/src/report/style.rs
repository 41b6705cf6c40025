//! How markers and outcomes look in the report: colours and CSS classes.

use sluice_core::deployment::Status;
use sluice_core::timeline::MarkerKind;

/// Colour of a marker kind.
pub(crate) fn colour(kind: MarkerKind) -> &'static str {
    match kind {
        MarkerKind::Started => "#64748b",
        MarkerKind::Advance => "#0d9488",
        MarkerKind::Promote | MarkerKind::Promoted => "#16a34a",
        MarkerKind::Extend => "#d97706",
        MarkerKind::AwaitApproval | MarkerKind::ApprovalRequested | MarkerKind::Approved => {
            "#7c3aed"
        }
        MarkerKind::OperatorRequest => "#475569",
        MarkerKind::RollBack | MarkerKind::RollbackStarted | MarkerKind::RolledBack => "#dc2626",
        MarkerKind::Failed => "#7f1d1d",
        MarkerKind::HookPassed => "#0d9488",
        MarkerKind::HookFailed => "#dc2626",
    }
}

pub(crate) fn outcome_class(status: Status) -> &'static str {
    match status {
        Status::Promoted => "promoted",
        Status::RolledBack => "rolled-back",
        Status::Failed => "failed",
        _ => "running",
    }
}

pub(crate) fn outcome_title(status: Status) -> String {
    match status {
        Status::Promoted => "Promoted".into(),
        Status::RolledBack => "Rolled back".into(),
        Status::Failed => "Failed".into(),
        other => format!("In progress: {other}"),
    }
}
