//! A66 metrics over the wire: the server's duration by the code a call
//! really ended with (a client that cancels, a deadline that passes), and
//! the message sizes both sides count.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::future::Future;

use grpcx::Code;
use grpcx::middleware::metrics::{
    CLIENT_ATTEMPT_RCVD_SIZE, CLIENT_ATTEMPT_SENT_SIZE, ClientAttemptMetricsLayer,
    SERVER_CALL_DURATION, SERVER_CALL_RCVD_SIZE, SERVER_CALL_SENT_SIZE, ServerMetricsLayer,
};
use grpcx::{CallOutcome, Request};
use grpcx_tests::probe::{Action, ProbeReply, ProbeRequest};
use grpcx_tests::raw::frame;
use grpcx_tests::{LONG_SLEEP, TestServer, codec, path, within};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use prost::Message as _;
use tower::Layer as _;

/// Runs `test` on a current-thread runtime (the server's tasks included)
/// with `recorder` as the thread's recorder.
fn with_recorder<F: Future<Output = ()>>(recorder: &DebuggingRecorder, test: impl FnOnce() -> F) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || runtime.block_on(test()));
}

/// Every histogram's samples, by name and `grpc.status` (taking the
/// snapshot drains them).
fn histograms(recorder: &DebuggingRecorder) -> HashMap<(String, String), Vec<f64>> {
    let mut found: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let key = key.key();
        let status = key
            .labels()
            .find(|l| l.key() == "grpc.status")
            .map(|l| l.value().to_owned())
            .unwrap_or_default();
        if let DebugValue::Histogram(values) = value {
            found
                .entry((key.name().to_owned(), status))
                .or_default()
                .extend(values.into_iter().map(|v| v.into_inner()));
        }
    }
    found
}

fn samples<'a>(
    found: &'a HashMap<(String, String), Vec<f64>>,
    name: &str,
    status: &str,
) -> &'a [f64] {
    found
        .get(&(name.to_owned(), status.to_owned()))
        .map_or(&[], Vec::as_slice)
}

/// A request that sleeps far longer than any test waits.
fn sleeper(id: &str) -> ProbeRequest {
    ProbeRequest {
        sleep_ms: LONG_SLEEP.as_millis() as u64,
        ..ProbeRequest::new(id, Action::Sleep)
    }
}

#[test]
fn a_call_the_client_cancels_is_recorded_as_cancelled() {
    let recorder = DebuggingRecorder::new();
    with_recorder(&recorder, || async {
        let mut server =
            TestServer::start_with(|server| server.layer(ServerMetricsLayer::new())).await;
        let channel = server.channel();
        let mut call =
            Box::pin(channel.unary(path("Unary"), Request::new(sleeper("cancel")), codec()));
        tokio::select! {
            result = &mut call => panic!("the sleeping call ended: {result:?}"),
            _ = server.events.started("cancel") => {}
        }
        drop(call);
        // The probe hears of the end in the same `on_done` round as the
        // metrics layer, on this one thread.
        assert_eq!(server.events.done("cancel").await, CallOutcome::Cancelled);
        drop(channel);
        server.handle.shutdown().await;
    });
    let found = histograms(&recorder);
    assert_eq!(
        samples(&found, SERVER_CALL_DURATION, "CANCELLED").len(),
        1,
        "{found:?}"
    );
    assert!(samples(&found, SERVER_CALL_DURATION, "OK").is_empty());
    // The request was received whole before the cancellation.
    let request_len = sleeper("cancel").encoded_len() as f64;
    assert_eq!(
        samples(&found, SERVER_CALL_RCVD_SIZE, "CANCELLED"),
        [request_len]
    );
    assert_eq!(samples(&found, SERVER_CALL_SENT_SIZE, "CANCELLED"), [0.0]);
}

#[test]
fn a_call_whose_deadline_passes_is_recorded_as_deadline_exceeded() {
    let recorder = DebuggingRecorder::new();
    with_recorder(&recorder, || async {
        let mut server =
            TestServer::start_with(|server| server.layer(ServerMetricsLayer::new())).await;
        // The client sends `grpc-timeout` and keeps no timer of its own, so
        // the server's deadline is what ends the call.
        let mut raw = server.raw().await;
        let head = raw.request("Unary").header("grpc-timeout", "100m");
        let response = raw.send(head, &[frame(&sleeper("deadline"))], true).await;
        assert_eq!(
            response.status().map(|status| status.code()),
            Some(Code::DeadlineExceeded),
            "{response:?}"
        );
        assert_eq!(
            server.events.done("deadline").await,
            CallOutcome::DeadlineExceeded
        );
        server.handle.shutdown().await;
    });
    let found = histograms(&recorder);
    let durations = samples(&found, SERVER_CALL_DURATION, "DEADLINE_EXCEEDED");
    assert_eq!(durations.len(), 1, "{found:?}");
    assert!(durations[0] >= 0.1, "at least the timeout: {durations:?}");
}

#[test]
fn both_sides_count_the_message_bytes_of_a_call() {
    let recorder = DebuggingRecorder::new();
    let request = ProbeRequest {
        padding: vec![7; 1000],
        response_size: 300,
        ..ProbeRequest::new("sizes", Action::Reply).after(3)
    };
    let reply_len = |seq| {
        ProbeReply {
            id: "sizes".to_owned(),
            seq,
            payload: vec![0; 300],
        }
        .encoded_len() as f64
    };
    with_recorder(&recorder, || async {
        let server = TestServer::start_with(|server| server.layer(ServerMetricsLayer::new())).await;
        let channel = server.channel();
        let client =
            grpcx::client::Grpc::new(ClientAttemptMetricsLayer::new("test").layer(channel.clone()))
                .with_config(channel.config());
        let mut stream = within(
            "a server-streaming call",
            client.server_streaming(path("ServerStream"), Request::new(request.clone()), codec()),
        )
        .await
        .unwrap()
        .into_inner();
        let mut received = Vec::new();
        while let Some(reply) = within("a reply", stream.message()).await.unwrap() {
            received.push(reply);
        }
        assert_eq!(received.len(), 3);
        // The payload the probe sends: check the sizes computed here.
        assert_eq!(received[0].payload.len(), 300);
        drop(channel);
        server.handle.shutdown().await;
    });
    let found = histograms(&recorder);
    let sent = request.encoded_len() as f64;
    let rcvd = reply_len(0) + reply_len(1) + reply_len(2);
    assert_eq!(
        samples(&found, SERVER_CALL_RCVD_SIZE, "OK"),
        [sent],
        "{found:?}"
    );
    assert_eq!(samples(&found, SERVER_CALL_SENT_SIZE, "OK"), [rcvd]);
    assert_eq!(samples(&found, CLIENT_ATTEMPT_SENT_SIZE, "OK"), [sent]);
    assert_eq!(samples(&found, CLIENT_ATTEMPT_RCVD_SIZE, "OK"), [rcvd]);
}
