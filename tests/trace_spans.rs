//! Tracing spans over the wire: one span per call on each side, named and
//! attributed after OpenTelemetry's RPC conventions, with the final status
//! code recorded and the server's log of a failure as an event inside the
//! server call's span.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use grpcx::Code;
use grpcx::server::ResponseBody;
use grpcx::{IntoRequest as _, Request};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::{TestServer, codec, drain, path, server_streaming, unary, within};
use tower::util::MapResponseLayer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A span as the capture saw it: its name and the fields recorded on it.
#[derive(Clone, Debug, Default)]
struct Captured {
    name: &'static str,
    fields: HashMap<String, String>,
}

/// An event: its message and the `otel.name` of the span it happened in.
#[derive(Clone, Debug)]
struct Event {
    message: String,
    span: Option<String>,
}

#[derive(Clone, Default)]
struct Capture {
    /// The spans still open, by id.
    spans: Arc<Mutex<HashMap<u64, Captured>>>,
    /// The spans closed, in the order they closed.
    closed: Arc<Mutex<Vec<Captured>>>,
    events: Arc<Mutex<Vec<Event>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut captured = Captured {
            name: attrs.metadata().name(),
            fields: HashMap::new(),
        };
        attrs.record(&mut Fields(&mut captured.fields));
        self.spans.lock().unwrap().insert(id.into_u64(), captured);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(captured) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut captured.fields));
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        if let Some(captured) = self.spans.lock().unwrap().remove(&id.into_u64()) {
            self.closed.lock().unwrap().push(captured);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let span = ctx.event_span(event).and_then(|span| {
            self.spans
                .lock()
                .unwrap()
                .get(&span.id().into_u64())
                .and_then(|c| c.fields.get("otel.name").cloned())
        });
        self.events.lock().unwrap().push(Event {
            message: fields.remove("message").unwrap_or_default(),
            span,
        });
    }
}

impl Capture {
    /// The one span named `name`, open or closed.
    fn span(&self, name: &str) -> Captured {
        let spans = self.spans.lock().unwrap();
        let closed = self.closed.lock().unwrap();
        let found: Vec<_> = spans
            .values()
            .chain(closed.iter())
            .filter(|s| s.name == name)
            .cloned()
            .collect();
        assert_eq!(found.len(), 1, "one {name} span: {spans:?} {closed:?}");
        found.into_iter().next().unwrap()
    }

    /// The one span named `name`, which must be closed.
    fn closed(&self, name: &str) -> Captured {
        let closed = self.closed.lock().unwrap();
        let found: Vec<_> = closed.iter().filter(|s| s.name == name).cloned().collect();
        assert_eq!(found.len(), 1, "one closed {name} span: {closed:?}");
        found.into_iter().next().unwrap()
    }

    /// How many spans named `name` are open.
    fn open(&self, name: &str) -> usize {
        let spans = self.spans.lock().unwrap();
        spans.values().filter(|s| s.name == name).count()
    }
}

#[tokio::test]
async fn each_side_has_a_span_with_the_rpc_attributes_and_the_final_code() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    // A layer gives INTERNAL statuses a cause, which the server logs.
    let server = TestServer::start_with(|server| {
        server.layer(MapResponseLayer::new(
            |response: http::Response<ResponseBody>| {
                response.map(|body| {
                    body.map_status(|status| {
                        if status.code() == Code::Internal {
                            status.with_source(std::io::Error::other("the disk is on fire"))
                        } else {
                            status
                        }
                    })
                })
            },
        ))
    })
    .await;
    let channel = server.channel();
    let status = unary(&channel, ProbeRequest::fail("s1", Code::Internal, "boom"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);

    let server_span = capture.span("grpc.server");
    let fields = &server_span.fields;
    assert_eq!(fields["otel.name"], "grpcx.test.Probe/Unary");
    assert_eq!(fields["otel.kind"], "server");
    assert_eq!(fields["rpc.system"], "grpc");
    assert_eq!(fields["rpc.service"], "grpcx.test.Probe");
    assert_eq!(fields["rpc.method"], "Unary");
    assert_eq!(fields["rpc.grpc.status_code"], "13");
    assert_eq!(fields["client.address"], "127.0.0.1");
    assert_eq!(fields["network.peer.address"], "127.0.0.1");
    assert!(fields.contains_key("client.port"), "{fields:?}");

    let client_span = capture.span("grpc.client");
    let fields = &client_span.fields;
    assert_eq!(fields["otel.name"], "grpcx.test.Probe/Unary");
    assert_eq!(fields["otel.kind"], "client");
    assert_eq!(fields["rpc.system"], "grpc");
    assert_eq!(fields["rpc.service"], "grpcx.test.Probe");
    assert_eq!(fields["rpc.method"], "Unary");
    assert_eq!(fields["rpc.grpc.status_code"], "13");
    assert_eq!(fields["server.address"], "127.0.0.1");
    assert_eq!(fields["server.port"], server.addr().port().to_string());

    // The server's log of the failure, once, with its cause, in its span.
    let events = capture.events.lock().unwrap().clone();
    let logged: Vec<_> = events
        .iter()
        .filter(|e| e.message.contains("the disk is on fire"))
        .collect();
    let in_server: Vec<_> = logged
        .iter()
        .filter(|e| {
            e.span.as_deref() == Some("grpcx.test.Probe/Unary")
                && e.message.starts_with("call failed")
        })
        .collect();
    assert!(!in_server.is_empty(), "{events:?}");
    // The client's one event for the failure, in the client span (the
    // cause stays on the server).
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.message.starts_with("call failed"))
        .collect();
    assert_eq!(failed.len(), 2, "one event per side: {events:?}");
    drop(channel);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_successful_call_records_ok() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start().await;
    let channel = server.channel();
    unary(&channel, ProbeRequest::new("s2", Action::Reply))
        .await
        .unwrap();
    assert_eq!(
        capture.span("grpc.server").fields["rpc.grpc.status_code"],
        "0"
    );
    assert_eq!(
        capture.span("grpc.client").fields["rpc.grpc.status_code"],
        "0"
    );
    drop(channel);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_server_streaming_span_closes_after_the_trailers_with_their_code() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start().await;
    let channel = server.channel();
    // Two messages, then the handler waits at the gate before its status.
    let request = ProbeRequest::new("s3", Action::WaitGate).after(2);
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    for _ in 0..2 {
        assert!(
            within("a message", stream.message())
                .await
                .unwrap()
                .is_some()
        );
    }
    // Headers and messages are in, the status is not: the call goes on.
    assert_eq!(capture.open("grpc.client"), 1);
    assert!(
        !capture
            .span("grpc.client")
            .fields
            .contains_key("rpc.grpc.status_code"),
        "no code before the trailers"
    );
    server.open_gate();
    let (_, end) = drain(&mut stream).await;
    end.unwrap();
    // Closed at the trailers, while the caller still holds the stream.
    let span = capture.closed("grpc.client");
    assert_eq!(span.fields["rpc.grpc.status_code"], "0");
    assert_eq!(span.fields["otel.name"], "grpcx.test.Probe/ServerStream");
    drop(stream);
    drop(channel);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_server_streaming_span_ends_with_a_failure_midway() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest::fail("s4", Code::NotFound, "gone").after(3);
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 3);
    assert_eq!(end.unwrap_err().code(), Code::NotFound);
    assert_eq!(
        capture.closed("grpc.client").fields["rpc.grpc.status_code"],
        "5"
    );
    // The client logs the failure once, in its span.
    let events = capture.events.lock().unwrap().clone();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.message.starts_with("call failed") && e.message.contains("origin: peer"))
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(
        failed[0].span.as_deref(),
        Some("grpcx.test.Probe/ServerStream")
    );
    drop(stream);
    drop(channel);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_dropped_response_stream_records_cancelled() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let request = ProbeRequest::new("s5", Action::WaitGate).after(1);
    let mut stream = server_streaming(&channel, request)
        .await
        .unwrap()
        .into_inner();
    assert!(
        within("a message", stream.message())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(capture.open("grpc.client"), 1);
    drop(stream);
    let span = capture.closed("grpc.client");
    assert_eq!(span.fields["rpc.grpc.status_code"], "1");
    // The server sees the cancellation as well, and says so in its span.
    assert_eq!(
        server.events.done("s5").await,
        grpcx::CallOutcome::Cancelled
    );
    drop(channel);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn bidi_calls_and_layered_clients_have_a_whole_span_with_the_server_address() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start().await;
    let channel = server.channel();
    let port = server.addr().port().to_string();

    // `Channel::bidi_streaming`: one message, then the status, in one span.
    let (requests, mut responses) = channel.bidi_streaming(path("Bidi"), Request::new(()), codec());
    requests
        .send(ProbeRequest::fail("s6", Code::AlreadyExists, "twice").after(1))
        .await
        .unwrap();
    let (messages, end) = drain(&mut responses).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(end.unwrap_err().code(), Code::AlreadyExists);
    let span = capture.closed("grpc.client");
    assert_eq!(span.fields["otel.name"], "grpcx.test.Probe/Bidi");
    assert_eq!(span.fields["rpc.grpc.status_code"], "6");
    assert_eq!(span.fields["server.address"], "127.0.0.1");
    assert_eq!(span.fields["server.port"], port);
    drop((requests, responses));
    capture.closed.lock().unwrap().clear();

    // A client over layers, where the channel is out of sight: the channel
    // reports its address.
    let layered = tower::ServiceBuilder::new()
        .map_request(|request: http::Request<grpcx::Body>| request)
        .service(channel.clone());
    let grpc = grpcx::client::Grpc::new(layered).with_config(channel.config());
    within(
        "a layered call",
        grpc.unary(
            path("Unary"),
            ProbeRequest::new("s7", Action::Reply).into_request(),
            codec(),
        ),
    )
    .await
    .unwrap();
    let span = capture.closed("grpc.client");
    assert_eq!(span.fields["rpc.grpc.status_code"], "0");
    assert_eq!(span.fields["server.address"], "127.0.0.1");
    assert_eq!(span.fields["server.port"], port);
    drop(channel);
    server.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_blocking_client_has_the_same_span() {
    let server = TestServer::start().await;
    let channel = server.channel();
    let capture = Capture::default();
    let thread_capture = capture.clone();
    // A plain thread (outside any runtime, where the blocking client may
    // block), with the capture as its default subscriber.
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let subscriber = tracing_subscriber::registry().with(thread_capture);
        let _default = tracing::subscriber::set_default(subscriber);
        let client = grpcx::blocking::BlockingChannel::new(channel).unwrap();
        let status = client
            .unary(
                path("Unary"),
                ProbeRequest::fail("s8", Code::PermissionDenied, "no").into_request(),
                codec(),
            )
            .unwrap_err();
        let _ = done.send(status.code());
    });
    let code = within("the blocking call", finished).await.unwrap();
    assert_eq!(code, Code::PermissionDenied);
    let span = capture.closed("grpc.client");
    assert_eq!(span.fields["otel.name"], "grpcx.test.Probe/Unary");
    assert_eq!(span.fields["rpc.grpc.status_code"], "7");
    assert_eq!(span.fields["server.address"], "127.0.0.1");
    server.handle.shutdown().await;
}
