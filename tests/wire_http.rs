//! HTTP/2 failures the client must map to codes, against a raw h2 server:
//! HTTP errors without `grpc-status` (gRPC's `http-grpc-status-mapping.md`),
//! stream resets (`PROTOCOL-HTTP2.md`), a lost connection, a refused one.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpcx::{Channel, Request};
use grpcx::{Code, Metadata, Origin, Status};
use grpcx_tests::probe::{ProbeReply, ProbeRequest};
use grpcx_tests::raw::{RawRequest, RawRespond, RawServer, frame, grpc_response_head};
use grpcx_tests::{channel, codec, path, within};
use h2::Reason;
use http::StatusCode;
use tokio::sync::Notify;

/// A raw server whose answer each request chooses with `x-scenario`:
///
/// - `http:<status>`: that HTTP status, `text/html`, no body, no
///   `grpc-status`;
/// - `no-status`: `200`, `application/grpc`, and the stream ends with the
///   headers, without `grpc-status`;
/// - `reply`: a Trailers-Only response with the request's `x-reply-<name>`
///   headers as `<name>` (`_bin` at the end becomes `-bin`), to send odd
///   statuses;
/// - `html`: `200`, `text/html`, a body;
/// - `reset:<reason>`: RST_STREAM before any response;
/// - `reset-after:<reason>`: headers and one message, then (once the test
///   says go) RST_STREAM;
/// - `close`: drop the connection before any response;
/// - `close-after`: headers and one message, then (once the test says go)
///   drop the connection.
async fn scenario_server(go: Arc<Notify>) -> RawServer {
    RawServer::start(move |request, respond, close| {
        let go = go.clone();
        async move { scenario(request, respond, close, go).await }
    })
    .await
}

async fn scenario(
    request: RawRequest,
    mut respond: RawRespond,
    close: Arc<Notify>,
    go: Arc<Notify>,
) {
    let scenario = request
        .headers()
        .get("x-scenario")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (kind, arg) = scenario.split_once(':').unwrap_or((&scenario, ""));
    let grpc_ok = || grpc_response_head(StatusCode::OK, "application/grpc");
    let one_message = || frame(&ProbeReply::default());
    match kind {
        "http" => {
            let status = StatusCode::from_u16(arg.parse().unwrap()).unwrap();
            let _ = respond.send_response(grpc_response_head(status, "text/html"), true);
        }
        "reply" => {
            let mut head = grpc_ok();
            for (name, value) in request.headers() {
                if let Some(name) = name.as_str().strip_prefix("x-reply-") {
                    // A `-bin` name travels as `_bin`, so that its raw
                    // value is not base64-encoded on the way.
                    let name = match name.strip_suffix("_bin") {
                        Some(stem) => format!("{stem}-bin"),
                        None => name.to_owned(),
                    };
                    let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
                    head.headers_mut().append(name, value.clone());
                }
            }
            let _ = respond.send_response(head, true);
        }
        "no-status" => {
            let _ = respond.send_response(grpc_ok(), true);
        }
        "html" => {
            let head = grpc_response_head(StatusCode::OK, "text/html; charset=utf-8");
            if let Ok(mut body) = respond.send_response(head, false) {
                let _ = body.send_data(Bytes::from_static(b"<html>hello</html>"), true);
            }
        }
        "reset" => respond.send_reset(Reason::from(arg.parse::<u32>().unwrap())),
        "reset-after" => {
            let Ok(mut body) = respond.send_response(grpc_ok(), false) else {
                return;
            };
            let _ = body.send_data(one_message(), false);
            go.notified().await;
            body.send_reset(Reason::from(arg.parse::<u32>().unwrap()));
        }
        "close" => {
            close.notify_one();
            // Keep the stream open (dropping `respond` would reset it)
            // until the connection is gone.
            let _respond = respond;
            std::future::pending::<()>().await;
        }
        "close-after" => {
            let Ok(mut body) = respond.send_response(grpc_ok(), false) else {
                return;
            };
            let _ = body.send_data(one_message(), false);
            go.notified().await;
            close.notify_one();
            // Keep the stream open until the connection is gone.
            std::future::pending::<()>().await;
        }
        other => panic!("unknown scenario {other:?}"),
    }
}

fn scenario_request(scenario: &str) -> Request<ProbeRequest> {
    let mut metadata = Metadata::new();
    metadata.insert("x-scenario", scenario).unwrap();
    Request::new(ProbeRequest::default()).with_metadata(metadata)
}

async fn unary_status(channel: &Channel, scenario: &str) -> Status {
    within(
        scenario,
        channel.unary(path("Unary"), scenario_request(scenario), codec()),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn http_errors_without_grpc_status_map_to_codes() {
    let server = scenario_server(Arc::new(Notify::new())).await;
    let channel = channel(server.addr);
    let cases = [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (429, Code::Unavailable),
        (431, Code::Internal),
        (500, Code::Unknown),
        (502, Code::Unavailable),
        (503, Code::Unavailable),
        (504, Code::Unavailable),
    ];
    for (http, code) in cases {
        let status = unary_status(&channel, &format!("http:{http}")).await;
        assert_eq!(status.code(), code, "HTTP {http}: {status:?}");
        assert_eq!(status.origin(), Origin::Peer, "HTTP {http}: {status:?}");
        assert!(
            status.message().contains(&http.to_string()),
            "HTTP {http}: {status:?}"
        );
    }
}

#[tokio::test]
async fn a_200_without_grpc_status_is_unknown() {
    let server = scenario_server(Arc::new(Notify::new())).await;
    let channel = channel(server.addr);
    let status = unary_status(&channel, "no-status").await;
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
}

#[tokio::test]
async fn a_200_with_a_non_grpc_content_type_is_unknown() {
    let server = scenario_server(Arc::new(Notify::new())).await;
    let channel = channel(server.addr);
    let status = unary_status(&channel, "html").await;
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(status.message().contains("text/html"), "{status:?}");
}

#[tokio::test]
async fn stream_resets_map_to_codes() {
    let server = scenario_server(Arc::new(Notify::new())).await;
    let channel = channel(server.addr);
    let cases = [
        (Reason::REFUSED_STREAM, Code::Unavailable),
        (Reason::CANCEL, Code::Cancelled),
        (Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
        (Reason::INTERNAL_ERROR, Code::Internal),
        (Reason::PROTOCOL_ERROR, Code::Internal),
        (Reason::FLOW_CONTROL_ERROR, Code::Internal),
        (Reason::INADEQUATE_SECURITY, Code::PermissionDenied),
        (Reason::NO_ERROR, Code::Internal),
    ];
    for (reason, code) in cases {
        let scenario = format!("reset:{}", u32::from(reason));
        let status = unary_status(&channel, &scenario).await;
        assert_eq!(status.code(), code, "RST_STREAM({reason:?}): {status:?}");
        assert_eq!(
            status.origin(),
            Origin::Peer,
            "RST_STREAM({reason:?}): {status:?}"
        );
    }
}

#[tokio::test]
async fn a_reset_mid_stream_maps_to_its_code_after_the_messages_before_it() {
    for (reason, code) in [
        (Reason::CANCEL, Code::Cancelled),
        (Reason::INTERNAL_ERROR, Code::Internal),
        (Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
    ] {
        let go = Arc::new(Notify::new());
        let server = scenario_server(go.clone()).await;
        let channel = channel(server.addr);
        let scenario = format!("reset-after:{}", u32::from(reason));
        let response = within(
            "the response head",
            channel.server_streaming(path("ServerStream"), scenario_request(&scenario), codec()),
        )
        .await
        .unwrap();
        let mut stream = response.into_inner();
        within("the first message", stream.message())
            .await
            .unwrap()
            .expect("one message before the reset");
        go.notify_one();
        let status = within("the reset", stream.message()).await.unwrap_err();
        assert_eq!(status.code(), code, "RST_STREAM({reason:?}): {status:?}");
    }
}

#[tokio::test]
async fn a_connection_lost_before_the_response_is_unavailable() {
    let server = scenario_server(Arc::new(Notify::new())).await;
    let channel = channel(server.addr);
    let status = unary_status(&channel, "close").await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.origin(), Origin::Transport, "{status:?}");
}

#[tokio::test]
async fn a_connection_lost_mid_stream_is_unavailable() {
    let go = Arc::new(Notify::new());
    let server = scenario_server(go.clone()).await;
    let channel = channel(server.addr);
    let response = within(
        "the response head",
        channel.server_streaming(
            path("ServerStream"),
            scenario_request("close-after"),
            codec(),
        ),
    )
    .await
    .unwrap();
    let mut stream = response.into_inner();
    within("the first message", stream.message())
        .await
        .unwrap()
        .expect("one message before the connection is lost");
    go.notify_one();
    let status = within("the lost connection", stream.message())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.origin(), Origin::Transport, "{status:?}");
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_at_once() {
    // A port nobody listens on: bind one, then close it.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let channel = channel(addr);
    let started = Instant::now();
    let status = within(
        "a call to a closed port",
        channel.unary(
            path("Unary"),
            Request::new(ProbeRequest::default()),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.origin(), Origin::Transport, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// A Trailers-Only response with the given header fields.
async fn odd_status(channel: &Channel, fields: &[(&str, &str)]) -> Status {
    let mut request = scenario_request("reply");
    for (name, value) in fields {
        request
            .metadata_mut()
            .insert(&format!("x-reply-{name}"), value)
            .unwrap();
    }
    within(
        "an odd status",
        channel.unary(path("Unary"), request, codec()),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn odd_statuses_from_the_peer_are_read_without_failing() {
    let server = scenario_server(Arc::new(Notify::new())).await;
    let channel = channel(server.addr);

    // A code out of range, or not a number: UNKNOWN.
    for value in ["42", "abc", "-1", ""] {
        let status = odd_status(&channel, &[("grpc-status", value)]).await;
        assert_eq!(
            status.code(),
            Code::Unknown,
            "grpc-status {value:?}: {status:?}"
        );
        assert_eq!(status.origin(), Origin::Peer, "{status:?}");
    }

    // A grpc-message that is not valid percent-encoding, or not UTF-8 once
    // decoded: kept, the bad parts as they came or replaced.
    let status = odd_status(
        &channel,
        &[
            ("grpc-status", "3"),
            ("grpc-message", "50%25 done %zz, %E2%98 and 100%"),
        ],
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with("50% done "), "{status:?}");
    assert!(status.message().contains(" and 100"), "{status:?}");

    // Details that are not base64: the code and message stand, the
    // problem is reported, nothing panics.
    let status = odd_status(
        &channel,
        &[
            ("grpc-status", "5"),
            ("grpc-message", "gone"),
            ("grpc-status-details_bin", "!!not base64!!"),
        ],
    )
    .await;
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "gone", "{status:?}");
    assert!(status.details().is_empty(), "{status:?}");
    assert!(status.details_error().is_some(), "{status:?}");

    // Base64 that is not a google.rpc.Status.
    let status = odd_status(
        &channel,
        &[("grpc-status", "5"), ("grpc-status-details_bin", "/////w")],
    )
    .await;
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.details_error().is_some(), "{status:?}");

    // Every code in range is read as itself.
    for code in Code::ALL.into_iter().filter(|code| !code.is_ok()) {
        let value = code.as_i32().to_string();
        let status = odd_status(&channel, &[("grpc-status", &value)]).await;
        assert_eq!(status.code(), code, "{status:?}");
    }
}
