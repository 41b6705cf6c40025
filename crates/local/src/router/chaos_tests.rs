//! The proxy under chaos, against a stand-in for moto that records what reaches it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;

use super::*;
use crate::chaos::{FaultPlan, KillPlan};

/// A stand-in for moto: answers every request `{}` and records its path.
async fn recording_moto() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback({
        let seen = seen.clone();
        move |request: Request| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(request.uri().to_string());
                "{}"
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (endpoint, seen)
}

async fn serve(router: &LambdaRouter) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let app = router.app();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    endpoint
}

/// A DynamoDB call of `function` as its SDK sends it through the router.
async fn dynamodb_call(router: &str, function: &str, operation: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{router}/sluice-local/from/{function}/"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
        .body("{}")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_functions_call_reaches_moto_without_its_prefix_or_is_answered_as_throttled() {
    let (moto, seen) = recording_moto().await;
    let chaos = Chaos::new();
    let router =
        LambdaRouter::with_chaos(moto, "http://127.0.0.1:9", [], Some(chaos.clone())).unwrap();
    let endpoint = serve(&router).await;

    let answer = dynamodb_call(&endpoint, "validate", "GetItem").await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(*seen.lock().unwrap(), ["/"]);

    chaos.set_plan(Some(FaultPlan {
        throttle_rate: 1.0,
        ..FaultPlan::quiet(1)
    }));
    let answer = dynamodb_call(&endpoint, "validate", "GetItem").await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.unwrap();
    let error_type = body["__type"].as_str().unwrap();
    assert!(
        error_type.ends_with("#ThrottlingException")
            || error_type.ends_with("#ProvisionedThroughputExceededException"),
        "{body}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the throttled call never reached moto"
    );
    assert_eq!(chaos.counts().values().sum::<u64>(), 1);
}

#[tokio::test]
async fn a_kill_lets_the_write_land_then_kills_the_function() {
    let (moto, seen) = recording_moto().await;
    let chaos = Chaos::new();
    let killed = Arc::new(AtomicUsize::new(0));
    chaos.set_killer({
        let killed = killed.clone();
        move |function| {
            assert_eq!(function, "finalize");
            killed.fetch_add(1, Ordering::SeqCst);
        }
    });
    let router =
        LambdaRouter::with_chaos(moto, "http://127.0.0.1:9", [], Some(chaos.clone())).unwrap();
    let endpoint = serve(&router).await;
    chaos.arm_kill(KillPlan {
        function: "finalize".into(),
        after_writes: 2,
        only_for: None,
    });

    for operation in ["GetItem", "PutItem"] {
        let answer = dynamodb_call(&endpoint, "finalize", operation).await;
        assert_eq!(answer.status(), StatusCode::OK, "{operation}");
    }
    assert_eq!(killed.load(Ordering::SeqCst), 0, "one write so far");
    let answer = dynamodb_call(&endpoint, "finalize", "UpdateItem").await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(killed.load(Ordering::SeqCst), 1);
    assert_eq!(seen.lock().unwrap().len(), 3, "the second write landed");
}
