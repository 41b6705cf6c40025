//! The workspace as every tool reads it: its root, the function packages under `functions/`,
//! and the `${Name}` placeholders of a state machine definition. One definition of each, for
//! the template checks, the local runner and the moto launcher alike.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Where the function packages live, one directory per Lambda.
pub const FUNCTIONS_DIR: &str = "functions";

/// Why the workspace, or a manifest in it, could not be read.
#[derive(Debug, Error)]
pub enum WorkspaceError {
    #[error("no Cargo.toml with a [workspace] table in {start} or any directory above it")]
    NoRoot { start: PathBuf },

    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not a valid Cargo manifest: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },

    #[error("no function packages under {dir} (each is functions/<name>/Cargo.toml)")]
    NoFunctions { dir: PathBuf },
}

/// The parts of a Cargo manifest the workspace is read by.
#[derive(Debug, Deserialize)]
struct Manifest {
    package: Option<Package>,
    workspace: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
}

fn parse_manifest(text: &str, path: &Path) -> Result<Manifest, WorkspaceError> {
    toml::from_str(text).map_err(|source| WorkspaceError::Manifest {
        path: path.to_path_buf(),
        source,
    })
}

/// The workspace root: the nearest directory at or above this crate whose `Cargo.toml` has a
/// `[workspace]` table.
pub fn workspace_root() -> Result<PathBuf, WorkspaceError> {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in start.ancestors() {
        let path = dir.join("Cargo.toml");
        // A directory without a manifest is simply not the root.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if parse_manifest(&text, &path)?.workspace.is_some() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(WorkspaceError::NoRoot {
        start: start.to_path_buf(),
    })
}

/// The `[package] name` of a manifest, if it has a package table.
pub fn package_name(manifest: &str, path: &Path) -> Result<Option<String>, WorkspaceError> {
    Ok(parse_manifest(manifest, path)?.package.map(|p| p.name))
}

/// The package name (= binary name) of every `functions/<dir>/Cargo.toml` under `root`,
/// sorted.
pub fn function_packages(root: &Path) -> Result<Vec<String>, WorkspaceError> {
    let dir = root.join(FUNCTIONS_DIR);
    let entries = std::fs::read_dir(&dir).map_err(|source| WorkspaceError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join("Cargo.toml");
        // A directory without a manifest is no package.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some(name) = package_name(&text, &path)? {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(WorkspaceError::NoFunctions { dir });
    }
    names.sort();
    Ok(names)
}

/// The `${Name}` placeholders of a state machine definition (`DefinitionSubstitutions` keys).
pub fn placeholders(definition: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                found.insert(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_read_from_the_definition_text() {
        let asl = r#"{"A": {"Resource": "${ValidateFunctionArn}"}, "B": {"Parameters":
            {"FunctionName": "${AwaitApprovalFunctionArn}", "x.$": "$.y"}}, "C": "${ValidateFunctionArn}"}"#;
        assert_eq!(
            placeholders(asl).into_iter().collect::<Vec<_>>(),
            vec!["AwaitApprovalFunctionArn", "ValidateFunctionArn"]
        );
    }

    #[test]
    fn package_names_are_read_from_the_package_table() {
        let path = Path::new("functions/wait-for-sync/Cargo.toml");
        let manifest = "[package]\nname = \"wait-for-sync\"\nversion = \"0.1.0\"\n\n[dependencies]\nname = \"x\"\n";
        assert_eq!(
            package_name(manifest, path).unwrap().as_deref(),
            Some("wait-for-sync")
        );
        assert_eq!(
            package_name("[dependencies]\nname = \"x\"\n", path).unwrap(),
            None
        );
        let error = package_name("[package\nname = 1", path).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("functions/wait-for-sync/Cargo.toml is not a valid"),
            "{error}"
        );
    }

    #[test]
    fn finds_the_workspace_root_and_its_functions() {
        let root = workspace_root().unwrap();
        assert!(root.join("crates").join("infra-check").is_dir());
        assert!(root.join("crates").join("emulator").is_dir());
        let functions = function_packages(&root).unwrap();
        for expected in [
            "validate",
            "shift-traffic",
            "analyze",
            "finalize",
            "rollback",
        ] {
            assert!(
                functions.iter().any(|f| f == expected),
                "{expected} in {functions:?}"
            );
        }
    }

    #[test]
    fn a_directory_without_function_packages_is_named() {
        let empty =
            std::env::temp_dir().join(format!("sluice-no-functions-{}", std::process::id()));
        std::fs::create_dir_all(empty.join(FUNCTIONS_DIR)).unwrap();
        let error = function_packages(&empty).unwrap_err();
        assert!(
            matches!(error, WorkspaceError::NoFunctions { .. }),
            "{error:?}"
        );
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
