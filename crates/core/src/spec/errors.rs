//! What a request's reading and validation report: problems that stop it, warnings that do not.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One problem with a request, naming the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct SpecErrors(pub Vec<FieldError>);

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "the deployment request has {count} problem{}: ",
            if count == 1 { "" } else { "s" }
        )?;
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl SpecErrors {
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|e| e.field.as_str())
    }
}

/// A note that does not stop the deployment but that the operator should see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecWarning {
    pub field: String,
    pub message: String,
}
