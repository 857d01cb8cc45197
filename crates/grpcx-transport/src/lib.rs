//! The HTTP/2 transport of grpcx: a hyper-based client [`Channel`] and
//! [`Server`], and the runtime types generated code calls.
//!
//! This is the only grpcx crate that names hyper or h2. It turns HTTP/2
//! requests into calls and calls into HTTP/2 requests, exactly as gRPC's
//! `PROTOCOL-HTTP2.md` says: `grpc-timeout` deadlines, Trailers-Only
//! errors, percent-encoded `grpc-message`, rich details in
//! `grpc-status-details-bin`, HTTP-status and RST_STREAM mappings.
//!
//! - [`client`]: [`Endpoint`], [`Channel`] and the four call kinds
//!   ([`Channel::unary`], [`Channel::server_streaming`],
//!   [`Channel::client_streaming`], [`Channel::bidi_streaming_from_stream`]).
//! - [`server`]: [`Server`], the [`GrpcService`](server::GrpcService)
//!   trait services implement, and the method adapters in
//!   [`server::handler`]. Every call goes through tower layers
//!   ([`Server::layer`], [`Server::add_layered_service`]) as an
//!   `http::Request<`[`Body`]`>` carrying its [`CallContext`] in its extensions;
//!   its response carries the final status as a value
//!   ([`ResponseBody`](server::ResponseBody)) until the server writes it.
//! - [`Request`] (what a client sends), [`ServerRequest`] (what a handler
//!   receives, with its [`CallContext`]), [`Response`], [`Streaming`]:
//!   messages with metadata, and incoming message streams.
//! - [`CallContext`]: a server handler's view of its call (deadline,
//!   cancellation, abort, status and trailers).
//! - [`blocking`]: the blocking API, for code on plain threads: a
//!   [`BlockingChannel`](blocking::BlockingChannel) client and blocking
//!   server handlers.
//!
//! Every call's failure is a [`Status`](grpcx_status::Status); failures
//! outside any call (binding, connecting, a bad URI) are an [`Error`].

pub mod blocking;
mod body;
pub mod client;
mod coalesce;
mod context;
pub mod descriptor;
mod error;
mod extensions;
mod glue;
mod panic;
mod protocol;
mod request;
pub mod server;
mod streaming;
pub mod timeout;

pub use body::Body;
pub use client::{Channel, Endpoint};
pub use context::{CallContext, CallOutcome};
pub use error::{BoxError, Error, status_from_layer_error};
pub use extensions::{Attempts, Deadline, GrpcMethod};
pub use protocol::{DEFAULT_MAX_DECODE_MESSAGE_SIZE, GRPC_PREVIOUS_RPC_ATTEMPTS};
pub use request::{
    IntoBlockingStreamingRequest, IntoRequest, IntoStreamingRequest, Request, Response,
    ServerRequest,
};
// Named by generated code only (the facade re-exports them in its hidden
// `grpcx::codegen`): the markers that tell the request conversions apart,
// and the stream an iterator of requests becomes.
#[doc(hidden)]
pub use request::{IterStream, marker};
pub use server::Server;
pub use streaming::Streaming;
