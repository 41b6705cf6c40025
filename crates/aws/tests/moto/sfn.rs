use std::time::Duration;

use serde_json::json;
use sluice_aws::SfnOrchestrator;
use sluice_core::ports::{ExecutionStatus, Orchestrator, OrchestratorError};
use sluice_testkit::moto::unique_name;
use sluice_testkit::provision;

use crate::aws;

const ROLE: &str = "arn:aws:iam::123456789012:role/sluice-state-machine";

async fn orchestrator(definition: &str) -> (crate::Aws, SfnOrchestrator) {
    let aws = aws().await;
    let client = aws_sdk_sfn::Client::new(&aws.config);
    let arn = provision::create_state_machine(&client, &unique_name("sluice"), definition, ROLE)
        .await
        .unwrap();
    (aws, SfnOrchestrator::new(client, arn))
}

async fn settled(sfn: &SfnOrchestrator, arn: &str) -> ExecutionStatus {
    for _ in 0..100 {
        let status = sfn.execution_status(arn).await.unwrap();
        if !status.is_running() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("execution {arn} still running");
}

const PASS: &str = r#"{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}"#;
const WAIT: &str =
    r#"{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": true}}}"#;

#[tokio::test]
async fn starting_twice_with_one_name_returns_the_same_execution() {
    let (_aws, sfn) = orchestrator(PASS).await;
    let input = json!({"service": "checkout", "version": "v2.4.0", "steps": [1, 5.5, 100]});

    let first = sfn
        .start_execution("checkout-v2-4-0", &input)
        .await
        .unwrap();
    assert!(!first.already_existed);
    assert_eq!(
        Some(first.arn.clone()),
        sfn.execution_arn("checkout-v2-4-0")
    );
    assert_eq!(settled(&sfn, &first.arn).await, ExecutionStatus::Succeeded);

    let second = sfn
        .start_execution("checkout-v2-4-0", &input)
        .await
        .unwrap();
    assert_eq!(second.arn, first.arn);
    assert!(second.already_existed);

    let error = sfn
        .start_execution(
            "checkout-v2-4-0",
            &json!({"service": "checkout", "version": "v9"}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OrchestratorError::NameTakenWithOtherInput { name } if name == "checkout-v2-4-0"),
        "{error:?}"
    );

    // Stopping an execution that has ended succeeds and leaves its outcome alone.
    sfn.stop_execution(&first.arn, "Sluice.Aborted", "too late")
        .await
        .unwrap();
    assert_eq!(
        sfn.execution_status(&first.arn).await.unwrap(),
        ExecutionStatus::Succeeded
    );
}

#[tokio::test]
async fn a_running_execution_is_stopped_and_a_missing_one_is_not_found() {
    let (_aws, sfn) = orchestrator(WAIT).await;
    let started = sfn
        .start_execution("search-v1", &json!({"service": "search"}))
        .await
        .unwrap();
    assert_eq!(
        sfn.execution_status(&started.arn).await.unwrap(),
        ExecutionStatus::Running
    );
    let again = sfn
        .start_execution("search-v1", &json!({"service": "search"}))
        .await
        .unwrap();
    assert!(
        again.already_existed,
        "a running execution with the same input is returned"
    );

    sfn.stop_execution(&started.arn, "Sluice.EmergencyRollback", "alarm search-5xx")
        .await
        .unwrap();
    assert_eq!(
        sfn.execution_status(&started.arn).await.unwrap(),
        ExecutionStatus::Aborted
    );
    let outcome = sfn.execution_outcome(&started.arn).await.unwrap().unwrap();
    assert_eq!(outcome.status, ExecutionStatus::Aborted);

    let missing = sfn.execution_arn(&unique_name("never-started")).unwrap();
    assert_eq!(sfn.execution_outcome(&missing).await.unwrap(), None);
    let error = sfn.execution_status(&missing).await.unwrap_err();
    assert!(
        matches!(&error, OrchestratorError::ExecutionNotFound { arn } if *arn == missing),
        "{error:?}"
    );
}
