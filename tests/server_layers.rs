//! Server layers over the wire: tower's timeout and concurrency limit and
//! tower-http's trace layer work unchanged; a layer reads metadata, puts a
//! value in the extensions for the handler, rejects a call, or replaces
//! the final status (of a unary call, and of a stream that fails midway);
//! a per-service layer keeps its service's routing; a stream that fails
//! before its first message goes out Trailers-Only, and `send_headers`
//! sends the headers early; the server serves any stream of connections.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use grpcx::codec::ProstCodec;
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{Body, BoxError, CallContext, Request, Response, Server, ServerRequest};
use grpcx::{Code, ErrorInfo, Origin, Status};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::raw::frame;
use grpcx_tests::{TestServer, channel, drain, serve, server_streaming, unary, within};
use tower::{Layer, Service};

/// What an authentication layer learned, for the handler.
#[derive(Clone, Debug)]
struct Principal(String);

/// A layer that admits `authorization: Bearer <name>` (putting the name in
/// the extensions) and refuses anything else with `UNAUTHENTICATED`.
#[derive(Clone)]
struct Auth<S> {
    inner: S,
    seen: Arc<AtomicUsize>,
}

fn auth_layer(seen: Arc<AtomicUsize>) -> impl Layer<Routes, Service = Auth<Routes>> + Clone {
    tower::layer::layer_fn(move |inner| Auth {
        inner,
        seen: seen.clone(),
    })
}

type Routes = grpcx::server::Routes;

impl<S> Service<http::Request<Body>> for Auth<S>
where
    S: Service<http::Request<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        self.seen.fetch_add(1, Ordering::SeqCst);
        // The call's context is in the extensions before any layer runs.
        assert!(request.extensions().get::<CallContext>().is_some());
        let name = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        match name {
            Some(name) => {
                request.extensions_mut().insert(Principal(name));
                let call = self.inner.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            None => Box::pin(async {
                Err(Status::unauthenticated("a bearer token is required").into())
            }),
        }
    }
}

/// `test.Whoami`: `Get` answers `principal|previous attempts|peer ip`;
/// `Late` streams one message once the test lets it, calling
/// `send_headers` first when asked to.
struct Whoami {
    gate: Arc<tokio::sync::Notify>,
    /// Notified when a `Late` stream is first polled (its handler returned).
    polled: Arc<tokio::sync::Notify>,
}

impl GrpcService for Whoami {
    fn name(&self) -> &'static str {
        "test.Whoami"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let codec = ProstCodec::<String, String>::default();
        match method {
            "Get" => Box::pin(handler::unary(
                call,
                codec,
                |req: ServerRequest<String>| async move {
                    let principal = req
                        .extensions()
                        .get::<Principal>()
                        .map(|p| p.0.clone())
                        .unwrap_or_else(|| "anonymous".to_owned());
                    let context = req.context();
                    let peer = context.peer_addr().map(|a| a.ip().to_string());
                    Ok::<_, Status>(Response::new(format!(
                        "{principal}|{}|{}",
                        context.previous_attempts(),
                        peer.unwrap_or_default()
                    )))
                },
            )),
            "Late" => {
                let gate = self.gate.clone();
                let polled = self.polled.clone();
                Box::pin(handler::server_streaming(
                    call,
                    codec,
                    move |req: ServerRequest<String>| async move {
                        if req.get_ref() == "early" {
                            req.context().send_headers();
                        }
                        let late = futures_util::stream::once(async move {
                            polled.notify_one();
                            gate.notified().await;
                            Ok("late".to_owned())
                        });
                        Ok::<_, Status>(Response::new(late))
                    },
                ))
            }
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

fn whoami() -> (Whoami, Arc<tokio::sync::Notify>) {
    whoami_polled().0
}

/// A Whoami, its gate, and what tells that a `Late` stream was polled.
fn whoami_polled() -> ((Whoami, Arc<tokio::sync::Notify>), Arc<tokio::sync::Notify>) {
    let gate = Arc::new(tokio::sync::Notify::new());
    let polled = Arc::new(tokio::sync::Notify::new());
    let service = Whoami {
        gate: gate.clone(),
        polled: polled.clone(),
    };
    ((service, gate), polled)
}

fn whoami_path(method: &str) -> http::uri::PathAndQuery {
    format!("/test.Whoami/{method}").parse().unwrap()
}

async fn get(
    channel: &grpcx::Channel,
    request: Request<String>,
) -> Result<Response<String>, Status> {
    within(
        "a Whoami call",
        channel.unary(whoami_path("Get"), request, ProstCodec::default()),
    )
    .await
}

fn with_token(token: &str) -> Request<String> {
    let mut request = Request::new(String::new());
    request
        .metadata_mut()
        .insert("authorization", &format!("Bearer {token}"))
        .unwrap();
    request
}

#[tokio::test]
async fn a_server_layer_reads_metadata_hands_the_handler_an_extension_or_rejects_the_call() {
    let seen = Arc::new(AtomicUsize::new(0));
    let (service, _) = whoami();
    let handle = serve(
        Server::builder()
            .layer(auth_layer(seen.clone()))
            .add_service(service),
    )
    .await;
    let channel = channel(handle.addr);

    let reply = get(&channel, with_token("alice")).await.unwrap();
    let fields: Vec<_> = reply.get_ref().split('|').collect();
    assert_eq!(fields[0], "alice", "the principal the layer found");
    assert_eq!(fields[1], "0", "a first attempt");
    assert_eq!(fields[2], "127.0.0.1", "the peer's address");

    let status = get(&channel, Request::new(String::new()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "a bearer token is required");
    assert_eq!(status.origin(), Origin::Peer);

    // Unknown services go through the layers too.
    let status = within(
        "an unknown service",
        channel.unary(
            http::uri::PathAndQuery::from_static("/test.Nobody/Get"),
            with_token("alice"),
            ProstCodec::<String, String>::default(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_per_service_layer_wraps_its_service_only_and_keeps_its_routing() {
    let seen = Arc::new(AtomicUsize::new(0));
    let (service, _) = whoami();
    let server = TestServer::start_with(move |server| {
        let layer = tower::layer::layer_fn(move |inner| Auth {
            inner,
            seen: seen.clone(),
        });
        server.add_layered_service(layer, service)
    })
    .await;
    let channel = server.channel();
    // The probe has no layer of its own.
    unary(&channel, ProbeRequest::new("free", Action::Reply))
        .await
        .unwrap();
    let status = get(&channel, Request::new(String::new()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let reply = get(&channel, with_token("bob")).await.unwrap();
    assert!(reply.get_ref().starts_with("bob|"), "{reply:?}");
}

/// Redacts INTERNAL messages and tags every failure with an `ErrorInfo`.
fn redact(status: Status) -> Status {
    if status.is_ok() {
        return status;
    }
    let status = if status.code() == Code::Internal {
        status.with_message("redacted")
    } else {
        status
    };
    status.with_detail(ErrorInfo::new("MAPPED", "layers.test"))
}

#[tokio::test]
async fn a_server_layer_replaces_the_final_status_of_unary_calls_and_of_streams_that_fail_midway() {
    let mapped = tower::util::MapResponseLayer::new(|response: http::Response<ResponseBody>| {
        response.map(|body| body.map_status(redact))
    });
    let server = TestServer::start_with(|server| server.layer(mapped)).await;
    let channel = server.channel();

    let status = unary(
        &channel,
        ProbeRequest::fail("unary", Code::Internal, "db password is hunter2"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "redacted");
    assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "MAPPED");

    // Two messages, then the failure: the status after them is mapped.
    let request = ProbeRequest::fail("stream", Code::Internal, "disk full at /srv").after(2);
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 2);
    let status = end.unwrap_err();
    assert_eq!(status.message(), "redacted", "{status:?}");
    assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "MAPPED");

    // A success is left alone.
    unary(&channel, ProbeRequest::new("ok", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn towers_timeout_layer_ends_a_slow_call_with_deadline_exceeded() {
    let mut server = TestServer::start_with(|server| {
        server.layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            100,
        )))
    })
    .await;
    let channel = server.channel();
    let request = ProbeRequest {
        sleep_ms: grpcx_tests::LONG_SLEEP.as_millis() as u64,
        ..ProbeRequest::new("slow", Action::Sleep)
    };
    let status = unary(&channel, request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer);
    // The handler was dropped, its cleanup ran.
    server.events.handler_dropped("slow").await;
    unary(&channel, ProbeRequest::new("fast", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn towers_concurrency_limit_with_load_shedding_turns_away_calls_over_the_limit() {
    let mut server = TestServer::start_with(|server| {
        server
            .layer(tower::load_shed::LoadShedLayer::new())
            .layer(tower::limit::ConcurrencyLimitLayer::new(1))
    })
    .await;
    let channel = server.channel();
    let waiting = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::new("waiting", Action::WaitGate)).await }
    });
    server.events.started("waiting").await;
    let status = unary(&channel, ProbeRequest::new("shed", Action::Reply))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(!server.events.was_started("shed"));
    server.open_gate();
    within("the waiting call", waiting).await.unwrap().unwrap();
    unary(&channel, ProbeRequest::new("after", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn tower_https_trace_layer_works_unchanged_and_sees_failures() {
    let failures = Arc::new(AtomicUsize::new(0));
    let counted = failures.clone();
    let trace = tower_http::trace::TraceLayer::new_for_grpc().on_failure(
        move |_: tower_http::classify::GrpcFailureClass, _: Duration, _: &tracing::Span| {
            counted.fetch_add(1, Ordering::SeqCst);
        },
    );
    let server = TestServer::start_with(|server| server.layer(trace)).await;
    let channel = server.channel();
    unary(&channel, ProbeRequest::new("ok", Action::Reply))
        .await
        .unwrap();
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    let status = unary(
        &channel,
        ProbeRequest::fail("bad", Code::NotFound, "no such"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "no such");
    let mut stream = server_streaming(
        &channel,
        ProbeRequest::new("stream", Action::Reply).after(3),
    )
    .await
    .unwrap()
    .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 3);
    end.unwrap();
    assert_eq!(failures.load(Ordering::SeqCst), 1, "the NOT_FOUND call");
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_message_is_answered_trailers_only() {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let request = ProbeRequest::fail("early", Code::ResourceExhausted, "quota");
    let response = raw
        .send(raw.request("ServerStream"), &[frame(&request)], true)
        .await;
    assert!(response.headers_ended_stream, "{response:?}");
    assert!(response.data.is_empty());
    let status = response.expect_status();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "quota");
}

#[tokio::test]
async fn a_response_stream_sends_its_headers_with_its_first_message_or_when_asked() {
    let ((service, gate), polled) = whoami_polled();
    let handle = serve(Server::builder().add_service(service)).await;
    let channel = channel(handle.addr);
    let codec = ProstCodec::<String, String>::default;

    // Asked early: the headers come before any message.
    let response = within(
        "the early headers",
        channel.server_streaming(
            whoami_path("Late"),
            Request::new("early".to_owned()),
            codec(),
        ),
    )
    .await
    .unwrap();
    let mut stream = response.into_inner();
    gate.notify_one();
    assert_eq!(
        within("the message", stream.message()).await.unwrap(),
        Some("late".to_owned())
    );

    // Not asked: nothing, not even headers, until the first message.
    let call = channel.server_streaming(
        whoami_path("Late"),
        Request::new("normal".to_owned()),
        codec(),
    );
    let mut call = std::pin::pin!(call);
    assert!(!poll_once(call.as_mut()).await);
    // The handler returned its stream and the server polls it...
    within("the stream being polled", polled.notified()).await;
    // ...and a call on the same connection answered after that: headers
    // sent before its answer would have arrived before it.
    get(&channel, Request::new(String::new())).await.unwrap();
    assert!(
        !poll_once(call.as_mut()).await,
        "the headers came before the first message"
    );
    gate.notify_one();
    let mut stream = within("the headers with the message", call)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        within("the message", stream.message()).await.unwrap(),
        Some("late".to_owned())
    );
}

/// Polls `future` once: whether it was ready.
async fn poll_once<F: Future>(future: Pin<&mut F>) -> bool {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let ready = future
            .as_mut()
            .is_some_and(|f| f.as_mut().poll(cx).is_ready());
        Poll::Ready(ready)
    })
    .await
}

#[tokio::test]
async fn a_handler_reads_grpc_previous_rpc_attempts() {
    let (service, _) = whoami();
    let handle = serve(Server::builder().add_service(service)).await;
    let mut raw = grpcx_tests::raw::RawClient::connect(handle.addr).await;
    let head = raw
        .request_path("/test.Whoami/Get")
        .header("grpc-previous-rpc-attempts", "2");
    let response = raw.send(head, &[frame(&String::new())], true).await;
    assert_eq!(response.expect_status().code(), Code::Ok);
    let replies: Vec<String> = response.messages();
    assert_eq!(replies[0].split('|').nth(1), Some("2"));
}

#[tokio::test]
async fn the_server_serves_an_in_memory_connection() {
    let (service, _) = whoami();
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let incoming = futures_util::stream::iter([Ok::<_, std::io::Error>(server_end)]);
    let server = tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );

    let (mut sender, connection) = h2::client::handshake(client_end).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::builder()
        .method("POST")
        .uri("http://in-memory/test.Whoami/Get")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut body) = sender.send_request(request, false).unwrap();
    body.send_data(frame(&"x".to_owned()), true).unwrap();
    let response = within("the in-memory response", response).await.unwrap();
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = within("the data", body.data()).await {
        data.extend_from_slice(&chunk.unwrap());
    }
    let trailers = within("the trailers", body.trailers())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trailers["grpc-status"], "0");
    let reply = <String as prost::Message>::decode(&data[5..]).unwrap();
    // An in-memory connection has no peer address.
    assert_eq!(reply, "anonymous|0|");
    drop(sender);
    server.abort();
}

/// A body that is not a `ResponseBody`, from a layer: its end still needs
/// a status, and its error becomes one.
#[derive(Clone)]
struct Replace<S>(S);

impl<S> Service<http::Request<Body>> for Replace<S> {
    type Response = http::Response<Failing>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<http::Response<Failing>, std::convert::Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::convert::Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        let mut response = http::Response::new(Failing(false));
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/grpc"),
        );
        std::future::ready(Ok(response))
    }
}

/// One message, then an I/O error.
struct Failing(bool);

impl http_body::Body for Failing {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(Some(Err(std::io::Error::other("secret path /srv/db"))));
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(frame(&"hi".to_owned())))))
    }
}

#[tokio::test]
async fn a_layers_own_body_that_fails_ends_the_call_with_a_status_that_reveals_nothing() {
    let server =
        TestServer::start_with(|server| server.layer(tower::layer::layer_fn(Replace))).await;
    let channel = server.channel();
    let mut stream = within(
        "a replaced response",
        channel.server_streaming(
            grpcx_tests::path("ServerStream"),
            Request::new(ProbeRequest::new("x", Action::Reply)),
            ProstCodec::<ProbeRequest, String>::default(),
        ),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(stream.message().await.unwrap(), Some("hi".to_owned()));
    let status = within("the end", stream.message()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(!status.message().contains("secret"), "{status:?}");
}
