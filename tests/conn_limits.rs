//! The server's limits on connections: the handshake timeout (slowloris)
//! and the connection cap.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use grpcx_tests::frames::{FrameConn, PING, PREFACE, Read, SETTINGS, ping};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::{TestServer, WAIT, unary};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(200);

/// Reads until the server's SETTINGS: the connection was accepted and
/// served.
async fn served(conn: &mut FrameConn) -> bool {
    for _ in 0..8 {
        match conn.read().await {
            Read::Frame(frame) if frame.kind == SETTINGS => return true,
            Read::Frame(_) => {}
            Read::Closed => return false,
        }
    }
    panic!("no SETTINGS within 8 frames");
}

#[tokio::test]
async fn a_connection_without_a_whole_preface_is_closed_after_the_handshake_timeout() {
    let server = TestServer::start_with(|server| server.handshake_timeout(HANDSHAKE_TIMEOUT)).await;
    let started = Instant::now();
    let mut silent = FrameConn::connect(server.addr()).await;
    let mut half = FrameConn::connect(server.addr()).await;
    half.send(&PREFACE[..12]).await;
    let mut whole = FrameConn::handshake(server.addr()).await;

    // The server sends its SETTINGS at once, then nothing: the end follows.
    half.until_closed(4).await;
    silent.until_closed(4).await;
    let elapsed = started.elapsed();
    assert!(elapsed >= HANDSHAKE_TIMEOUT, "closed after {elapsed:?}");
    assert!(elapsed < WAIT, "closed after {elapsed:?}");

    // The connection that sent its preface is past the same deadline and
    // still served: it answers a PING.
    assert!(served(&mut whole).await);
    whole.send(&ping(7)).await;
    let acked = loop {
        match whole.read().await {
            Read::Frame(frame) if frame.kind == PING => break frame.flags & 1 == 1,
            Read::Frame(_) => {}
            Read::Closed => break false,
        }
    };
    assert!(acked, "the handshaken connection was closed");
}

#[tokio::test]
async fn connections_past_max_connections_are_closed_and_the_count_is_released() {
    let server = TestServer::start_with(|server| server.max_connections(2)).await;
    let mut first = FrameConn::handshake(server.addr()).await;
    let mut second = FrameConn::handshake(server.addr()).await;
    assert!(served(&mut first).await);
    assert!(served(&mut second).await);

    // A third is closed at once, without a frame.
    let mut third = FrameConn::handshake(server.addr()).await;
    assert!(!served(&mut third).await);

    // Once one ends, a new connection is served again. The server notices
    // the end a moment later: try a bounded number of times.
    drop(first);
    let deadline = Instant::now() + WAIT;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut next = FrameConn::handshake(server.addr()).await;
        if served(&mut next).await {
            break;
        }
        assert!(
            attempts < 200 && Instant::now() < deadline,
            "no connection served after one ended ({attempts} attempts)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(second);

    // And the server serves calls as usual.
    let channel = server.channel();
    let reply = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(reply) = unary(&channel, ProbeRequest::new("after", Action::Reply)).await {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a call after the limit was freed");
    drop(reply);
}
