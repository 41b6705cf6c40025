//! A fix to moto's Step Functions interpreter that the runner loads into its own moto process
//! (and only there): an execution stopped while inside a Task must end ABORTED, as on AWS,
//! even when the task then fails. moto 5.2.5 lets that late failure overwrite the stop, so an
//! emergency rollback during a step (which stops the execution, after which the step answers
//! `Sluice.Fenced`) would end FAILED locally. A second fix serialises moto's DynamoDB writes:
//! a failed TransactWriteItems restores a whole-table backup, undoing a write another thread
//! made meanwhile (a step's save racing `sluice pause`). Both are `moto/sitecustomize.py`.
//!
//! It is written to `<run dir>/moto-patches/sitecustomize.py`, and moto starts with that
//! directory on `PYTHONPATH`, where Python imports `sitecustomize` from at startup. moto's log
//! says whether it applied.

use std::path::{Path, PathBuf};

use crate::error::{LocalError, Result};

/// The patch's source.
pub const SITECUSTOMIZE: &str = include_str!("../moto/sitecustomize.py");

/// What moto's log says when the patch applied.
pub const APPLIED_LINE: &str = "sluice-local: moto patched: a stopped execution stays ABORTED";

/// What moto's log says when DynamoDB writes are serialised: moto's TransactWriteItems restores
/// a whole-table backup when a condition fails, undoing writes other threads made meanwhile.
pub const DYNAMODB_APPLIED_LINE: &str =
    "sluice-local: moto patched: DynamoDB writes are serialised";

/// Writes the patch under `run_dir` and returns the directory to put on moto's `PYTHONPATH`.
pub fn install(run_dir: &Path) -> Result<PathBuf> {
    let dir = run_dir.join("moto-patches");
    std::fs::create_dir_all(&dir).map_err(|source| LocalError::File {
        what: "create the moto patch directory",
        path: dir.clone(),
        source,
    })?;
    let file = dir.join("sitecustomize.py");
    std::fs::write(&file, SITECUSTOMIZE).map_err(|source| LocalError::File {
        what: "write the moto patch",
        path: file,
        source,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patch must apply to the moto that scripts/setup pins: a moto whose interpreter
    /// moved would start unpatched, and only the end-to-end alarm tests would notice.
    #[test]
    fn the_patch_applies_to_the_pinned_moto() {
        let workspace = crate::workspace::Workspace::locate().unwrap();
        let python = workspace.venv().unwrap().join("bin").join("python");
        let dir = std::env::temp_dir().join(format!("sluice-moto-patch-{}", std::process::id()));
        let installed = install(&dir).unwrap();
        let output = std::process::Command::new(&python)
            .arg("-c")
            .arg(
                "from moto.stepfunctions.parser.asl.eval.environment import Environment\n\
                 from moto.dynamodb.models import DynamoDBBackend\n\
                 print(Environment.set_error.__name__)\n\
                 print(DynamoDBBackend.transact_write_items.__name__)\n\
                 print(DynamoDBBackend.put_item.__name__)",
            )
            .env("PYTHONPATH", &installed)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let names: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            names,
            [
                "_set_error_unless_stopped",
                "serialised_transact_write_items",
                "serialised_put_item"
            ],
            "{stderr}"
        );
        assert!(stderr.contains(APPLIED_LINE), "{stderr}");
        assert!(stderr.contains(DYNAMODB_APPLIED_LINE), "{stderr}");
    }
}
