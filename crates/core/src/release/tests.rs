use super::*;
use serde_json::json;

fn codecommit(id: &str, event: &str, kind: &str, name: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "CodeCommit Repository State Change", "source": "aws.codecommit",
        "account": "123456789012", "region": "us-east-1",
        "resources": ["arn:aws:codecommit:us-east-1:123456789012:checkout-api"],
        "detail": {"event": event, "repositoryName": "checkout-api", "referenceType": kind,
                   "referenceName": name, "referenceFullName": format!("refs/tags/{name}"), "commitId": "0123abcd"}
    })
}

fn ecr(id: &str, tag: Option<&str>) -> Value {
    let mut event = json!({
        "version": "0", "id": id, "detail-type": "ECR Image Action", "source": "aws.ecr",
        "detail": {"result": "SUCCESS", "repository-name": "checkout-api", "image-digest": "sha256:ab", "action-type": "PUSH"}
    });
    if let Some(tag) = tag {
        event["detail"]["image-tag"] = json!(tag);
    }
    event
}

#[test]
fn codecommit_tag_creations_are_releases_and_branches_are_not() {
    let release =
        from_eventbridge(&codecommit("e-1", "referenceCreated", "tag", "v2.4.0")).unwrap();
    assert_eq!(
        release,
        Incoming::Release(ReleaseEvent {
            source: TriggerSource::Codecommit,
            event_id: "e-1".into(),
            repository: "checkout-api".into(),
            tag: "v2.4.0".into()
        })
    );
    assert!(matches!(
        from_eventbridge(&codecommit("e-2", "referenceCreated", "branch", "main")).unwrap(),
        Incoming::Ignored(_)
    ));
    assert!(matches!(
        from_eventbridge(&codecommit("e-3", "referenceDeleted", "tag", "v1")).unwrap(),
        Incoming::Ignored(_)
    ));
}

#[test]
fn ecr_pushes_with_a_tag_are_releases() {
    let Incoming::Release(release) = from_eventbridge(&ecr("e-4", Some("v2.4.0"))).unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            release.source,
            release.repository.as_str(),
            release.tag.as_str()
        ),
        (TriggerSource::Ecr, "checkout-api", "v2.4.0")
    );
    assert_eq!(release.trigger_key(), "ecr#e-4");
    assert!(
        matches!(from_eventbridge(&ecr("e-5", None)).unwrap(), Incoming::Ignored(reason) if reason.contains("without a tag"))
    );
}

#[test]
fn malformed_and_foreign_events_are_told_apart() {
    let mut event = codecommit("e-6", "referenceCreated", "tag", "v1.0.0");
    event["detail"]
        .as_object_mut()
        .unwrap()
        .remove("repositoryName");
    assert_eq!(
        from_eventbridge(&event).unwrap_err(),
        IncomingError::Malformed {
            field: "detail.repositoryName".into(),
            message: "is missing or empty".into()
        }
    );
    assert!(matches!(
        from_eventbridge(&json!({"id": "x", "source": "aws.s3"})).unwrap(),
        Incoming::Ignored(_)
    ));
    assert!(from_eventbridge(&json!({"source": "aws.ecr"})).is_err());
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn github(
    event: &str,
    body: &Value,
    signature: Option<String>,
) -> (BTreeMap<String, String>, Vec<u8>) {
    let body = serde_json::to_vec(body).unwrap();
    let mut headers = BTreeMap::from([
        ("X-GitHub-Event".to_string(), event.to_string()),
        ("X-GitHub-Delivery".to_string(), "d-1".to_string()),
    ]);
    if let Some(signature) = signature {
        headers.insert("x-hub-signature-256".into(), signature);
    }
    (headers, body)
}

#[test]
fn signed_github_tag_creations_and_published_releases_are_releases() {
    let create = json!({"ref": "v2.4.0", "ref_type": "tag", "repository": {"name": "checkout-api", "full_name": "acme/checkout-api"}});
    let body = serde_json::to_vec(&create).unwrap();
    let (headers, body) = github("create", &create, Some(sign(b"s3cret", &body)));
    let Incoming::Release(release) = from_github(&headers, &body, b"s3cret").unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            release.repository.as_str(),
            release.tag.as_str(),
            release.event_id.as_str()
        ),
        ("acme/checkout-api", "v2.4.0", "d-1")
    );

    let published = json!({"action": "published", "release": {"tag_name": "v2.5.0"}, "repository": {"full_name": "acme/checkout-api"}});
    let body = serde_json::to_vec(&published).unwrap();
    let (headers, body) = github("release", &published, Some(sign(b"s3cret", &body)));
    let Incoming::Release(release) = from_github(&headers, &body, b"s3cret").unwrap() else {
        panic!()
    };
    assert_eq!(release.tag, "v2.5.0");

    let branch = json!({"ref": "main", "ref_type": "branch", "repository": {"full_name": "acme/checkout-api"}});
    let body = serde_json::to_vec(&branch).unwrap();
    let (headers, body) = github("create", &branch, Some(sign(b"s3cret", &body)));
    assert!(matches!(
        from_github(&headers, &body, b"s3cret").unwrap(),
        Incoming::Ignored(_)
    ));
}

#[test]
fn a_wrong_or_missing_signature_is_unauthorized() {
    let create = json!({"ref": "v2.4.0", "ref_type": "tag", "repository": {"full_name": "acme/checkout-api"}});
    let body = serde_json::to_vec(&create).unwrap();
    let (headers, body) = github("create", &create, Some(sign(b"other", &body)));
    assert!(matches!(
        from_github(&headers, &body, b"s3cret"),
        Err(IncomingError::Unauthorized(_))
    ));
    let (headers, body) = github("create", &create, None);
    assert!(
        matches!(from_github(&headers, &body, b"s3cret"), Err(IncomingError::Unauthorized(m)) if m.contains("no X-Hub-Signature-256"))
    );
    let (headers, body) = github("create", &create, Some("sha256=zz".into()));
    assert!(matches!(
        from_github(&headers, &body, b"s3cret"),
        Err(IncomingError::Unauthorized(_))
    ));
    // A signature for a tampered body does not pass.
    let (headers, _) = github("create", &create, Some(sign(b"s3cret", &body)));
    assert!(matches!(
        from_github(&headers, b"{\"ref\":\"v9.9.9\"}", b"s3cret"),
        Err(IncomingError::Unauthorized(_))
    ));
    // Without a configured secret nothing is accepted.
    let (headers, body) = github("create", &create, Some(sign(b"", &body)));
    assert!(matches!(
        from_github(&headers, &body, b""),
        Err(IncomingError::Unauthorized(_))
    ));
}

#[test]
fn tags_are_versions_when_they_are_semantic_and_match_the_pattern() {
    assert_eq!(version_of_tag("v2.4.0", None).as_deref(), Some("v2.4.0"));
    assert_eq!(
        version_of_tag("2.4.0-rc.1", None).as_deref(),
        Some("2.4.0-rc.1")
    );
    assert_eq!(version_of_tag("latest", None), None);
    assert_eq!(version_of_tag("v2.4", None), None);
    let pattern = Some("^checkout-(?P<version>v[0-9.]+)$");
    assert_eq!(
        version_of_tag("checkout-v1.2.3", pattern).as_deref(),
        Some("v1.2.3")
    );
    assert_eq!(version_of_tag("payments-v1.2.3", pattern), None);
    assert_eq!(version_of_tag("v1.2.3", Some("(")), None);
}

#[test]
fn repositories_match_by_name_or_full_name() {
    let spec = ReleaseSpec {
        repositories: vec!["checkout-api".into()],
        tag_pattern: None,
    };
    assert!(releases(&spec, "checkout-api"));
    assert!(releases(&spec, "acme/checkout-api"));
    assert!(!releases(&spec, "acme/payments"));
}

#[test]
fn execution_names_are_valid_deterministic_and_distinct() {
    let name = execution_name("checkout-api", "v2.4.0");
    assert_eq!(name, execution_name("checkout-api", "v2.4.0"));
    assert!(name.starts_with("checkout-api-v2-4-0-"), "{name}");
    assert_ne!(name, execution_name("checkout-api", "v2-4-0"));
    assert!(crate::DeploymentId::parse(&name).is_ok());
    let long = execution_name(&"s".repeat(64), &"1.0.0-".repeat(20));
    assert_eq!(long.len(), 80);
    assert!(crate::DeploymentId::parse(&long).is_ok());
}

#[test]
fn attempts_after_the_first_get_their_own_valid_names() {
    let first = attempt_name("checkout-api", "v2.4.0", 1);
    assert_eq!(first, execution_name("checkout-api", "v2.4.0"));
    let second = attempt_name("checkout-api", "v2.4.0", 2);
    assert!(second.starts_with("checkout-api-v2-4-0-r2-"), "{second}");
    assert_ne!(second, attempt_name("checkout-api", "v2.4.0", 3));
    let long = attempt_name(&"s".repeat(70), &"v".repeat(70), 12);
    assert_eq!(long.len(), 80);
    for name in [first, second, long] {
        assert!(crate::DeploymentId::parse(name.clone()).is_ok(), "{name}");
    }
}
