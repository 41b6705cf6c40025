//! `sluice-local up`: the local environment kept up for a person at a shell. The demo's service
//! is registered (its CONFIG item, the request the release-tag scenario stores), so that
//! `sluice start --service checkout-api --version v2.0.0` works at once, and the lines that
//! point the CLI at this environment are printed.

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use crate::demo::{DEMO_REPOSITORY, DEMO_VERSION, release_tag};
use crate::environment::LocalEnvironment;
use crate::error::Result;
use crate::runner::{
    DEFAULT_FUNCTION_LOG_FILTER, DEFAULT_SYNC_POLL_SECONDS, LocalRunner, RunnerOptions,
};

/// The CLI's package, as `cargo run -p` names it.
pub const CLI_PACKAGE: &str = "sluice-cli";

/// The settings of the functions a user may want to try locally.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// The webhook secret of release-trigger (its SLUICE_WEBHOOK_SECRET), to try signed
    /// GitHub or ECR webhooks; unset, webhooks are refused.
    #[arg(long, value_name = "SECRET")]
    pub webhook_secret: Option<String>,

    /// Seconds between two Route 53 sync checks of wait-for-sync (SLUICE_SYNC_POLL_SECONDS).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_SYNC_POLL_SECONDS)]
    pub sync_poll_seconds: u32,

    /// The functions' log filter (their RUST_LOG), e.g. debug or sluice_handler=debug. Their
    /// logs are in <run dir>/functions/.
    #[arg(long, value_name = "FILTER", default_value = DEFAULT_FUNCTION_LOG_FILTER)]
    pub function_log: String,

    /// Any other variable for every function, e.g. SLUICE_SYNC_MAX_POLLS=30. Repeatable.
    #[arg(long = "function-env", value_name = "NAME=VALUE", value_parser = name_value)]
    pub function_env: Vec<(String, String)>,
}

fn name_value(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

impl UpArgs {
    /// The runner's options for `up` with these settings.
    pub fn runner_options(&self) -> RunnerOptions {
        let mut options = RunnerOptions::new("up");
        options.sync_poll_seconds = self.sync_poll_seconds;
        options.function_log_filter = self.function_log.clone();
        if let Some(secret) = &self.webhook_secret {
            options = options.function_env("SLUICE_WEBHOOK_SECRET", secret);
        }
        for (name, value) in &self.function_env {
            options = options.function_env(name, value);
        }
        options
    }
}

/// The demo service's CONFIG item: the request the release-tag scenario stores, without a
/// version (each start names one), with its `release` section.
pub fn demo_service_config(environment: &LocalEnvironment) -> Value {
    release_tag()
        .request
        .service_config(environment, &[DEMO_REPOSITORY])
}

/// The shell lines that start and follow a deployment of the registered service from another
/// shell: the `export` of what the CLI reads, then `sluice start` and `sluice watch`.
pub fn cli_commands(aws_env: &[(&str, String)], environment: &LocalEnvironment) -> Vec<String> {
    let mut exports: Vec<String> = aws_env
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    exports.extend([
        format!("SLUICE_TABLE={}", environment.names.table),
        format!("SLUICE_STATE_MACHINE_ARN={}", environment.state_machine_arn),
        format!(
            "SLUICE_NOTIFICATIONS_TOPIC_ARN={}",
            environment.notifications_topic_arn
        ),
    ]);
    let service = environment.service();
    vec![
        format!("export {}", exports.join(" ")),
        format!("cargo run -p {CLI_PACKAGE} -- start --service {service} --version {DEMO_VERSION}"),
        format!("cargo run -p {CLI_PACKAGE} -- watch --service {service}"),
    ]
}

/// Starts the environment, registers the demo service, prints where everything is and the
/// commands to try, and keeps it all up until Ctrl-C.
pub async fn up(args: &UpArgs, out: &mut impl Write) -> ExitCode {
    let started = tokio::select! {
        started = LocalRunner::start(args.runner_options()) => started,
        // Dropping a half-done start stops what it had started.
        _ = tokio::signal::ctrl_c() => return ExitCode::from(130),
    };
    let runner = match started {
        Ok(runner) => runner,
        Err(error) => {
            eprintln!("sluice-local: {error}");
            return ExitCode::from(2);
        }
    };
    let config = demo_service_config(runner.environment());
    if let Err(error) = runner.put_service_config(&config).await {
        eprintln!("sluice-local: could not register the demo service: {error}");
        runner.shutdown().await;
        return ExitCode::from(2);
    }
    if let Err(error) = print_environment(&runner, out) {
        eprintln!("sluice-local: {error}");
    }
    let _ = tokio::signal::ctrl_c().await;
    runner.shutdown().await;
    ExitCode::from(130)
}

fn print_environment(runner: &LocalRunner, out: &mut impl Write) -> Result<(), std::io::Error> {
    let env = runner.environment();
    writeln!(out, "moto (AWS_ENDPOINT_URL)  {}", runner.moto_endpoint())?;
    writeln!(out, "router (Lambda, SNS)     {}", runner.router_endpoint())?;
    writeln!(out, "state machine            {}", env.state_machine_arn)?;
    writeln!(out, "table                    {}", env.names.table)?;
    writeln!(
        out,
        "hosted zone              {} ({})",
        env.hosted_zone_id, env.names.record_name
    )?;
    writeln!(
        out,
        "topics                   {} · {}",
        env.notifications_topic_arn, env.alarm_topic_arn
    )?;
    writeln!(out, "alarm                    {}", env.names.alarm)?;
    writeln!(
        out,
        "logs                     {}",
        runner.run_dir().display()
    )?;
    writeln!(
        out,
        "service                  {} (its CONFIG item: the demo's request without a version)",
        env.service()
    )?;
    writeln!(
        out,
        "sample hook              {} (for hooks.preTraffic / postTraffic: passes when the canary \
         slot serves the version; say which it serves with curl -X PUT -d '{{\"version\": \"v2.0.0\"}}' \
         -H 'content-type: application/json' {}{})",
        crate::function_names::function_arn(crate::runner::SAMPLE_HOOK_FUNCTION),
        runner.router_endpoint(),
        crate::router::slot_version_path("green")
    )?;
    writeln!(
        out,
        "\nStart a deployment and follow it, from another shell in this checkout:\n"
    )?;
    for command in cli_commands(&runner.aws_env(), env) {
        writeln!(out, "  {command}")?;
    }
    writeln!(out, "\nCtrl-C stops everything.")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sluice_core::ports::ServiceConfigs;
    use sluice_core::workflow::check_request;
    use sluice_testkit::memory::{MemoryRouter, MemoryStore};

    use super::*;
    use crate::environment::EnvironmentNames;

    fn environment() -> LocalEnvironment {
        LocalEnvironment::example(EnvironmentNames::default())
    }

    /// `sluice start --service checkout-api --version v2.0.0` sends `{service, version}` to
    /// the same check Validate runs (`check_request`), laid over the stored CONFIG.
    #[tokio::test]
    async fn the_registered_service_starts_with_only_its_service_and_version() {
        let env = environment();
        let store = MemoryStore::new();
        let router = MemoryRouter::new();
        router.add_zone(&env.hosted_zone_id, &env.names.domain);
        let request = json!({"service": env.service(), "version": DEMO_VERSION});

        let unregistered = check_request(&store, &router, &request).await;
        assert!(
            unregistered.is_err(),
            "without the CONFIG item it is invalid"
        );

        store
            .put_service_config(env.service(), &demo_service_config(&env))
            .await
            .unwrap();
        let spec = check_request(&store, &router, &request).await.unwrap();
        assert_eq!(spec.service, "checkout-api");
        assert_eq!(spec.version, DEMO_VERSION);
        assert_eq!(spec.hosted_zone_id, env.hosted_zone_id);
        assert_eq!(spec.plan().steps.len(), 4);
    }

    #[test]
    fn the_printed_commands_point_the_cli_at_the_environment() {
        let env = environment();
        let aws_env = vec![
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5123".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ];
        let commands = cli_commands(&aws_env, &env);
        assert_eq!(
            commands,
            vec![
                "export AWS_ENDPOINT_URL=http://127.0.0.1:5123 AWS_REGION=us-east-1 \
                 SLUICE_TABLE=sluice \
                 SLUICE_STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:sluice-deployment \
                 SLUICE_NOTIFICATIONS_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:sluice-notifications"
                    .to_string(),
                "cargo run -p sluice-cli -- start --service checkout-api --version v2.0.0"
                    .to_string(),
                "cargo run -p sluice-cli -- watch --service checkout-api".to_string(),
            ]
        );
    }

    #[test]
    fn function_settings_become_the_functions_environment() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            up: UpArgs,
        }
        let cli = Cli::parse_from([
            "up",
            "--webhook-secret",
            "s3cret",
            "--sync-poll-seconds",
            "2",
            "--function-log",
            "debug",
            "--function-env",
            "SLUICE_SYNC_MAX_POLLS=30",
        ]);
        let options = cli.up.runner_options();
        assert_eq!(options.sync_poll_seconds, 2);
        assert_eq!(options.function_log_filter, "debug");
        assert_eq!(
            options
                .function_env
                .get("SLUICE_WEBHOOK_SECRET")
                .map(String::as_str),
            Some("s3cret")
        );
        assert_eq!(
            options
                .function_env
                .get("SLUICE_SYNC_MAX_POLLS")
                .map(String::as_str),
            Some("30")
        );
        let defaults = Cli::parse_from(["up"]).up.runner_options();
        assert_eq!(defaults.sync_poll_seconds, DEFAULT_SYNC_POLL_SECONDS);
        assert!(defaults.function_env.is_empty());
        assert!(Cli::try_parse_from(["up", "--function-env", "NOEQUALS"]).is_err());
    }
}
