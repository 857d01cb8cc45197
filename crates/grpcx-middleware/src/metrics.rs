//! Call metrics with the names and attributes of gRFC A66, recorded through
//! the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! Three opt-in tower layers, one per place a call can be measured:
//!
//! | layer | where | records |
//! | --- | --- | --- |
//! | [`ServerMetricsLayer`] | `Server::layer` | `grpc.server.call.started` (counter; `grpc.method`), `grpc.server.call.duration` (histogram, seconds; `grpc.method`, `grpc.status`), `grpc.server.call.sent_total_compressed_message_size` and `grpc.server.call.rcvd_total_compressed_message_size` (histograms, bytes; `grpc.method`, `grpc.status`) |
//! | [`ClientCallMetricsLayer`] | a client stack, **outside** the retry layer | `grpc.client.call.duration` (histogram, seconds; `grpc.method`, `grpc.target`, `grpc.status`) |
//! | [`ClientAttemptMetricsLayer`] | a client stack, **inside** the retry layer | `grpc.client.attempt.started` (counter; `grpc.method`, `grpc.target`), `grpc.client.attempt.duration` (histogram, seconds; `grpc.method`, `grpc.target`, `grpc.status`), `grpc.client.attempt.sent_total_compressed_message_size` and `grpc.client.attempt.rcvd_total_compressed_message_size` (histograms, bytes; `grpc.method`, `grpc.target`, `grpc.status`) |
//!
//! A message size is its payload's length as on the wire: after
//! compression, without the 5-byte prefix; a call's is the sum over its
//! messages in one direction. The layers count it from the bodies' chunks
//! as they go by, with no copy and no allocation per message.
//!
//! `grpc.status` is the code's canonical name (`"OK"`, `"NOT_FOUND"`).
//! The layers only call the `metrics` macros: which recorder (Prometheus,
//! OpenTelemetry, statsd...) receives them is the application's choice,
//! and without one installed the macros do nothing.
//!
//! # Method names and cardinality
//!
//! `grpc.method` is the full method name without the leading slash
//! (`example.users.v1.UserService/GetUsers`). As A66 asks, a name that a
//! peer can make up is reported as `"other"`, so that the number of time
//! series stays bounded: the server reports by name only the methods of
//! the services given to [`ServerMetricsLayer::service`] (the generated
//! `*_SERVICE_DESCRIPTOR`s), and a client only the calls whose method the
//! typed client named ([`GrpcMethod`](grpcx_transport::GrpcMethod) in the
//! request's extensions: every call of a generated client).
//!
//! # How the end of a call is seen
//!
//! On the server, through the call's [`CallContext`](grpcx_transport::CallContext):
//! its `on_done` reports the code the server actually sent (after every
//! layer mapped it), `DEADLINE_EXCEEDED` when the deadline passed, and
//! `CANCELLED` when the client reset the call. On the client, as the
//! circuit breaker does: the code of an `Err`, of a Trailers-Only head, or
//! of the trailers at the end of the response body; a call whose response
//! is dropped before its end counts as `CANCELLED`.
//!
//! # Examples
//!
//! ```
//! use grpcx_middleware::metrics::{
//!     ClientAttemptMetricsLayer, ClientCallMetricsLayer, ServerMetricsLayer,
//! };
//! use grpcx_middleware::retry::RetryLayer;
//! use grpcx_transport::descriptor::{MethodDescriptor, MethodKind, ServiceDescriptor};
//!
//! // The server: the services whose methods are reported by name.
//! static GREETER: ServiceDescriptor = ServiceDescriptor::new(
//!     "hello.Greeter",
//!     &[MethodDescriptor::new("Hi", "/hello.Greeter/Hi", MethodKind::Unary, "hello.Req", "hello.Resp")],
//! );
//! let server = grpcx_transport::Server::builder()
//!     .layer(ServerMetricsLayer::new().service(&GREETER));
//! # drop(server);
//!
//! // The client: calls outside the retry layer, attempts inside it.
//! let target = "http://127.0.0.1:50051";
//! let channel = grpcx_transport::Endpoint::new(target)?.connect_lazy();
//! let service = tower::ServiceBuilder::new()
//!     .layer(ClientCallMetricsLayer::new(target))
//!     .layer(RetryLayer::default())
//!     .layer(ClientAttemptMetricsLayer::new(target))
//!     .service(channel.clone());
//! let client = grpcx_transport::client::Grpc::new(service).with_config(channel.config());
//! # drop(client);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod server;
mod size;

pub use client::{
    ClientAttemptMetricsLayer, ClientCallMetricsLayer, ClientMetrics, ClientMetricsBody,
    ClientMetricsFuture,
};
pub use server::{ServerMetrics, ServerMetricsFuture, ServerMetricsLayer};

/// `grpc.server.call.started`: a counter of the calls the server started.
pub const SERVER_CALL_STARTED: &str = "grpc.server.call.started";
/// `grpc.server.call.duration`: a histogram of the server calls' durations,
/// in seconds.
pub const SERVER_CALL_DURATION: &str = "grpc.server.call.duration";
/// `grpc.client.attempt.started`: a counter of the attempts a client
/// started.
pub const CLIENT_ATTEMPT_STARTED: &str = "grpc.client.attempt.started";
/// `grpc.client.attempt.duration`: a histogram of the attempts' durations,
/// in seconds.
pub const CLIENT_ATTEMPT_DURATION: &str = "grpc.client.attempt.duration";
/// `grpc.client.call.duration`: a histogram of the client calls' durations
/// (all their attempts), in seconds.
pub const CLIENT_CALL_DURATION: &str = "grpc.client.call.duration";
/// `grpc.client.attempt.sent_total_compressed_message_size`: a histogram
/// of the bytes of request messages an attempt sent, in bytes.
pub const CLIENT_ATTEMPT_SENT_SIZE: &str = "grpc.client.attempt.sent_total_compressed_message_size";
/// `grpc.client.attempt.rcvd_total_compressed_message_size`: a histogram
/// of the bytes of response messages an attempt received, in bytes.
pub const CLIENT_ATTEMPT_RCVD_SIZE: &str = "grpc.client.attempt.rcvd_total_compressed_message_size";
/// `grpc.server.call.sent_total_compressed_message_size`: a histogram of
/// the bytes of response messages a server call sent, in bytes.
pub const SERVER_CALL_SENT_SIZE: &str = "grpc.server.call.sent_total_compressed_message_size";
/// `grpc.server.call.rcvd_total_compressed_message_size`: a histogram of
/// the bytes of request messages a server call received, in bytes.
pub const SERVER_CALL_RCVD_SIZE: &str = "grpc.server.call.rcvd_total_compressed_message_size";

/// The attribute naming the method.
pub const METHOD: &str = "grpc.method";
/// The attribute naming the final code.
pub const STATUS: &str = "grpc.status";
/// The attribute naming the client's target.
pub const TARGET: &str = "grpc.target";
/// The method name reported for a method not known to be registered.
pub const OTHER_METHOD: &str = "other";

/// Describes the metrics (their units and meaning) to the installed
/// recorder, for exporters that print them (Prometheus' `# HELP`). Call it
/// once, after installing the recorder; the layers work without it.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        SERVER_CALL_STARTED,
        "The number of calls the server started."
    );
    describe_histogram!(
        SERVER_CALL_DURATION,
        Unit::Seconds,
        "The time from a call's request headers to its status, on the server."
    );
    describe_counter!(
        CLIENT_ATTEMPT_STARTED,
        "The number of attempts a client started."
    );
    describe_histogram!(
        CLIENT_ATTEMPT_DURATION,
        Unit::Seconds,
        "The time from an attempt's start to its status, on the client."
    );
    for (name, what) in [
        (
            CLIENT_ATTEMPT_SENT_SIZE,
            "The bytes of request messages an attempt sent (compressed, without their 5-byte prefixes).",
        ),
        (
            CLIENT_ATTEMPT_RCVD_SIZE,
            "The bytes of response messages an attempt received (compressed, without their 5-byte prefixes).",
        ),
        (
            SERVER_CALL_SENT_SIZE,
            "The bytes of response messages a server call sent (compressed, without their 5-byte prefixes).",
        ),
        (
            SERVER_CALL_RCVD_SIZE,
            "The bytes of request messages a server call received (compressed, without their 5-byte prefixes).",
        ),
    ] {
        describe_histogram!(name, Unit::Bytes, what);
    }
    describe_histogram!(
        CLIENT_CALL_DURATION,
        Unit::Seconds,
        "The time from a call's start to its final status, all attempts included, on the client."
    );
}
