//! The memory budget for request messages being received: uploads past it
//! fail with `RESOURCE_EXHAUSTED`, and the server goes on serving.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use grpcx::Code;
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::raw::{RawClient, header_only};
use grpcx_tests::{TestServer, unary, within};

const KIB: usize = 1024;

#[tokio::test]
async fn uploads_past_the_connection_budget_fail_and_the_server_goes_on() {
    let server =
        TestServer::start_with(|server| server.max_request_buffer(1024 * KIB, 64 * 1024 * KIB))
            .await;
    let mut raw = RawClient::connect(server.addr()).await;
    // Eight calls, each 400 KiB into a 512 KiB message that never ends:
    // two fit in the connection's 1 MiB, the others cannot.
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut call = raw.start(raw.request("Unary")).await;
        call.send(header_only(0, 512 * KIB as u32), false);
        call.send(Bytes::from(vec![0u8; 400 * KIB]), false);
        calls.push(call);
    }
    let mut responses: FuturesUnordered<_> =
        calls.into_iter().map(|call| call.response()).collect();
    let mut exhausted = 0;
    while exhausted < 6 {
        let response = within("a refused upload", responses.next())
            .await
            .expect("a response");
        let status = response.expect_status();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("per connection"), "{status:?}");
        exhausted += 1;
    }

    // The same connection still serves calls within the budget, and so do
    // new connections.
    raw.check_unary_ok("small").await;
    within(
        "a call on a new connection",
        unary(&server.channel(), ProbeRequest::new("other", Action::Reply)),
    )
    .await
    .unwrap();
    drop(responses);
}

#[tokio::test]
async fn uploads_past_the_server_budget_fail_on_every_connection() {
    let server =
        TestServer::start_with(|server| server.max_request_buffer(64 * 1024 * KIB, 1024 * KIB))
            .await;
    let mut calls = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut raw = RawClient::connect(server.addr()).await;
        for _ in 0..2 {
            let mut call = raw.start(raw.request("Unary")).await;
            call.send(header_only(0, 512 * KIB as u32), false);
            call.send(Bytes::from(vec![0u8; 400 * KIB]), false);
            calls.push(call);
        }
        clients.push(raw);
    }
    let mut responses: FuturesUnordered<_> =
        calls.into_iter().map(|call| call.response()).collect();
    for _ in 0..6 {
        let response = within("a refused upload", responses.next())
            .await
            .expect("a response");
        let status = response.expect_status();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("per server"), "{status:?}");
    }
    within(
        "a call on a new connection",
        unary(&server.channel(), ProbeRequest::new("other", Action::Reply)),
    )
    .await
    .unwrap();
    drop(responses);
}
