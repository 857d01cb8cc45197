//! `Channel` as a tower service under `Grpc`: what goes on the wire, the
//! `Err`/`Ok` line, and a layer that sends a refused unary call again from
//! its encoded bytes with `grpc-previous-rpc-attempts`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use grpcx::client::{GRPC_PREVIOUS_RPC_ATTEMPTS, Grpc};
use grpcx::{Body, Channel, Deadline, Endpoint, GrpcMethod, Request};
use grpcx::{Code, Origin, Progress, Status};
use grpcx_tests::raw::{RawServer, frame, grpc_response_head};
use grpcx_tests::{ProbeReply, ProbeRequest, TestServer, codec, path, within};
use http::{HeaderMap, StatusCode};
use tower::{Service, ServiceExt};

/// Sends a call again, once, when it was refused before any handler saw
/// it, from the bytes of its first attempt.
#[derive(Clone)]
struct RetryRefused<S>(S);

impl<S> Service<http::Request<Body>> for RetryRefused<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Status>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Status>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let mut inner = self.0.clone();
        let replay = request.body().try_clone().map(|body| {
            let mut again = http::Request::new(body);
            *again.uri_mut() = request.uri().clone();
            *again.headers_mut() = request.headers().clone();
            *again.extensions_mut() = request.extensions().clone();
            again.headers_mut().insert(
                GRPC_PREVIOUS_RPC_ATTEMPTS,
                http::HeaderValue::from_static("1"),
            );
            again
        });
        let first = self.0.call(request);
        Box::pin(async move {
            match (first.await, replay) {
                (Err(status), Some(again)) if status.progress().is_unprocessed() => {
                    inner.ready().await?.call(again).await
                }
                (result, _) => result,
            }
        })
    }
}

#[tokio::test]
async fn a_refused_call_is_sent_again_from_its_bytes() {
    let heads: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let server = {
        let heads = heads.clone();
        RawServer::start(move |request, mut respond, _close| {
            let heads = heads.clone();
            async move {
                let (parts, mut body) = request.into_parts();
                // Refused twice: the channel sends a refused stream once
                // more itself; the layer's attempt comes third.
                let refuse = {
                    let mut heads = heads.lock().unwrap();
                    heads.push(parts.headers.clone());
                    heads.len() <= 2
                };
                if refuse {
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    return;
                }
                let mut received = Vec::new();
                while let Some(chunk) = body.data().await {
                    received.extend_from_slice(&chunk.unwrap());
                }
                let reply = ProbeReply {
                    id: format!("{} bytes", received.len()),
                    ..ProbeReply::default()
                };
                let head = grpc_response_head(StatusCode::OK, "application/grpc");
                let mut stream = respond.send_response(head, false).unwrap();
                stream.send_data(frame(&reply), false).unwrap();
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                stream.send_trailers(trailers).unwrap();
            }
        })
        .await
    };
    let channel = grpcx_tests::channel(server.addr);
    let client = Grpc::new(RetryRefused(channel.clone())).with_config(channel.config());

    let request = Request::new(ProbeRequest::new("again", grpcx_tests::Action::Reply))
        .with_timeout(Duration::from_secs(20));
    let sent_len = frame(request.get_ref()).len();
    let reply = within(
        "a retried call",
        client.unary(path("Unary"), request, codec()),
    )
    .await
    .expect("the second attempt is answered");
    assert_eq!(reply.get_ref().id, format!("{sent_len} bytes"));

    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 3);
    // The channel's own second try is the same request, with the time
    // left then.
    let without_timeout = |head: &HeaderMap| {
        let mut head = head.clone();
        head.remove("grpc-timeout");
        head
    };
    assert_eq!(without_timeout(&heads[0]), without_timeout(&heads[1]));
    assert_eq!(heads[1].get("grpc-previous-rpc-attempts"), None);
    assert_eq!(heads[2]["grpc-previous-rpc-attempts"], "1");
    for head in heads.iter() {
        assert_eq!(head["te"], "trailers");
        assert_eq!(head["content-type"], "application/grpc");
        assert!(
            head["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("grpcx-rust/")
        );
        let timeout = head["grpc-timeout"].to_str().unwrap();
        assert!(
            timeout.ends_with('u') || timeout.ends_with('m'),
            "{timeout}"
        );
    }
}

#[tokio::test]
async fn the_channel_service_answers_err_before_headers_and_ok_after() {
    let server = TestServer::start().await;
    let mut channel: Channel = server.channel();
    let body = Body::from(frame(&ProbeRequest::new("raw", grpcx_tests::Action::Reply)));
    let mut request = http::Request::new(body);
    *request.uri_mut() = "/grpcx.test.Probe/Unary".parse().unwrap();
    request.extensions_mut().insert(Deadline(
        tokio::time::Instant::now() + Duration::from_secs(20),
    ));
    let response = within(
        "a raw call",
        ServiceExt::<http::Request<Body>>::ready(&mut channel)
            .await
            .unwrap()
            .call(request),
    )
    .await
    .expect("response headers");
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_collect(response.into_body()).await;
    assert!(body.0.len() > 5, "one framed message");
    assert_eq!(body.1.unwrap()["grpc-status"], "0");

    // A method the server does not have: Trailers-Only, so `Err`.
    let mut request = http::Request::new(Body::from(Bytes::new()));
    *request.uri_mut() = "/grpcx.test.Probe/Nope".parse().unwrap();
    let status = within("a call of no method", channel.call(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(status.progress(), Progress::Processed);
}

#[tokio::test]
async fn the_typed_layer_puts_the_method_and_deadline_in_the_extensions() {
    let server = TestServer::start().await;
    let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
    let stack = {
        let seen = seen.clone();
        tower::ServiceBuilder::new()
            .map_request(move |request: http::Request<Body>| {
                *seen.lock().unwrap() = Some((
                    request.extensions().get::<GrpcMethod>().cloned().unwrap(),
                    request.extensions().get::<Deadline>().copied(),
                ));
                request
            })
            .service(server.channel())
    };
    let client = Grpc::new(stack);
    let request = Request::new(ProbeRequest::new("ext", grpcx_tests::Action::Reply))
        .with_timeout(Duration::from_secs(20));
    within(
        "a layered call",
        client.unary(path("Unary"), request, codec()),
    )
    .await
    .unwrap();
    let (method, deadline) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(method.path(), "/grpcx.test.Probe/Unary");
    assert_eq!(method.kind(), grpcx::descriptor::MethodKind::Unary);
    let left = deadline.unwrap().remaining();
    assert!(left <= Duration::from_secs(20) && left > Duration::from_secs(10));

    // An endpoint's settings apply to a bare channel only through Grpc::new.
    let limited = Endpoint::new(format!("http://{}", server.addr()))
        .unwrap()
        .max_decode_message_size(1)
        .connect_lazy();
    let status = within(
        "a call over the limit",
        Grpc::new(limited).unary(
            path("Unary"),
            Request::new(ProbeRequest::new("big", grpcx_tests::Action::Reply)),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

/// The method and deadline a layer saw.
type Seen = (GrpcMethod, Option<Deadline>);

/// The data and trailers of a body.
async fn http_body_collect(mut body: Body) -> (Vec<u8>, Option<HeaderMap>) {
    let mut data = Vec::new();
    let mut trailers = None;
    while let Some(frame) =
        std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx)).await
    {
        let frame = frame.unwrap();
        match frame.into_data() {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    (data, trailers)
}
