//! The gRPC client: an [`Endpoint`] describes a server, a [`Channel`] is a
//! connection to it on which calls of all four kinds are made.
//!
//! Every failure reaches the caller as a [`Status`](grpcx_status::Status)
//! whose [`origin`](grpcx_status::Status::origin) tells whether the server
//! sent it or grpcx made it here: the deadline passed, the call was
//! cancelled, the connection could not be made or was lost (`UNAVAILABLE`),
//! or the server broke the protocol (`INTERNAL`).

mod body;
mod call;
mod channel;
pub(crate) mod errors;

pub use body::{RequestBody, RequestBodyError};
pub(crate) use call::after_deadline;
pub use call::{RequestSender, SendError};
pub use channel::{Channel, Endpoint};
