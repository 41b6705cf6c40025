//! `sluice`, the operator CLI: starts deployments (validated locally first), follows them live,
//! lists what runs and what ran, lets operators pause, resume, promote, abort, approve and
//! reject, and draws each deployment as an HTML report.
//!
//! Every command talks to AWS with the real SDK through the core's ports, so the same binary
//! works against the local runner's moto (`AWS_ENDPOINT_URL`) and a real account.

pub mod args;
pub mod backend;
pub mod commands;
pub mod error;
pub mod print;
pub mod render;
pub mod report;
pub mod request;
pub mod rows;
pub mod watch;

use std::io::Write;

use clap::CommandFactory;
use sluice_core::ports::Orchestrator;

use args::{Cli, Command, GlobalArgs};
use backend::{AwsPorts, Ports, Settings};
use error::{CliError, exit};

/// Runs one command line; returns the process's exit code.
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> Result<u8, CliError> {
    if let Command::Completions(args) = &cli.command {
        let mut command = Cli::command();
        // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
        let mut script = Vec::new();
        clap_complete::generate(args.shell, &mut command, "sluice", &mut script);
        out.write_all(&script)?;
        return Ok(exit::OK);
    }
    let table = required_table(&cli.global, command_name(&cli.command))?;
    let settings = Settings {
        table,
        state_machine_arn: cli.global.state_machine_arn.clone(),
        notifications_topic_arn: cli.global.notifications_topic_arn.clone(),
        history_ttl: None,
    };
    let sdk = sluice_aws::config::load().await;
    let ports = AwsPorts::new(&sdk, &settings);
    dispatch(&ports, &cli, out).await
}

/// Runs a command on `ports`; what `run` does once the ports are built (tests call it with
/// their own).
pub async fn dispatch(
    ports: &impl Ports,
    cli: &Cli,
    out: &mut (dyn Write + Send),
) -> Result<u8, CliError> {
    let global = &cli.global;
    match &cli.command {
        Command::Start(args) => {
            if ports.orchestrator().state_machine_arn().is_none() {
                return Err(CliError::MissingSetting {
                    command: "start",
                    setting: "the deployment state machine",
                    flag: "--state-machine-arn",
                    env: "SLUICE_STATE_MACHINE_ARN",
                });
            }
            let spec_file = match &args.spec {
                Some(path) => Some(read_spec(path)?),
                None => None,
            };
            let assignments = args
                .set
                .iter()
                .map(|s| request::Assignment::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let request = commands::StartRequest {
                service: args.service.clone(),
                version: args.version.clone(),
                spec_file,
                assignments,
                queue: args
                    .queue
                    .then(|| who(global).unwrap_or_else(|_| "unknown".into())),
            };
            commands::start(ports, &request, args.output.output, out).await
        }
        Command::Watch(args) => {
            let target = match (&args.id, &args.service) {
                (Some(id), _) => watch::Target::Id(id.clone()),
                (None, Some(service)) => watch::Target::Service(service.clone()),
                (None, None) => {
                    return Err(CliError::BadArgument {
                        what: "watch".into(),
                        message: "name a deployment id or --service".into(),
                    });
                }
            };
            if !(args.interval.is_finite() && args.interval >= 0.1) {
                return Err(CliError::BadArgument {
                    what: "--interval".into(),
                    message: format!("{} must be at least 0.1 seconds", args.interval),
                });
            }
            let options = watch::WatchOptions {
                interval: std::time::Duration::from_secs_f64(args.interval),
                timeout: args.timeout.map(std::time::Duration::from_secs),
                output: args.output.output,
            };
            let bar = watch::progress_bar(options.output);
            watch::watch(ports, target, &options, out, &bar).await
        }
        Command::Status(args) => {
            commands::status(ports, args.service.as_deref(), args.output.output, out).await
        }
        Command::History(args) => {
            commands::history(ports, &args.service, args.limit, args.output.output, out).await
        }
        Command::Show(args) => commands::show(ports, &args.id, args.output.output, out).await,
        Command::Promote(args) => {
            let who = who(global)?;
            commands::promote(ports, &args.id, &who, args.force, args.output.output, out).await
        }
        Command::Pause(args) => {
            commands::pause(ports, &args.id, &who(global)?, args.output.output, out).await
        }
        Command::Resume(args) => {
            commands::resume(ports, &args.id, &who(global)?, args.output.output, out).await
        }
        Command::Abort(args) => {
            let who = who(global)?;
            commands::abort(
                ports,
                &args.id,
                &who,
                args.reason.as_deref(),
                args.output.output,
                out,
            )
            .await
        }
        Command::Unlock(args) => {
            let who = who(global)?;
            commands::unlock(
                ports,
                &args.service,
                &who,
                &args.reason,
                args.force,
                args.output.output,
                out,
            )
            .await
        }
        Command::Approve(args) => {
            let who = who(global)?;
            commands::approve_deployment(
                ports,
                &args.id,
                &who,
                args.comment.clone(),
                args.output.output,
                out,
            )
            .await
        }
        Command::Reject(args) => {
            let who = who(global)?;
            commands::reject(
                ports,
                &args.id,
                &who,
                args.reason.as_deref(),
                args.output.output,
                out,
            )
            .await
        }
        Command::Report(args) => {
            let (deployment, timeline) = commands::timeline(ports, &args.id).await?;
            let now = sluice_core::ports::Clock::now(ports.clock());
            let html = report::render(&deployment, &timeline, now);
            std::fs::write(&args.out, html).map_err(|source| CliError::Write {
                path: args.out.clone(),
                source,
            })?;
            writeln!(
                out,
                "report of deployment {} ({}) written to {}",
                deployment.id,
                deployment.status,
                args.out.display()
            )?;
            Ok(exit::OK)
        }
        Command::Completions(_) => Ok(exit::OK),
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Start(_) => "start",
        Command::Watch(_) => "watch",
        Command::Status(_) => "status",
        Command::History(_) => "history",
        Command::Show(_) => "show",
        Command::Promote(_) => "promote",
        Command::Pause(_) => "pause",
        Command::Resume(_) => "resume",
        Command::Abort(_) => "abort",
        Command::Unlock(_) => "unlock",
        Command::Approve(_) => "approve",
        Command::Reject(_) => "reject",
        Command::Report(_) => "report",
        Command::Completions(_) => "completions",
    }
}

fn required_table(global: &GlobalArgs, command: &'static str) -> Result<String, CliError> {
    global
        .table
        .clone()
        .filter(|t| !t.trim().is_empty())
        .ok_or(CliError::MissingSetting {
            command,
            setting: "the DynamoDB table",
            flag: "--table",
            env: "SLUICE_TABLE",
        })
}

/// Who acts: --who / SLUICE_WHO, else the login name.
pub fn who(global: &GlobalArgs) -> Result<String, CliError> {
    global
        .who
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .ok_or(CliError::UnknownOperator)
}

fn read_spec(path: &std::path::Path) -> Result<serde_json::Value, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::SpecFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| CliError::SpecFile {
        path: path.to_path_buf(),
        message: format!("is not JSON: {e}"),
    })
}
