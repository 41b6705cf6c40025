//! The router's test hooks as a caller sees them.

use std::time::Duration;

use serde_json::json;

use super::*;

fn router_with_faults(function: &str, faults: usize) -> LambdaRouter {
    // Nothing listens on port 9 (discard): only injected faults can answer, so these
    // tests need no cargo lambda watch.
    let router = LambdaRouter::new(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        [function.to_string()],
    )
    .unwrap();
    router.fail_next(function, faults, "Sluice.Retryable", "try again");
    router
}

#[tokio::test]
async fn a_held_invocation_waits_until_released_and_only_the_next_one_is_held() {
    let router = router_with_faults("analyze", 2);
    let mut hold = router.hold_next("analyze");
    let invoking = tokio::spawn({
        let router = router.clone();
        async move { router.invoke("analyze", &json!({"step": 1})).await }
    });
    assert_eq!(
        hold.arrived(Duration::from_secs(5)).await.unwrap(),
        json!({"step": 1})
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!invoking.is_finished(), "it waits for the release");
    assert!(router.invocations("analyze").is_empty(), "nothing ran yet");

    hold.release();
    let outcome = tokio::time::timeout(Duration::from_secs(5), invoking)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.error_type(), Some("Sluice.Retryable"));
    assert_eq!(router.invocations("analyze").len(), 1);

    // The hold took one invocation: the next one runs at once.
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        router.invoke("analyze", &json!({"step": 2})),
    )
    .await
    .unwrap();
    assert_eq!(outcome.error_type(), Some("Sluice.Retryable"));
}

#[tokio::test]
async fn a_dropped_hold_lets_its_invocation_pass_and_holds_are_per_function() {
    let router = router_with_faults("shift-traffic", 1);
    let mut other = router.hold_next("analyze");
    drop(router.hold_next("shift-traffic"));
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        router.invoke("shift-traffic", &json!({})),
    )
    .await
    .expect("a dropped hold does not block");
    assert_eq!(outcome.error_type(), Some("Sluice.Retryable"));
    assert_eq!(
        other.arrived(Duration::from_millis(100)).await,
        Err(HoldError::NotArrived {
            function: "analyze".into(),
            waited: Duration::from_millis(100)
        })
    );
}

#[tokio::test]
async fn the_slot_version_endpoint_answers_what_the_runner_set() {
    let router = LambdaRouter::new("http://127.0.0.1:9", "http://127.0.0.1:9", []).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router.app();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |slot: &str| {
        let url = format!("{base}{}", slot_version_path(slot));
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = get("green").await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "no version deployed to slot green");
    router.slot_versions().set("green", "v2.0.0");
    assert_eq!(
        get("green").await,
        (200, json!({"slot": "green", "version": "v2.0.0"}))
    );
    assert_eq!(get("blue").await.0, 404, "each slot has its own version");
    let put = http
        .put(format!("{base}{}", slot_version_path("blue")))
        .json(&json!({"version": "v1.9.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    assert_eq!(
        get("blue").await,
        (200, json!({"slot": "blue", "version": "v1.9.0"}))
    );
    server.abort();
}
