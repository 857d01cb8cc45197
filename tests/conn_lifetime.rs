//! The life of a connection: its maximum age (GOAWAY, then a grace for the
//! calls in flight) and its maximum idle time.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use grpcx_tests::frames::{FrameConn, GOAWAY};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::{TestServer, WAIT, unary, within};

const AGE: Duration = Duration::from_millis(300);

fn sleeper(id: &str, ms: u64) -> ProbeRequest {
    let mut request = ProbeRequest::new(id, Action::Sleep);
    request.sleep_ms = ms;
    request
}

#[tokio::test]
async fn calls_across_the_max_age_boundary_all_succeed_on_new_connections() {
    let server =
        TestServer::start_with(|server| server.max_connection_age(AGE, Duration::from_secs(10)))
            .await;
    let channel = server.channel();
    // A call in flight when the connection reaches its age: the grace lets
    // it finish.
    let long = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, sleeper("long", 2 * AGE.as_millis() as u64)).await }
    });
    // Calls one after the other over several ages: none fails, whatever
    // connection it finds.
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < 4 * AGE && calls < 500 {
        calls += 1;
        within("a call", unary(&channel, sleeper("short", 10)))
            .await
            .unwrap_or_else(|status| panic!("call {calls} failed: {status:?}"));
    }
    within("the long call", long).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_connection_gets_goaway_at_its_max_age_and_closes_once_its_calls_end() {
    let server =
        TestServer::start_with(|server| server.max_connection_age(AGE, Duration::from_secs(10)))
            .await;
    let mut conn = FrameConn::handshake(server.addr()).await;
    let started = Instant::now();
    let goaway = conn.goaway(16).await.expect("a GOAWAY");
    let elapsed = started.elapsed();
    assert_eq!(goaway.goaway().unwrap().0, 0, "NO_ERROR");
    // The age is jittered by ±10%.
    assert!(elapsed >= AGE * 8 / 10, "GOAWAY after {elapsed:?}");
    // Without a call open, the connection closes (once the client answered
    // the GOAWAY's PING).
    conn.until_closed(16).await;
}

#[tokio::test]
async fn a_call_outliving_the_grace_is_cut_off() {
    let server = TestServer::start_with(|server| {
        server.max_connection_age(Duration::from_millis(100), Duration::from_millis(100))
    })
    .await;
    let channel = server.channel();
    let started = Instant::now();
    let status = within(
        "a call past the grace",
        unary(&channel, sleeper("long", 60_000)),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < WAIT);
    assert_eq!(status.code(), grpcx::Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn an_idle_connection_gets_goaway_and_a_busy_one_does_not() {
    let idle = Duration::from_millis(200);
    let server = TestServer::start_with(|server| server.max_connection_idle(idle)).await;

    // A call longer than the idle time keeps the connection.
    let channel = server.channel();
    within(
        "a call longer than the idle time",
        unary(&channel, sleeper("busy", 500)),
    )
    .await
    .unwrap();

    // A connection without calls gets GOAWAY and is closed.
    let mut conn = FrameConn::handshake(server.addr()).await;
    let started = Instant::now();
    let goaway = conn.goaway(16).await.expect("a GOAWAY");
    assert_eq!(goaway.kind, GOAWAY);
    assert_eq!(goaway.goaway().unwrap().0, 0, "NO_ERROR");
    assert!(
        started.elapsed() >= idle * 8 / 10,
        "{:?}",
        started.elapsed()
    );
    conn.until_closed(16).await;

    // And the channel reconnects for its next call.
    within(
        "a call after the idle GOAWAY",
        unary(&channel, sleeper("again", 1)),
    )
    .await
    .unwrap();
}
