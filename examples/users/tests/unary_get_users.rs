//! `GetUsers` end to end: authentication, authorization and paging.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use grpcx::{BadRequest, Code, ErrorInfo, Request, Status};
use grpcx_example_users::pb::{GetUsersRequest, GetUsersResponse, UserServiceClient};
use grpcx_example_users::{ADMIN_TOKEN, ERROR_DOMAIN, GUEST_TOKEN};
use support::{TestServer, bearer, with_metadata};

async fn get(
    client: &UserServiceClient,
    request: Request<GetUsersRequest>,
) -> Result<GetUsersResponse, Status> {
    Ok(client.get_users(request).await?.into_inner())
}

fn page(limit: u32, offset: u32) -> GetUsersRequest {
    GetUsersRequest { limit, offset }
}

#[tokio::test]
async fn without_valid_credentials_it_is_unauthenticated() {
    let server = TestServer::start().await;
    let client = server.client();
    let cases = [
        (Request::new(page(0, 0)), "CREDENTIALS_MISSING"),
        (
            with_metadata(page(0, 0), "authorization", "Basic YWRhOnNlY3JldA=="),
            "CREDENTIALS_MALFORMED",
        ),
        (bearer(page(0, 0), "forged-token"), "TOKEN_INVALID"),
    ];
    for (request, reason) in cases {
        let status = get(&client, request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{reason}");
        let info = status.get_detail::<ErrorInfo>().unwrap();
        assert_eq!(info.reason, reason);
        assert_eq!(info.domain, ERROR_DOMAIN);
        // The trailer says how to authenticate, as HTTP's 401 does.
        assert_eq!(
            status.metadata().get("www-authenticate"),
            Some(r#"Bearer realm="example.users""#)
        );
    }
    let status = get(&client, Request::new(page(0, 0))).await.unwrap_err();
    assert_eq!(
        status.message(),
        "authentication required: send `authorization: Bearer <token>`"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_token_without_read_users_is_permission_denied() {
    let server = TestServer::start().await;
    let status = get(&server.client(), bearer(page(0, 0), GUEST_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "the token lacks the read_users permission"
    );
    let info = status.get_detail::<ErrorInfo>().unwrap();
    assert_eq!(info.reason, "MISSING_PERMISSION");
    assert_eq!(info.domain, ERROR_DOMAIN);
    assert_eq!(info.metadata["permission"], "read_users");
    server.stop().await;
}

#[tokio::test]
async fn an_admin_lists_users_a_page_at_a_time() {
    let server = TestServer::start().await;
    let client = server.client();
    let all = get(&client, bearer(page(0, 0), ADMIN_TOKEN)).await.unwrap();
    assert_eq!(all.total, 2);
    let names: Vec<_> = all.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);

    let second = get(&client, bearer(page(1, 1), ADMIN_TOKEN)).await.unwrap();
    assert_eq!(second.users.len(), 1);
    assert_eq!(second.users[0].username, "bob");

    // The end is a valid, empty page; past it is out of range.
    let end = get(&client, bearer(page(10, 2), ADMIN_TOKEN))
        .await
        .unwrap();
    assert!(end.users.is_empty());
    let status = get(&client, bearer(page(10, 3), ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    assert_eq!(
        status.message(),
        "offset 3 is past the last user (there are 2)"
    );
    let bad = status.get_detail::<BadRequest>().unwrap();
    assert_eq!(bad.field_violations[0].field, "offset");
    server.stop().await;
}

#[tokio::test]
async fn a_page_over_100_is_invalid() {
    let server = TestServer::start().await;
    let status = get(&server.client(), bearer(page(101, 0), ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_detail::<BadRequest>().unwrap();
    assert_eq!(bad.field_violations.len(), 1);
    assert_eq!(bad.field_violations[0].field, "limit");
    assert_eq!(bad.field_violations[0].description, "must be at most 100");
    server.stop().await;
}
