//! Tests of the testkit's moto module. They start private moto processes (they test the
//! process management), so they need `scripts/setup` to have run; they fail, never skip,
//! when moto is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_testkit::moto::{Error, Moto, MotoOptions, free_loopback_port, unique_name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn port_is_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

async fn get_status(url: &str) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A venv whose `bin/moto_server` is the given shell script, to exercise failure paths fast.
fn fake_venv(script: &str) -> PathBuf {
    let venv = scratch_dir("fake-venv");
    let bin = venv.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("moto_server");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    venv
}

#[tokio::test]
async fn starts_answers_and_is_killed_on_drop() {
    let logs = scratch_dir("moto-logs");
    let moto = Moto::start(MotoOptions::new().log_dir(&logs))
        .await
        .unwrap();
    let port = moto.port();
    assert!(!moto.is_external());
    assert_eq!(moto.endpoint_url(), format!("http://127.0.0.1:{port}"));
    let status = get_status(&format!("{}/moto-api/", moto.endpoint_url())).await;
    assert_eq!(status, 200);
    let log = moto.log_path().unwrap().to_path_buf();
    assert!(log.starts_with(&logs), "{}", log.display());
    moto.reset().await.unwrap();

    drop(moto);
    assert!(!port_is_open(port), "port {port} still open after drop");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/moto-api/config"), "log: {text}");
    std::fs::remove_dir_all(&logs).unwrap();
}

#[tokio::test]
async fn default_log_is_removed_on_drop() {
    let moto = Moto::start(MotoOptions::new()).await.unwrap();
    let log = moto.log_path().unwrap().to_path_buf();
    assert!(log.is_file());
    drop(moto);
    assert!(!log.exists(), "{}", log.display());
}

/// Under scripts/test this uses the run's shared moto (SLUICE_MOTO_ENDPOINT), otherwise a
/// private one: either way a working moto with unique names and no reset.
#[tokio::test]
async fn from_env_gives_a_working_moto() {
    let moto = Moto::from_env().await.unwrap();
    assert_eq!(
        moto.is_external(),
        std::env::var("SLUICE_MOTO_ENDPOINT").is_ok_and(|v| !v.trim().is_empty())
    );
    let name = unique_name("sm");
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let created = sfn(
        &moto,
        "CreateStateMachine",
        json!({"name": name, "definition": definition.to_string(),
               "roleArn": "arn:aws:iam::123456789012:role/sfn"}),
    )
    .await;
    assert!(
        created["stateMachineArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":stateMachine:{name}"))
    );
    let env: Vec<_> = moto.aws_env().into_iter().map(|(k, _)| k).collect();
    assert!(env.contains(&"AWS_ENDPOINT_URL"));
}

#[tokio::test]
async fn missing_venv_says_to_run_scripts_setup() {
    let venv = std::env::temp_dir().join(unique_name("no-such-venv"));
    let err = Moto::start(MotoOptions::new().venv(&venv))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingBinary { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("scripts/setup"), "{text}");
    assert!(
        text.contains(&venv.join("bin/moto_server").display().to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn process_that_exits_early_is_reported_with_its_log() {
    let venv = fake_venv("echo 'ModuleNotFoundError: no module named moto' >&2; exit 3");
    let err = Moto::start(MotoOptions::new().venv(&venv).log_dir(scratch_dir("logs")))
        .await
        .unwrap_err();
    let Error::Exited { log_tail, log, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(log_tail.contains("ModuleNotFoundError"), "{log_tail}");
    assert!(log.is_file());
    assert!(err.to_string().contains("exit status: 3"), "{err}");
    std::fs::remove_dir_all(venv).unwrap();
    std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn process_that_never_answers_times_out_and_is_killed() {
    let pid_file = scratch_dir("pid").join("pid");
    let venv = fake_venv(&format!("echo $$ > {}; exec sleep 60", pid_file.display()));
    let err = Moto::start(
        MotoOptions::new()
            .venv(&venv)
            .startup_timeout(Duration::from_millis(400)),
    )
    .await
    .unwrap_err();
    let Error::StartTimeout { log, .. } = &err else {
        panic!("{err:?}");
    };
    std::fs::remove_file(log).unwrap();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = Path::new("/proc").join(pid.trim());
    assert!(!proc_dir.exists(), "fake moto {pid} still running");
    std::fs::remove_dir_all(venv).unwrap();
    std::fs::remove_dir_all(pid_file.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn taken_explicit_port_is_an_error_naming_the_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let err = Moto::start(MotoOptions::new().port(port))
        .await
        .unwrap_err();
    let Error::Exited { log, log_tail, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(log_tail.contains("in use"), "{log_tail}");
    assert!(err.to_string().contains(&format!("port {port}")), "{err}");
    assert!(log.is_file(), "log named in the error was removed");
    std::fs::remove_file(log).unwrap();
}

#[tokio::test]
async fn connecting_to_a_running_moto_does_not_own_it() {
    let owner = Moto::start(MotoOptions::new()).await.unwrap();
    let guest = Moto::connect(owner.endpoint_url()).await.unwrap();
    assert!(guest.is_external());
    assert_eq!(guest.port(), owner.port());
    assert!(guest.log_path().is_none());
    drop(guest);
    assert!(port_is_open(owner.port()));
}

#[tokio::test]
async fn connecting_to_nothing_fails_clearly() {
    let port = free_loopback_port().unwrap();
    let err = Moto::connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("SLUICE_MOTO_ENDPOINT"), "{err}");
}

/// The local runner's setup: moto on one port with `MOTO_PORT` pointing at a router on another.
/// moto executes the state machine and invokes the Lambda task on the router.
#[tokio::test]
async fn executes_state_machines_and_calls_lambda_on_moto_port() {
    let router = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router_port = router.local_addr().unwrap().port();
    let requests = tokio::spawn(async move {
        let (mut socket, _) = router.accept().await.unwrap();
        let (head, body) = read_http_request(&mut socket).await;
        let reply = r#"{"validated":true}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        (head, body)
    });

    let moto = Moto::start(MotoOptions::new().env("MOTO_PORT", router_port.to_string()))
        .await
        .unwrap();
    let definition = json!({"StartAt": "Validate", "States": {"Validate": {
        "Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:validate",
        "End": true}}});
    let machine = sfn(
        &moto,
        "CreateStateMachine",
        json!({"name": unique_name("sm"), "definition": definition.to_string(),
               "roleArn": "arn:aws:iam::123456789012:role/sfn"}),
    )
    .await;
    let execution = sfn(
        &moto,
        "StartExecution",
        json!({"stateMachineArn": machine["stateMachineArn"], "name": unique_name("ex"),
               "input": r#"{"service":"checkout"}"#}),
    )
    .await;

    let (head, body) = tokio::time::timeout(Duration::from_secs(20), requests)
        .await
        .unwrap()
        .unwrap();
    assert!(
        head.starts_with("POST /2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Avalidate/invocations "),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"service": "checkout"})
    );

    let mut described = Value::Null;
    for _ in 0..100 {
        described = sfn(
            &moto,
            "DescribeExecution",
            json!({"executionArn": execution["executionArn"]}),
        )
        .await;
        if described["status"] != "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    let output: Value = serde_json::from_str(described["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!({"validated": true}));
}

async fn sfn(moto: &Moto, action: &str, body: Value) -> Value {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(moto.endpoint_url())
        .header("X-Amz-Target", format!("AWSStepFunctions.{action}"))
        .header("Content-Type", "application/x-amz-json-1.0")
        // moto picks the service from the credential scope.
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/states/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{action}: HTTP {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn read_http_request(socket: &mut tokio::net::TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before headers");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[header_end..header_end + length]).into_owned();
    (head, body)
}
