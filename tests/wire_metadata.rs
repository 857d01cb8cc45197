//! Metadata over the wire: request metadata (ASCII, several values, and
//! binary) reaches the handler; initial and trailing metadata reach the
//! client, on success and on error; binary values travel as the spec says.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use grpcx::Request;
use grpcx::{Code, Metadata};
use grpcx_tests::probe::{self, Action, ProbeRequest};
use grpcx_tests::raw::frame;
use grpcx_tests::{
    TestServer, assert_context_trailers, assert_initial_metadata, assert_status_metadata, codec,
    drain, path, server_streaming, unary, within,
};

fn request_metadata() -> Metadata {
    let mut md = Metadata::new();
    md.append("x-multi", "one").unwrap();
    md.append("x-multi", "two, with a comma").unwrap();
    md.append("x-multi", "three").unwrap();
    md.insert("x-single", "  spaced value  ").unwrap();
    md.append_bin("x-data-bin", [0u8, 1, 2, 255]).unwrap();
    md.append_bin("x-data-bin", []).unwrap();
    md.append_bin("x-data-bin", b"hello\r\n\0").unwrap();
    md
}

#[track_caller]
fn assert_request_metadata(received: &Metadata) {
    assert_eq!(
        received.get_all("x-multi").collect::<Vec<_>>(),
        ["one", "two, with a comma", "three"],
        "{received:?}"
    );
    assert_eq!(received.get("x-single"), Some("  spaced value  "));
    let bins: Vec<Vec<u8>> = received
        .get_all_bin("x-data-bin")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        bins,
        [vec![0, 1, 2, 255], vec![], b"hello\r\n\0".to_vec()],
        "{received:?}"
    );
    // What belongs to gRPC and HTTP/2 is not the application's metadata.
    for reserved in ["content-type", "te", "grpc-timeout", "grpc-accept-encoding"] {
        assert!(
            !received.contains_key(reserved),
            "{reserved} in {received:?}"
        );
    }
}

#[tokio::test]
async fn request_metadata_reaches_the_handler() {
    let mut server = TestServer::start().await;
    let channel = server.channel();

    let request = Request::new(ProbeRequest::new("unary", Action::Reply))
        .with_metadata(request_metadata())
        .with_timeout(std::time::Duration::from_secs(60));
    unary(&channel, request).await.unwrap();
    assert_request_metadata(&server.events.started("unary").await.0);

    let requests = futures_util::stream::iter([ProbeRequest::new("client-stream", Action::Reply)]);
    let request = Request::new(requests).with_metadata(request_metadata());
    within(
        "a client-streaming call",
        channel.client_streaming(path("ClientStream"), request, codec()),
    )
    .await
    .unwrap();
    assert_request_metadata(&server.events.started("client-stream").await.0);

    let requests = futures_util::stream::iter([ProbeRequest::new("bidi", Action::Reply)]);
    let request = Request::new(requests).with_metadata(request_metadata());
    let mut stream = within(
        "a bidi call",
        channel.bidi_streaming_from_stream(path("Bidi"), request, codec()),
    )
    .await
    .unwrap()
    .into_inner();
    drain(&mut stream).await.1.unwrap();
    assert_request_metadata(&server.events.started("bidi").await.0);
}

#[tokio::test]
async fn initial_and_trailing_metadata_reach_the_client_on_success() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let everything = |id: &str| ProbeRequest {
        initial_metadata: true,
        context_trailers: true,
        ..ProbeRequest::new(id, Action::Reply)
    };

    let response = unary(&channel, everything("unary")).await.unwrap();
    assert_initial_metadata(response.metadata());
    assert_context_trailers(response.trailers());

    let requests = futures_util::stream::iter([everything("client-stream")]);
    let response = within(
        "a client-streaming call",
        channel.client_streaming(path("ClientStream"), Request::new(requests), codec()),
    )
    .await
    .unwrap();
    assert_initial_metadata(response.metadata());
    assert_context_trailers(response.trailers());

    let response = server_streaming(&channel, everything("stream").after(1))
        .await
        .unwrap();
    assert_initial_metadata(response.metadata());
    let mut stream = response.into_inner();
    drain(&mut stream).await.1.unwrap();
    assert_context_trailers(stream.trailers().unwrap());
}

#[tokio::test]
async fn trailing_metadata_reaches_the_client_on_error() {
    let server = TestServer::start().await;
    let channel = server.channel();

    // Unary: Trailers-Only, so only trailing metadata, from the context
    // and from the status.
    let request = ProbeRequest {
        context_trailers: true,
        status_metadata: true,
        ..ProbeRequest::fail("unary", Code::NotFound, "nope")
    };
    let status = unary(&channel, request).await.unwrap_err();
    assert_context_trailers(status.metadata());
    assert_status_metadata(status.metadata());
    assert!(status.initial_metadata().is_empty(), "{status:?}");

    // Only the context's trailers, or only the status's metadata.
    let request = ProbeRequest {
        context_trailers: true,
        ..ProbeRequest::fail("context-only", Code::NotFound, "nope")
    };
    let status = unary(&channel, request).await.unwrap_err();
    assert_context_trailers(status.metadata());
    assert!(!status.metadata().contains_key("x-status"), "{status:?}");
    let request = ProbeRequest {
        status_metadata: true,
        ..ProbeRequest::fail("status-only", Code::NotFound, "nope")
    };
    let status = unary(&channel, request).await.unwrap_err();
    assert_status_metadata(status.metadata());
    assert!(!status.metadata().contains_key("x-trailer"), "{status:?}");

    // A stream failing after a message: initial metadata too.
    let request = ProbeRequest {
        initial_metadata: true,
        context_trailers: true,
        status_metadata: true,
        ..ProbeRequest::fail("stream", Code::Unavailable, "later").after(1)
    };
    let response = server_streaming(&channel, request).await.unwrap();
    assert_initial_metadata(response.metadata());
    let mut stream = response.into_inner();
    let status = drain(&mut stream).await.1.unwrap_err();
    assert_initial_metadata(status.initial_metadata());
    assert_context_trailers(status.metadata());
    assert_status_metadata(status.metadata());
}

#[tokio::test]
async fn binary_values_are_read_padded_unpadded_and_comma_joined() {
    let mut server = TestServer::start().await;
    let mut raw = server.raw().await;
    let head = raw
        .request("Unary")
        .header("x-padded-bin", "AAEC/w==")
        .header("x-unpadded-bin", "AAEC/w")
        .header("x-joined-bin", "AAEC/w,/g==, aGk");
    let response = raw
        .send(
            head,
            &[frame(&ProbeRequest::new("raw", Action::Reply))],
            true,
        )
        .await;
    assert_eq!(response.expect_status().code(), Code::Ok, "{response:?}");
    let (received, _) = server.events.started("raw").await;
    assert_eq!(
        received.get_bin("x-padded-bin").unwrap(),
        Some(vec![0, 1, 2, 255])
    );
    assert_eq!(
        received.get_bin("x-unpadded-bin").unwrap(),
        Some(vec![0, 1, 2, 255])
    );
    let joined: Vec<Vec<u8>> = received
        .get_all_bin("x-joined-bin")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(joined, [vec![0, 1, 2, 255], vec![0xfe], b"hi".to_vec()]);
}

#[tokio::test]
async fn binary_values_are_sent_unpadded() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let request = ProbeRequest {
        initial_metadata: true,
        context_trailers: true,
        ..ProbeRequest::new("raw", Action::Reply)
    };
    let response = raw
        .send(raw.request("Unary"), &[frame(&request)], true)
        .await;
    let trailers = response.trailers.as_ref().expect("trailers");
    let sent: Vec<&str> = trailers
        .get_all("x-trailer-bin")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(sent, ["AAEC/w", "/g"], "{trailers:?}");
    assert_eq!(response.headers["x-initial-bin"], "3q0Avu8");
    assert_eq!(probe::INITIAL_BIN, [0xde, 0xad, 0x00, 0xbe, 0xef]);
}
