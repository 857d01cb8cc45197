//! grpcx: a gRPC framework for Rust built around error handling.
//!
//! This facade re-exports the paved path of the grpcx crates, so most users
//! need this one dependency:
//!
//! - [`Status`], [`Code`], [`Metadata`], the rich error model ([`rich`]:
//!   [`ErrorInfo`], [`BadRequest`], [`RetryInfo`], ...) and [`DomainError`]
//!   from `grpcx-status`;
//! - [`Server`], [`Channel`], [`Endpoint`], [`Request`], [`Response`],
//!   [`Streaming`] and the handler [`Context`] from `grpcx-transport`;
//! - the codec and compression types in [`codec`].
//!
//! The single crates stay usable alone: depend on `grpcx-status` to build
//! and read statuses anywhere without an HTTP stack.
//!
//! # Examples
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
    LocalizedMessage, Metadata, MetadataError, Origin, PreconditionFailure, QuotaFailure,
    RequestInfo, ResourceInfo, ResultExt, RetryInfo, Status,
};
pub use grpcx_transport::{
    CallOutcome, Channel, Context, Endpoint, Error, IntoRequest, Request, Response, Server,
    Streaming,
};

/// The rich error model: typed `google.rpc` details.
pub mod rich {
    pub use grpcx_status::pb;
    pub use grpcx_status::rich::*;
}

/// Message framing, the protobuf codec and compression.
pub mod codec {
    pub use grpcx_codec::*;
}

/// The server: services, method adapters and settings.
pub mod server {
    pub use grpcx_transport::server::*;
}

/// The client: endpoints and channels.
pub mod client {
    pub use grpcx_transport::client::*;
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
    pub use grpcx_transport::descriptor::{MethodDescriptor, MethodKind, ServiceDescriptor};
    pub use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
    pub use grpcx_transport::{
        Channel, Context, Endpoint, IntoRequest, Request, Response, Streaming,
    };
    pub use http;
    pub use http::uri::PathAndQuery;
    pub use prost;

    /// A boxed stream of results, the default response stream type of
    /// generated server traits.
    pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;
}

/// The error-handling guide (`docs/error-handling.md`), with its examples
/// compiled and run as doc tests.
#[doc = include_str!("../../../docs/error-handling.md")]
pub mod guide {}
