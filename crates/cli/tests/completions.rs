//! `sluice completions <shell>` prints a script that completes the commands.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;

#[tokio::test]
async fn completion_scripts_name_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let cli = sluice_cli::args::Cli::try_parse_from(["sluice", "completions", shell]).unwrap();
        let mut out = Vec::new();
        let code = sluice_cli::run(cli, &mut out).await.unwrap();
        assert_eq!(code, 0);
        let script = String::from_utf8(out).unwrap();
        for command in ["start", "watch", "abort", "report"] {
            assert!(script.contains(command), "{shell}: {command}");
        }
    }
}
