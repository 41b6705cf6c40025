use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while finding, starting, reaching or stopping moto.
///
/// Each variant names what failed (binary, port, log file, URL) so that a failing test says
/// what to fix without reading this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The venv or its `moto_server` script is missing.
    #[error(
        "moto is not installed: {binary} does not exist. Run `scripts/setup` in the repository \
         (it creates .venv with the pinned moto[server]), or set SLUICE_VENV to a venv that has it"
    )]
    MissingBinary { binary: PathBuf },

    /// No `Cargo.toml` with a `[workspace]` table was found above the crate.
    #[error(
        "could not find the workspace root, so the project venv cannot be located ({0}). Run \
         `scripts/setup` in the repository, or set SLUICE_VENV"
    )]
    NoWorkspaceRoot(#[from] sluice_infra_check::workspace::WorkspaceError),

    /// The directory for moto's log file could not be created.
    #[error("could not create the moto log directory {dir}: {source}")]
    LogDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The log file could not be created or duplicated for stdout/stderr.
    #[error("could not open the moto log file {path}: {source}")]
    LogFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Binding 127.0.0.1:0 to find a free port failed.
    #[error("could not find a free port on 127.0.0.1: {source}")]
    FreePort {
        #[source]
        source: std::io::Error,
    },

    /// The moto process could not be started at all.
    #[error("could not start {binary} on port {port}: {source}")]
    Spawn {
        binary: PathBuf,
        port: u16,
        #[source]
        source: std::io::Error,
    },

    /// moto exited before it answered.
    #[error(
        "moto ({binary}) exited with {status} before answering on port {port}; log {log}:\n{log_tail}"
    )]
    Exited {
        binary: PathBuf,
        port: u16,
        status: String,
        log: PathBuf,
        log_tail: String,
    },

    /// moto kept running but did not answer in time.
    #[error(
        "moto ({binary}) on port {port} did not answer GET {url} within {timeout:?}; log {log}:\n{log_tail}"
    )]
    StartTimeout {
        binary: PathBuf,
        port: u16,
        url: String,
        timeout: Duration,
        log: PathBuf,
        log_tail: String,
    },

    /// An already running moto (e.g. from `SLUICE_MOTO_ENDPOINT`) does not answer.
    #[error(
        "no moto answers at {endpoint} (GET {url} failed for {timeout:?}: {last_error}); \
         if it came from SLUICE_MOTO_ENDPOINT, start one or unset the variable"
    )]
    Unreachable {
        endpoint: String,
        url: String,
        timeout: Duration,
        last_error: String,
    },

    /// The endpoint URL could not be parsed or has no port.
    #[error("invalid moto endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },

    /// The HTTP client could not be built.
    #[error("could not build the HTTP client for moto: {source}")]
    HttpClient {
        #[source]
        source: reqwest::Error,
    },

    /// A request to moto's control API failed in transport.
    #[error("{method} {url} failed: {source}")]
    Request {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },

    /// moto's control API answered with an error status.
    #[error("{method} {url} answered HTTP {status}: {body}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
}
