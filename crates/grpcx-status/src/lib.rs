//! Status codes, [`Status`], metadata and the `google.rpc` rich error model
//! of grpcx.
//!
//! This crate sits at the bottom of grpcx: every other crate speaks
//! [`Status`], and this one depends on no runtime, no HTTP stack and no
//! other grpcx crate (only `http` for header types and `prost` for the
//! `google.rpc` messages). Use it alone to build or read gRPC errors in any
//! code, for instance a library shared by a server and its clients.
//!
//! - [`Code`]: the 17 codes, their numbers, names and HTTP mappings.
//! - [`Status`]: code, message, typed details, metadata, origin and a source
//!   kept for logs; one pointer wide.
//! - [`Metadata`]: ASCII and binary custom metadata with validated keys.
//! - [`Detail`] and the `google.rpc` messages ([`ErrorInfo`], [`BadRequest`],
//!   [`RetryInfo`], ...): the rich error model, read back typed, with
//!   unknown details kept rather than dropped.
//! - [`wire`]: the exact header form (`grpc-status`, percent-encoded
//!   `grpc-message`, `grpc-status-details-bin`).
//! - [`DomainError`]: how an application's error type says which status it
//!   becomes, so `?` does the rest.
//! - `json` (feature `json`, off by default): the JSON error body of
//!   Google's API design guide (AIP-193), both ways, through prost-reflect's
//!   proto3 JSON mapping. It is the only part that needs `serde_json`.
//!
//! # Features
//!
//! - `json` (off by default): the `json` module, and `Status::to_json`,
//!   `Status::from_json`. Without it the crate depends on neither serde
//!   nor prost-reflect.
//!
//! # Examples
//!
//! ```
//! use grpcx_status::{BadRequest, Code, Detail, Status};
//!
//! // A server builds a rich status ...
//! let status = Status::invalid_argument("invalid user")
//!     .with_detail(BadRequest::default()
//!         .violation("username", "is required")
//!         .violation("email", "is not an address"));
//! let trailers = status.to_header_map();
//!
//! // ... and a client reads it back from the trailers.
//! let received = Status::from_header_map(&trailers).unwrap();
//! assert_eq!(received.code(), Code::InvalidArgument);
//! for detail in received.details() {
//!     if let Detail::BadRequest(bad) = detail {
//!         assert_eq!(bad.field_violations.len(), 2);
//!     }
//! }
//! ```

mod b64;
mod code;
mod domain;
mod http;
#[cfg(feature = "json")]
pub mod json;
mod metadata;
pub mod rich;
mod status;
pub mod wire;

/// The `google.rpc` protobuf messages, generated from `proto/google/rpc/`.
///
/// The detail messages are also re-exported at the crate root and in
/// [`rich`], with builders.
pub mod pb {
    #![allow(missing_docs, unreachable_pub, clippy::all, rustdoc::all)]
    include!("generated/google_rpc.rs");
}

pub use code::{Code, ParseCodeError};
pub use domain::{DomainError, ResultExt};
pub use metadata::{Metadata, MetadataError, MetadataValue};
pub use rich::{
    BadRequest, DebugInfo, Detail, DetailMessage, ErrorInfo, Help, LocalizedMessage,
    PreconditionFailure, QuotaFailure, RequestInfo, ResourceInfo, RetryInfo,
};
pub use status::{DetailsError, Origin, Progress, Pushback, Status};
// Not part of the API; see the module's docs.
#[doc(hidden)]
pub use status::internals as __private;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
