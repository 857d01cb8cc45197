//! Clients that misbehave on an HTTP/2 connection: PING floods (keepalive
//! enforcement) and paced rapid reset. Both end with GOAWAY
//! `ENHANCE_YOUR_CALM` and the connection closed.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use grpcx_tests::frames::{FrameConn, GOAWAY, PING, Read, SETTINGS, frame, ping};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::raw::{RawClient, WireEvent};
use grpcx_tests::{TestServer, endpoint, unary, within};
use h2::Reason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ENHANCE_YOUR_CALM: u32 = 0xb;

#[tokio::test]
async fn a_ping_flood_gets_goaway_too_many_pings() {
    let server = TestServer::start().await;
    let mut conn = FrameConn::handshake(server.addr()).await;
    let mut flood = Vec::new();
    for i in 0..10 {
        flood.extend(ping(i));
    }
    conn.send(&flood).await;
    let goaway = conn.goaway(64).await.expect("a GOAWAY before the end");
    let (code, debug) = goaway.goaway().unwrap();
    assert_eq!(code, ENHANCE_YOUR_CALM);
    assert_eq!(debug, b"too_many_pings");
    conn.until_closed(64).await;

    // Other connections go on.
    within(
        "a call",
        unary(&server.channel(), ProbeRequest::new("ok", Action::Reply)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn pings_within_the_policy_are_answered() {
    // Pings without calls are permitted, and may come at any interval.
    let server = TestServer::start_with(|server| {
        server
            .keepalive_min_time(Duration::ZERO)
            .keepalive_permit_without_stream(true)
    })
    .await;
    let mut conn = FrameConn::handshake(server.addr()).await;
    let mut flood = Vec::new();
    for i in 0..10 {
        flood.extend(ping(i));
    }
    conn.send(&flood).await;
    let mut acks = 0;
    while acks < 10 {
        match conn.read().await {
            Read::Frame(frame) if frame.kind == PING && frame.flags & 1 == 1 => acks += 1,
            Read::Frame(frame) => assert!(frame.goaway().is_none(), "{frame:?}"),
            Read::Closed => panic!("closed after {acks} acks"),
        }
    }
}

#[tokio::test]
async fn a_client_resetting_streams_steadily_gets_goaway_too_many_resets() {
    let server = TestServer::start_with(|server| {
        // The test's PINGs are its clock, not abuse.
        server
            .max_client_resets(50, Duration::from_secs(60))
            .keepalive_min_time(Duration::ZERO)
            .keepalive_permit_without_stream(true)
    })
    .await;
    let (mut raw, mut events) =
        RawClient::connect_with(server.addr(), &h2::client::Builder::new(), None).await;
    // Paced: one stream at a time, each reset once the server answered a
    // PING (it has read the reset), so h2's burst limit never triggers.
    let mut opened = 0;
    let ended = loop {
        assert!(opened <= 200, "no GOAWAY after {opened} resets");
        let mut call = match raw.try_start(raw.request("Unary")).await {
            Ok(call) => call,
            Err(_) => break true,
        };
        opened += 1;
        call.body.send_reset(Reason::CANCEL);
        if raw.ping().await.is_err() {
            break true;
        }
        if events
            .peek(|e| matches!(e, WireEvent::GoAway { .. }))
            .is_some()
        {
            break true;
        }
    };
    assert!(ended);
    assert!(opened > 50, "GOAWAY after only {opened} resets");
    let (_, goaway) = events
        .wait_for("a GOAWAY", |e| matches!(e, WireEvent::GoAway { .. }))
        .await;
    assert!(
        matches!(
            goaway,
            WireEvent::GoAway {
                reason: Reason::ENHANCE_YOUR_CALM,
                ..
            }
        ),
        "{goaway:?}"
    );
    events
        .wait_for("the end of the connection", |e| *e == WireEvent::Closed)
        .await;
}

/// A fake server that counts a client's PINGs: it answers them, and after
/// `limit` of them sends GOAWAY `ENHANCE_YOUR_CALM` `too_many_pings` and
/// closes. Gives the times the PINGs came.
async fn count_pings(listener: &TcpListener, limit: usize) -> Vec<Instant> {
    let (mut tcp, _) = within("a connection", listener.accept()).await.unwrap();
    let mut preface = [0u8; 24];
    within("the preface", tcp.read_exact(&mut preface))
        .await
        .unwrap();
    tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    let mut pings = Vec::new();
    while pings.len() < limit {
        let mut header = [0u8; 9];
        within("a frame", tcp.read_exact(&mut header))
            .await
            .unwrap();
        let len =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0u8; len];
        within("a frame", tcp.read_exact(&mut payload))
            .await
            .unwrap();
        match (header[3], header[4] & 1) {
            (SETTINGS, 0) => tcp.write_all(&frame(SETTINGS, 1, 0, &[])).await.unwrap(),
            (PING, 0) => {
                pings.push(Instant::now());
                tcp.write_all(&frame(PING, 1, 0, &payload)).await.unwrap();
            }
            _ => {}
        }
    }
    let mut goaway = vec![0, 0, 0, 0, 0, 0, 0, 0xb];
    goaway.extend_from_slice(b"too_many_pings");
    tcp.write_all(&frame(GOAWAY, 0, 0, &goaway)).await.unwrap();
    let _ = tcp.shutdown().await;
    // Let the client close first, so it reads the GOAWAY.
    let mut rest = Vec::new();
    let _ = within("the client closing", tcp.read_to_end(&mut rest)).await;
    pings
}

fn shortest_gap(pings: &[Instant]) -> Duration {
    pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .expect("two pings")
}

#[tokio::test]
async fn a_client_told_too_many_pings_doubles_its_keepalive_interval() {
    let interval = Duration::from_millis(100);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let channel = endpoint(addr)
        .keepalive(Some(interval), Duration::from_secs(20))
        .keepalive_while_idle(true)
        .timeout(Duration::from_millis(50))
        .connect_lazy();
    // The first call connects; the fake server never answers it.
    let first = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::new("a", Action::Reply)).await }
    });
    let pings = count_pings(&listener, 3).await;
    assert!(shortest_gap(&pings) >= interval, "{pings:?}");
    let _ = first.await;
    // The next call makes a new connection, with twice the interval.
    let second = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::new("b", Action::Reply)).await }
    });
    let pings = count_pings(&listener, 3).await;
    let gap = shortest_gap(&pings);
    assert!(gap >= interval * 2 * 95 / 100, "pings {gap:?} apart");
    let _ = second.await;
}
