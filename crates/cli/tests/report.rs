//! The report of a promoted and a rolled-back deployment, each run through the core workflow
//! on the in-memory ports: its SVG shows every step, every decision and the outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Behaviour, HEALTHY, memory_backend, memory_deployment, sluice};
use sluice_core::Status;

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Keeps the page where a person (and the docs' screenshot) can look at it.
fn keep(name: &str, html: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), html).unwrap();
}

async fn report_of(behaviour: &[Behaviour], file: &str) -> (Status, String) {
    let (ports, deployment) = memory_deployment(behaviour).await;
    let backend = memory_backend(&ports);
    let out = std::env::temp_dir().join(format!("sluice-{}-{file}", std::process::id()));
    let (code, printed) = sluice(
        &backend,
        &[
            "--table",
            "memory",
            "report",
            deployment.id.as_str(),
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{printed}");
    assert!(printed.contains("written to"), "{printed}");
    let html = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    keep(file, &html);
    (deployment.status, html)
}

#[tokio::test]
async fn a_promoted_deployment_shows_all_its_steps_each_advance_and_the_promotion() {
    let (status, html) = report_of(&[], "promoted.html").await;
    assert_eq!(status, Status::Promoted);
    assert!(html.starts_with("<!doctype html>"));
    // Self-contained: no scripts, nothing fetched.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http"));
    assert!(!html.contains("href=\"http"));
    for step in 1..=4 {
        assert!(
            html.contains(&format!(r#"<g class="step" data-step="{step}">"#)),
            "step {step}"
        );
    }
    for label in [
        "step 1 · 5%",
        "step 2 · 25%",
        "step 3 · 50%",
        "step 4 · 100%",
    ] {
        assert!(html.contains(label), "{label}");
    }
    assert_eq!(count(&html, r#"data-kind="advance""#), 3);
    assert_eq!(count(&html, r#"data-kind="promote""#), 1);
    assert_eq!(count(&html, r#"data-kind="promoted""#), 1);
    assert_eq!(count(&html, r#"data-kind="roll-back""#), 0);
    assert!(html.contains(r#"class="outcome outcome-promoted""#));
    assert!(html.contains(r#"<span class="badge promoted">Promoted</span>"#));
    // Both metrics, each with its threshold, and four passing analyses of each.
    assert!(html.contains("<h2>error-rate <span class=\"unit\">percent</span></h2>"));
    assert!(html.contains("<h2>latency <span class=\"unit\">ms</span></h2>"));
    assert_eq!(count(&html, r#"data-threshold="max""#), 2);
    assert_eq!(count(&html, r#"data-verdict="pass""#), 8);
    assert_eq!(count(&html, r#"data-verdict="fail""#), 0);
}

#[tokio::test]
async fn a_rolled_back_deployment_shows_the_failed_analysis_and_the_return_to_stable() {
    let bad = Behaviour {
        error_percent: 4.0,
        latency_ms: 520.0,
    };
    let (status, html) = report_of(&[HEALTHY, bad], "rolled-back.html").await;
    assert_eq!(status, Status::RolledBack);
    assert!(html.contains(r#"<g class="step" data-step="1">"#));
    assert!(html.contains(r#"<g class="step" data-step="2">"#));
    assert!(!html.contains(r#"data-step="3""#));
    assert_eq!(count(&html, r#"data-kind="advance""#), 1);
    assert_eq!(count(&html, r#"data-kind="roll-back""#), 1);
    assert_eq!(count(&html, r#"data-kind="rollback-started""#), 1);
    assert_eq!(count(&html, r#"data-kind="rolled-back""#), 1);
    assert_eq!(count(&html, r#"data-kind="promoted""#), 0);
    assert!(html.contains(r#"class="outcome outcome-rolled-back""#));
    assert!(html.contains(r#"<span class="badge rolled-back">Rolled back</span>"#));
    // Step 2's analysis failed on both metrics; the reason is on the page.
    assert_eq!(count(&html, r#"data-verdict="fail""#), 2);
    assert!(
        html.contains("analysis of step 2 failed"),
        "the rollback's reason"
    );
}
