//! The workflow's integration tests, one binary: each step and takeover run over every port in
//! memory. One binary rather than one per file, so a change to core (a mutant, say) relinks once.

mod common;

mod analyze;
mod approval;
mod emergency;
mod finalize;
mod hooks;
mod operator;
mod queue;
mod reconcile;
mod rollback;
mod shift;
mod sync;
mod trigger;
mod validate;
