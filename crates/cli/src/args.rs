//! The command line: every command, its options and its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  done (watch: the deployment was promoted)
  1  watch: the deployment was rolled back
  2  invalid input (arguments, a deployment request that fails validation); watch: the deployment failed
  3  the operation failed (AWS unreachable, deployment not found, a conflicting deployment)

AWS settings come from the usual environment: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL (point
it at the local runner's moto to work without AWS), and the credential chain.";

/// sluice: progressive delivery on AWS. Moves traffic from blue to green through Route 53
/// weighted records, judged by CloudWatch metrics, driven by a Step Functions state machine.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The DynamoDB table holding deployments, locks and service defaults.
    #[arg(long, env = "SLUICE_TABLE", global = true)]
    pub table: Option<String>,

    /// The deployment state machine (needed by `start`; `watch` uses it to explain an
    /// execution that failed before it wrote a record).
    #[arg(long, env = "SLUICE_STATE_MACHINE_ARN", global = true)]
    pub state_machine_arn: Option<String>,

    /// SNS topic that operator actions (abort, approve, ...) are announced on, like every
    /// other state change; unset, they are only recorded.
    #[arg(long, env = "SLUICE_NOTIFICATIONS_TOPIC_ARN", global = true)]
    pub notifications_topic_arn: Option<String>,

    /// Who does it, recorded with every operator action [default: $USER].
    #[arg(long, env = "SLUICE_WHO", global = true)]
    pub who: Option<String>,

    /// Log what sluice does to stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people: tables and sentences.
    #[default]
    Text,
    /// For scripts: JSON on stdout (watch: one JSON object per line).
    Json,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// How to print the result.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a deployment request locally, then start its execution.
    #[command(after_help = "\
The request is the spec file (if any) with --service, --version and every --set applied, laid
over the service's stored defaults (its CONFIG item). It is validated with the same rules as the
state machine's Validate step; every problem is printed with its field, and nothing is started.

Examples:
  sluice start --service checkout-api --version v2.4.0
  sluice start --service checkout-api --version v2.4.1 --spec deploy.json \\
      --set strategy.bakeSeconds=60 --set 'strategy.steps=[5,50,100]' --set approval=before-promote")]
    Start(StartArgs),

    /// Follow a deployment live until it ends (exit 0 promoted, 1 rolled back, 2 failed).
    Watch(WatchArgs),

    /// The deployments in progress: service, version, step, green share, since, status.
    Status(StatusArgs),

    /// A service's past deployments with their outcome and duration.
    History(HistoryArgs),

    /// One deployment in detail: its record, steps, analyses and decisions.
    Show(ShowArgs),

    /// Promote: skip the remaining steps once the current analysis passes, or at once with
    /// --force (100% green without waiting for the analysis; recorded).
    Promote(PromoteArgs),

    /// Hold the deployment at its next step boundary (after the current step's analysis)
    /// until `sluice resume`.
    Pause(IdArgs),

    /// Let a paused deployment carry on (or withdraw a pause not yet reached).
    Resume(IdArgs),

    /// Stop the deployment now: 100% blue, execution stopped, recorded with who and why.
    /// The same fenced takeover as an alarm's emergency rollback.
    Abort(ReasonArgs),

    /// Free a service's lock that an execution no longer running left held: its deployment is
    /// taken over, returned to 100% stable, recorded with who and why, and the lock released
    /// (what the reconciler does by itself). Refused while that execution runs, unless --force.
    #[command(after_help = "\
Examples:
  sluice unlock checkout-api --reason \"execution killed by a Lambda timeout\"
  sluice unlock checkout-api --reason \"pipeline cancelled\" --force")]
    Unlock(UnlockArgs),

    /// Let a deployment waiting at an approval gate (approval "before-promote", or an
    /// inconclusive analysis with onInconclusive "pause") carry on.
    Approve(ApproveArgs),

    /// Turn a deployment down at its approval gate: rolled back to 100% blue like an abort.
    Reject(ReasonArgs),

    /// Write a self-contained HTML page of a deployment: traffic share over time, every
    /// metric against its threshold, each decision and the outcome.
    Report(ReportArgs),

    /// Print a shell completion script (e.g. `sluice completions bash > /etc/bash_completion.d/sluice`).
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(long)]
    pub service: String,

    #[arg(long)]
    pub version: String,

    /// A deployment request (JSON) to start from.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,

    /// Set a field of the request: a dotted path (array elements by index) and a value,
    /// read as JSON when it parses as JSON and as a string otherwise. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,

    /// While the service deploys, queue the release instead of refusing: it starts when that
    /// deployment ends (the latest queued version wins). Needs the service's CONFIG item.
    #[arg(long)]
    pub queue: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["id", "service"]))]
pub struct WatchArgs {
    /// The deployment id (the execution name `sluice start` printed).
    pub id: Option<String>,

    /// Watch the service's deployment in progress (or its latest one).
    #[arg(long)]
    pub service: Option<String>,

    /// Seconds between two looks at the deployment.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub interval: f64,

    /// Give up after this many seconds (exit 3); by default watch until the end.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this service (one query instead of a table scan for the services' locks).
    #[arg(long)]
    pub service: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(long)]
    pub service: String,

    /// How many deployments, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub id: String,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The deployment id.
    pub id: String,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The deployment id.
    pub id: String,

    /// Promote now: 100% green, skipping the analysis in progress and every remaining step.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// The deployment id.
    pub id: String,

    /// Why, recorded with the rollback and sent with the notification.
    #[arg(long)]
    pub reason: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The service whose lock to free.
    pub service: String,

    /// Why, recorded with the rollback (or the released lock) and sent with the notification.
    #[arg(long)]
    pub reason: String,

    /// Also while the execution holding the lock runs: it is stopped and taken over.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The deployment id.
    pub id: String,

    /// A note recorded with the approval.
    #[arg(long)]
    pub comment: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The deployment id.
    pub id: String,

    /// Where to write the HTML page.
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_help() {
        for sub in Cli::command().get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
        }
    }

    #[test]
    fn watch_needs_an_id_or_a_service() {
        assert!(Cli::try_parse_from(["sluice", "watch"]).is_err());
        assert!(Cli::try_parse_from(["sluice", "watch", "dep-1"]).is_ok());
        assert!(Cli::try_parse_from(["sluice", "watch", "--service", "checkout"]).is_ok());
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let cli = Cli::try_parse_from([
            "sluice", "abort", "dep-1", "--table", "t", "--who", "ana", "--reason", "why", "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.global.table.as_deref(), Some("t"));
        assert_eq!(cli.global.who.as_deref(), Some("ana"));
        let Command::Abort(args) = cli.command else {
            panic!("not abort")
        };
        assert_eq!(args.reason.as_deref(), Some("why"));
        assert_eq!(args.output.output, Output::Json);
        let cli = Cli::try_parse_from(["sluice", "--table", "t", "status"]).unwrap();
        assert_eq!(cli.global.table.as_deref(), Some("t"));
    }

    #[test]
    fn start_collects_every_set() {
        let cli = Cli::try_parse_from([
            "sluice",
            "start",
            "--service",
            "s",
            "--version",
            "v1",
            "--set",
            "a=1",
            "--set",
            "b.c=x",
        ])
        .unwrap();
        let Command::Start(args) = cli.command else {
            panic!("not start")
        };
        assert_eq!(args.set, vec!["a=1", "b.c=x"]);
    }

    #[test]
    fn unlock_needs_a_reason_and_forces_only_when_asked() {
        assert!(Cli::try_parse_from(["sluice", "unlock", "checkout"]).is_err());
        let cli =
            Cli::try_parse_from(["sluice", "unlock", "checkout", "--reason", "stuck"]).unwrap();
        let Command::Unlock(args) = cli.command else {
            panic!("not unlock")
        };
        assert_eq!(
            (args.service.as_str(), args.reason.as_str(), args.force),
            ("checkout", "stuck", false)
        );
        let cli = Cli::try_parse_from(["sluice", "unlock", "checkout", "--reason", "x", "--force"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Command::Unlock(UnlockArgs { force: true, .. })
        ));
    }
}
