//! `sluice-local`: the local runner's command line.
//!
//! ```text
//! sluice-local demo --scenario healthy|bad-canary|alarm|release-tag   one scenario end to end
//! sluice-local demo --list                          the scenarios
//! sluice-local up [--webhook-secret S] [--sync-poll-seconds N] [--function-log F]
//!                  [--function-env NAME=VALUE]...    the environment with the demo service
//!                                                   registered, until Ctrl-C
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_local::demo;
use sluice_local::up::{UpArgs, up};

#[derive(Debug, Parser)]
#[command(
    name = "sluice-local",
    about = "sluice on moto: the real state machine and function binaries, simulated traffic"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one deployment scenario end to end and prints its progress; exits 0 when the
    /// outcome is the scenario's expected one.
    Demo {
        /// Which scenario (see --list).
        #[arg(long, default_value = "healthy")]
        scenario: String,
        /// Lists the scenarios and exits.
        #[arg(long)]
        list: bool,
    },
    /// Starts the local environment with the demo's service (checkout-api) registered, prints
    /// its endpoints and the commands that start and follow a deployment with the `sluice`
    /// CLI, and keeps it up until Ctrl-C.
    Up(UpArgs),
}

/// Exit codes: 0 as expected, 1 unexpected outcome, 2 the runner failed, 130 interrupted.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { list: true, .. } => {
            for scenario in demo::scenarios() {
                println!("{:<12} {}", scenario.name, scenario.about);
            }
            ExitCode::SUCCESS
        }
        Command::Demo { scenario, .. } => {
            let Some(scenario) = demo::scenario(&scenario) else {
                let known: Vec<&str> = demo::scenarios().iter().map(|s| s.name).collect();
                eprintln!("unknown scenario {scenario:?}; known: {}", known.join(", "));
                return ExitCode::from(2);
            };
            let mut stdout = std::io::stdout();
            tokio::select! {
                result = demo::run(&scenario, &mut stdout) => match result {
                    Ok(report) if report.matched() => ExitCode::SUCCESS,
                    Ok(_) => ExitCode::from(1),
                    Err(error) => {
                        eprintln!("sluice-local: {error}");
                        ExitCode::from(2)
                    }
                },
                // Dropping the demo drops its runner, which stops everything it started.
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: stopping moto, cargo lambda watch and the router");
                    ExitCode::from(130)
                }
            }
        }
        Command::Up(args) => up(&args, &mut std::io::stdout()).await,
    }
}
