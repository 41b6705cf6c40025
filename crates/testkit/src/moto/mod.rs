//! A running moto server (emulated AWS) for sluice's tests and local runner.
//!
//! moto is installed by `scripts/setup` into `<repo>/.venv` (pinned in `scripts/requirements.txt`).
//! This module starts `<venv>/bin/moto_server -H 127.0.0.1 -p <port>` with its output in a log
//! file, waits until it answers, and kills and reaps it when the [`Moto`] is dropped. When moto is
//! missing it fails loudly ([`Error::MissingBinary`] says to run `scripts/setup`); nothing here
//! ever skips a test.
//!
//! # One moto per test, or one for the whole run
//!
//! `scripts/test` starts one moto for the whole test run and exports
//! `SLUICE_MOTO_ENDPOINT=http://127.0.0.1:<port>`; [`Moto::from_env`] then connects to it instead
//! of starting a process (about 0.7 s saved per test). Without the variable (a plain
//! `cargo test`), [`Moto::from_env`] starts a private moto for the caller.
//!
//! **Tests that may share a server isolate themselves by unique resource names, not by
//! resetting it**: tests run concurrently, and [`Moto::reset`] wipes every test's data at once.
//! Name every table, hosted zone, topic, state machine, execution and metric namespace with
//! [`unique_name`], and never assume the server is empty (filter listings by your own names).
//! [`Moto::reset`] is for a moto the caller owns ([`Moto::is_external`] is false).
//! Pitfalls of moto 5.2.5 that bite shared servers: `StartExecution` without a name gets the
//! execution name `None`, so a second unnamed start on the same state machine fails with
//! `ExecutionAlreadyExists` (always pass a unique name); an SNS `http` subscriber that no longer
//! listens makes every `Publish` to its topic fail with HTTP 500 (one topic per test).
//!
//! Tests whose state machines call Lambda tasks need moto to call *their* router: moto invokes
//! Lambda at `http://localhost:$MOTO_PORT` (an environment variable of the moto process), which
//! a shared server cannot set per test. Such tests start a private moto with
//! `MotoOptions::new().env("MOTO_PORT", router_port.to_string())` and [`Moto::start`]. Without
//! `MOTO_PORT`, moto_server points it at its own port.
//!
//! Every moto started or connected here has Step Functions execution enabled (moto's ASL
//! interpreter runs the definitions), unless [`MotoOptions::execute_state_machines`] says
//! otherwise; it must be enabled before state machines are created.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice_testkit::moto::Error> {
//! use sluice_testkit::moto::{Moto, MotoOptions, unique_name};
//! let moto = Moto::from_env().await?; // shared under scripts/test, private otherwise
//! let table = unique_name("deployments");
//! // point the AWS SDK at moto.endpoint_url() with dummy credentials, create `table`, ...
//! # let _ = (moto, table);
//! # Ok(()) }
//! ```

mod error;

pub use error::Error;

use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable naming an already running moto to use instead of starting one.
pub const ENDPOINT_ENV: &str = "SLUICE_MOTO_ENDPOINT";
/// Environment variable naming the venv that holds `bin/moto_server` (default `<repo>/.venv`).
pub const VENV_ENV: &str = "SLUICE_VENV";
/// Region the emulated resources live in; moto accepts any, sluice's local setup uses this one.
pub const REGION: &str = "us-east-1";
/// The account id moto puts into every ARN.
pub const ACCOUNT_ID: &str = "123456789012";

/// Path of moto's control API endpoint used as the readiness probe (cheap, small JSON).
const PROBE_PATH: &str = "/moto-api/config";
const LOG_TAIL_LINES: usize = 30;
const PORT_ATTEMPTS: usize = 3;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to start moto. `MotoOptions::new()` (= `Default`) picks a free port, the project venv,
/// a temp log directory, a 30 s start timeout, and enables Step Functions execution.
#[derive(Debug, Clone)]
pub struct MotoOptions {
    venv: Option<PathBuf>,
    port: Option<u16>,
    env: Vec<(OsString, OsString)>,
    log_dir: Option<PathBuf>,
    startup_timeout: Duration,
    execute_state_machines: bool,
}

impl Default for MotoOptions {
    fn default() -> Self {
        Self {
            venv: None,
            port: None,
            env: Vec::new(),
            log_dir: None,
            startup_timeout: Duration::from_secs(30),
            execute_state_machines: true,
        }
    }
}

impl MotoOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this venv (holding `bin/moto_server`) instead of `$SLUICE_VENV` or `<repo>/.venv`.
    pub fn venv(mut self, venv: impl Into<PathBuf>) -> Self {
        self.venv = Some(venv.into());
        self
    }

    /// Listen on this port instead of a free one (no retry if it turns out to be taken).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Add an environment variable for the moto process, e.g. `MOTO_PORT=<router port>`.
    /// The process inherits the caller's environment, plus `TZ=UTC` (moto compares Wait
    /// timestamps with local time), plus these (which win).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Write `moto-<port>.log` (stdout and stderr) into this directory, created if missing,
    /// and keep it. Default: `<temp dir>/sluice-moto`, where the log is deleted when the
    /// [`Moto`] is dropped, except while panicking (a failing test keeps it and prints its path).
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// How long to wait for moto to answer after starting it.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Whether to enable moto's Step Functions interpreter right after start/connect (default
    /// true). With it off, a moto started here stores executions but never runs them; it
    /// cannot be switched off again (the shared server of `scripts/test` always has it on).
    pub fn execute_state_machines(mut self, enabled: bool) -> Self {
        self.execute_state_machines = enabled;
        self
    }
}

/// A moto server: either a process this value owns (killed and reaped on drop), or an external
/// one it only talks to (see [`Moto::connect`], [`Moto::from_env`]).
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    port: u16,
    process: Option<Process>,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Process {
    child: Child,
    binary: PathBuf,
    log_path: PathBuf,
    /// False for the default temp log directory: the log is removed on drop unless the
    /// thread is panicking (a failing test keeps its moto log).
    keep_log: bool,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(process) = self.process.as_mut() {
            stop_child(&mut process.child);
            let log = process.log_path.display();
            if std::thread::panicking() {
                eprintln!("moto on port {} stopped; its log: {log}", self.port);
            } else if !process.keep_log && std::fs::remove_file(&process.log_path).is_ok() {
                tracing::debug!(port = self.port, %log, "moto stopped, log removed");
            } else {
                tracing::debug!(port = self.port, %log, "moto stopped");
            }
        }
    }
}

impl Moto {
    /// Starts a private moto per `opts` and waits until it answers.
    pub async fn start(opts: MotoOptions) -> Result<Self> {
        let venv = resolve_venv(opts.venv.as_deref())?;
        let binary = venv.join("bin").join("moto_server");
        if !binary.is_file() {
            return Err(Error::MissingBinary { binary });
        }
        let log_dir = opts
            .log_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("sluice-moto"));
        std::fs::create_dir_all(&log_dir).map_err(|source| Error::LogDir {
            dir: log_dir.clone(),
            source,
        })?;
        let http = http_client()?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = match opts.port {
                Some(port) => port,
                None => free_loopback_port()?,
            };
            let log_path = log_dir.join(format!("moto-{port}.log"));
            let child = spawn(&binary, port, &log_path, &opts.env)?;
            let mut moto = Self {
                endpoint: format!("http://127.0.0.1:{port}"),
                port,
                process: Some(Process {
                    child,
                    binary: binary.clone(),
                    log_path,
                    keep_log: opts.log_dir.is_some(),
                }),
                http: http.clone(),
            };
            match moto.wait_started(opts.startup_timeout).await {
                Ok(()) => {
                    tracing::debug!(port, binary = %binary.display(), "moto started");
                    if opts.execute_state_machines {
                        moto.enable_stepfunctions_execution().await?;
                    }
                    return Ok(moto);
                }
                // Another process took the free port between our probe and moto's bind.
                Err(Error::Exited { log_tail, .. })
                    if opts.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && log_tail.contains("in use") =>
                {
                    tracing::debug!(port, "moto port taken meanwhile, retrying on another");
                }
                Err(err) => {
                    // The error names the log: keep it.
                    if let Some(process) = moto.process.as_mut() {
                        process.keep_log = true;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Connects to `$SLUICE_MOTO_ENDPOINT` if it is set (a moto shared by the whole test run),
    /// else starts a private moto with default options.
    pub async fn from_env() -> Result<Self> {
        Self::from_env_or(MotoOptions::default()).await
    }

    /// Like [`Moto::from_env`], starting a private moto with `opts` when the variable is unset.
    /// With the variable set, only `opts.execute_state_machines` and `opts.startup_timeout`
    /// apply (process options such as `env` cannot reach a server someone else started).
    pub async fn from_env_or(opts: MotoOptions) -> Result<Self> {
        Self::from_endpoint_or_start(std::env::var(ENDPOINT_ENV).ok(), opts).await
    }

    async fn from_endpoint_or_start(endpoint: Option<String>, opts: MotoOptions) -> Result<Self> {
        match endpoint.filter(|e| !e.trim().is_empty()) {
            Some(endpoint) => {
                let moto =
                    Self::connect_within(&endpoint, opts.startup_timeout.min(CONNECT_TIMEOUT))
                        .await?;
                if opts.execute_state_machines {
                    moto.enable_stepfunctions_execution().await?;
                }
                Ok(moto)
            }
            None => Self::start(opts).await,
        }
    }

    /// Uses a moto someone else runs at `endpoint` (e.g. `http://127.0.0.1:5000`), after
    /// checking that it answers. Dropping the value leaves that server running.
    pub async fn connect(endpoint: &str) -> Result<Self> {
        Self::connect_within(endpoint, CONNECT_TIMEOUT).await
    }

    async fn connect_within(endpoint: &str, timeout: Duration) -> Result<Self> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        let port = parse_port(&endpoint)?;
        let moto = Self {
            endpoint,
            port,
            process: None,
            http: http_client()?,
        };
        let url = moto.url(PROBE_PATH);
        let deadline = Instant::now() + timeout;
        loop {
            match moto.probe(&url).await {
                Ok(()) => return Ok(moto),
                Err(last_error) if Instant::now() >= deadline => {
                    return Err(Error::Unreachable {
                        endpoint: moto.endpoint.clone(),
                        url,
                        timeout,
                        last_error,
                    });
                }
                Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }

    /// Base URL for AWS SDK clients (`AWS_ENDPOINT_URL`), e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True when this value talks to a server it did not start (dropping it stops nothing).
    pub fn is_external(&self) -> bool {
        self.process.is_none()
    }

    /// The log file of a moto this value started; `None` for an external one.
    pub fn log_path(&self) -> Option<&Path> {
        self.process.as_ref().map(|p| p.log_path.as_path())
    }

    /// Environment for a process that should reach this moto with the real AWS SDK:
    /// `AWS_ENDPOINT_URL`, dummy credentials and region. Pass to `Command::envs`.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ]
    }

    /// `POST /moto-api/reset`: drops all emulated resources of every service (the Step
    /// Functions execution switch stays on). On a shared server this wipes the data of every
    /// concurrently running test: shared tests use [`unique_name`] instead.
    pub async fn reset(&self) -> Result<()> {
        self.post("/moto-api/reset", None).await
    }

    /// `POST /moto-api/config` with `{"stepfunctions": {"execute_state_machine": true}}`, so
    /// moto's ASL interpreter really runs executions. Must happen before the state machines are
    /// created (they live in a different moto backend otherwise). Idempotent. moto does not
    /// echo this setting in its answer, so there is nothing to read back.
    pub async fn enable_stepfunctions_execution(&self) -> Result<()> {
        let body = serde_json::json!({"stepfunctions": {"execute_state_machine": true}});
        self.post("/moto-api/config", Some(body)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.endpoint, path)
    }

    async fn post(&self, path: &str, body: Option<serde_json::Value>) -> Result<()> {
        let url = self.url(path);
        let mut request = self.http.post(&url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|source| Error::Request {
            method: "POST",
            url: url.clone(),
            source,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(Error::Status {
            method: "POST",
            url,
            status: status.as_u16(),
            body: body.chars().take(500).collect(),
        })
    }

    /// One readiness check; the error is a short description for messages.
    async fn probe(&self, url: &str) -> std::result::Result<(), String> {
        match self.http.get(url).timeout(PROBE_TIMEOUT).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Waits until the process this value started answers. On error the caller drops `self`,
    /// which kills and reaps the process.
    async fn wait_started(&mut self, timeout: Duration) -> Result<()> {
        let url = self.url(PROBE_PATH);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self.process.as_mut()
                && let Ok(Some(status)) = p.child.try_wait()
            {
                return Err(Error::Exited {
                    binary: p.binary.clone(),
                    port: self.port,
                    status: status.to_string(),
                    log: p.log_path.clone(),
                    log_tail: log_tail(&p.log_path),
                });
            }
            if self.probe(&url).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let (binary, log) = self
                    .process
                    .as_ref()
                    .map(|p| (p.binary.clone(), p.log_path.clone()))
                    .unwrap_or_default();
                return Err(Error::StartTimeout {
                    binary,
                    port: self.port,
                    url,
                    timeout,
                    log_tail: log_tail(&log),
                    log,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A port that was free on 127.0.0.1 a moment ago (bind `127.0.0.1:0`, read, release).
/// Another process may take it before the caller binds it; [`Moto::start`] retries on that.
pub fn free_loopback_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| Error::FreePort { source })
}

/// A resource name no other test (in this or another process, now or on an earlier run against
/// the same long-lived server) will use: `<prefix>-<pid>-<counter>-<time>`, lowercase hex. Fits
/// DynamoDB tables, Route 53 zone labels (keep `prefix` to lowercase letters, digits and
/// hyphens, at most 40 characters), SNS topics, Step Functions state machines and executions.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    format!("{prefix}-{:x}-{n:x}-{nanos:x}", std::process::id())
}

/// The workspace root, as every tool finds it (one definition, in sluice-infra-check).
pub use sluice_infra_check::workspace::workspace_root;

/// The venv to take `bin/moto_server` from: the explicit option, else `$SLUICE_VENV`, else
/// `<workspace root>/.venv`.
pub fn resolve_venv(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(venv) = explicit {
        return Ok(venv.to_path_buf());
    }
    if let Some(venv) = std::env::var_os(VENV_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(venv));
    }
    Ok(workspace_root()?.join(".venv"))
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        // Loopback only: never route through a proxy from the environment.
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|source| Error::HttpClient { source })
}

fn spawn(binary: &Path, port: u16, log_path: &Path, env: &[(OsString, OsString)]) -> Result<Child> {
    let log_err = |source| Error::LogFile {
        path: log_path.to_path_buf(),
        source,
    };
    let stdout = File::create(log_path).map_err(log_err)?;
    let stderr = stdout.try_clone().map_err(log_err)?;
    let mut command = Command::new(binary);
    command
        .arg("-H")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .env("TZ", "UTC")
        .env("PYTHONUNBUFFERED", "1")
        .envs(env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    command.spawn().map_err(|source| Error::Spawn {
        binary: binary.to_path_buf(),
        port,
        source,
    })
}

fn stop_child(child: &mut Child) {
    // moto_server is a single Python process (werkzeug, threaded, no reloader): killing it is
    // enough. It stays in our process group, so test runners that kill the group (nextest on
    // timeout, Ctrl-C in a terminal) stop it too.
    if let Err(err) = child.kill() {
        tracing::debug!(%err, "moto already gone");
    }
    if let Err(err) = child.wait() {
        tracing::warn!(%err, "could not reap moto");
    }
}

fn log_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            lines[start..].join("\n")
        }
        Err(err) => format!("(log not readable: {err})"),
    }
}

fn parse_port(endpoint: &str) -> Result<u16> {
    let bad = |reason: &str| Error::BadEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(endpoint).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(bad("no host"));
    }
    url.port_or_known_default().ok_or_else(|| bad("no port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_are_dns_safe() {
        let a = unique_name("zone");
        let b = unique_name("zone");
        assert_ne!(a, b);
        assert!(a.starts_with("zone-"));
        assert!(a.len() <= 63, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{a}"
        );
    }

    #[test]
    fn parses_endpoint_ports() {
        assert_eq!(parse_port("http://127.0.0.1:5000").unwrap(), 5000);
        assert_eq!(parse_port("http://localhost").unwrap(), 80);
        assert!(matches!(
            parse_port("127.0.0.1:5000"),
            Err(Error::BadEndpoint { .. })
        ));
        assert!(parse_port("not a url").is_err());
    }

    #[tokio::test]
    async fn endpoint_variable_connects_instead_of_starting() {
        let owner = Moto::start(MotoOptions::new()).await.unwrap();
        // A venv that does not exist proves no process is started for a set variable ...
        let no_venv = || MotoOptions::new().venv("/nonexistent/sluice-venv");
        let shared = Moto::from_endpoint_or_start(Some(owner.endpoint_url().to_owned()), no_venv())
            .await
            .unwrap();
        assert!(shared.is_external());
        assert_eq!(shared.endpoint_url(), owner.endpoint_url());
        // ... and that an empty or missing variable means "start one".
        for unset in [None, Some(String::new()), Some(" ".to_owned())] {
            let err = Moto::from_endpoint_or_start(unset, no_venv())
                .await
                .unwrap_err();
            assert!(matches!(err, Error::MissingBinary { .. }), "{err:?}");
        }
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_loopback_port().unwrap(), 0);
    }
}
