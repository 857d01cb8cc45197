//! tower's own errors as statuses over the wire: a client's
//! `tower::timeout` gives `DEADLINE_EXCEEDED` and its load shedding a local
//! `UNAVAILABLE`, unsent; a server's load shedding over its concurrency
//! limit gives `UNAVAILABLE` by default and `RESOURCE_EXHAUSTED` with a
//! retry hint when configured, and the client receives them.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use grpcx::client::{ClientService, Grpc};
use grpcx::middleware::tower_errors::MapTowerErrorsLayer;
use grpcx::{Channel, Request};
use grpcx::{Code, Origin, Progress, Pushback, RetryInfo, Status};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::{LONG_SLEEP, TestServer, codec, path, unary, within};

async fn call<T: ClientService + Sync>(
    client: &Grpc<T>,
    request: ProbeRequest,
) -> Result<(), Status> {
    within(
        "a unary call",
        client.unary(path("Unary"), Request::new(request), codec()),
    )
    .await
    .map(drop)
}

#[tokio::test]
async fn a_client_timeout_layer_gives_deadline_exceeded() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let stack = tower::ServiceBuilder::new()
        .layer(MapTowerErrorsLayer::new())
        .timeout(Duration::from_millis(100))
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    let slow = ProbeRequest {
        sleep_ms: LONG_SLEEP.as_millis() as u64,
        ..ProbeRequest::new("slow", Action::Sleep)
    };
    let status = call(&client, slow).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(status.origin(), Origin::Deadline);
    call(&client, ProbeRequest::new("fast", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn client_load_shedding_fails_a_call_locally_and_unsent() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let stack = tower::ServiceBuilder::new()
        .layer(MapTowerErrorsLayer::new())
        .load_shed()
        .concurrency_limit(1)
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { call(&client, ProbeRequest::new("waiting", Action::WaitGate)).await }
    });
    server.events.started("waiting").await;
    let status = call(&client, ProbeRequest::new("shed", Action::Reply))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.progress(), Progress::NotSent);
    assert_eq!(status.origin(), Origin::Application);
    server.open_gate();
    within("the waiting call", waiting).await.unwrap().unwrap();
    assert!(!server.events.was_started("shed"));
}

/// Starts a server shedding calls over one at a time through `map`, holds
/// one call at the gate, and returns the status of a second.
async fn shed_on_the_server(map: MapTowerErrorsLayer) -> Status {
    let mut server = TestServer::start_with(move |server| {
        server
            .layer(map)
            .layer(tower::load_shed::LoadShedLayer::new())
            .layer(tower::limit::ConcurrencyLimitLayer::new(1))
    })
    .await;
    let channel: Channel = server.channel();
    let waiting = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::new("waiting", Action::WaitGate)).await }
    });
    server.events.started("waiting").await;
    let status = unary(&channel, ProbeRequest::new("shed", Action::Reply))
        .await
        .unwrap_err();
    assert!(!server.events.was_started("shed"));
    server.open_gate();
    within("the waiting call", waiting).await.unwrap().unwrap();
    unary(&channel, ProbeRequest::new("after", Action::Reply))
        .await
        .unwrap();
    status
}

#[tokio::test]
async fn server_load_shedding_is_unavailable_by_default() {
    let status = shed_on_the_server(MapTowerErrorsLayer::new()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "the service is overloaded");
    assert_eq!(status.origin(), Origin::Peer);
    assert!(status.get_detail::<RetryInfo>().is_none());
    assert_eq!(status.pushback(), None);
}

#[tokio::test]
async fn server_load_shedding_can_be_resource_exhausted_with_a_retry_hint() {
    let map = MapTowerErrorsLayer::new()
        .overloaded_as(Code::ResourceExhausted)
        .overloaded_retry_after(Duration::from_millis(250));
    let status = shed_on_the_server(map).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.message(), "the service is overloaded");
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(
        status.get_detail::<RetryInfo>().unwrap().delay(),
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        status.pushback(),
        Some(Pushback::Delay(Duration::from_millis(250)))
    );
}
