//! Structural checks of `infra/template.yaml`, the SAM template that deploys sluice, against
//! the workspace it deploys:
//!
//! - every function crate under `functions/` is a function of the template built from its
//!   binary, and every function of the template is built from a crate that exists;
//! - every function is on `provided.al2023`/arm64 with its own log group and JSON logs, under
//!   a role of the template's own (no role SAM would generate out of sight);
//! - the state machine's `DefinitionSubstitutions` are exactly the `${...}` placeholders of its
//!   ASL file, each a function of the template, and its role may invoke exactly those;
//!   every function that nothing else triggers is one of them;
//! - every IAM statement that grants a write action names specific resources ([`iam`]).
//!
//! `tests/template.rs` runs these on the real files; the unit tests show each check failing on
//! a template that breaks it.

pub mod checks;
pub mod iam;
mod template;
pub mod workspace;
mod yaml;

pub use template::{LoadError, Template, get_att, ref_target, refers_to};
pub use yaml::YamlError;
