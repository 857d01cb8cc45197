//! Bad input over the wire, sent with a raw h2 client: each malformed
//! request gets the status (or HTTP status) the spec prescribes, at once,
//! and the server goes on serving, on the same connection and on new ones.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use grpcx::Request;
use grpcx::{Code, Origin, Status};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::raw::{RawClient, RawResponse, frame, frame_bytes, header_only};
use grpcx_tests::{TestServer, codec, endpoint, path, unary, within};
use http::StatusCode;
use prost::Message as _;

/// Checks that the server still serves: on the connection a bad request
/// came on, and on a new one.
async fn assert_still_serves(server: &TestServer, raw: &mut RawClient) {
    raw.check_unary_ok("same-connection").await;
    let reply = unary(
        &server.channel(),
        ProbeRequest::new("new-connection", Action::Reply),
    )
    .await
    .unwrap();
    assert_eq!(reply.get_ref().id, "new-connection");
}

/// Checks a gRPC refusal: HTTP 200 and `code`, returned as the status.
#[track_caller]
fn assert_refused(response: &RawResponse, code: Code) -> Status {
    assert_eq!(response.http_status, Some(StatusCode::OK), "{response:?}");
    let status = response.expect_status();
    assert_eq!(status.code(), code, "{status:?}");
    assert!(!status.message().is_empty(), "{status:?}");
    status
}

fn valid_request() -> Bytes {
    frame(&ProbeRequest::new("bad-input", Action::Reply))
}

#[tokio::test]
async fn a_length_prefix_longer_than_the_body_is_internal() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let mut body = BytesMut::from(&header_only(0, 10)[..]);
    body.extend_from_slice(b"abc");
    let response = raw.send(raw.request("Unary"), &[body.freeze()], true).await;
    let status = assert_refused(&response, Code::Internal);
    assert!(status.message().contains("10"), "{status:?}");
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn a_4_gib_length_prefix_is_refused_at_once() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    // Only the header, and the request stays open: the server must answer
    // from the prefix alone, without waiting for (or reserving) 4 GiB.
    let response = raw
        .send(raw.request("Unary"), &[header_only(0, u32::MAX)], false)
        .await;
    let status = assert_refused(&response, Code::ResourceExhausted);
    assert!(
        status.message().contains(&u32::MAX.to_string())
            && status.message().contains(&(4 * 1024 * 1024).to_string()),
        "the message names both sizes: {status:?}"
    );
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn a_compressed_flag_without_grpc_encoding_is_internal() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let response = raw
        .send(raw.request("Unary"), &[frame_bytes(1, b"abc")], true)
        .await;
    assert_refused(&response, Code::Internal);
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn an_unknown_grpc_encoding_is_unimplemented_with_the_accepted_ones() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let head = raw.request("Unary").header("grpc-encoding", "br");
    let response = raw.send(head, &[valid_request()], true).await;
    let status = assert_refused(&response, Code::Unimplemented);
    assert!(status.message().contains("br"), "{status:?}");
    let accepted = response
        .headers
        .get("grpc-accept-encoding")
        .unwrap_or_else(|| panic!("no grpc-accept-encoding: {response:?}"));
    assert!(
        accepted.to_str().unwrap().contains("identity"),
        "{accepted:?}"
    );
    assert!(!accepted.to_str().unwrap().contains("br"), "{accepted:?}");
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn a_non_grpc_content_type_is_http_415() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let mut head = raw.request("Unary");
    head.headers_mut()
        .unwrap()
        .insert("content-type", "text/plain".parse().unwrap());
    let response = raw.send(head, &[valid_request()], true).await;
    assert_eq!(
        response.http_status,
        Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        "{response:?}"
    );
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn a_malformed_grpc_timeout_is_refused_with_a_clear_message() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    for value in ["1x", "123456789S", "-1S", "S"] {
        let head = raw.request("Unary").header("grpc-timeout", value);
        let response = raw.send(head, &[valid_request()], true).await;
        let status = assert_refused(&response, Code::Internal);
        assert!(
            status.message().contains("grpc-timeout") && status.message().contains("malformed"),
            "{value:?}: {status:?}"
        );
        assert!(status.message().contains(value), "{value:?}: {status:?}");
    }
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn bytes_that_are_not_protobuf_are_internal() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    // Field 1 with wire type 7, which does not exist.
    let response = raw
        .send(raw.request("Unary"), &[frame_bytes(0, &[0x0f])], true)
        .await;
    let status = assert_refused(&response, Code::Internal);
    assert!(status.message().contains("decode"), "{status:?}");
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn two_messages_on_a_unary_call_are_unimplemented() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let response = raw
        .send(
            raw.request("Unary"),
            &[valid_request(), valid_request()],
            true,
        )
        .await;
    assert_refused(&response, Code::Unimplemented);
    // The same for a server-streaming call.
    let response = raw
        .send(
            raw.request("ServerStream"),
            &[valid_request(), valid_request()],
            true,
        )
        .await;
    assert_refused(&response, Code::Unimplemented);
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn no_message_on_a_unary_call_is_unimplemented() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let response = raw.send(raw.request("Unary"), &[], true).await;
    assert_refused(&response, Code::Unimplemented);
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn get_instead_of_post_is_http_405() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let head = raw.request("Unary").method(http::Method::GET);
    let response = raw.send(head, &[], true).await;
    assert_eq!(
        response.http_status,
        Some(StatusCode::METHOD_NOT_ALLOWED),
        "{response:?}"
    );
    assert_still_serves(&server, &mut raw).await;
}

/// A request whose encoded message is over 1 KiB.
fn big_request(id: &str) -> ProbeRequest {
    ProbeRequest {
        padding: vec![7; 2000],
        ..ProbeRequest::new(id, Action::Reply)
    }
}

#[tokio::test]
async fn a_request_over_the_servers_limit_is_resource_exhausted() {
    let server = TestServer::start_with(|server| server.max_decode_message_size(1024)).await;
    let request = big_request("big");
    let len = request.encoded_len();

    let status = unary(&server.channel(), request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer, "{status:?}");
    assert!(
        status.message().contains(&len.to_string()) && status.message().contains("1024"),
        "the message names both sizes ({len} and 1024): {status:?}"
    );

    let mut raw = server.raw().await;
    let response = raw
        .send(raw.request("Unary"), &[frame(&request)], true)
        .await;
    assert_refused(&response, Code::ResourceExhausted);
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn a_response_over_the_clients_limit_is_resource_exhausted() {
    let server = TestServer::start().await;
    let channel = endpoint(server.addr())
        .max_decode_message_size(1024)
        .connect_lazy();
    let request = ProbeRequest {
        response_size: 4096,
        ..ProbeRequest::new("big-reply", Action::Reply)
    };
    let status = within(
        "a call with a big reply",
        channel.unary(path("Unary"), Request::new(request.clone()), codec()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.origin(), Origin::Protocol, "{status:?}");
    assert!(status.message().contains("1024"), "{status:?}");

    // The same on a stream.
    let big_stream = ProbeRequest {
        response_size: 4096,
        ..ProbeRequest::new("big-stream", Action::Reply).after(2)
    };
    let mut stream = within(
        "a stream with big replies",
        channel.server_streaming(path("ServerStream"), Request::new(big_stream), codec()),
    )
    .await
    .unwrap()
    .into_inner();
    let status = within("the big reply", stream.message()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.origin(), Origin::Protocol, "{status:?}");

    // Small replies still pass on the same channel.
    unary(&channel, ProbeRequest::new("small", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_early_answer_resets_the_rest_of_the_request_with_no_error() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    // The server answers from the prefix while the request is still open:
    // PROTOCOL-HTTP2.md has it reset the stream with NO_ERROR after its
    // trailers, so the client stops sending.
    let mut call = raw.start(raw.request("Unary")).await;
    call.send(header_only(0, u32::MAX), false);
    let (response, reset) = call.response_then_reset().await;
    assert_refused(&response, Code::ResourceExhausted);
    assert_eq!(reset, Some(h2::Reason::NO_ERROR), "{response:?}");
    assert_still_serves(&server, &mut raw).await;
}

#[tokio::test]
async fn a_response_over_the_servers_send_limit_is_resource_exhausted() {
    let server = TestServer::start_with(|server| server.max_encode_message_size(1024)).await;
    let channel = server.channel();
    let request = ProbeRequest {
        response_size: 4096,
        ..ProbeRequest::new("big-reply", Action::Reply)
    };
    let status = unary(&channel, request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer, "{status:?}");
    assert!(status.message().contains("1024"), "{status:?}");

    // The stream fails before its first message, so its headers never went
    // out: the answer is Trailers-Only, and the call fails at once.
    let status = within(
        "a stream with big replies",
        channel.server_streaming(
            path("ServerStream"),
            Request::new(request.after(2)),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer, "{status:?}");

    unary(&channel, ProbeRequest::new("small", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_request_over_the_clients_send_limit_is_resource_exhausted() {
    let mut server = TestServer::start().await;
    let channel = endpoint(server.addr())
        .max_encode_message_size(1024)
        .connect_lazy();
    let status = unary(&channel, big_request("too-big")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.origin().is_local(), "{status:?}");
    assert!(status.message().contains("1024"), "{status:?}");
    // Nothing reached the handler; the next call is the first it sees.
    unary(&channel, ProbeRequest::new("small", Action::Reply))
        .await
        .unwrap();
    let next = server
        .events
        .wait_for("the next call", |event| {
            matches!(event, grpcx_tests::Event::Started { .. })
        })
        .await;
    assert!(
        matches!(&next, grpcx_tests::Event::Started { id, .. } if id == "small"),
        "{next:?}"
    );
}
