//! Statuses over the wire: every code, Unicode messages, rich details and
//! metadata reach the client exactly as the handler made them, for unary
//! calls (Trailers-Only) and after streamed messages.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use grpcx::{CallOutcome, Request};
use grpcx::{Code, Origin, Status};
use grpcx_tests::probe::{Action, ProbeRequest, rich_details};
use grpcx_tests::{
    SPECIAL_MESSAGE, TestServer, assert_context_trailers, assert_initial_metadata, assert_status,
    assert_status_metadata, codec, drain, path, server_streaming, unary, within,
};
use http::StatusCode;

/// The 16 codes other than `OK`.
fn error_codes() -> impl Iterator<Item = Code> {
    Code::ALL.into_iter().filter(|code| !code.is_ok())
}

/// Checks everything a probe status with everything carries, as received.
#[track_caller]
fn assert_full_status(status: &Status, code: Code, message: &str) {
    assert_status(status, code, message, Origin::Peer);
    assert_eq!(
        status.details(),
        rich_details(code),
        "details of {status:?}"
    );
    assert!(status.details_error().is_none(), "{status:?}");
    assert_context_trailers(status.metadata());
    assert_status_metadata(status.metadata());
}

#[tokio::test]
async fn every_code_round_trips_on_a_unary_call() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    for code in error_codes() {
        let id = format!("unary-{code}");
        let request = ProbeRequest::fail(&id, code, SPECIAL_MESSAGE).with_everything();
        let status = unary(&channel, request).await.unwrap_err();
        assert_full_status(&status, code, SPECIAL_MESSAGE);
        // Trailers-Only: no response headers came before the status.
        assert!(status.initial_metadata().is_empty(), "{status:?}");
        assert_eq!(
            server.events.done(&id).await,
            CallOutcome::Completed(code),
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_unary_error_is_sent_trailers_only() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let request =
        ProbeRequest::fail("trailers-only", Code::NotFound, SPECIAL_MESSAGE).with_everything();
    let response = raw
        .send(
            raw.request("Unary"),
            &[grpcx_tests::raw::frame(&request)],
            true,
        )
        .await;
    assert_eq!(response.http_status, Some(StatusCode::OK), "{response:?}");
    assert_eq!(response.headers["content-type"], "application/grpc");
    assert!(response.headers_ended_stream, "{response:?}");
    assert!(response.data.is_empty(), "{response:?}");
    assert!(response.trailers.is_none(), "{response:?}");
    assert_eq!(response.headers["grpc-status"], "5");
    // Percent-encoded, so only printable ASCII travels.
    let raw_message = response.headers["grpc-message"].as_bytes();
    assert!(
        raw_message.iter().all(|b| (0x20..=0x7e).contains(b)),
        "{raw_message:?}"
    );
    let status = response.expect_status();
    assert_full_status(&status, Code::NotFound, SPECIAL_MESSAGE);
}

#[tokio::test]
async fn a_successful_unary_call_carries_initial_and_trailing_metadata() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        initial_metadata: true,
        context_trailers: true,
        ..ProbeRequest::new("ok", Action::Reply)
    };
    let response = unary(&channel, request).await.unwrap();
    assert_eq!(response.get_ref().id, "ok");
    assert_initial_metadata(response.metadata());
    assert_context_trailers(response.trailers());
    assert_eq!(
        server.events.done("ok").await,
        CallOutcome::Completed(Code::Ok)
    );
}

#[tokio::test]
async fn every_code_round_trips_after_two_streamed_messages() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    for code in error_codes() {
        let id = format!("stream-{code}");
        let request = ProbeRequest::fail(&id, code, SPECIAL_MESSAGE)
            .with_everything()
            .after(2);
        let response = server_streaming(&channel, request).await.unwrap();
        assert_initial_metadata(response.metadata());
        let mut stream = response.into_inner();
        let (messages, end) = drain(&mut stream).await;
        let seqs: Vec<u32> = messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [0, 1], "{code}");
        let status = end.unwrap_err();
        assert_full_status(&status, code, SPECIAL_MESSAGE);
        assert_initial_metadata(status.initial_metadata());
        assert_eq!(
            server.events.done(&id).await,
            CallOutcome::Completed(code),
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_successful_stream_ends_with_its_trailers() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        initial_metadata: true,
        context_trailers: true,
        ..ProbeRequest::new("stream-ok", Action::Reply).after(2)
    };
    let response = server_streaming(&channel, request).await.unwrap();
    assert_initial_metadata(response.metadata());
    let mut stream = response.into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 2);
    end.unwrap();
    assert_context_trailers(stream.trailers().expect("trailers after OK"));
    assert_eq!(
        server.events.done("stream-ok").await,
        CallOutcome::Completed(Code::Ok)
    );
}

#[tokio::test]
async fn client_streaming_and_bidi_errors_round_trip() {
    let mut server = TestServer::start().await;
    let channel = server.channel();

    let request =
        ProbeRequest::fail("client-stream", Code::OutOfRange, SPECIAL_MESSAGE).with_everything();
    let requests = futures_util::stream::iter([request, ProbeRequest::default()]);
    let status = within(
        "client-streaming call",
        channel.client_streaming(path("ClientStream"), Request::new(requests), codec()),
    )
    .await
    .unwrap_err();
    assert_full_status(&status, Code::OutOfRange, SPECIAL_MESSAGE);
    assert_eq!(
        server.events.done("client-stream").await,
        CallOutcome::Completed(Code::OutOfRange)
    );

    let request = ProbeRequest::fail("bidi", Code::Aborted, SPECIAL_MESSAGE)
        .with_everything()
        .after(2);
    let requests = futures_util::stream::iter([request]);
    let response = within(
        "bidi call",
        channel.bidi_streaming_from_stream(path("Bidi"), Request::new(requests), codec()),
    )
    .await
    .unwrap();
    let mut stream = response.into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 2);
    assert_full_status(&end.unwrap_err(), Code::Aborted, SPECIAL_MESSAGE);
    assert_eq!(
        server.events.done("bidi").await,
        CallOutcome::Completed(Code::Aborted)
    );
}

#[tokio::test]
async fn set_code_on_a_successful_unary_handler_replaces_the_response() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        code: Code::DataLoss.as_i32(),
        message: SPECIAL_MESSAGE.to_owned(),
        context_trailers: true,
        ..ProbeRequest::new("set-code", Action::SetCode)
    };
    // The handler returns Ok with a message, which must not be delivered.
    let status = unary(&channel, request).await.unwrap_err();
    assert_status(&status, Code::DataLoss, SPECIAL_MESSAGE, Origin::Peer);
    assert_context_trailers(status.metadata());
    assert_eq!(
        server.events.done("set-code").await,
        CallOutcome::Completed(Code::DataLoss)
    );
}

#[tokio::test]
async fn set_code_after_streamed_messages_ends_the_stream_with_that_code() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        code: Code::DataLoss.as_i32(),
        message: "lost the rest ☺".to_owned(),
        ..ProbeRequest::new("stream-set-code", Action::SetCode).after(2)
    };
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 2);
    assert_status(
        &end.unwrap_err(),
        Code::DataLoss,
        "lost the rest ☺",
        Origin::Peer,
    );
    assert_eq!(
        server.events.done("stream-set-code").await,
        CallOutcome::Completed(Code::DataLoss)
    );
}

/// A 64 KiB `grpc-message` (tonic's #1834 hung the client past 16 KiB).
const HUGE: u32 = 64 * 1024;

#[track_caller]
fn assert_huge_status(status: &Status) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer, "{status:?}");
    // A server may shorten a message this long to fit the peer's header
    // limits (grpcx cuts it and ends it with `…`); whatever arrives is the
    // handler's own text.
    let message = status.message().trim_end_matches('…');
    assert!(
        !message.is_empty() && message.len() <= HUGE as usize && message.bytes().all(|b| b == b'a'),
        "a message that is not the handler's: {} bytes, {:?}...",
        message.len(),
        &message[..message.len().min(100)]
    );
    if message.len() < HUGE as usize {
        eprintln!(
            "note: the {HUGE}-byte grpc-message arrived shortened to {} bytes",
            message.len()
        );
    }
}

#[tokio::test]
async fn a_huge_grpc_message_neither_hangs_nor_crashes_a_unary_call() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        message_len: HUGE,
        ..ProbeRequest::fail("huge", Code::FailedPrecondition, "")
    };
    let status = unary(&channel, request).await.unwrap_err();
    assert_huge_status(&status);
    // The connection is still good.
    unary(&channel, ProbeRequest::new("after-huge", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_huge_grpc_message_neither_hangs_nor_crashes_a_stream() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest {
        message_len: HUGE,
        ..ProbeRequest::fail("huge-stream", Code::FailedPrecondition, "").after(1)
    };
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 1);
    assert_huge_status(&end.unwrap_err());
    unary(&channel, ProbeRequest::new("after-huge", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_service_is_unimplemented() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let status = within(
        "call to an unknown service",
        channel.unary(
            "/grpcx.test.Nobody/Unary".parse().unwrap(),
            Request::new(ProbeRequest::default()),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer, "{status:?}");
    assert!(status.message().contains("grpcx.test.Nobody"), "{status:?}");
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let status = within(
        "call to an unknown method",
        channel.unary(
            path("Nothing"),
            Request::new(ProbeRequest::default()),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer, "{status:?}");
    assert!(status.message().contains("Nothing"), "{status:?}");
}
