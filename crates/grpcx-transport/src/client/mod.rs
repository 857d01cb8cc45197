//! The gRPC client: an [`Endpoint`] describes a server, a [`Channel`] is a
//! connection to it, and [`Grpc`] makes typed calls of all four kinds on a
//! channel or on tower layers over one.
//!
//! ```text
//! generated client ─ Grpc<T> ─ (tower layers: T) ─ Channel ── HTTP/2
//!   typed messages    encode,    http::Request<Body>          connection,
//!                     decode     + GrpcMethod, Deadline       deadline
//! ```
//!
//! A [`Channel`] is a `tower::Service<http::Request<B>>` with
//! `Error = Status`: `Err` means the call ended before any response
//! headers, `Ok` that headers arrived (a later failure comes out of the
//! response [`Body`](crate::Body)). Retry layers build on this line.
//!
//! Every failure reaches the caller as a [`Status`](grpcx_status::Status)
//! whose [`origin`](grpcx_status::Status::origin) tells whether the server
//! sent it or grpcx made it here: the deadline passed, the call was
//! cancelled, the connection could not be made or was lost (`UNAVAILABLE`),
//! or the server broke the protocol (`INTERNAL`); and whose
//! [`progress`](grpcx_status::Status::progress) tells how far the call got.

mod body;
mod call;
mod channel;
mod connect;
pub(crate) mod errors;
mod grpc;
mod resend;
mod service;
mod span;
mod tls;

pub(crate) use body::{EncodedBody, ResponseBody};
pub use channel::{Channel, Endpoint};
pub use grpc::{
    ClientConfig, ClientService, GRPC_PREVIOUS_RPC_ATTEMPTS, Grpc, RequestSender, SendError,
};
pub(crate) use grpc::{ReceiverStream, after_deadline, single_response};
pub use resend::HeadersCopy;
pub use service::ResponseFuture;
pub(crate) use span::CallSpan;
