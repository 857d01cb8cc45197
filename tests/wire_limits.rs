//! The server's limits and defences over the wire: the concurrent-stream
//! limit, the header-list limit, rapid reset (CVE-2023-44487), keepalive on
//! both sides against a network blackhole, and a graceful drain seen by a
//! raw h2 client.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use grpcx::{CallOutcome, Request};
use grpcx::{Code, Metadata, Origin};
use grpcx_tests::probe::{Action, Event, ProbeReply, ProbeRequest};
use grpcx_tests::raw::{RawClient, WireEvent, WireEvents, frame};
use grpcx_tests::relay::Relay;
use grpcx_tests::{TestServer, WAIT, channel, endpoint, unary, within};
use h2::Reason;
use http::StatusCode;
use tokio::sync::oneshot;

/// How long a negative check waits to see that something does not happen.
const NEGATIVE_WAIT: Duration = Duration::from_millis(300);

/// The keepalive of the keepalive tests: a ping after 100 ms of silence,
/// the connection closed 200 ms after an unanswered one.
const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(100);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(200);

/// How soon a dead connection must be noticed with that keepalive: far
/// more than the 300 ms it takes, far less than a hang.
const DEAD_CONNECTION_NOTICED: Duration = Duration::from_secs(5);

fn waiter(id: &str) -> ProbeRequest {
    ProbeRequest::new(id, Action::WaitGate)
}

fn is_done(event: &Event, id: &str) -> bool {
    matches!(event, Event::Done { .. }) && event.id() == id
}

fn is_started(event: &Event, id: &str) -> bool {
    matches!(event, Event::Started { .. }) && event.id() == id
}

#[tokio::test]
async fn a_call_over_max_concurrent_streams_waits_for_the_open_one_to_end() {
    let mut server = TestServer::start_with(|server| server.max_concurrent_streams(1)).await;
    let channel = server.channel();
    // A first round trip: the client has read the server's SETTINGS (sent
    // before any response), so it knows the limit.
    unary(&channel, ProbeRequest::new("warm-up", Action::Reply))
        .await
        .unwrap();
    let first = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, waiter("first")).await }
    });
    server.events.started("first").await;
    let second = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, waiter("second")).await }
    });
    // A bounded negative check: while the first call holds the only
    // stream, the second does not reach its handler.
    let early = tokio::time::timeout(NEGATIVE_WAIT, server.events.started("second")).await;
    assert!(
        early.is_err(),
        "the second call started while the first held the only stream"
    );

    server.open_gate();
    // The order: the first call ends on the server (its on_done runs
    // before its trailers go out), and only then does the second start.
    let next = server
        .events
        .wait_for("the first call ending or the second starting", |e| {
            is_done(e, "first") || is_started(e, "second")
        })
        .await;
    assert!(
        matches!(
            next,
            Event::Done {
                outcome: CallOutcome::Completed(Code::Ok),
                ..
            }
        ),
        "the second call started before the first ended: {next:?}"
    );
    server.events.started("second").await;

    let first = within("the first call", first).await.unwrap().unwrap();
    assert_eq!(first.get_ref().id, "first");
    let second = within("the second call", second).await.unwrap().unwrap();
    assert_eq!(second.get_ref().id, "second");
    assert_eq!(
        server.events.done("second").await,
        CallOutcome::Completed(Code::Ok)
    );
}

#[tokio::test]
async fn a_raw_client_ignoring_max_concurrent_streams_gets_refused_stream() {
    let mut server = TestServer::start_with(|server| server.max_concurrent_streams(1)).await;
    // Both requests are queued before the client reads the server's
    // SETTINGS, so it sends them both: one more than the server allows.
    let (release, hold) = oneshot::channel();
    let (mut raw, mut wire) =
        RawClient::connect_with(server.addr(), &h2::client::Builder::new(), Some(hold)).await;
    let mut first = raw.start(raw.request("Unary")).await;
    first.send(frame(&waiter("raw-first")), true);
    let mut excess = raw.start(raw.request("Unary")).await;
    excess.send(frame(&ProbeRequest::new("raw-excess", Action::Reply)), true);
    release.send(()).unwrap();

    let refused = excess.response().await;
    assert_eq!(refused.reset, Some(Reason::REFUSED_STREAM), "{refused:?}");
    assert_eq!(refused.http_status, None, "{refused:?}");
    let (before, reset) = wire
        .wait_for("the RST_STREAM of the excess stream", |e| {
            matches!(e, WireEvent::Reset { .. })
        })
        .await;
    assert_eq!(
        reset,
        WireEvent::Reset {
            stream_id: 3,
            reason: Reason::REFUSED_STREAM
        },
        "after {before:?}"
    );

    // The stream within the limit is served as usual.
    server.events.started("raw-first").await;
    server.open_gate();
    let response = first.response().await;
    assert_eq!(response.http_status, Some(StatusCode::OK), "{response:?}");
    assert_eq!(response.expect_status().code(), Code::Ok, "{response:?}");
    let replies: Vec<ProbeReply> = response.messages();
    assert_eq!(replies.len(), 1, "{response:?}");
    assert_eq!(replies[0].id, "raw-first");
    assert_eq!(
        server.events.done("raw-first").await,
        CallOutcome::Completed(Code::Ok)
    );
    // The refused stream never reached a handler, and the connection
    // still serves, now within the limit.
    raw.check_unary_ok("raw-after").await;
    assert!(!server.events.was_started("raw-excess"));
}

#[tokio::test]
async fn request_metadata_over_max_header_list_size_fails_clearly_and_the_server_goes_on() {
    let mut server = TestServer::start_with(|server| server.max_header_list_size(4096)).await;
    let channel = server.channel();
    let mut metadata = Metadata::new();
    metadata.insert("x-big", &"b".repeat(10 * 1024)).unwrap();
    let request = Request::new(ProbeRequest::new("too-big", Action::Reply)).with_metadata(metadata);
    let status = unary(&channel, request).await.unwrap_err();
    // h2 answers an oversized header block itself with HTTP 431 (the call
    // never reaches grpcx): INTERNAL, as gRPC's HTTP mapping says, with a
    // message naming the limit.
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        status.message().contains("header list limit")
            && status.message().contains("max_header_list_size"),
        "the message says what went wrong: {status:?}"
    );

    // A new connection is served.
    let reply = unary(
        &server.channel(),
        ProbeRequest::new("new-connection", Action::Reply),
    )
    .await
    .unwrap();
    assert_eq!(reply.get_ref().id, "new-connection");
    // So is the same channel.
    let reply = unary(&channel, ProbeRequest::new("same-channel", Action::Reply))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().id, "same-channel");
    assert!(!server.events.was_started("too-big"));
}

/// How a reset attack ended.
#[derive(Debug)]
struct AttackEnd {
    /// Streams opened (a whole request each) and reset.
    sent: usize,
    /// Why the attack stopped before `max_streams`, if it did.
    stopped_by: Option<String>,
}

/// Opens streams on `raw` and resets them at once, `batch` at a time: for
/// each, a whole request (`request(n)`, so that a stream the server
/// accepted starts a handler) then RST_STREAM(CANCEL), all queued before
/// anything goes out; then a PING, whose answer means the server has read
/// the batch. Stops after `max_streams` streams, [`WAIT`], or as soon as
/// the server sends GOAWAY or closes the connection.
async fn reset_attack(
    raw: &mut RawClient,
    wire: &mut WireEvents,
    batch: usize,
    max_streams: usize,
    request: impl Fn(usize) -> ProbeRequest,
) -> AttackEnd {
    let began = Instant::now();
    let mut sent = 0;
    while sent < max_streams && began.elapsed() < WAIT {
        for _ in 0..batch.min(max_streams - sent) {
            match raw.try_start(raw.request("Unary")).await {
                Ok(mut call) => {
                    let _ = call.body.send_data(frame(&request(sent)), true);
                    call.body.send_reset(Reason::CANCEL);
                    sent += 1;
                }
                Err(err) => {
                    let stopped_by = Some(format!("no stream could be opened: {err}"));
                    return AttackEnd { sent, stopped_by };
                }
            }
        }
        if let Err(err) = raw.ping().await {
            let stopped_by = Some(format!("the PING failed: {err}"));
            return AttackEnd { sent, stopped_by };
        }
        if let Some(event) = wire.peek(is_defence) {
            let stopped_by = Some(format!("{event:?}"));
            return AttackEnd { sent, stopped_by };
        }
    }
    AttackEnd {
        sent,
        stopped_by: None,
    }
}

/// A GOAWAY, or the end of the connection.
fn is_defence(event: &WireEvent) -> bool {
    matches!(event, WireEvent::GoAway { .. } | WireEvent::Closed)
}

/// Counts the probe's events about call `id` so far.
fn count(server: &mut TestServer, id: &str, kind: fn(&Event) -> bool) -> usize {
    server.events.count_so_far(|e| kind(e) && e.id() == id)
}

/// Checks that the server still serves, on a new channel and on a new raw
/// connection.
async fn assert_still_serves(server: &TestServer, id: &str) {
    let reply = unary(&server.channel(), ProbeRequest::new(id, Action::Reply))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().id, id);
    server.raw().await.check_unary_ok(id).await;
}

// A single-threaded runtime: each batch goes out in one burst, as an
// attacker's does, and the server reads it in one go.
#[tokio::test]
async fn a_rapid_reset_burst_gets_goaway_enhance_your_calm_and_starts_no_handler() {
    const MAX_STREAMS: usize = 5000;
    const BATCH: usize = 100;
    let mut server = TestServer::start().await;
    let (mut raw, mut wire) =
        RawClient::connect_with(server.addr(), &h2::client::Builder::new(), None).await;
    // A handler that started would wait (and pile up) at the closed gate.
    let end = reset_attack(&mut raw, &mut wire, BATCH, MAX_STREAMS, |_| {
        waiter("rapid-reset")
    })
    .await;
    let stopped_by = end.stopped_by.unwrap_or_else(|| {
        panic!(
            "the server let {} streams be opened and reset without a GOAWAY",
            end.sent
        )
    });
    let (before, defence) = wire
        .wait_for("a GOAWAY or the end of the connection", is_defence)
        .await;
    assert!(
        matches!(
            defence,
            WireEvent::GoAway {
                reason: Reason::ENHANCE_YOUR_CALM,
                ..
            }
        ),
        "{defence:?} after {} streams ({stopped_by}; before it: {before:?})",
        end.sent
    );

    // The server goes on serving other connections, and no handler of the
    // attack's streams started.
    assert_still_serves(&server, "after-attack").await;
    let started = count(&mut server, "rapid-reset", |e| {
        matches!(e, Event::Started { .. })
    });
    assert!(
        started * 10 <= end.sent,
        "{started} handlers started for {} streams opened and reset at once",
        end.sent
    );
}

#[tokio::test]
async fn a_paced_reset_loop_leaves_no_handler_running() {
    const MAX_STREAMS: usize = 1000;
    // Below max_pending_accept_reset_streams (20): the server accepts each
    // stream before it reads the reset, so handlers start; each must be
    // dropped at once, as for any cancelled call.
    const BATCH: usize = 10;
    let mut server = TestServer::start().await;
    let (mut raw, mut wire) =
        RawClient::connect_with(server.addr(), &h2::client::Builder::new(), None).await;
    let end = reset_attack(&mut raw, &mut wire, BATCH, MAX_STREAMS, |n| {
        waiter(&format!("paced-{n}"))
    })
    .await;
    drop(raw);

    // Every handler that started was dropped: none is left waiting.
    let mut started = 0;
    for n in 0..end.sent {
        let id = format!("paced-{n}");
        if server.events.was_started(&id) {
            started += 1;
            server.events.handler_dropped(&id).await;
            assert_eq!(server.events.done(&id).await, CallOutcome::Cancelled);
        }
    }
    // Observed: every stream starts its handler (h2 hands hyper streams
    // already reset, and hyper polls the service once before it looks for
    // the reset), which is then dropped at once.
    assert!(started <= end.sent);
    assert_still_serves(&server, "after-paced").await;
}

#[tokio::test]
async fn client_keepalive_fails_a_call_on_a_blackholed_connection_with_unavailable() {
    let mut server = TestServer::start().await;
    let relay = Relay::start(server.addr()).await;
    let channel = endpoint(relay.addr)
        .keepalive(Some(KEEPALIVE_INTERVAL), KEEPALIVE_TIMEOUT)
        .connect_lazy();
    let call = tokio::spawn(async move { unary(&channel, waiter("blackholed")).await });
    server.events.started("blackholed").await;

    relay.blackhole();
    let blackholed_at = Instant::now();
    let status = within("the call failing", call).await.unwrap().unwrap_err();
    let took = blackholed_at.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.origin(), Origin::Transport, "{status:?}");
    assert!(
        took < DEAD_CONNECTION_NOTICED,
        "the dead connection was noticed only after {took:?}"
    );
}

#[tokio::test]
async fn without_keepalive_a_call_on_a_blackholed_connection_ends_only_at_its_deadline() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    let mut server = TestServer::start().await;
    let relay = Relay::start(server.addr()).await;
    let channel = channel(relay.addr);
    let called_at = Instant::now();
    let call = tokio::spawn(async move {
        let request = Request::new(waiter("no-keepalive")).with_timeout(TIMEOUT);
        unary(&channel, request).await
    });
    server.events.started("no-keepalive").await;

    relay.blackhole();
    let status = within("the call failing", call).await.unwrap().unwrap_err();
    let took = called_at.elapsed();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(status.origin(), Origin::Deadline, "{status:?}");
    assert!(took >= TIMEOUT, "ended after {took:?}, before its deadline");
}

#[tokio::test]
async fn server_keepalive_cancels_the_call_of_a_client_gone_silent() {
    let mut server = TestServer::start_with(|server| {
        server.keepalive(Some(KEEPALIVE_INTERVAL), KEEPALIVE_TIMEOUT)
    })
    .await;
    let relay = Relay::start(server.addr()).await;
    // The client has no keepalive of its own: only the server can notice.
    let channel = channel(relay.addr);
    let call = tokio::spawn(async move { unary(&channel, waiter("silent-client")).await });
    server.events.started("silent-client").await;

    relay.blackhole();
    let blackholed_at = Instant::now();
    let outcome = server.events.done("silent-client").await;
    let took = blackholed_at.elapsed();
    assert_eq!(outcome, CallOutcome::Cancelled);
    assert!(
        took < DEAD_CONNECTION_NOTICED,
        "the dead connection was noticed only after {took:?}"
    );
    server.events.handler_dropped("silent-client").await;
    call.abort();

    let reply = unary(&server.channel(), ProbeRequest::new("after", Action::Reply))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().id, "after");
}

#[tokio::test]
async fn server_keepalive_pings_an_idle_client_that_answers_and_keeps_its_connection() {
    // A generous timeout: only the pings are being watched here.
    let server =
        TestServer::start_with(|server| server.keepalive(Some(KEEPALIVE_INTERVAL), WAIT)).await;
    let (mut raw, mut wire) =
        RawClient::connect_with(server.addr(), &h2::client::Builder::new(), None).await;
    // h2 answers each PING; a second one comes only once the first was
    // answered. (That the answer is taken out of what the server's h2
    // reads is tested in `server::conn`.)
    for n in 0..2 {
        let (before, ping) = wire
            .wait_for("a keepalive PING", |e| matches!(e, WireEvent::Ping { .. }))
            .await;
        assert_eq!(
            ping,
            WireEvent::Ping {
                payload: *b"grpcx-ka"
            },
            "ping {n}, after {before:?}"
        );
    }
    raw.check_unary_ok("after-pings").await;
    assert!(
        wire.peek(|e| matches!(e, WireEvent::GoAway { .. } | WireEvent::Closed))
            .is_none()
    );
}

#[tokio::test]
async fn a_graceful_shutdown_sends_goaway_and_the_raw_stream_in_flight_completes() {
    let mut server = TestServer::start_with(|server| server.drain_timeout(WAIT)).await;
    let (mut raw, mut wire) =
        RawClient::connect_with(server.addr(), &h2::client::Builder::new(), None).await;
    let mut call = raw.start(raw.request("Unary")).await;
    call.send(frame(&waiter("in-flight")), true);
    server.events.started("in-flight").await;

    server.handle.begin_shutdown();
    let (before, goaway) = wire
        .wait_for("a GOAWAY", |e| matches!(e, WireEvent::GoAway { .. }))
        .await;
    assert!(before.is_empty(), "before the GOAWAY: {before:?}");
    assert!(
        matches!(
            goaway,
            WireEvent::GoAway {
                reason: Reason::NO_ERROR,
                last_stream_id,
            } if last_stream_id >= 1
        ),
        "{goaway:?}"
    );
    // No new stream on a connection that got a GOAWAY.
    let refused = raw.try_start(raw.request("Unary")).await.err();
    assert!(
        refused.as_ref().is_some_and(|err| err.is_go_away()
            && err.is_remote()
            && err.reason() == Some(Reason::NO_ERROR)),
        "a new stream after the GOAWAY: {refused:?}"
    );

    // The call in flight completes.
    server.open_gate();
    let response = call.response().await;
    assert_eq!(response.http_status, Some(StatusCode::OK), "{response:?}");
    assert_eq!(response.expect_status().code(), Code::Ok, "{response:?}");
    let replies: Vec<ProbeReply> = response.messages();
    assert_eq!(replies.len(), 1, "{response:?}");
    assert_eq!(replies[0].id, "in-flight");
    assert_eq!(
        server.events.done("in-flight").await,
        CallOutcome::Completed(Code::Ok)
    );

    // Then the server finishes, and the connection is closed; any later
    // GOAWAY (the one after the PING, with the last stream it processed)
    // still covers the stream that was in flight. That PING (h2's, of the
    // graceful shutdown) may show up too.
    server.handle.shutdown().await;
    let (between, _closed) = wire
        .wait_for("the connection closing", |e| *e == WireEvent::Closed)
        .await;
    for event in &between {
        assert!(
            matches!(
                event,
                WireEvent::GoAway {
                    reason: Reason::NO_ERROR,
                    last_stream_id,
                } if *last_stream_id >= 1
            ) || matches!(event, WireEvent::Ping { .. }),
            "between the drain and the close: {between:?}"
        );
    }
}

/// A raw client whose send buffer (h2's 400 KiB by default) does not
/// bound the capacity it is granted.
async fn raw_client_with_large_send_buffer(server: &TestServer) -> RawClient {
    let mut builder = h2::client::Builder::new();
    builder.max_send_buffer_size(64 << 20);
    let (mut raw, _) = RawClient::connect_with(server.addr(), &builder, None).await;
    // The answer comes after the server's SETTINGS and its connection
    // WINDOW_UPDATE.
    raw.ping().await.unwrap();
    raw
}

/// The send capacity h2 grants `body` when asked for far more than any
/// window: what the peer's windows allow, bounded by [`WAIT`].
async fn granted_capacity(body: &mut h2::SendStream<bytes::Bytes>) -> usize {
    body.reserve_capacity(64 << 20);
    within(
        "send capacity",
        std::future::poll_fn(|cx| body.poll_capacity(cx)),
    )
    .await
    .expect("the stream is open")
    .expect("capacity")
}

#[tokio::test]
async fn the_server_grants_clients_the_configured_flow_control_windows() {
    // Per call 100,000 bytes, per connection 150,000: the first call may
    // send its whole window, the second only what the connection has left.
    let server =
        TestServer::start_with(|server| server.initial_window_size(100_000, 150_000)).await;
    let mut raw = raw_client_with_large_send_buffer(&server).await;
    let mut first = raw.start(raw.request("Unary")).await;
    assert_eq!(granted_capacity(&mut first.body).await, 100_000);
    let mut second = raw.start(raw.request("Unary")).await;
    assert_eq!(granted_capacity(&mut second.body).await, 50_000);
}

#[tokio::test]
async fn server_windows_default_to_1_mib_and_stay_within_what_http2_allows() {
    let server = TestServer::start().await;
    let mut raw = raw_client_with_large_send_buffer(&server).await;
    let mut call = raw.start(raw.request("Unary")).await;
    assert_eq!(granted_capacity(&mut call.body).await, 1 << 20);

    // A window of 0 would let no request body start: it is raised to
    // HTTP/2's initial 65,535 bytes.
    let server = TestServer::start_with(|server| server.initial_window_size(0, 0)).await;
    let mut raw = raw_client_with_large_send_buffer(&server).await;
    let mut call = raw.start(raw.request("Unary")).await;
    assert_eq!(granted_capacity(&mut call.body).await, 65_535);
    call.send(
        frame(&ProbeRequest::new("small-window", Action::Reply)),
        true,
    );
    let response = call.response().await;
    assert_eq!(response.expect_status().code(), Code::Ok, "{response:?}");
}

#[tokio::test]
async fn the_channel_grants_servers_the_configured_flow_control_windows() {
    use grpcx_tests::raw::{RawServer, grpc_response_head};
    let (granted, mut heard) = tokio::sync::mpsc::unbounded_channel();
    // Each response stays open, holding its grant, until released.
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let server = RawServer::start({
        let release = release.clone();
        move |_request, mut respond, _close| {
            let granted = granted.clone();
            let release = release.clone();
            async move {
                let head = grpc_response_head(StatusCode::OK, "application/grpc");
                let mut body = respond.send_response(head, false).unwrap();
                let _ = granted.send(granted_capacity(&mut body).await);
                let _ = release.acquire().await.map(|permit| permit.forget());
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("14"));
                let _ = body.send_trailers(trailers);
            }
        }
    })
    .await;
    let channel = endpoint(server.addr)
        .initial_window_size(200_000, 300_000)
        .connect_lazy();
    let first = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::new("w1", Action::Reply)).await }
    });
    assert_eq!(within("the first grant", heard.recv()).await, Some(200_000));
    let second = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::new("w2", Action::Reply)).await }
    });
    assert_eq!(
        within("the second grant", heard.recv()).await,
        Some(100_000)
    );
    release.add_permits(2);
    assert_eq!(second.await.unwrap().unwrap_err().code(), Code::Unavailable);
    assert_eq!(first.await.unwrap().unwrap_err().code(), Code::Unavailable);
}
