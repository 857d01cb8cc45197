//! grpcx: a gRPC framework for Rust built around error handling.
//!
//! This facade re-exports the paved path of the grpcx crates, so most users
//! need this one dependency:
//!
//! - [`Status`], [`Code`], [`Metadata`], the rich error model ([`rich`]:
//!   [`ErrorInfo`], [`BadRequest`], [`RetryInfo`], ...) and [`DomainError`]
//!   from `grpcx-status`;
//! - [`Server`], [`Channel`], [`Endpoint`], [`Request`] (what a client
//!   sends), [`ServerRequest`] (what a handler receives), [`Response`],
//!   [`Streaming`] and the handler's [`CallContext`] from `grpcx-transport`;
//! - the codec and compression types in [`codec`].
//!
//! # Features
//!
//! - `tls-rustls` (off by default): TLS through rustls with the ring
//!   provider. `Server::tls_config` serves HTTP/2 over TLS (ALPN `h2`),
//!   `Endpoint::tls_config` dials `https://` endpoints, and both take a
//!   plain rustls config, so mutual TLS is rustls's own: a server config
//!   built `with_client_cert_verifier(WebPkiClientVerifier::builder(roots)
//!   .build()?)` refuses clients without a certificate at the handshake,
//!   and a client config built `with_client_auth_cert(chain, key)` presents
//!   one. Handlers and server layers read the peer's chain with
//!   `CallContext::peer_certificates`. The rustls these configs come from is
//!   re-exported as `tls::rustls`.
//! - `json` (off by default): the JSON error body of Google's API design
//!   guide (AIP-193) for HTTP/JSON gateways, `Status::to_json` and
//!   `Status::from_json`, and `json::JsonMapping` for an application's
//!   own detail types.
//!
//! The single crates stay usable alone: depend on `grpcx-status` to build
//! and read statuses anywhere without an HTTP stack.
//!
//! # Features
//!
//! None is on by default. `metrics` adds `grpcx::middleware::metrics`, the
//! layers that record gRFC A66 call metrics through the `metrics` crate
//! (see [`guide::observability`]).
//!
//! # Examples
//!
//! A server and a client in one process, over a real HTTP/2 connection. The
//! service here is written by hand against the runtime so the example is
//! self-contained; with [`include_proto!`] and `grpcx-codegen` in
//! `build.rs`, the same service is a trait to implement and the client a
//! typed struct (see below).
//!
//! ```
//! use grpcx::codec::ProstCodec;
//! use grpcx::server::{handler, BoxFuture, GrpcService, ResponseBody, ServerCall};
//! use grpcx::{BadRequest, Code, Endpoint, Origin, Request, Response, Server, ServerRequest, Status};
//!
//! /// `demo.Greeter/Greet`: greets a name, refuses an empty one.
//! struct Greeter;
//!
//! impl GrpcService for Greeter {
//!     fn name(&self) -> &'static str {
//!         "demo.Greeter"
//!     }
//!
//!     fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
//!         match method {
//!             "Greet" => Box::pin(handler::unary(call, ProstCodec::<String, String>::default(), greet)),
//!             _ => Box::pin(async move { call.unimplemented() }),
//!         }
//!     }
//! }
//!
//! async fn greet(request: ServerRequest<String>) -> Result<Response<String>, Status> {
//!     let name = request.into_inner();
//!     if name.is_empty() {
//!         return Err(Status::invalid_argument("a name is required")
//!             .with_detail(BadRequest::default().violation("name", "must not be empty")));
//!     }
//!     Ok(Response::new(format!("hello, {name}")))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! tokio::spawn(Server::builder().add_service(Greeter).serve(listener));
//!
//! let channel = Endpoint::new(format!("http://{address}"))?.connect_lazy();
//! let path = http::uri::PathAndQuery::from_static("/demo.Greeter/Greet");
//! let codec = ProstCodec::<String, String>::default;
//!
//! let reply = channel.unary(path.clone(), Request::new("ada".to_owned()), codec()).await?;
//! assert_eq!(reply.into_inner(), "hello, ada");
//!
//! let status = channel.unary(path, Request::new(String::new()), codec()).await.unwrap_err();
//! assert_eq!(status.code(), Code::InvalidArgument);
//! assert_eq!(status.origin(), Origin::Peer);
//! assert_eq!(status.get_detail::<BadRequest>().unwrap().field_violations[0].field, "name");
//! # Ok(())
//! # }
//! ```
//!
//! With generated code, `build.rs` holds
//! `grpcx_codegen::compile_protos("proto/greeter.proto")?;` and the crate
//! implements the generated trait and calls the generated client:
//!
//! ```text
//! grpcx::include_proto!("demo");          // messages, GreeterClient, Greeter, GreeterServer, ...
//!
//! struct MyGreeter;
//! impl Greeter for MyGreeter {
//!     async fn greet(&self, request: ServerRequest<GreetRequest>) -> Result<Response<GreetReply>, Status> { ... }
//! }
//! Server::builder().add_service(GreeterServer::new(MyGreeter)).serve(listener).await?;
//!
//! let reply = GreeterClient::new(channel).greet(GreetRequest { name: "ada".into() }).await?;
//! ```
//!
//! # Middleware: tower on both sides
//!
//! Every server call goes through the tower layers given to
//! [`Server::layer`] (or to one service with
//! [`Server::add_layered_service`]) as an `http::Request<`[`Body`]`>`: a
//! layer reads the metadata (the headers) and the extensions, where the
//! call's [`CallContext`] is, adds to them for the handler, or fails the call
//! with a [`Status`]. A response carries its final status as a value until
//! the server writes it, so a layer can also replace it
//! ([`ResponseBody::map_status`](server::ResponseBody::map_status)).
//!
//! On the client, [`Channel`] is a `tower::Service<http::Request<Body>>`,
//! and the typed client ([`client::Grpc`], which every generated client
//! wraps) runs over any stack of layers built on it. A layer sees the
//! method and the absolute deadline in the request's extensions
//! ([`GrpcMethod`], [`Deadline`]), and a unary request as one chunk of
//! bytes it can send again ([`Body::try_clone`]).
//!
//! ```
//! use std::time::Duration;
//! use grpcx::codec::ProstCodec;
//! use grpcx::server::{handler, BoxFuture, GrpcService, ResponseBody, ServerCall};
//! use grpcx::{Body, BoxError, Code, Endpoint, Request, Response, Server, ServerRequest, Status};
//! use tower::ServiceBuilder;
//!
//! /// Who the server's layer let in, for the handler.
//! #[derive(Clone)]
//! struct User(String);
//!
//! struct Whoami;
//!
//! impl GrpcService for Whoami {
//!     fn name(&self) -> &'static str {
//!         "demo.Whoami"
//!     }
//!
//!     fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
//!         match method {
//!             "Get" => Box::pin(handler::unary(call, ProstCodec::<String, String>::default(), |req: ServerRequest<String>| async move {
//!                 let user = req.extensions().get::<User>().map(|u| u.0.clone());
//!                 Ok::<_, Status>(Response::new(user.unwrap_or_default()))
//!             })),
//!             _ => Box::pin(async move { call.unimplemented() }),
//!         }
//!     }
//! }
//!
//! /// A server layer: no `authorization`, no call.
//! fn authenticate(mut request: http::Request<Body>) -> Result<http::Request<Body>, BoxError> {
//!     let user = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
//!     let user = user.ok_or_else(|| Status::unauthenticated("who are you?"))?;
//!     request.extensions_mut().insert(User(user));
//!     Ok(request)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! let server = Server::builder()
//!     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(30)))
//!     .layer(tower::filter::FilterLayer::new(authenticate))
//!     .add_service(Whoami);
//! tokio::spawn(server.serve(listener));
//!
//! // A client stack: every call carries the credentials.
//! let channel = Endpoint::new(format!("http://{address}"))?.connect_lazy();
//! let stack = ServiceBuilder::new()
//!     .map_request(|mut request: http::Request<Body>| {
//!         request.headers_mut().insert("authorization", http::HeaderValue::from_static("ada"));
//!         request
//!     })
//!     .service(channel.clone());
//! // Generated clients are the same: `WhoamiClient::new(stack)`.
//! let client = grpcx::client::Grpc::new(stack);
//! let path = http::uri::PathAndQuery::from_static("/demo.Whoami/Get");
//! let codec = ProstCodec::<String, String>::default;
//! let reply = client.unary(path.clone(), Request::new(String::new()), codec()).await?;
//! assert_eq!(reply.into_inner(), "ada");
//!
//! // Without the credentials, the server's layer refuses the call.
//! let status = channel.unary(path, Request::new(String::new()), codec()).await.unwrap_err();
//! assert_eq!(status.code(), Code::Unauthenticated);
//! assert_eq!(status.message(), "who are you?");
//! # Ok(())
//! # }
//! ```
//!
//! With generated code the client side reads
//! `GreeterClient::new(ServiceBuilder::new().layer(my_layer).service(channel))`.
//!
//! A rich status, as a handler returns it and a client reads it:
//!
//! ```
//! use grpcx::{Code, ErrorInfo, RetryInfo, Status};
//! use std::time::Duration;
//!
//! let status = Status::unavailable("the index is rebuilding")
//!     .with_detail(ErrorInfo::new("INDEX_REBUILDING", "search.example.com"))
//!     .with_detail(RetryInfo::after(Duration::from_secs(5)));
//!
//! let received = Status::from_header_map(&status.to_header_map()).unwrap();
//! assert_eq!(received.code(), Code::Unavailable);
//! assert_eq!(received.get_detail::<RetryInfo>().unwrap().delay(), Some(Duration::from_secs(5)));
//! ```

pub use grpcx_status::{
    BadRequest, Code, DebugInfo, Detail, DetailMessage, DetailsError, DomainError, ErrorInfo, Help,
    LocalizedMessage, Metadata, MetadataError, Origin, PreconditionFailure, Progress, Pushback,
    QuotaFailure, RequestInfo, ResourceInfo, ResultExt, RetryInfo, Status,
};
pub use grpcx_transport::{
    Body, BoxError, CallContext, CallOutcome, Channel, Deadline, Endpoint, Error, GrpcMethod,
    IntoBlockingStreamingRequest, IntoRequest, IntoStreamingRequest, Request, Response, Server,
    ServerRequest, Streaming,
};

/// TLS (the `tls-rustls` feature): the rustls crate whose configs
/// [`Server::tls_config`] and [`Endpoint::tls_config`] take.
#[cfg(feature = "tls-rustls")]
pub mod tls {
    pub use tokio_rustls::rustls;
}

/// The JSON error body of Google's API design guide (feature `json`): see
/// `grpcx_status::json`.
#[cfg(feature = "json")]
pub mod json {
    pub use grpcx_status::json::*;
}

/// The rich error model beyond the crate root: the raw `google.rpc`
/// messages (with their nested types, such as `bad_request::FieldViolation`)
/// and the type URL prefix. The ten detail messages, [`Detail`] and
/// [`DetailMessage`] are at the crate root.
pub mod rich {
    pub use grpcx_status::pb;
    pub use grpcx_status::rich::TYPE_URL_PREFIX;
}

/// Message framing, the protobuf codec and compression.
pub mod codec {
    pub use grpcx_codec::*;
}

/// The server's parts beyond [`Server`]: services, the method adapters
/// generated code calls, and the default settings.
pub mod server {
    pub use grpcx_transport::server::{
        BoxFuture, Connection, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_KEEPALIVE_MIN_TIME,
        DEFAULT_MAX_CLIENT_RESETS, DEFAULT_MAX_CONNECTION_AGE_GRACE, DEFAULT_MAX_CONNECTIONS,
        DEFAULT_MAX_DECODE_MESSAGE_SIZE, DEFAULT_MAX_REQUEST_BUFFER, GrpcService, HandlerPanic,
        ResponseBody, Routes, RoutesFuture, ServerCall, ServiceRoute, handler, shutdown_signal,
    };
}

/// Descriptors of services and methods (generated code declares one per
/// service, as `FOO_DESCRIPTOR`).
pub mod descriptor {
    pub use grpcx_transport::descriptor::*;
}

/// A boxed stream of response messages: the simplest choice for the
/// `type FooStream` of a generated server trait.
///
/// ```
/// # use grpcx::{BoxStream, Status};
/// let stream: BoxStream<u32> = Box::pin(futures_util::stream::iter([Ok(1), Err(Status::aborted("no"))]));
/// # drop(stream);
/// ```
pub type BoxStream<T> = std::pin::Pin<
    Box<dyn futures_core::Stream<Item = Result<T, grpcx_status::Status>> + Send + 'static>,
>;

/// The blocking API, for plain threads: a blocking channel (with the
/// futures-style `CallHandle` of grpcio), blocking streams, and the sinks
/// blocking server handlers send responses through.
pub mod blocking {
    pub use grpcx_transport::blocking::*;
}

/// The client's parts beyond [`Channel`] and [`Endpoint`]: `Grpc`, the
/// typed front over a channel (or layers over one), its settings, and the
/// request sender of bidirectional calls.
pub mod client {
    pub use grpcx_transport::client::{
        ClientConfig, ClientService, GRPC_PREVIOUS_RPC_ATTEMPTS, Grpc, RequestSender,
        ResponseFuture, SendError,
    };
}

/// tower middleware decided by status codes: retry and hedging (gRFC A6),
/// a circuit breaker, the server's error advice, interceptors, and the
/// mapping of tower's own errors. See `grpcx-middleware`.
pub mod middleware {
    pub use grpcx_middleware::*;
}

/// The gRPC health service, `grpc.health.v1.Health` (feature `health`, on
/// by default). See `grpcx-health`.
///
/// ```
/// let (health, reporter) = grpcx::health::service();
/// let server = grpcx::Server::builder()
///     .add_service(health)
///     .on_shutdown(reporter.shutdown_hook());
/// reporter.set_serving("example.users.v1.UserService");
/// # drop(server);
/// ```
#[cfg(feature = "health")]
pub mod health {
    pub use grpcx_health::*;
}

/// gRPC server reflection, `grpc.reflection.v1` and `v1alpha` (feature
/// `reflection`, on by default), listing every service of the server, in
/// one line. See `grpcx-reflection`.
///
/// ```
/// use grpcx::reflection::ServerExt as _;
///
/// let (health, _reporter) = grpcx::health::service();
/// let server = grpcx::Server::builder()
///     .add_service(health)
///     .add_reflection();
/// # drop(server);
/// ```
#[cfg(feature = "reflection")]
pub mod reflection {
    pub use grpcx_reflection::*;
}

/// What generated code names; not for direct use, and not covered by
/// semver. Generated code refers only to `::grpcx::codegen::*`, so it stays
/// thin and the runtime can change behind it.
#[doc(hidden)]
pub mod codegen {
    pub use std::future::Future;
    pub use std::pin::Pin;
    pub use std::sync::Arc;

    pub use futures_core::Stream;
    pub use grpcx_codec::{Codec, ProstCodec};
    pub use grpcx_status::{Code, Status};
    pub use grpcx_transport::blocking::{
        BlockingChannel, BlockingSender, BlockingStreaming, CallHandle, ResponseSink,
    };
    pub use grpcx_transport::client::{ClientConfig, ClientService, Grpc, RequestSender};
    pub use grpcx_transport::descriptor::{MethodDescriptor, MethodKind, ServiceDescriptor};
    pub use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
    pub use grpcx_transport::{
        CallContext, Channel, Endpoint, IntoRequest, Request, Response, ServerRequest, Streaming,
    };
    pub use http;
    pub use http::uri::PathAndQuery;
    pub use prost;
    pub use prost_types;

    /// A boxed stream of results, the default response stream type of
    /// generated server traits.
    pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

    pub use grpcx_transport::{
        IntoBlockingStreamingRequest, IntoStreamingRequest, IterStream, marker,
    };
}

/// Includes the code `grpcx-codegen` generated in `OUT_DIR` for a protobuf
/// package: `include_proto!("route.guide")` expands to
/// `include!(concat!(env!("OUT_DIR"), "/route.guide.rs"))`. The files
/// without a package are in `"_"`.
///
/// ```text
/// pub mod routeguide {
///     grpcx::include_proto!("routeguide");
/// }
/// ```
#[macro_export]
macro_rules! include_proto {
    ($package:literal) => {
        ::core::include!(::core::concat!(
            ::core::env!("OUT_DIR"),
            "/",
            $package,
            ".rs"
        ));
    };
}

/// The error-handling guide (`docs/error-handling.md`), with its examples
/// compiled and run as doc tests.
#[doc = include_str!("../../../docs/error-handling.md")]
pub mod guide {
    /// Retry and hedging (`docs/retry.md`).
    #[doc = include_str!("../../../docs/retry.md")]
    pub mod retry {}

    /// The circuit breaker (`docs/circuit-breaker.md`).
    #[doc = include_str!("../../../docs/circuit-breaker.md")]
    pub mod circuit_breaker {}

    /// Error advice: the server's one place for domain errors
    /// (`docs/error-advice.md`).
    #[doc = include_str!("../../../docs/error-advice.md")]
    pub mod error_advice {}

    /// Interceptors on both sides (`docs/interceptors.md`).
    #[doc = include_str!("../../../docs/interceptors.md")]
    pub mod interceptors {}

    /// tower's own errors as statuses (`docs/tower-errors.md`).
    #[doc = include_str!("../../../docs/tower-errors.md")]
    pub mod tower_errors {}

    /// Tracing spans and gRFC A66 call metrics (`docs/observability.md`).
    #[doc = include_str!("../../../docs/observability.md")]
    pub mod observability {}
}
