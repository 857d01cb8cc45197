//! `StreamActivity` end to end: events, then `DATA_LOSS` set through the
//! context at a corrupt record; resuming after it; cancelling.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use grpcx::{Code, Origin};
use grpcx_example_users::pb::StreamActivityRequest;
use support::TestServer;

#[tokio::test]
async fn the_events_before_a_corrupt_record_arrive_then_data_loss() {
    let server = TestServer::start().await;
    let mut events = server
        .client()
        .stream_activity(StreamActivityRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut sequences = Vec::new();
    let status = loop {
        match events.message().await {
            Ok(Some(event)) => sequences.push(event.sequence),
            Ok(None) => panic!("the stream ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(sequences, [1, 2, 3]);
    assert_eq!(status.code(), Code::DataLoss);
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(
        status.message(),
        "activity record 4 is corrupt; the events before it are intact"
    );
    // The stream is over after its status.
    assert!(events.message().await.unwrap().is_none());
    server.stop().await;
}

#[tokio::test]
async fn reading_after_the_corrupt_record_succeeds() {
    let server = TestServer::start().await;
    let mut events = server
        .client()
        .stream_activity(StreamActivityRequest { after_sequence: 4 })
        .await
        .unwrap()
        .into_inner();
    let event = events.message().await.unwrap().unwrap();
    assert_eq!(
        (
            event.sequence,
            event.username.as_str(),
            event.action.as_str()
        ),
        (5, "bob", "signed in")
    );
    assert!(events.message().await.unwrap().is_none());
    assert!(events.trailers().is_some(), "an OK stream has trailers");
    server.stop().await;
}

#[tokio::test]
async fn a_cancelled_stream_ends_with_cancelled_from_the_client() {
    let server = TestServer::start().await;
    let mut events = server
        .client()
        .stream_activity(StreamActivityRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(events.message().await.unwrap().unwrap().sequence, 1);
    events.cancel();
    let status = events.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled);
    assert_eq!(status.origin(), Origin::Cancelled);
    server.stop().await;
}
