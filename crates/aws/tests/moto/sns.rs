use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use sluice_aws::SnsNotifier;
use sluice_core::ports::{Notification, Notifier};
use sluice_core::{DeploymentId, Status};
use sluice_testkit::moto::unique_name;
use sluice_testkit::provision;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::aws;

/// An HTTP endpoint on loopback that answers 200 and hands over each request body.
async fn http_subscriber() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sns", listener.local_addr().unwrap());
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Bounded: a test publishes a handful of messages.
        for _ in 0..20 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body).await;
            let mut stream = reader.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            let _ = sender.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, receiver)
}

fn notification(service: &str, status: Status) -> Notification {
    Notification {
        deployment_id: DeploymentId::parse(format!("{service}-dep")).unwrap(),
        service: service.into(),
        version: "v2.4.0".into(),
        status,
        step: Some(2),
        canary_share: 25.0,
        message: "step 2 live at 25%".into(),
        at: Utc::now(),
    }
}

#[tokio::test]
async fn notifications_are_published_as_json_and_filterable_by_attributes() {
    let aws = aws().await;
    let client = aws_sdk_sns::Client::new(&aws.config);
    let topic = provision::create_topic(&client, &unique_name("sluice-notify"))
        .await
        .unwrap();
    let (endpoint, mut received) = http_subscriber().await;
    let subscription = client
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&endpoint)
        .attributes(
            "FilterPolicy",
            r#"{"service": ["checkout"], "status": ["rolled-back"]}"#,
        )
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap();
    assert!(subscription.subscription_arn().is_some());
    let notifier = SnsNotifier::new(client.clone(), &topic);

    let wanted = notification("checkout", Status::RolledBack);
    notifier
        .notify(&notification("search", Status::RolledBack))
        .await
        .unwrap();
    notifier
        .notify(&notification("checkout", Status::Baking))
        .await
        .unwrap();
    notifier.notify(&wanted).await.unwrap();

    let body = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a delivery")
        .unwrap();
    let envelope: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(envelope["Subject"], "sluice: checkout v2.4.0 rolled-back");
    let message: Notification =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message, wanted);
    // moto delivers synchronously within Publish: the filtered-out ones never came.
    assert!(
        received.try_recv().is_err(),
        "only the matching notification is delivered"
    );
}

#[tokio::test]
async fn publishing_to_a_missing_topic_names_the_topic() {
    let aws = aws().await;
    let topic = format!("arn:aws:sns:us-east-1:123456789012:{}", unique_name("gone"));
    let notifier = SnsNotifier::from_conf(&aws.config, &topic);
    let error = notifier
        .notify(&notification("checkout", Status::Promoted))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&topic), "{text}");
    assert!(text.contains("checkout-dep"), "{text}");
}
