//! The built `sluice` binary in a pipe (`sluice … | jq`, `sluice … 2>log`): `-o json` is
//! JSON on stdout, and stderr carries no terminal escape codes, even at `-vv`, where the SDK
//! logs every request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;
use sluice_handler::Configured as _;
use sluice_testkit::MotoWorld;
use sluice_testkit::moto::unique_name;

/// Runs the binary against the world's moto with stdout and stderr to pipes.
fn sluice_binary(world: &MotoWorld, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args(["--table", &world.ports.config().table])
        .args(args)
        .env("AWS_ENDPOINT_URL", world.moto.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("the sluice binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn table_commands_print_json_and_stderr_has_no_escape_codes() {
    let world = MotoWorld::start().await;
    let name = unique_name("dep");
    moto_started(&world, &name, None, &[]).await;

    let commands: [&[&str]; 3] = [
        &["status", "-o", "json"],
        &["history", "--service", &world.service, "-o", "json"],
        &["show", &name, "-o", "json"],
    ];
    for args in commands {
        let output = sluice_binary(&world, args, &[]);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(output.status.success(), "{args:?}: {stdout}\n{stderr}");
        let parsed: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?} prints no JSON ({e}): {stdout}"));
        assert!(stdout.contains(&name), "{args:?}: {parsed}");
        assert!(!stdout.contains('\x1b'), "{args:?}: {stdout:?}");
        assert!(!stderr.contains('\x1b'), "{args:?}: {stderr:?}");
    }

    // At -vv the SDK logs every request to stderr: plain text into a pipe.
    let output = sluice_binary(&world, &["-vv", "status", "-o", "json"], &[]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("DEBUG"), "no debug lines at -vv: {stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    serde_json::from_slice::<Value>(&output.stdout).unwrap();

    // The text table for people, with NO_COLOR set: no escape codes either.
    let output = sluice_binary(&world, &["-v", "status"], &[("NO_COLOR", "1")]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(stdout.starts_with("SERVICE"), "{stdout}");
    assert!(
        !stdout.contains('\x1b') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
}

#[tokio::test]
async fn at_the_default_level_an_unreachable_endpoint_is_one_error_line() {
    let world = MotoWorld::start().await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    let output = command
        .args(["--table", &world.ports.config().table, "status"])
        // Nothing listens on port 9 (discard) here: the connection is refused at once.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    // The SDK's own warnings and retries stay quiet; the user gets sluice's error.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}
