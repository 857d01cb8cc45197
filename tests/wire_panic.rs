//! Panics over the wire: a panicking handler, response stream or layer
//! fails its own call with `INTERNAL`, reveals nothing of the panic, and
//! leaves the server and every other call alone.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use grpcx::{Body, CallOutcome, Request};
use grpcx::{Code, Origin, Status};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::{PANIC_TEXT, TestServer, codec, drain, path, server_streaming, unary, within};
use tower::Service;

/// Checks the status of a call whose handler panicked: `INTERNAL`, from the
/// server, and nothing of the panic's text.
#[track_caller]
fn assert_panic_status(status: &Status) {
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer, "{status:?}");
    for leaked in [PANIC_TEXT, "secret", "probe panic"] {
        assert!(
            !status.message().contains(leaked),
            "the panic text leaked: {status:?}"
        );
    }
    assert!(status.details().is_empty(), "{status:?}");
    for (key, value) in status.metadata().iter() {
        let value = String::from_utf8_lossy(value.as_wire_bytes());
        assert!(
            !value.contains("secret") && !value.contains("probe panic"),
            "the panic text leaked in {key}: {status:?}"
        );
    }
}

#[tokio::test]
async fn a_panicking_unary_handler_fails_its_call_with_internal() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let status = unary(&channel, ProbeRequest::new("panic", Action::Panic))
        .await
        .unwrap_err();
    assert_panic_status(&status);
    assert_eq!(
        server.events.done("panic").await,
        CallOutcome::Completed(Code::Internal)
    );
    // The same server, on the same connection, serves the next call.
    let reply = unary(&channel, ProbeRequest::new("next", Action::Reply))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().id, "next");
}

#[tokio::test]
async fn a_panicking_client_streaming_handler_fails_its_call_with_internal() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let requests = futures_util::stream::iter([ProbeRequest::new("panic", Action::Panic)]);
    let status = within(
        "a panicking client-streaming call",
        channel.client_streaming(path("ClientStream"), Request::new(requests), codec()),
    )
    .await
    .unwrap_err();
    assert_panic_status(&status);
    unary(&channel, ProbeRequest::new("next", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_panic_leaves_concurrent_calls_alone() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    // A unary call and a stream in flight, waiting at the gate.
    let waiting_unary = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::new("waiting", Action::WaitGate)).await }
    });
    let waiting_stream = tokio::spawn({
        let channel = channel.clone();
        async move {
            let request = ProbeRequest::new("waiting-stream", Action::WaitGate).after(1);
            let mut stream = server_streaming(&channel, request).await?.into_inner();
            let (messages, end) = drain(&mut stream).await;
            end.map(|()| messages.len())
        }
    });
    server.events.started("waiting").await;
    server.events.started("waiting-stream").await;

    let status = unary(&channel, ProbeRequest::new("panic", Action::Panic))
        .await
        .unwrap_err();
    assert_panic_status(&status);

    server.open_gate();
    let reply = within("the waiting unary call", waiting_unary)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.get_ref().id, "waiting");
    let streamed = within("the waiting stream", waiting_stream)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(streamed, 1);
}

#[tokio::test]
async fn a_panic_in_a_response_stream_ends_it_with_internal_after_its_messages() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest::new("stream-panic", Action::Panic).after(2);
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    let seqs: Vec<u32> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [0, 1]);
    assert_panic_status(&end.unwrap_err());
    assert_eq!(
        server.events.done("stream-panic").await,
        CallOutcome::Completed(Code::Internal)
    );
    unary(&channel, ProbeRequest::new("next", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_panic_in_a_bidi_response_stream_ends_it_with_internal_after_its_messages() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let requests =
        futures_util::stream::iter([ProbeRequest::new("bidi-panic", Action::Panic).after(2)]);
    let response = within(
        "a bidi call",
        channel.bidi_streaming_from_stream(path("Bidi"), Request::new(requests), codec()),
    )
    .await
    .unwrap();
    let mut stream = response.into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 2);
    assert_panic_status(&end.unwrap_err());
}

#[tokio::test]
async fn a_panicking_on_done_callback_does_not_break_the_server() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    for (id, action) in [("ok", Action::Reply), ("failing", Action::Fail)] {
        let request = ProbeRequest {
            panic_on_done: true,
            code: Code::NotFound.as_i32(),
            ..ProbeRequest::new(id, action)
        };
        let result = unary(&channel, request).await;
        match action {
            Action::Reply => assert_eq!(result.unwrap().get_ref().id, id),
            _ => assert_eq!(result.unwrap_err().code(), Code::NotFound),
        }
        // The callback registered after the panicking one still runs.
        let expected = match action {
            Action::Reply => Code::Ok,
            _ => Code::NotFound,
        };
        assert_eq!(
            server.events.done(id).await,
            CallOutcome::Completed(expected)
        );
    }
    // A streaming call whose on_done panics, then more calls.
    let request = ProbeRequest {
        panic_on_done: true,
        ..ProbeRequest::new("stream", Action::Reply).after(2)
    };
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 2);
    end.unwrap();
    assert_eq!(
        server.events.done("stream").await,
        CallOutcome::Completed(Code::Ok)
    );
    for _ in 0..3 {
        unary(&channel, ProbeRequest::new("next", Action::Reply))
            .await
            .unwrap();
    }
    unary(
        &server.channel(),
        ProbeRequest::new("new-connection", Action::Reply),
    )
    .await
    .unwrap();
}

/// A layer that panics in `poll_ready` (when its switch is 1) or in `call`
/// (when it is 2).
#[derive(Clone)]
struct Panicky<S> {
    inner: S,
    at: Arc<AtomicU8>,
}

impl<S: Service<http::Request<Body>>> Service<http::Request<Body>> for Panicky<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if self.at.load(Ordering::SeqCst) == 1 {
            panic!("{PANIC_TEXT} in poll_ready");
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> S::Future {
        if self.at.load(Ordering::SeqCst) == 2 {
            panic!("{PANIC_TEXT} in call");
        }
        self.inner.call(request)
    }
}

#[tokio::test]
async fn a_layer_that_panics_in_poll_ready_or_call_fails_that_call_with_internal() {
    let at = Arc::new(AtomicU8::new(0));
    let switch = at.clone();
    let server = TestServer::start_with(move |server| {
        server.layer(tower::layer::layer_fn(move |inner| Panicky {
            inner,
            at: switch.clone(),
        }))
    })
    .await;
    let channel = server.channel();
    for (panics_in, id) in [(1, "in-poll-ready"), (2, "in-call")] {
        at.store(panics_in, Ordering::SeqCst);
        let status = unary(&channel, ProbeRequest::new(id, Action::Reply))
            .await
            .unwrap_err();
        assert_panic_status(&status);
        // The next call on the same connection is served.
        at.store(0, Ordering::SeqCst);
        let reply = unary(&channel, ProbeRequest::new("next", Action::Reply))
            .await
            .unwrap();
        assert_eq!(reply.get_ref().id, "next");
    }
}
