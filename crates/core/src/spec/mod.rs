//! The deployment request every trigger produces (DESIGN.md §3): its model, the rules it must
//! follow, and how a service's stored defaults fill it in.

mod defaults;
mod errors;
mod hooks;
mod limits;
mod model;
mod strategy;
mod validate;

pub use defaults::merge_over_defaults;
pub use errors::{FieldError, SpecErrors, SpecWarning};
pub use hooks::{
    HookKind, HooksSpec, MAX_HOOK_TIMEOUT_SECONDS, MIN_HOOK_TIMEOUT_SECONDS, is_lambda_function_arn,
};
pub use limits::{
    APPROVAL_TIMEOUT_SECONDS, EXECUTION_TIMEOUT_SECONDS, LEASE_MARGIN_SECONDS,
    MAX_ROLLBACK_RAMP_SECONDS, SYNC_MAX_POLLS, SYNC_POLL_SECONDS, TASK_SECONDS, sync_seconds,
};
pub use model::{
    AnalysisSpec, Approval, DeploymentSpec, Dimensions, InconclusiveAction, InconclusivePolicy,
    MetricSpec, RecordType, ReleaseSpec, RollbackSpec, SlotSpec, Slots,
};
pub use strategy::{BlueGreenStrategy, CanaryStrategy, LinearStrategy, Strategy};
pub use validate::{MAX_BAKE_SECONDS, MAX_STEPS, MAX_TTL_SECONDS, ValidationContext};

#[cfg(test)]
mod tests;
