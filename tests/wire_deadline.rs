//! Deadlines over the wire: a call past its timeout ends with
//! `DEADLINE_EXCEEDED` on the client, the server reports it as such, and
//! the handler is dropped (its cleanup runs), for all four kinds of call;
//! the server enforces `grpc-timeout` by itself.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use grpcx::{CallOutcome, Request};
use grpcx::{Code, Origin, Status};
use grpcx_tests::probe::{Action, ProbeReply, ProbeRequest};
use grpcx_tests::raw::frame;
use grpcx_tests::{LONG_SLEEP, TestServer, codec, drain, path, within};
use http::StatusCode;

/// The client's timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(200);

/// A request that sleeps [`LONG_SLEEP`] after `count` messages.
fn sleeper(id: &str, count: u32) -> ProbeRequest {
    ProbeRequest {
        sleep_ms: LONG_SLEEP.as_millis() as u64,
        ..ProbeRequest::new(id, Action::Sleep).after(count)
    }
}

/// Checks the client's status for an expired call and how long it took.
#[track_caller]
fn assert_expired(status: &Status, elapsed: Duration) {
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    // Made locally by the client's timer, or sent by the server's: both
    // are right.
    assert!(
        matches!(status.origin(), Origin::Deadline | Origin::Peer),
        "{status:?}"
    );
    assert!(
        elapsed >= TIMEOUT,
        "expired after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "expired after {elapsed:?}: the client waited for the handler"
    );
}

/// Checks what the server saw of a call the client's timer ended: the
/// deadline inside the handler, the handler's cleanup, and the outcome.
///
/// The client's timer fires at the client's deadline and resets the
/// stream; the server's deadline, counted from when the request arrived,
/// is a little later. Which the server sees first depends on the network,
/// so the outcome follows one rule: a reset that arrives at or after the
/// server's own deadline is `DeadlineExceeded`, one that arrives before it
/// is `Cancelled` (the rule itself is unit-tested with paused time, next to
/// `CallGuard`). Here: either, and never `DeadlineExceeded` before the
/// deadline.
async fn assert_client_expired_on_server(server: &mut TestServer, id: &str, timeout: Duration) {
    let deadline = server
        .events
        .started_deadline(id)
        .await
        .expect("the handler sees a deadline");
    let (outcome, at) = server.events.done_at(id).await;
    match outcome {
        CallOutcome::DeadlineExceeded => {
            assert!(at >= deadline, "DeadlineExceeded before the deadline");
        }
        CallOutcome::Cancelled => {}
        other => panic!("the outcome of {id}: {other:?}"),
    }
    assert!(
        deadline <= tokio::time::Instant::now() + timeout,
        "the server's deadline is within the timeout"
    );
    server.events.handler_dropped(id).await;
}

/// Checks what the server saw of a call its own deadline ended: the
/// deadline inside the handler, the outcome, and the handler's cleanup.
async fn assert_expired_on_server(server: &mut TestServer, id: &str, timeout: Duration) {
    let (_, time_remaining) = server.events.started(id).await;
    let remaining = time_remaining.expect("the handler sees a deadline");
    assert!(
        remaining <= timeout,
        "{remaining:?} left of a {timeout:?} timeout"
    );
    assert_eq!(
        server.events.done(id).await,
        CallOutcome::DeadlineExceeded,
        "the outcome of {id}"
    );
    server.events.handler_dropped(id).await;
}

#[tokio::test]
async fn a_unary_call_past_its_timeout_expires_on_both_sides() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = Request::new(sleeper("unary", 0)).with_timeout(TIMEOUT);
    let started = Instant::now();
    let status = within(
        "an expiring unary call",
        channel.unary(path("Unary"), request, codec()),
    )
    .await
    .unwrap_err();
    assert_expired(&status, started.elapsed());
    assert_client_expired_on_server(&mut server, "unary", TIMEOUT).await;
}

#[tokio::test]
async fn a_server_stream_past_its_timeout_expires_on_both_sides() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = Request::new(sleeper("server-stream", 1)).with_timeout(TIMEOUT);
    let started = Instant::now();
    let response = within(
        "an expiring server-streaming call",
        channel.server_streaming(path("ServerStream"), request, codec()),
    )
    .await
    .unwrap();
    let mut stream = response.into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 1, "the message sent before the stall");
    assert_expired(&end.unwrap_err(), started.elapsed());
    assert_client_expired_on_server(&mut server, "server-stream", TIMEOUT).await;
}

#[tokio::test]
async fn a_client_stream_past_its_timeout_expires_on_both_sides() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    // One request, then the request stream stays open.
    let requests = futures_util::stream::iter([sleeper("client-stream", 0)])
        .chain(futures_util::stream::pending());
    let request = Request::new(requests).with_timeout(TIMEOUT);
    let started = Instant::now();
    let status = within(
        "an expiring client-streaming call",
        channel.client_streaming(path("ClientStream"), request, codec()),
    )
    .await
    .unwrap_err();
    assert_expired(&status, started.elapsed());
    assert_client_expired_on_server(&mut server, "client-stream", TIMEOUT).await;
}

#[tokio::test]
async fn a_bidi_stream_past_its_timeout_expires_on_both_sides() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let requests =
        futures_util::stream::iter([sleeper("bidi", 1)]).chain(futures_util::stream::pending());
    let request = Request::new(requests).with_timeout(TIMEOUT);
    let started = Instant::now();
    let response = within(
        "an expiring bidi call",
        channel.bidi_streaming_from_stream(path("Bidi"), request, codec()),
    )
    .await
    .unwrap();
    let mut stream = response.into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 1, "the message sent before the stall");
    assert_expired(&end.unwrap_err(), started.elapsed());
    assert_client_expired_on_server(&mut server, "bidi", TIMEOUT).await;
}

/// The server's own deadline: the client sends `grpc-timeout` and keeps no
/// timer, so whatever ends the call comes from the server.
async fn server_enforced(method: &str, request: ProbeRequest) -> (TestServer, Vec<ProbeReply>) {
    let server = TestServer::start().await;
    let mut raw = server.raw().await;
    let head = raw.request(method).header("grpc-timeout", "100m");
    let started = Instant::now();
    let response = raw.send(head, &[frame(&request)], true).await;
    let elapsed = started.elapsed();
    assert_eq!(response.http_status, Some(StatusCode::OK), "{response:?}");
    let status = response.status().unwrap_or_else(|| {
        panic!(
            "the server sent no grpc-status (reset {:?}): {response:?}",
            response.reset
        )
    });
    assert_eq!(
        status.code(),
        Code::DeadlineExceeded,
        "the server's own deadline: {status:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(10),
        "answered after {elapsed:?}"
    );
    let messages = response.messages();
    (server, messages)
}

#[tokio::test]
async fn the_server_enforces_grpc_timeout_on_a_unary_call() {
    let (mut server, messages) = server_enforced("Unary", sleeper("raw-unary", 0)).await;
    assert!(messages.is_empty());
    assert_expired_on_server(&mut server, "raw-unary", Duration::from_millis(100)).await;
}

#[tokio::test]
async fn the_server_enforces_grpc_timeout_on_a_stream() {
    let (mut server, messages) = server_enforced("ServerStream", sleeper("raw-stream", 1)).await;
    assert_eq!(messages.len(), 1, "the message sent before the stall");
    assert_expired_on_server(&mut server, "raw-stream", Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_handler_sees_the_time_remaining() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request =
        Request::new(ProbeRequest::new("remaining", Action::Reply)).with_timeout(TIMEOUT * 50);
    within(
        "a call with a timeout",
        channel.unary(path("Unary"), request, codec()),
    )
    .await
    .unwrap();
    let (_, remaining) = server.events.started("remaining").await;
    let remaining = remaining.expect("the handler sees a deadline");
    assert!(
        remaining <= TIMEOUT * 50 && remaining > Duration::ZERO,
        "{remaining:?}"
    );
    // Without a timeout there is no deadline.
    within(
        "a call without a timeout",
        channel.unary(
            path("Unary"),
            Request::new(ProbeRequest::new("no-deadline", Action::Reply)),
            codec(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(server.events.started("no-deadline").await.1, None);
}
