//! The `sluice` binary: parses the command line, sets up logging to stderr, runs the command
//! and exits with its code (see `sluice --help`).

// The AWS SDK futures nest deeply; the default limit is too low for their layout.
#![recursion_limit = "256"]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use sluice_cli::args::Cli;
use sluice_cli::error::CliError;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr, quiet by default: stdout is the command's output (tables, JSON).
    // By default only the CLI's and the domain's warnings: the SDK's (a retried request, a
    // profile file it did not find) are nothing a user can act on, and a failed AWS call, which
    // the adapters log as it happens, reaches the user once, as the command's error.
    let level = match cli.global.verbose {
        0 => "error,sluice_cli=warn,sluice_core=warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        .init();

    let mut stdout = std::io::stdout();
    match sluice_cli::run(cli, &mut stdout).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            report(&error);
            ExitCode::from(error.exit_code())
        }
    }
}

/// Escape codes only for a person at a terminal: not into a file or a pipe (`2>log`,
/// `2>&1 | less`), and never with `NO_COLOR` set (https://no-color.org).
fn colour_on_stderr() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

fn report(error: &CliError) {
    match error {
        // Every problem on its own line, each naming its field.
        CliError::Invalid(errors) => {
            eprintln!(
                "error: the deployment request has {} problem(s):",
                errors.0.len()
            );
            for problem in &errors.0 {
                eprintln!("  {}: {}", problem.field, problem.message);
            }
        }
        other => eprintln!("error: {other}"),
    }
}
