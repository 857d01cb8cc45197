//! The retry layer over real connections: retries of a flaky server,
//! pushback and `RetryInfo`, the commit at response headers, a dead
//! server, refused streams, and the cancelled loser of a hedged call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::Stream;
use grpcx::client::Grpc;
use grpcx::codec::ProstCodec;
use grpcx::middleware::retry::{Attempts, RetryLayer, ServiceConfig};
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{CallOutcome, Channel, Request, Response, Server, ServerRequest, Streaming};
use grpcx::{Code, Origin, Pushback, RetryInfo, Status};
use grpcx_tests::raw::{RawServer, frame, grpc_response_head};
use grpcx_tests::{ProbeReply, ProbeRequest, WAIT, codec, endpoint, serve, within};
use http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;

/// The flaky service's name.
const FLAKY: &str = "grpcx.test.Flaky";

/// What a call of the flaky service did, reported from `on_done`.
#[derive(Clone, Debug)]
struct Done {
    id: String,
    previous_attempts: u32,
    outcome: CallOutcome,
}

/// A service that fails each request id `count` times with `code`, then
/// replies; the request's `message` picks a twist:
///
/// - `"stop"`: fail with a "do not retry" pushback;
/// - `"retry-info"`: fail with a `RetryInfo` of `sleep_ms`;
/// - `"hedge"`: the first attempt never answers; later ones reply;
/// - `"sleep"`: sleep `sleep_ms` before replying.
///
/// A reply's `seq` is the attempt's `grpc-previous-rpc-attempts`.
/// `ServerStream` sends one message and then fails with `code`.
#[derive(Clone)]
struct Flaky {
    calls: Arc<Mutex<HashMap<String, u32>>>,
    done: mpsc::UnboundedSender<Done>,
}

type Replies = std::pin::Pin<Box<dyn Stream<Item = Result<ProbeReply, Status>> + Send>>;

impl Flaky {
    fn new() -> (Flaky, mpsc::UnboundedReceiver<Done>) {
        let (done, events) = mpsc::unbounded_channel();
        let flaky = Flaky {
            calls: Arc::default(),
            done,
        };
        (flaky, events)
    }

    /// How many calls of `id` the service saw.
    fn calls(&self, id: &str) -> u32 {
        self.calls.lock().unwrap().get(id).copied().unwrap_or(0)
    }

    fn start(&self, request: &ServerRequest<ProbeRequest>) -> (ProbeRequest, u32, u32) {
        let ctx = request.context().clone();
        let message = request.get_ref().clone();
        let seen = {
            let mut calls = self.calls.lock().unwrap();
            let seen = calls.entry(message.id.clone()).or_default();
            *seen += 1;
            *seen
        };
        let done = self.done.clone();
        let id = message.id.clone();
        let previous_attempts = ctx.previous_attempts();
        ctx.on_done(move |outcome| {
            let _ = done.send(Done {
                id,
                previous_attempts,
                outcome,
            });
        });
        (message, seen, previous_attempts)
    }

    async fn unary(
        self,
        request: ServerRequest<ProbeRequest>,
    ) -> Result<Response<ProbeReply>, Status> {
        let (message, seen, previous) = self.start(&request);
        let reply = ProbeReply {
            id: message.id.clone(),
            seq: previous,
            payload: Vec::new(),
        };
        match message.message.as_str() {
            "hedge" if previous == 0 => std::future::pending().await,
            "hedge" => return Ok(Response::new(reply)),
            "sleep" => tokio::time::sleep(Duration::from_millis(message.sleep_ms)).await,
            _ => {}
        }
        if seen > message.count {
            return Ok(Response::new(reply));
        }
        let status = Status::new(Code::from_i32(message.code), format!("failure {seen}"));
        Err(match message.message.as_str() {
            "stop" => status.with_pushback(Pushback::Stop),
            "retry-info" => {
                status.with_detail(RetryInfo::after(Duration::from_millis(message.sleep_ms)))
            }
            _ => status,
        })
    }

    async fn server_stream(
        self,
        request: ServerRequest<ProbeRequest>,
    ) -> Result<Response<Replies>, Status> {
        let (message, _, _) = self.start(&request);
        let code = Code::from_i32(message.code);
        let replies: Replies = Box::pin(futures_util::stream::iter([
            Ok(ProbeReply {
                id: message.id,
                ..ProbeReply::default()
            }),
            Err(Status::new(code, "failed after the headers")),
        ]));
        Ok(Response::new(replies))
    }
}

impl Flaky {
    /// Reads every message; the first one's `id`, `count` and `code` say
    /// how to fail, and with the `message` `"early"` it fails as soon as it
    /// has read the first, leaving the rest of the request stream unread.
    /// Replies with the ids read, joined, and their number.
    async fn client_stream(
        self,
        request: ServerRequest<Streaming<ProbeRequest>>,
    ) -> Result<Response<ProbeReply>, Status> {
        let mut messages = request.into_inner();
        let first = messages.message().await?.unwrap_or_default();
        let seen = {
            let mut calls = self.calls.lock().unwrap();
            let seen = calls.entry(first.id.clone()).or_default();
            *seen += 1;
            *seen
        };
        let fail = Status::new(Code::from_i32(first.code), format!("failure {seen}"));
        if seen <= first.count && first.message == "early" {
            return Err(fail);
        }
        let mut ids = first.id.clone();
        let mut read = 1;
        while let Some(message) = messages.message().await? {
            ids.push_str(&message.id);
            read += 1;
        }
        if seen <= first.count {
            return Err(fail);
        }
        Ok(Response::new(ProbeReply {
            id: ids,
            seq: read,
            payload: Vec::new(),
        }))
    }
}

impl GrpcService for Flaky {
    fn name(&self) -> &'static str {
        FLAKY
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let flaky = self.clone();
        match method {
            "Unary" => Box::pin(handler::unary(call, ProstCodec::default(), move |r| {
                flaky.unary(r)
            })),
            "ServerStream" => Box::pin(handler::server_streaming(
                call,
                ProstCodec::default(),
                move |r| flaky.server_stream(r),
            )),
            "ClientStream" => Box::pin(handler::client_streaming(
                call,
                ProstCodec::default(),
                move |r| flaky.client_stream(r),
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

fn path(method: &str) -> http::uri::PathAndQuery {
    format!("/{FLAKY}/{method}").parse().unwrap()
}

/// A service config retrying `UNAVAILABLE` up to `attempts` times, with
/// short backoffs.
fn retrying(attempts: u32) -> RetryLayer {
    let config = ServiceConfig::from_json(&format!(
        r#"{{"methodConfig": [{{"name": [{{"service": "{FLAKY}"}}],
            "retryPolicy": {{"maxAttempts": {attempts}, "initialBackoff": "0.01s",
              "maxBackoff": "0.05s", "backoffMultiplier": 2,
              "retryableStatusCodes": ["UNAVAILABLE"]}}}}]}}"#
    ))
    .unwrap();
    RetryLayer::new(config).rng_seed(1)
}

fn client(layer: RetryLayer, channel: &Channel) -> Grpc<impl grpcx::client::ClientService + use<>> {
    Grpc::new(
        tower::ServiceBuilder::new()
            .layer(layer)
            .service(channel.clone()),
    )
    .with_config(channel.config())
}

fn failing(id: &str, count: u32, code: Code, twist: &str) -> Request<ProbeRequest> {
    Request::new(ProbeRequest {
        id: id.to_owned(),
        count,
        code: code.as_i32(),
        message: twist.to_owned(),
        ..ProbeRequest::default()
    })
    .with_timeout(WAIT)
}

async fn start_flaky() -> (
    Flaky,
    mpsc::UnboundedReceiver<Done>,
    grpcx_tests::ServerHandle,
) {
    let (flaky, done) = Flaky::new();
    let handle = serve(Server::builder().add_service(flaky.clone())).await;
    (flaky, done, handle)
}

#[tokio::test]
async fn a_call_that_fails_twice_succeeds_on_the_third_attempt() {
    let (flaky, _done, server) = start_flaky().await;
    let client = client(retrying(4), &grpcx_tests::channel(server.addr));
    let response = within(
        "a retried call",
        client.unary(
            path("Unary"),
            failing("twice", 2, Code::Unavailable, ""),
            codec(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        response.get_ref().seq,
        2,
        "the server saw two previous attempts"
    );
    assert_eq!(flaky.calls("twice"), 3);

    // Out of attempts: the last status, and how many.
    let status = within(
        "a call that keeps failing",
        client.unary(
            path("Unary"),
            failing("always", 10, Code::Unavailable, ""),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "failure 4");
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(status.attempts(), Some(4));
    assert_eq!(flaky.calls("always"), 4);

    // A code the policy does not retry.
    let status = within(
        "a call failing with a client error",
        client.unary(
            path("Unary"),
            failing("bad", 10, Code::InvalidArgument, ""),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.attempts(), Some(1));
}

#[tokio::test]
async fn a_streaming_request_is_replayed_to_the_next_attempt() {
    let (flaky, _done, server) = start_flaky().await;
    let client = client(retrying(3), &grpcx_tests::channel(server.addr));
    let messages: Vec<ProbeRequest> = ["s", "t", "r", "e", "a", "m"]
        .into_iter()
        .enumerate()
        .map(|(i, id)| ProbeRequest {
            id: id.to_owned(),
            count: if i == 0 { 2 } else { 0 },
            code: Code::Unavailable.as_i32(),
            padding: vec![7; 1000],
            ..ProbeRequest::default()
        })
        .collect();
    let request = Request::new(futures_util::stream::iter(messages)).with_timeout(WAIT);
    let reply = within(
        "a retried client-streaming call",
        client.client_streaming(path("ClientStream"), request, codec()),
    )
    .await
    .unwrap();
    assert_eq!(reply.get_ref().id, "stream", "every message, in order");
    assert_eq!(reply.get_ref().seq, 6);
    assert_eq!(flaky.calls("s"), 3);

    // Over the per-call buffer, the call commits: one attempt only.
    let client = client_with(retrying(3).per_rpc_buffer_limit(2000), &server);
    let messages: Vec<ProbeRequest> = (0..4)
        .map(|i| ProbeRequest {
            id: format!("big{i}"),
            count: 2,
            code: Code::Unavailable.as_i32(),
            padding: vec![7; 1000],
            ..ProbeRequest::default()
        })
        .collect();
    let request = Request::new(futures_util::stream::iter(messages)).with_timeout(WAIT);
    let status = within(
        "a client-streaming call over the buffer",
        client.client_streaming(path("ClientStream"), request, codec()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(flaky.calls("big0"), 1);
}

#[tokio::test]
async fn a_request_stream_still_being_sent_is_replayed_after_an_early_failure() {
    let (flaky, _done, server) = start_flaky().await;
    let client = client(retrying(3), &grpcx_tests::channel(server.addr));
    let messages: Vec<ProbeRequest> = ["e", "a", "r", "l", "y"]
        .into_iter()
        .enumerate()
        .map(|(i, id)| ProbeRequest {
            id: id.to_owned(),
            count: if i == 0 { 1 } else { 0 },
            code: Code::Unavailable.as_i32(),
            message: "early".to_owned(),
            ..ProbeRequest::default()
        })
        .collect();
    // The messages come slowly: the first attempt fails while the rest
    // are still to be sent.
    let slow = futures_util::StreamExt::then(futures_util::stream::iter(messages), |m| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        m
    });
    let request = Request::new(slow).with_timeout(WAIT);
    let reply = within(
        "a client-streaming call failed early",
        client.client_streaming(path("ClientStream"), request, codec()),
    )
    .await
    .unwrap();
    assert_eq!(reply.get_ref().id, "early", "every message, in order");
    assert_eq!(reply.get_ref().seq, 5);
    assert_eq!(flaky.calls("e"), 2);
}

fn client_with(
    layer: RetryLayer,
    server: &grpcx_tests::ServerHandle,
) -> Grpc<impl grpcx::client::ClientService + use<>> {
    client(layer, &grpcx_tests::channel(server.addr))
}

#[tokio::test]
async fn the_attempts_of_a_successful_call_are_in_its_extensions() {
    let (_flaky, _done, server) = start_flaky().await;
    let channel = grpcx_tests::channel(server.addr);
    let mut service = tower::ServiceBuilder::new()
        .layer(retrying(3))
        .service(channel.clone());
    let encoded = grpcx_tests::raw::frame(&ProbeRequest {
        id: "ext".to_owned(),
        count: 1,
        code: Code::Unavailable.as_i32(),
        ..ProbeRequest::default()
    });
    let mut request = http::Request::new(grpcx::Body::from(encoded));
    *request.uri_mut() = path("Unary").as_str().parse().unwrap();
    let response = within(
        "a raw retried call",
        tower::ServiceExt::<http::Request<grpcx::Body>>::oneshot(&mut service, request),
    )
    .await
    .unwrap();
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(2)));
}

#[tokio::test]
async fn a_stop_pushback_is_not_retried() {
    let (flaky, _done, server) = start_flaky().await;
    let client = client(retrying(4), &grpcx_tests::channel(server.addr));
    let status = within(
        "a pushed-back call",
        client.unary(
            path("Unary"),
            failing("stop", 3, Code::Unavailable, "stop"),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.pushback(), Some(Pushback::Stop));
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(flaky.calls("stop"), 1);
}

#[tokio::test]
async fn a_retry_info_delay_is_waited() {
    let (flaky, _done, server) = start_flaky().await;
    let client = client(retrying(4), &grpcx_tests::channel(server.addr));
    let mut request = failing("info", 1, Code::Unavailable, "retry-info");
    request.get_mut().sleep_ms = 300;
    let start = Instant::now();
    within(
        "a call with RetryInfo",
        client.unary(path("Unary"), request, codec()),
    )
    .await
    .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "the backoff alone is at most 10ms; waited {:?}",
        start.elapsed()
    );
    assert_eq!(flaky.calls("info"), 2);
}

#[tokio::test]
async fn an_error_after_the_response_headers_is_not_retried() {
    let (flaky, _done, server) = start_flaky().await;
    let client = client(retrying(4), &grpcx_tests::channel(server.addr));
    let request = failing("late", 0, Code::Unavailable, "");
    let response = within(
        "a server-streaming call",
        client.server_streaming(path("ServerStream"), request, codec()),
    )
    .await
    .expect("the headers commit the call");
    let mut stream: Streaming<ProbeReply> = response.into_inner();
    let first = within("the first message", stream.message()).await.unwrap();
    assert_eq!(first.unwrap().id, "late");
    let status = within("the end of the stream", stream.message())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "failed after the headers");
    assert_eq!(flaky.calls("late"), 1, "committed: never sent again");
}

#[tokio::test]
async fn a_dead_server_fails_after_the_attempts_without_hanging() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let channel = endpoint(format!("127.0.0.1:{port}").parse().unwrap()).connect_lazy();
    let client = client(retrying(3), &channel);
    let status = within(
        "a call to nobody",
        client.unary(path("Unary"), failing("dead", 0, Code::Ok, ""), codec()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.origin(), Origin::Transport);
    assert_eq!(status.attempts(), Some(3));
}

#[tokio::test]
async fn a_refused_stream_is_retried_transparently() {
    let heads: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let server = {
        let heads = heads.clone();
        RawServer::start(move |request, mut respond, _close| {
            let heads = heads.clone();
            async move {
                let (parts, mut body) = request.into_parts();
                let first = {
                    let mut heads = heads.lock().unwrap();
                    heads.push(parts.headers.clone());
                    heads.len() == 1
                };
                if first {
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    return;
                }
                while let Some(chunk) = body.data().await {
                    chunk.unwrap();
                }
                let head = grpc_response_head(StatusCode::OK, "application/grpc");
                let mut stream = respond.send_response(head, false).unwrap();
                stream
                    .send_data(frame(&ProbeReply::default()), false)
                    .unwrap();
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                stream.send_trailers(trailers).unwrap();
            }
        })
        .await
    };
    // No policy at all: the retry is transparent.
    let client = client(RetryLayer::default(), &grpcx_tests::channel(server.addr));
    within(
        "a refused call",
        client.unary(path("Unary"), failing("refused", 0, Code::Ok, ""), codec()),
    )
    .await
    .expect("sent again after the refusal");
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 2);
    assert!(
        heads
            .iter()
            .all(|h| h.get("grpc-previous-rpc-attempts").is_none()),
        "a transparent retry is the same attempt"
    );
}

#[tokio::test]
async fn the_loser_of_a_hedged_call_is_cancelled_on_the_server() {
    let (flaky, mut done, server) = start_flaky().await;
    let config = ServiceConfig::from_json(&format!(
        r#"{{"methodConfig": [{{"name": [{{"service": "{FLAKY}"}}],
            "hedgingPolicy": {{"maxAttempts": 2, "hedgingDelay": "0.05s",
              "nonFatalStatusCodes": ["UNAVAILABLE"]}}}}]}}"#
    ))
    .unwrap();
    let client = client(RetryLayer::new(config), &grpcx_tests::channel(server.addr));
    let response = within(
        "a hedged call",
        client.unary(
            path("Unary"),
            failing("hedge", 0, Code::Ok, "hedge"),
            codec(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.get_ref().seq, 1, "the hedge won");
    assert_eq!(flaky.calls("hedge"), 2);

    let mut outcomes = HashMap::new();
    while outcomes.len() < 2 {
        let event = within("the end of both attempts", done.recv())
            .await
            .unwrap();
        outcomes.insert(event.previous_attempts, event.outcome);
        assert_eq!(event.id, "hedge");
    }
    assert_eq!(outcomes[&0], CallOutcome::Cancelled, "the loser");
    assert_eq!(outcomes[&1], CallOutcome::Completed(Code::Ok), "the winner");
}

#[tokio::test]
async fn a_wait_for_ready_call_waits_for_the_server_to_come_up() {
    // The flaky service over in-memory pipes, behind a connector that
    // fails its first three dials: a server not up yet.
    let (flaky, _done) = Flaky::new();
    let (pipes, accepted) = mpsc::unbounded_channel::<tokio::io::DuplexStream>();
    let incoming = futures_util::stream::unfold(accepted, |mut accepted| async move {
        let pipe = accepted.recv().await?;
        Some((Ok::<_, std::io::Error>(pipe), accepted))
    });
    let server = tokio::spawn(
        Server::builder()
            .add_service(flaky.clone())
            .serve_with_incoming(incoming),
    );
    let dials = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let connector = {
        let dials = dials.clone();
        tower::service_fn(move |_uri: http::Uri| {
            let dial = dials.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let pipes = pipes.clone();
            async move {
                if dial < 3 {
                    return Err(std::io::Error::other("connection refused"));
                }
                let (client, server) = tokio::io::duplex(64 * 1024);
                pipes
                    .send(server)
                    .map_err(|_| std::io::Error::other("the server is gone"))?;
                Ok::<_, std::io::Error>(client)
            }
        })
    };
    // The channel's own reconnection backoff, which decides when it dials
    // again, is short too.
    let channel = grpcx::Endpoint::new("http://in-memory")
        .unwrap()
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .connect_with_connector_lazy(connector);

    // Without waitForReady (and no policy), a failed connect fails the call.
    let status = within(
        "a call that does not wait",
        client(RetryLayer::default(), &channel).unary(
            path("Unary"),
            failing("impatient", 0, Code::Ok, ""),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.origin(), Origin::Transport);
    assert_eq!(status.attempts(), Some(1));

    let config = ServiceConfig::from_json(
        r#"{"methodConfig": [{"name": [{}], "waitForReady": true, "timeout": "20s"}]}"#,
    )
    .unwrap();
    let layer = RetryLayer::new(config)
        .wait_for_ready_backoff(Duration::from_millis(5), Duration::from_millis(20));
    let response = within(
        "a call that waits for ready",
        client(layer, &channel).unary(path("Unary"), failing("patient", 0, Code::Ok, ""), codec()),
    )
    .await
    .expect("answered once the server is up");
    assert_eq!(response.get_ref().seq, 0, "waits are not attempts");
    assert_eq!(dials.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(flaky.calls("patient"), 1);
    server.abort();
}
