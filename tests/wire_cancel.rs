//! Cancellation over the wire: a client that drops its call cancels it on
//! the server (the outcome is `Cancelled` and the handler is dropped), and
//! `CallContext::abort` ends a call with exactly its status.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::StreamExt as _;
use grpcx::Code;
use grpcx::{CallOutcome, Request};
use grpcx_tests::probe::{Action, ProbeRequest, rich_details};
use grpcx_tests::{
    LONG_SLEEP, SPECIAL_MESSAGE, TestServer, assert_context_trailers, assert_initial_metadata,
    assert_status, assert_status_metadata, codec, drain, path, server_streaming, unary, within,
};

fn sleeper(id: &str, count: u32) -> ProbeRequest {
    ProbeRequest {
        sleep_ms: LONG_SLEEP.as_millis() as u64,
        ..ProbeRequest::new(id, Action::Sleep).after(count)
    }
}

/// Checks that call `id` was cancelled on the server and its handler
/// dropped, and that the server still serves.
async fn assert_cancelled_on_server(server: &mut TestServer, id: &str) {
    assert_eq!(
        server.events.done(id).await,
        CallOutcome::Cancelled,
        "the outcome of {id}"
    );
    server.events.handler_dropped(id).await;
    unary(&server.channel(), ProbeRequest::new("after", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn dropping_a_unary_call_cancels_it_on_the_server() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let mut call =
        Box::pin(channel.unary(path("Unary"), Request::new(sleeper("unary", 0)), codec()));
    tokio::select! {
        result = &mut call => panic!("the sleeping call ended: {result:?}"),
        _ = server.events.started("unary") => {}
    }
    drop(call);
    assert_cancelled_on_server(&mut server, "unary").await;
}

#[tokio::test]
async fn dropping_a_stalled_response_stream_cancels_it_on_the_server() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let mut stream = server_streaming(&channel, sleeper("stalled", 2))
        .await
        .unwrap()
        .into_inner();
    for seq in 0..2 {
        let message = within("a streamed message", stream.message())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message.seq, seq);
    }
    drop(stream);
    assert_cancelled_on_server(&mut server, "stalled").await;
}

#[tokio::test]
async fn dropping_an_endless_response_stream_cancels_it_on_the_server() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        response_size: 1024,
        ..ProbeRequest::new("endless", Action::Reply).after(u32::MAX)
    };
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    for _ in 0..2 {
        within("a streamed message", stream.message())
            .await
            .unwrap()
            .unwrap();
    }
    drop(stream);
    assert_cancelled_on_server(&mut server, "endless").await;
}

#[tokio::test]
async fn dropping_a_client_streaming_call_cancels_it_on_the_server() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    // One request, then the request stream stays open.
    let requests = futures_util::stream::iter([sleeper("client-stream", 0)])
        .chain(futures_util::stream::pending());
    let mut call =
        Box::pin(channel.client_streaming(path("ClientStream"), Request::new(requests), codec()));
    tokio::select! {
        result = &mut call => panic!("the sleeping call ended: {result:?}"),
        _ = server.events.started("client-stream") => {}
    }
    drop(call);
    assert_cancelled_on_server(&mut server, "client-stream").await;
}

#[tokio::test]
async fn dropping_a_bidi_call_cancels_it_on_the_server() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let requests =
        futures_util::stream::iter([sleeper("bidi", 1)]).chain(futures_util::stream::pending());
    let response = within(
        "a bidi call",
        channel.bidi_streaming_from_stream(path("Bidi"), Request::new(requests), codec()),
    )
    .await
    .unwrap();
    let mut stream = response.into_inner();
    within("a streamed message", stream.message())
        .await
        .unwrap()
        .unwrap();
    drop(stream);
    assert_cancelled_on_server(&mut server, "bidi").await;
}

#[tokio::test]
async fn an_abort_mid_stream_delivers_exactly_its_status_after_the_messages_before_it() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        action: Action::Abort as i32,
        ..ProbeRequest::fail("abort-stream", Code::Unauthenticated, SPECIAL_MESSAGE)
            .with_everything()
            .after(2)
    };
    let response = server_streaming(&channel, request).await.unwrap();
    assert_initial_metadata(response.metadata());
    let mut stream = response.into_inner();
    let (messages, end) = drain(&mut stream).await;
    let seqs: Vec<u32> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [0, 1]);
    let status = end.unwrap_err();
    assert_status(
        &status,
        Code::Unauthenticated,
        SPECIAL_MESSAGE,
        grpcx::Origin::Peer,
    );
    assert_eq!(status.details(), rich_details(Code::Unauthenticated));
    assert_context_trailers(status.metadata());
    assert_status_metadata(status.metadata());
    assert_initial_metadata(status.initial_metadata());
    assert_eq!(
        server.events.done("abort-stream").await,
        CallOutcome::Completed(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn an_abort_in_a_unary_handler_ends_the_call_with_its_status() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        action: Action::Abort as i32,
        ..ProbeRequest::fail("abort-unary", Code::PermissionDenied, SPECIAL_MESSAGE)
            .with_everything()
    };
    let status = unary(&channel, request).await.unwrap_err();
    assert_status(
        &status,
        Code::PermissionDenied,
        SPECIAL_MESSAGE,
        grpcx::Origin::Peer,
    );
    assert_eq!(status.details(), rich_details(Code::PermissionDenied));
    assert_context_trailers(status.metadata());
    assert_status_metadata(status.metadata());
    assert_eq!(
        server.events.done("abort-unary").await,
        CallOutcome::Completed(Code::PermissionDenied)
    );
    // The handler, stalled after its abort, was dropped.
    server.events.handler_dropped("abort-unary").await;
}
