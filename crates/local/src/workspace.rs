//! The workspace as the runner sees it: the function binaries under `functions/`, their local
//! ARNs and the state machine's `${...FunctionArn}` substitutions, and the one `cargo build`
//! that makes every binary ready before anything is invoked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sluice_infra_check::workspace::{function_packages, workspace_root};

use crate::error::{LocalError, Result, log_tail};
// The names the definition tests read from here, defined where they belong.
use crate::function_names::{function_arn, substitution_key};
use sluice_infra_check::workspace::placeholders;
/// The deployment state machine's definition, relative to the workspace root.
pub const DEFINITION_PATH: &str = "statemachine/deployment.asl.json";
/// The role ARN the local state machine is created with (moto does not check it).
pub const STATE_MACHINE_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sluice-state-machine";

/// The package the runner lives in, built together with the functions (see [`build_args`]).
pub const RUNNER_PACKAGE: &str = "sluice-local";

/// The build that makes the function binaries ready: `cargo build -p sluice-local -p
/// <function> ...`, dev profile (the tests' profile, so no second profile or target dir).
/// Building the runner's package in the same command resolves features once for both, so
/// `scripts/demo`, which runs this very command and then the `sluice-local` binary, compiles
/// everything once.
pub fn build_args(functions: &[String]) -> Vec<String> {
    let mut args = vec![
        "build".to_string(),
        "-p".to_string(),
        RUNNER_PACKAGE.to_string(),
    ];
    for function in functions {
        args.push("-p".to_string());
        args.push(function.clone());
    }
    args
}

/// The repository checkout the runner works in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// The workspace this crate belongs to.
    pub fn locate() -> Result<Workspace> {
        Ok(Workspace {
            root: workspace_root()?,
        })
    }

    pub fn at(root: impl Into<PathBuf>) -> Workspace {
        Workspace { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/.venv` unless `SLUICE_VENV` names another one.
    pub fn venv(&self) -> Result<PathBuf> {
        if std::env::var_os(sluice_testkit::moto::VENV_ENV).is_some_and(|v| !v.is_empty()) {
            return Ok(sluice_testkit::moto::resolve_venv(None)?);
        }
        Ok(self.root.join(".venv"))
    }

    pub fn definition_path(&self) -> PathBuf {
        self.root.join(DEFINITION_PATH)
    }

    /// Cargo's target directory: `$CARGO_TARGET_DIR` or `<root>/target`.
    pub fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => self.root.join(dir),
            None => self.root.join("target"),
        }
    }

    /// Where the dev-profile binaries are: `<target>/debug`.
    pub fn binaries_dir(&self) -> PathBuf {
        self.target_dir().join("debug")
    }

    /// Where runs keep their logs: `<target>/sluice-local`.
    pub fn runs_dir(&self) -> PathBuf {
        self.target_dir().join("sluice-local")
    }

    /// The binary name of every function package, sorted: the `[package] name` of each
    /// `functions/<dir>/Cargo.toml` (a package's binary is named after it).
    pub fn functions(&self) -> Result<Vec<String>> {
        Ok(function_packages(&self.root)?)
    }

    /// The definition with every `${...FunctionArn}` replaced by the local ARN of the function
    /// it names.
    pub fn rendered_definition(&self, functions: &[String]) -> Result<String> {
        let path = self.definition_path();
        let template = std::fs::read_to_string(&path).map_err(|source| LocalError::File {
            what: "read the state machine definition",
            path: path.clone(),
            source,
        })?;
        render_definition(&template, &substitutions(functions))
            .map_err(|message| LocalError::Definition { path, message })
    }

    /// Builds `functions` as [`build_args`] says, with the output in `log`. Returns how long
    /// it took.
    pub async fn build_functions(&self, functions: &[String], log: &Path) -> Result<Duration> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let args = build_args(functions);
        let command = format!("{} {}", cargo.to_string_lossy(), args.join(" "));
        let output = std::fs::File::create(log).map_err(|source| LocalError::File {
            what: "create the build log",
            path: log.to_path_buf(),
            source,
        })?;
        let stderr = output.try_clone().map_err(|source| LocalError::File {
            what: "open the build log",
            path: log.to_path_buf(),
            source,
        })?;
        let started = Instant::now();
        let mut build = tokio::process::Command::new(&cargo);
        for (name, _) in std::env::vars_os() {
            if is_target_variable(&name.to_string_lossy()) {
                build.env_remove(&name);
            }
        }
        let status = build
            .args(&args)
            .arg("--manifest-path")
            .arg(self.root.join("Cargo.toml"))
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(stderr)
            .kill_on_drop(true)
            .status()
            .await
            .map_err(|source| LocalError::Spawn {
                what: "the function build",
                command: command.clone(),
                source,
            })?;
        if !status.success() {
            return Err(LocalError::BuildFailed {
                command,
                status: status.to_string(),
                log: log.to_path_buf(),
                tail: log_tail(log, 40),
            });
        }
        Ok(started.elapsed())
    }
}

/// Variables cargo sets for the program it runs (`cargo run`, a test binary): the build must
/// not see them. Build scripts such as ring's ask to rerun when `CARGO_PKG_NAME` or
/// `CARGO_MANIFEST_DIR` change, so a build started from inside a test would rebuild ring and
/// everything above it (the whole AWS SDK), and the next build from a shell would rebuild it
/// back.
fn is_target_variable(name: &str) -> bool {
    const PREFIXES: [&str; 5] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_",
        "CARGO_CRATE_",
        "NEXTEST",
    ];
    const NAMES: [&str; 4] = [
        "OUT_DIR",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// Every substitution the runner provides: one `<Name>FunctionArn` per function binary.
pub fn substitutions(functions: &[String]) -> BTreeMap<String, String> {
    functions
        .iter()
        .map(|f| (substitution_key(f), function_arn(f)))
        .collect()
}

/// `template` with each `${Name}` replaced by `values[Name]`; the error lists every
/// placeholder without a value.
pub fn render_definition(
    template: &str,
    values: &BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let missing: Vec<String> = placeholders(template)
        .into_iter()
        .filter(|name| !values.contains_key(name))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no value for {} (the runner provides {})",
            missing
                .iter()
                .map(|m| format!("${{{m}}}"))
                .collect::<Vec<_>>()
                .join(", "),
            values.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut rendered = template.to_string();
    for (name, value) in values {
        rendered = rendered.replace(&format!("${{{name}}}"), value);
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_replaces_every_placeholder_or_names_the_missing_ones() {
        let values = substitutions(&["validate".to_string()]);
        let rendered = render_definition(r#"{"R": "${ValidateFunctionArn}"}"#, &values).unwrap();
        assert_eq!(
            rendered,
            r#"{"R": "arn:aws:lambda:us-east-1:123456789012:function:validate"}"#
        );
        let error = render_definition(
            r#"["${ValidateFunctionArn}", "${NopeFunctionArn}"]"#,
            &values,
        )
        .unwrap_err();
        assert!(
            error.starts_with("no value for ${NopeFunctionArn}"),
            "{error}"
        );
    }

    #[test]
    fn variables_cargo_sets_for_a_test_are_kept_from_the_build() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_BIN_EXE_x",
            "OUT_DIR",
        ] {
            assert!(is_target_variable(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_INCREMENTAL",
            "CARGO_TARGET_DIR",
            "RUSTFLAGS",
            "PATH",
        ] {
            assert!(!is_target_variable(name), "{name}");
        }
    }
}
