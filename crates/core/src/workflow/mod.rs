//! The deployment's steps as the state machine runs them: validate, shift traffic, wait for
//! sync, analyze, check a pre- or post-traffic hook, roll back, finalize. Each is one function
//! over the ports; the Lambda handlers only parse their event and call these.
//!
//! Every step reads the deployment record (strongly consistent), refuses to act when the state
//! machine no longer drives it (the fence: an emergency rollback or an operator took it over),
//! and writes conditionally on the revision it read. Each is safe to retry.

mod analyze;
mod approval;
mod cursor;
mod emergency;
mod error;
mod finalize;
mod hooks;
mod lease;
mod operator;
mod queue;
mod reconcile;
mod record;
mod rollback;
mod shift;
mod sync;
mod trigger;
mod validate;
mod verify;

pub use analyze::analyze_step;
pub use approval::{ApprovalRequest, await_approval};
pub use cursor::{Cursor, RampChange};
pub use emergency::{AlarmNotification, Takeover, TakeoverOutcome};
pub use error::{ErrorName, WorkflowError};
pub use finalize::{PROMOTION_SYNC_TIMEOUT, finalize};
pub use hooks::{
    HOOK_FAILED, HOOK_SUCCEEDED, HookAnswer, HookCheckRequest, HookInvocations, HookPayload,
    HookSubject, HookVerdict, check_hook, failure_reason, judge_hook,
};
pub use operator::{OperatorOutcome, approve, request_pause, request_promotion};
pub use queue::{QueuedStart, start_queued};
pub use reconcile::{ExecutionEnded, ReconcileOutcome, Reconciler, Settler};
pub use rollback::{CaughtError, RollbackRequest, roll_back};
pub use shift::shift_traffic;
pub use sync::{SyncLimits, check_sync};
pub use trigger::{TriggerOutcome, trigger_release};
pub use validate::{ValidateRequest, check_request, check_world, validate_deployment};
pub use verify::{
    REASSERT_ATTEMPTS, assert_stable, assert_weights, restore_recorded, verify_budget,
};
