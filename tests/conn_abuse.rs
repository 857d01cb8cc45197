//! Clients that misbehave on an HTTP/2 connection: PING floods (keepalive
//! enforcement) and paced rapid reset. Both end with GOAWAY
//! `ENHANCE_YOUR_CALM` and the connection closed.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use grpcx_tests::frames::{FrameConn, PING, Read, ping};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::raw::{RawClient, WireEvent};
use grpcx_tests::{TestServer, unary, within};
use h2::Reason;

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
