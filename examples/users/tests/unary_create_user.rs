//! `CreateUser` end to end: validation, duplicates, the quota and an
//! internal failure, each with its code, message and typed details.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use grpcx::{Code, Detail, Origin, QuotaFailure, ResourceInfo, RetryInfo, Status};
use grpcx_example_users::pb::{CreateUserRequest, UserServiceClient};
use grpcx_example_users::{CLIENT_ID_METADATA, Config, FAILING_USERNAME};
use support::{TestServer, with_metadata};

async fn create(
    client: &UserServiceClient,
    client_id: &str,
    username: &str,
    email: &str,
) -> Result<grpcx_example_users::pb::User, Status> {
    let request = with_metadata(
        CreateUserRequest {
            username: username.to_owned(),
            email: email.to_owned(),
        },
        CLIENT_ID_METADATA,
        client_id,
    );
    let response = client.create_user(request).await?;
    Ok(response.into_inner().user.unwrap())
}

fn violations(status: &Status) -> Vec<(String, String)> {
    // Exactly one detail: one BadRequest listing every field.
    let details = status.details();
    assert_eq!(details.len(), 1, "{details:?}");
    let Detail::BadRequest(bad) = &details[0] else {
        panic!("expected a BadRequest, got {details:?}");
    };
    bad.field_violations
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(f, d)| ((*f).to_owned(), (*d).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_valid_user_is_created() {
    let server = TestServer::start().await;
    let user = create(&server.client(), "c1", "ada", "ada@example.com")
        .await
        .unwrap();
    assert_eq!(user.username, "ada");
    assert_eq!(user.email, "ada@example.com");
    assert!(user.id.starts_with("u-"), "{}", user.id);
    server.stop().await;
}

#[tokio::test]
async fn every_invalid_field_is_listed_in_one_bad_request() {
    let server = TestServer::start().await;
    let client = server.client();

    let status = create(&client, "c1", "", "not-an-email").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(
        status.message(),
        "invalid request: username: is required; email: is not an email address"
    );
    assert_eq!(
        violations(&status),
        pairs(&[
            ("username", "is required"),
            ("email", "is not an email address")
        ])
    );

    let status = create(&client, "c1", "ab", "").await.unwrap_err();
    assert_eq!(
        violations(&status),
        pairs(&[
            ("username", "must be at least 3 characters"),
            ("email", "is required")
        ])
    );

    let status = create(&client, "c1", "ab", "ab@example.com")
        .await
        .unwrap_err();
    assert_eq!(
        violations(&status),
        pairs(&[("username", "must be at least 3 characters")])
    );
    server.stop().await;
}

#[tokio::test]
async fn a_taken_username_is_already_exists_with_the_resource() {
    let server = TestServer::start().await;
    let status = create(&server.client(), "c1", "alice", "a2@example.com")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(status.message(), r#"username "alice" is already taken"#);
    let resource = status.get_detail::<ResourceInfo>().unwrap();
    assert_eq!(resource.resource_type, "example.users.v1.User");
    assert_eq!(resource.resource_name, "users/alice");
    assert_eq!(
        resource.description,
        "a user with this username already exists"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_creation_quota_is_per_client_and_says_when_to_retry() {
    let server = TestServer::start_with(Config {
        creation_quota: 2,
        quota_window: Duration::from_secs(60),
    })
    .await;
    let client = server.client();
    create(&client, "c1", "user1", "u@example.com")
        .await
        .unwrap();
    // Failed creations do not count.
    create(&client, "c1", "x", "u@example.com")
        .await
        .unwrap_err();
    create(&client, "c1", "user2", "u@example.com")
        .await
        .unwrap();

    let status = create(&client, "c1", "user3", "u@example.com")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "too many users created: at most 2 per 60s"
    );
    let quota = status.get_detail::<QuotaFailure>().unwrap();
    assert_eq!(quota.violations.len(), 1);
    assert_eq!(quota.violations[0].subject, "client:c1");
    assert_eq!(quota.violations[0].description, "2 user creations per 60s");
    let delay = status.get_detail::<RetryInfo>().unwrap().delay().unwrap();
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(60),
        "{delay:?}"
    );

    // Another client has a quota of its own.
    create(&client, "c2", "user3", "u@example.com")
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_database_failure_is_internal_and_reveals_nothing() {
    let server = TestServer::start().await;
    let status = create(&server.client(), "c1", FAILING_USERNAME, "x@example.com")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal server error");
    assert!(status.details().is_empty());
    assert_eq!(status.origin(), Origin::Peer);
    // Nothing of the cause travelled: not in the message, not as a source.
    let everything = format!("{status:#} {status:?}");
    assert!(!everything.contains("db-primary"), "{everything}");
    assert!(!everything.contains("INSERT"), "{everything}");
    server.stop().await;
}
