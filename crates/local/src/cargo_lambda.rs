//! The Lambda side of the runner: `cargo lambda watch` as the Lambda Invoke and runtime API,
//! and the real function binaries running against it.
//!
//! `cargo lambda watch --only-lambda-apis` serves `POST /2015-03-31/functions/<binary>/
//! invocations` and, per function, the runtime API at `/.rt/<binary>` (verified with
//! cargo-lambda 1.9.2). The runner starts each prebuilt binary (`target/debug/<binary>`) once,
//! pointed at its runtime API, so every invocation runs the binary that was built before the
//! run, warm, with no cargo involved. (Without `--only-lambda-apis`, cargo lambda watch starts
//! a function on its first invocation with `cargo run --bin <binary>`, which waits for the
//! target directory's lock while any other cargo command runs and rebuilds when a source file
//! changed since the build: invocations that take minutes, or hang.) A function error comes
//! back as HTTP 500 with `{"errorType", "errorMessage"}`, which the router turns into Lambda's
//! answer.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{LocalError, Result, log_tail};
use crate::sync::locked;

/// In a function's environment, replaced by the function's name (a per-function value, such
/// as the chaos suite's `AWS_ENDPOINT_URL`).
pub const FUNCTION_NAME_PLACEHOLDER: &str = "{function}";

/// How long `cargo lambda watch` may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How often the supervisor looks for function processes that exited.
const SUPERVISE_EVERY: Duration = Duration::from_millis(250);
/// The least time between two starts of one function.
const RESTART_BACKOFF: Duration = Duration::from_secs(2);

fn open_log(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LocalError::File {
            what: "open the log",
            path: path.to_path_buf(),
            source,
        })
}

/// A running `cargo lambda watch --only-lambda-apis`, stopped on drop.
#[derive(Debug)]
pub struct CargoLambda {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl CargoLambda {
    /// Starts `<venv>/bin/cargo-lambda lambda watch` in `workspace_root`, listening on
    /// 127.0.0.1:`port`, its output in `<run_dir>/cargo-lambda.log`; waits until it listens.
    ///
    /// Flags: `--only-lambda-apis` (the APIs only: the runner runs the binaries),
    /// `--ignore-changes` (no file watching), `--invoke-address/--invoke-port` (loopback, a
    /// free port). It starts in about 0.1 s.
    pub async fn start(
        venv: &Path,
        workspace_root: &Path,
        run_dir: &Path,
        port: u16,
    ) -> Result<CargoLambda> {
        let binary = venv.join("bin").join("cargo-lambda");
        if !binary.is_file() {
            return Err(LocalError::MissingCargoLambda { binary });
        }
        let log = run_dir.join("cargo-lambda.log");
        let args = [
            "lambda".to_string(),
            "watch".to_string(),
            "--only-lambda-apis".to_string(),
            "--ignore-changes".to_string(),
            "--invoke-address".to_string(),
            Ipv4Addr::LOCALHOST.to_string(),
            "--invoke-port".to_string(),
            port.to_string(),
        ];
        let command_line = format!("{} {}", binary.display(), args.join(" "));
        let child = Command::new(&binary)
            .args(&args)
            .current_dir(workspace_root)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(open_log(&log)?)
            .stderr(open_log(&log)?)
            .spawn()
            .map_err(|source| LocalError::Spawn {
                what: "cargo lambda watch",
                command: command_line.clone(),
                source,
            })?;
        tracing::info!(command = %command_line, pid = child.id(), "cargo lambda watch started");
        let mut lambda = CargoLambda { child, port, log };
        lambda.wait_listening().await?;
        Ok(lambda)
    }

    /// The base URL of its invoke API.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The runtime API a function binary polls (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self, function: &str) -> String {
        format!("http://127.0.0.1:{}/.rt/{function}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    async fn wait_listening(&mut self) -> Result<()> {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LocalError::CargoLambdaExited {
                    status: status.to_string(),
                    log: self.log.clone(),
                    tail: log_tail(&self.log, 30),
                });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                tracing::info!(port = self.port, waited = ?started.elapsed(), "cargo lambda watch listening");
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(LocalError::CargoLambdaNotReady {
                    port: self.port,
                    waited: started.elapsed(),
                    log: self.log.clone(),
                    tail: log_tail(&self.log, 30),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for CargoLambda {
    /// SIGTERM (it shuts down cleanly), SIGKILL after a grace period.
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id())
            && let Err(error) = kill(Pid::from_raw(pid), Signal::SIGTERM)
        {
            tracing::debug!(%error, "cargo lambda watch could not be signalled");
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                tracing::info!("cargo lambda watch stopped");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!("cargo lambda watch ignored SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One function binary and how to (re)start it.
#[derive(Debug)]
struct FunctionProcess {
    name: String,
    command: Command,
    log: PathBuf,
    child: Child,
    started_at: Instant,
    restarts: u32,
}

/// The function binaries, one process each (as cargo lambda watch runs them: one instance
/// per function), restarted when one exits, killed on drop.
#[derive(Debug, Clone)]
pub struct FunctionProcesses {
    inner: Arc<Processes>,
}

#[derive(Debug)]
struct Processes {
    running: Mutex<Vec<FunctionProcess>>,
    /// Set by [`FunctionProcesses::stop`]: the supervisor restarts nothing any more.
    stopped: AtomicBool,
}

impl FunctionProcesses {
    /// Starts `<binaries>/<function>` for each function with the Lambda environment
    /// (`AWS_LAMBDA_RUNTIME_API` = its runtime API on `lambda`, `AWS_LAMBDA_FUNCTION_NAME`, …)
    /// and `env`, and nothing else from the runner's environment (a Lambda sandbox starts
    /// clean). Output goes to `<log_dir>/<function>.log`.
    pub fn start(
        binaries: &Path,
        functions: &[String],
        lambda: &CargoLambda,
        env: &BTreeMap<String, String>,
        log_dir: &Path,
    ) -> Result<FunctionProcesses> {
        std::fs::create_dir_all(log_dir).map_err(|source| LocalError::File {
            what: "create the functions' log directory",
            path: log_dir.to_path_buf(),
            source,
        })?;
        let mut processes = Vec::new();
        for name in functions {
            let binary = binaries.join(name);
            if !binary.is_file() {
                return Err(LocalError::MissingFunctionBinary {
                    function: name.clone(),
                    binary,
                });
            }
            let mut command = Command::new(&binary);
            command
                .env_clear()
                .envs(std::env::var_os("PATH").map(|path| (std::ffi::OsString::from("PATH"), path)))
                .envs(
                    env.iter()
                        .map(|(key, value)| (key, value.replace(FUNCTION_NAME_PLACEHOLDER, name))),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
                .env("AWS_LAMBDA_RUNTIME_API", lambda.runtime_api(name))
                .stdin(Stdio::null());
            let log = log_dir.join(format!("{name}.log"));
            let child = spawn(&mut command, name, &log)?;
            tracing::info!(function = %name, pid = child.id(), log = %log.display(), "function started");
            processes.push(FunctionProcess {
                name: name.clone(),
                command,
                log,
                child,
                started_at: Instant::now(),
                restarts: 0,
            });
        }
        Ok(FunctionProcesses {
            inner: Arc::new(Processes {
                running: Mutex::new(processes),
                stopped: AtomicBool::new(false),
            }),
        })
    }

    /// Restarts every function process that exited, forever (spawn it; abort to stop). A
    /// crashed Lambda sandbox is replaced on the next invocation; here, at once.
    pub fn supervise(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        // Weak: the processes are stopped when the last FunctionProcesses goes, not kept alive
        // by their own supervisor.
        let inner = Arc::downgrade(&self.inner);
        async move {
            let mut ticks = tokio::time::interval(SUPERVISE_EVERY);
            loop {
                ticks.tick().await;
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let mut running = locked(&inner.running);
                if inner.stopped.load(Ordering::SeqCst) {
                    return;
                }
                for process in running.iter_mut() {
                    // One that dies at start (a bad environment) is retried, not spun on.
                    if process.started_at.elapsed() < RESTART_BACKOFF {
                        continue;
                    }
                    let Ok(Some(status)) = process.child.try_wait() else {
                        continue;
                    };
                    tracing::warn!(function = %process.name, %status, log = %process.log.display(), "function exited; restarting it");
                    match spawn(&mut process.command, &process.name, &process.log) {
                        Ok(child) => {
                            process.child = child;
                            process.started_at = Instant::now();
                            process.restarts += 1;
                        }
                        Err(error) => {
                            tracing::error!(function = %process.name, %error, "function could not be restarted");
                        }
                    }
                }
            }
        }
    }

    /// How often each function had to be restarted.
    pub fn restarts(&self) -> BTreeMap<String, u32> {
        locked(&self.inner.running)
            .iter()
            .map(|p| (p.name.clone(), p.restarts))
            .collect()
    }

    /// The log file of `function`.
    pub fn log_path(&self, function: &str) -> Option<PathBuf> {
        locked(&self.inner.running)
            .iter()
            .find(|p| p.name == function)
            .map(|p| p.log.clone())
    }

    /// Kills `function`'s process at once (SIGKILL), as Lambda ends a sandbox that timed out;
    /// the supervisor starts a new one.
    pub fn kill(&self, function: &str) {
        for process in locked(&self.inner.running).iter_mut() {
            if process.name == function {
                let _ = process.child.kill();
            }
        }
    }

    /// A function that kills a function's process while these processes run, and does
    /// nothing after (it does not keep them alive).
    pub fn killer(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let inner = Arc::downgrade(&self.inner);
        move |function| {
            if let Some(inner) = inner.upgrade() {
                FunctionProcesses { inner }.kill(function);
            }
        }
    }

    /// Kills every function process for good (also done on drop of the last clone).
    pub fn stop(&self) {
        let mut running = locked(&self.inner.running);
        self.inner.stopped.store(true, Ordering::SeqCst);
        for process in running.iter_mut() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

fn spawn(command: &mut Command, name: &str, log: &Path) -> Result<Child> {
    command
        .stdout(open_log(log)?)
        .stderr(open_log(log)?)
        .spawn()
        .map_err(|source| LocalError::Spawn {
            what: "a function binary",
            command: format!("{name} ({})", command.get_program().to_string_lossy()),
            source,
        })
}

impl Drop for FunctionProcesses {
    fn drop(&mut self) {
        if Arc::strong_count(&self.inner) == 1 {
            self.stop();
        }
    }
}
