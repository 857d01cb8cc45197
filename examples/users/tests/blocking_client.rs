//! The generated blocking client, end to end: the same statuses as the
//! async one, a server stream as an iterator, and calls in the futures
//! style. The tests run on plain threads; only the server runs on a tokio
//! runtime.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use grpcx::blocking::{BlockingChannel, CallError};
use grpcx::{BadRequest, Code, Endpoint, ErrorInfo, Origin, Request, Status};
use grpcx_example_users::pb::{
    CreateUserRequest, GetUsersRequest, Operation, StreamActivityRequest, TransactionRequest,
    UserServiceBlockingClient,
};
use grpcx_example_users::{ADMIN_TOKEN, FAILING_USERNAME, GUEST_TOKEN};
use support::{TestServer, bearer};
use tokio::runtime::Runtime;

/// A server on its own runtime, and a blocking client of it.
fn start() -> (Runtime, TestServer, UserServiceBlockingClient) {
    let runtime = Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start());
    let channel = BlockingChannel::new(server.channel.clone()).unwrap();
    (runtime, server, UserServiceBlockingClient::new(channel))
}

fn new_user(username: &str, email: &str) -> CreateUserRequest {
    CreateUserRequest {
        username: username.to_owned(),
        email: email.to_owned(),
    }
}

#[test]
fn create_user_failures_carry_the_same_details() {
    let (runtime, server, client) = start();
    let user = client
        .create_user(new_user("ada", "ada@example.com"))
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.username, "ada");

    let status = client.create_user(new_user("", "nope")).unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_detail::<BadRequest>().unwrap();
    let fields: Vec<_> = bad
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["username", "email"]);

    let status = client
        .create_user(new_user("ada", "a@example.com"))
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);

    let status = client
        .create_user(new_user(FAILING_USERNAME, "x@example.com"))
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal server error");
    runtime.block_on(server.stop());
}

#[test]
fn get_users_authenticates_and_authorizes() {
    let (runtime, server, client) = start();
    let status = client.get_users(GetUsersRequest::default()).unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.metadata().get("www-authenticate").is_some());

    let status = client
        .get_users(bearer(GetUsersRequest::default(), GUEST_TOKEN))
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.get_detail::<ErrorInfo>().unwrap().reason,
        "MISSING_PERMISSION"
    );

    let page = client
        .get_users(bearer(GetUsersRequest::default(), ADMIN_TOKEN))
        .unwrap()
        .into_inner();
    assert_eq!(page.total, 2);
    runtime.block_on(server.stop());
}

#[test]
fn the_activity_stream_is_an_iterator_ending_in_data_loss() {
    let (runtime, server, client) = start();
    let events = client
        .stream_activity(StreamActivityRequest { after_sequence: 0 })
        .unwrap()
        .into_inner();
    let items: Vec<Result<u64, Status>> = events.map(|event| event.map(|e| e.sequence)).collect();
    assert_eq!(items.len(), 4, "{items:?}");
    let sequences: Vec<u64> = items[..3].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(sequences, [1, 2, 3]);
    let status = items[3].as_ref().unwrap_err();
    assert_eq!(status.code(), Code::DataLoss);
    runtime.block_on(server.stop());
}

#[test]
fn a_stale_transaction_is_aborted_in_the_futures_style_too() {
    let (runtime, server, client) = start();
    let operations = vec![
        Operation {
            account: "bob".to_owned(),
            amount: -5,
            expected_version: None,
        },
        Operation {
            account: "alice".to_owned(),
            amount: 5,
            expected_version: Some(0),
        },
    ];
    let mut call = client.process_transaction_future(TransactionRequest { operations });
    let status = match call.wait_timeout(Duration::from_secs(10)) {
        Err(CallError::Rpc(status)) => status,
        other => panic!("expected a status, got {other:?}"),
    };
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(
        status.get_detail::<ErrorInfo>().unwrap().metadata["actualVersion"],
        "1"
    );
    // The result was taken; the handle says so rather than blocking.
    assert!(matches!(
        call.wait_timeout(Duration::ZERO),
        Err(CallError::Taken)
    ));
    runtime.block_on(server.stop());
}

#[test]
fn a_call_in_the_futures_style_can_be_waited_on_then_cancelled() {
    // A listener that never answers: the call stays in flight until it is
    // cancelled, whatever the machine's speed.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let channel = Endpoint::new(format!("http://{}", silent.local_addr().unwrap()))
        .unwrap()
        .connect_lazy();
    let client = UserServiceBlockingClient::new(BlockingChannel::new(channel).unwrap());

    let request = Request::new(GetUsersRequest::default()).with_timeout(Duration::from_secs(30));
    let mut call = client.get_users_future(request);
    assert!(matches!(
        call.wait_timeout(Duration::from_millis(50)),
        Err(CallError::Timeout)
    ));
    assert!(
        !call.is_done(),
        "a wait that times out leaves the call running"
    );

    call.cancel();
    assert!(call.is_cancelled());
    let status = Status::from(call.wait().unwrap_err());
    assert_eq!(status.code(), Code::Cancelled);
    assert_eq!(status.origin(), Origin::Cancelled);
}
