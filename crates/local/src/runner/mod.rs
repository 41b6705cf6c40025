//! The local runner: moto (which executes the state machine) with its `MOTO_PORT` on the
//! router, cargo lambda watch running the real function binaries behind the router, the
//! environment in moto, SNS subscriptions into functions, the alarm evaluator and the traffic
//! simulator. Dropping the runner stops everything it started.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_aws::{DynamoDbStore, Route53Router, SdkConfig, SfnOrchestrator};
use sluice_core::ports::{AlarmState, Orchestrator};
use sluice_testkit::moto::{Moto, MotoOptions};
use tracing::Dispatch;
use tracing::instrument::WithSubscriber;

use crate::alarms::{AlarmEvaluator, AlarmTransition};
use crate::cargo_lambda::{CargoLambda, FunctionProcesses};
use crate::environment::{LocalEnvironment, provision};
use crate::error::{LocalError, Result, aws_error};
use crate::router::{
    Hold, Invocation, InvocationOutcome, LambdaRouter, SnsDelivery, SubscriptionTarget,
};
use crate::traffic::TrafficSimulator;
use crate::workspace::Workspace;

mod execution_events;
mod inspect;
mod options;

pub use execution_events::{ExecutionEventDelivery, ExecutionEvents, RECONCILE_FUNCTION};

pub use options::{
    DEFAULT_FUNCTION_LOG_FILTER, DEFAULT_SYNC_POLL_SECONDS, EMERGENCY_ROLLBACK_FUNCTION,
    RunnerOptions, StartTimings, Subscription, Topic,
};

/// The running local system. See the crate docs.
pub struct LocalRunner {
    run_dir: PathBuf,
    environment: LocalEnvironment,
    sdk: SdkConfig,
    store: DynamoDbStore,
    route53: Route53Router,
    orchestrator: SfnOrchestrator,
    router: LambdaRouter,
    router_port: u16,
    traffic: TrafficSimulator,
    alarms: AlarmEvaluator,
    execution_events: ExecutionEvents,
    functions: Vec<String>,
    subscription_arns: Mutex<Vec<String>>,
    tasks: Vec<AbortOnDrop>,
    dispatch: Dispatch,
    timings: StartTimings,
    chaos: Option<std::sync::Arc<crate::chaos::Chaos>>,
    // Dropped last, in this order: the functions, their runtime API, then moto.
    function_processes: FunctionProcesses,
    cargo_lambda: CargoLambda,
    moto: Moto,
}

impl std::fmt::Debug for LocalRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRunner")
            .field("run_dir", &self.run_dir)
            .field("router_port", &self.router_port)
            .field("moto", &self.moto.endpoint_url())
            .field("cargo_lambda", &self.cargo_lambda.endpoint())
            .finish_non_exhaustive()
    }
}

/// One `cargo build` per process: every runner of a test binary shares it.
/// Hook functions of the runner's own (binaries of this package), served like the functions:
/// `arn:aws:lambda:us-east-1:123456789012:function:sample-hook`.
pub const LOCAL_HOOKS: &[&str] = &[SAMPLE_HOOK_FUNCTION];
/// The sample hook: passes when the canary slot serves the deployment's version.
pub const SAMPLE_HOOK_FUNCTION: &str = "sample-hook";

static BUILT: tokio::sync::OnceCell<Duration> = tokio::sync::OnceCell::const_new();

impl LocalRunner {
    /// Starts everything (see the crate docs for the order, which matters: the router's port
    /// is moto's `MOTO_PORT`, execution is enabled before the state machine exists, the router
    /// listens before any topic delivers to it).
    pub async fn start(options: RunnerOptions) -> Result<LocalRunner> {
        let workspace = Workspace::locate()?;
        let run_dir = match &options.run_dir {
            Some(dir) => dir.clone(),
            None => workspace.runs_dir().join(run_id(&options.name)),
        };
        std::fs::create_dir_all(&run_dir).map_err(|source| LocalError::File {
            what: "create the run directory",
            path: run_dir.clone(),
            source,
        })?;
        let dispatch = file_dispatch(&run_dir.join("runner.log"))?;
        Self::start_in(workspace, run_dir, options, dispatch.clone())
            .with_subscriber(dispatch)
            .await
    }

    async fn start_in(
        workspace: Workspace,
        run_dir: PathBuf,
        options: RunnerOptions,
        dispatch: Dispatch,
    ) -> Result<LocalRunner> {
        let started = Instant::now();
        let mut timings = StartTimings::default();
        let functions = workspace.functions()?;
        // What the router serves and the runner starts: the functions and the sample hook.
        let served: Vec<String> = functions
            .iter()
            .cloned()
            .chain(LOCAL_HOOKS.iter().map(|h| h.to_string()))
            .collect();
        tracing::info!(run_dir = %run_dir.display(), ?functions, "starting the local runner");

        if options.build {
            let log = run_dir.join("build.log");
            let built = BUILT
                .get_or_try_init(|| workspace.build_functions(&functions, &log))
                .await?;
            timings.build = started.elapsed();
            tracing::info!(took = ?built, "function binaries built");
        }

        // The router's port first: moto must know it (MOTO_PORT) when it starts.
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| LocalError::Bind { port: 0, source })?;
        let router_port = listener
            .local_addr()
            .map_err(|source| LocalError::Bind { port: 0, source })?
            .port();

        let step = Instant::now();
        let moto_patches = crate::moto_patch::install(&run_dir)?;
        let moto = Moto::start(
            MotoOptions::new()
                .venv(workspace.venv()?)
                .env("MOTO_PORT", router_port.to_string())
                // Python imports the fix from there at startup (see moto_patch).
                .env("PYTHONPATH", moto_patches.as_os_str())
                .log_dir(&run_dir)
                // Enabled right after start, before any state machine exists.
                .execute_state_machines(true),
        )
        .await?;
        timings.moto = step.elapsed();
        tracing::info!(moto = moto.endpoint_url(), router_port, "moto started");

        let names = &options.names;
        let mut env: BTreeMap<String, String> = moto
            .aws_env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        env.extend([
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
            ("SLUICE_TABLE".to_string(), names.table.clone()),
            (
                "SLUICE_NOTIFICATIONS_TOPIC_ARN".to_string(),
                names.notifications_topic_arn(),
            ),
            (
                "SLUICE_STATE_MACHINE_ARN".to_string(),
                names.state_machine_arn(),
            ),
            (
                "SLUICE_SYNC_POLL_SECONDS".to_string(),
                options.sync_poll_seconds.to_string(),
            ),
            ("SLUICE_SYNC_MAX_POLLS".to_string(), "60".to_string()),
            ("RUST_LOG".to_string(), options.function_log_filter.clone()),
            (
                "SLUICE_LOCAL_ROUTER_URL".to_string(),
                format!("http://127.0.0.1:{router_port}"),
            ),
        ]);
        if options.chaos.is_some() {
            // Each function's calls through the router, named, so they can be faulted.
            env.insert(
                "AWS_ENDPOINT_URL".to_string(),
                crate::chaos::function_endpoint(
                    &format!("http://127.0.0.1:{router_port}"),
                    crate::cargo_lambda::FUNCTION_NAME_PLACEHOLDER,
                ),
            );
        }
        env.extend(options.function_env.clone());

        let step = Instant::now();
        let lambda_port = sluice_testkit::moto::free_loopback_port()?;
        let cargo_lambda =
            CargoLambda::start(&workspace.venv()?, workspace.root(), &run_dir, lambda_port).await?;
        let function_processes = FunctionProcesses::start(
            &workspace.binaries_dir(),
            &served,
            &cargo_lambda,
            &env,
            &run_dir.join("functions"),
        )?;
        timings.cargo_lambda = step.elapsed();

        if let Some(chaos) = &options.chaos {
            chaos.set_killer(function_processes.killer());
        }
        let router = LambdaRouter::with_chaos(
            moto.endpoint_url(),
            cargo_lambda.endpoint(),
            served.clone(),
            options.chaos.clone(),
        )
        .map_err(|e| LocalError::Http {
            url: cargo_lambda.endpoint(),
            message: e.to_string(),
        })?;
        let app = router.app().layer(axum::middleware::from_fn_with_state(
            dispatch.clone(),
            log_to_run,
        ));
        let mut tasks = vec![AbortOnDrop::spawn(
            function_processes
                .supervise()
                .with_subscriber(dispatch.clone()),
        )];
        tasks.push(AbortOnDrop::spawn(
            async move {
                if let Err(error) = axum::serve(listener, app).await {
                    tracing::error!(%error, "the router stopped");
                }
            }
            .with_subscriber(dispatch.clone()),
        ));

        let step = Instant::now();
        let sdk = sluice_aws::config::load_for_endpoint(moto.endpoint_url()).await;
        let definition = workspace.rendered_definition(&functions)?;
        let environment = provision(&sdk, names, options.alarm, &definition).await?;
        timings.environment = step.elapsed();

        let traffic = TrafficSimulator::new(
            &sdk,
            environment.records.clone(),
            &names.namespace,
            &names.service,
            options.traffic,
        );
        let alarms = AlarmEvaluator::new(&sdk);
        let execution_events =
            ExecutionEvents::new(&sdk, &environment.state_machine_arn, router.clone());
        let mut runner = LocalRunner {
            store: DynamoDbStore::from_conf(&sdk, names.table.clone()),
            route53: Route53Router::from_conf(&sdk),
            orchestrator: SfnOrchestrator::from_conf(&sdk, environment.state_machine_arn.clone()),
            sdk,
            run_dir,
            environment,
            router,
            router_port,
            traffic,
            alarms,
            execution_events,
            functions: served,
            subscription_arns: Mutex::new(Vec::new()),
            tasks,
            dispatch,
            timings,
            chaos: options.chaos.clone(),
            function_processes,
            cargo_lambda,
            moto,
        };
        for subscription in &options.subscriptions {
            runner.subscribe(subscription).await?;
        }
        runner.tasks.push(AbortOnDrop::spawn(
            runner
                .traffic
                .run(options.tick)
                .with_subscriber(runner.dispatch.clone()),
        ));
        runner.tasks.push(AbortOnDrop::spawn(
            runner
                .alarms
                .run(options.tick)
                .with_subscriber(runner.dispatch.clone()),
        ));
        // EventBridge's rule on the state machine's failed ends, which moto does not run.
        if options.execution_events && runner.functions.iter().any(|f| f == RECONCILE_FUNCTION) {
            runner.tasks.push(AbortOnDrop::spawn(
                runner
                    .execution_events
                    .run(options.tick)
                    .with_subscriber(runner.dispatch.clone()),
            ));
        }
        runner.timings.total = started.elapsed();
        tracing::info!(timings = ?runner.timings, "local runner ready");
        Ok(runner)
    }

    /// Subscribes a topic to the router (an `http` endpoint, delivered synchronously by moto
    /// with no confirmation). A function that is not in the workspace is skipped.
    pub async fn subscribe(&self, subscription: &Subscription) -> Result<()> {
        if let SubscriptionTarget::Function(function) = &subscription.target
            && !self.functions.contains(function)
        {
            tracing::warn!(%function, topic = ?subscription.topic, "no such function in the workspace yet; not subscribed");
            return Ok(());
        }
        let topic_arn = self.topic_arn(&subscription.topic);
        let endpoint = format!(
            "http://127.0.0.1:{}{}",
            self.router_port,
            subscription.target.path()
        );
        let answer = self
            .sns()
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("http")
            .endpoint(&endpoint)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| aws_error("Subscribe", format!("{endpoint} to {topic_arn}"), &e))?;
        let arn = answer.subscription_arn().unwrap_or_default().to_string();
        self.router
            .register_subscription(&topic_arn, subscription.target.clone(), &arn);
        if let Ok(mut arns) = self.subscription_arns.lock() {
            arns.push(arn.clone());
        }
        tracing::info!(topic = %topic_arn, %endpoint, subscription = %arn, "subscribed");
        Ok(())
    }

    fn topic_arn(&self, topic: &Topic) -> String {
        match topic {
            Topic::Alarms => self.environment.alarm_topic_arn.clone(),
            Topic::Notifications => self.environment.notifications_topic_arn.clone(),
            Topic::Arn(arn) => arn.clone(),
        }
    }

    /// Stops everything, unsubscribing first (moto fails every Publish to a topic whose
    /// `http` subscriber no longer listens).
    pub async fn shutdown(self) {
        let arns: Vec<String> = self
            .subscription_arns
            .lock()
            .map(|arns| arns.clone())
            .unwrap_or_default();
        for arn in arns {
            if let Err(error) = self.sns().unsubscribe().subscription_arn(&arn).send().await {
                tracing::warn!(subscription = %arn, error = %aws_sdk_sns::error::DisplayErrorContext(&error), "could not unsubscribe");
            }
        }
        drop(self);
    }

    pub fn environment(&self) -> &LocalEnvironment {
        &self.environment
    }

    /// Where this run's logs are: runner.log, build.log, moto-<port>.log, cargo-lambda.log,
    /// functions/<function>.log.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn timings(&self) -> StartTimings {
        self.timings
    }

    /// The SDK configuration for moto, to build more clients.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn moto_endpoint(&self) -> &str {
        self.moto.endpoint_url()
    }

    /// The variables that point an AWS client (the SDK, the AWS CLI, `sluice`) at moto:
    /// endpoint, test credentials, region.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        self.moto.aws_env()
    }

    pub fn router_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.router_port)
    }

    pub fn cargo_lambda_log(&self) -> &Path {
        self.cargo_lambda.log_path()
    }

    /// The log of one function binary (`<run dir>/functions/<function>.log`).
    pub fn function_log(&self, function: &str) -> Option<PathBuf> {
        self.function_processes.log_path(function)
    }

    /// The fault injector the runner was started with, if any.
    pub fn chaos(&self) -> Option<&std::sync::Arc<crate::chaos::Chaos>> {
        self.chaos.as_ref()
    }

    /// Says that `slot` now serves `version` (what the sample hook checks).
    pub fn set_slot_version(&self, slot: &str, version: &str) {
        self.router.slot_versions().set(slot, version);
    }

    /// Deploys `version`, behaving as `behaviour`, to `slot`: what a release pipeline does to
    /// the idle slot before sluice shifts traffic to it. The traffic simulator and the sample
    /// hook see it.
    pub fn deploy(
        &self,
        slot: crate::traffic::Slot,
        version: &str,
        behaviour: crate::traffic::VersionProfile,
    ) {
        self.traffic().set_slot(slot, behaviour);
        self.set_slot_version(slot.name(), version);
    }

    /// How often each function process had to be restarted after it exited.
    pub fn function_restarts(&self) -> BTreeMap<String, u32> {
        self.function_processes.restarts()
    }

    /// The function binaries the router serves.
    pub fn functions(&self) -> &[String] {
        &self.functions
    }

    pub fn store(&self) -> &DynamoDbStore {
        &self.store
    }

    pub fn route53(&self) -> &Route53Router {
        &self.route53
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk)
    }

    fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    /// The traffic simulator, to change how blue and green behave.
    pub fn traffic(&self) -> &TrafficSimulator {
        &self.traffic
    }

    /// The alarm evaluator, to force an alarm or read its transitions.
    pub fn alarms(&self) -> &AlarmEvaluator {
        &self.alarms
    }

    /// Pins the environment's alarm (or another) to ALARM now, notifying its topic.
    pub async fn force_alarm(&self, alarm: &str, reason: &str) -> Result<()> {
        self.alarms
            .force(alarm, AlarmState::Alarm, reason)
            .with_subscriber(self.dispatch.clone())
            .await
    }

    pub fn alarm_transitions(&self) -> Vec<AlarmTransition> {
        self.alarms.transitions()
    }

    /// The next `count` invocations of `function` fail with `error_type` without running it.
    pub fn fail_next(&self, function: &str, count: usize, error_type: &str) -> Result<()> {
        self.known_function(function)?;
        self.router
            .fail_next(function, count, error_type, "fault injected by the test");
        Ok(())
    }

    /// Holds the next invocation of `function` before it runs, until the [`Hold`] is released
    /// or dropped (see [`LambdaRouter::hold_next`]): an alarm can then land while the state
    /// machine is inside that task.
    pub fn hold_next(&self, function: &str) -> Result<Hold> {
        self.known_function(function)?;
        Ok(self.router.hold_next(function))
    }

    fn known_function(&self, function: &str) -> Result<()> {
        if self.functions.iter().any(|f| f == function) {
            Ok(())
        } else {
            Err(LocalError::UnknownFunction {
                name: function.to_string(),
                known: self.functions.join(", "),
            })
        }
    }

    /// Every invocation of `function` so far.
    pub fn invocations(&self, function: &str) -> Vec<Invocation> {
        self.router.invocations(function)
    }

    pub fn all_invocations(&self) -> Vec<Invocation> {
        self.router.all_invocations()
    }

    /// The execution ends (FAILED, TIMED_OUT, ABORTED) delivered to `reconcile` so far.
    pub fn execution_event_deliveries(&self) -> Vec<ExecutionEventDelivery> {
        self.execution_events.deliveries()
    }

    /// The SNS notifications delivered to the router so far.
    pub fn sns_deliveries(&self) -> Vec<SnsDelivery> {
        self.router.sns_deliveries()
    }

    /// Invokes a function directly (as an event source would) and returns how it ended.
    pub async fn invoke(&self, function: &str, payload: &Value) -> InvocationOutcome {
        self.router
            .invoke(function, payload)
            .with_subscriber(self.dispatch.clone())
            .await
    }

    /// Starts an execution of the deployment state machine named `execution_name` (the
    /// deployment's id) with `request`; returns its ARN. The same name and input again is the
    /// same execution.
    pub async fn start_deployment(&self, execution_name: &str, request: &Value) -> Result<String> {
        let execution = self
            .orchestrator
            .start_execution(execution_name, request)
            .await?;
        tracing::info!(execution = %execution.arn, "deployment started");
        Ok(execution.arn)
    }
}

impl Drop for LocalRunner {
    fn drop(&mut self) {
        self.tasks.clear();
        let _log = tracing::dispatcher::set_default(&self.dispatch);
        tracing::info!(run_dir = %self.run_dir.display(), "local runner stopping");
        self.function_processes.stop();
        // The fields go next: cargo lambda watch (SIGTERM), then moto.
    }
}

/// A fresh run directory for a run called `name`:
/// `target/sluice-local/<name>-<UTC time>-<pid>` (not created yet).
pub fn new_run_dir(name: &str) -> Result<PathBuf> {
    Ok(Workspace::locate()?.runs_dir().join(run_id(name)))
}

/// A background task that is aborted when this is dropped (with the runner, or with a start
/// that failed half way).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    fn spawn(future: impl std::future::Future<Output = ()> + Send + 'static) -> AbortOnDrop {
        AbortOnDrop(tokio::spawn(future))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `<name>-<UTC time>-<pid>`: sortable, unique per process and millisecond.
fn run_id(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f"),
        std::process::id()
    )
}

/// A tracing dispatcher writing plain-text logs to `path` (the run's runner.log), so a run's
/// logs stay in its directory and never reach the terminal. `RUST_LOG` filters (default info).
fn file_dispatch(path: &Path) -> Result<Dispatch> {
    let file = std::fs::File::create(path).map_err(|source| LocalError::File {
        what: "create the runner log",
        path: path.to_path_buf(),
        source,
    })?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .finish();
    Ok(Dispatch::new(subscriber))
}

/// Runs each request handler with the run's log dispatcher (hyper serves connections on tasks
/// of their own, which would otherwise log nowhere).
async fn log_to_run(
    axum::extract::State(dispatch): axum::extract::State<Dispatch>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    next.run(request).with_subscriber(dispatch).await
}
