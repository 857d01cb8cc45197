//! Code generation for grpcx, from `build.rs`: messages, clients and server
//! traits from `.proto` files, with no `protoc` to install.
//!
//! [protox], a protobuf compiler in pure Rust, parses the files; prost-build
//! writes the messages; this crate writes, for each service, the code that
//! connects them to grpcx's runtime. Generated code names only
//! `::grpcx::codegen::*` (a hidden module of the facade) and `::core`, so a
//! crate using it needs `grpcx` alone: not prost, not prost-types.
//!
//! In the diagram of grpcx's crates this one is build-time only: it is a
//! `[build-dependencies]` entry and never linked into a program.
//!
//! # Examples
//!
//! `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), grpcx_codegen::Error> {
//!     grpcx_codegen::compile_protos("proto/route_guide.proto")
//! }
//! ```
//!
//! The crate then includes the code of each protobuf package, by name:
//!
//! ```text
//! pub mod pb {
//!     grpcx::include_proto!("routeguide");
//! }
//! ```
//!
//! [`configure`] returns a [`Builder`] for more: include directories,
//! extern paths, attributes, which parts to generate.
//!
//! # What is generated
//!
//! For a service `RouteGuide` in package `routeguide`, next to its
//! messages:
//!
//! - `ROUTE_GUIDE_SERVICE_NAME` (`"routeguide.RouteGuide"`) and
//!   `ROUTE_GUIDE_DESCRIPTOR`, a `ServiceDescriptor` listing the methods
//!   with their paths, kinds and message types, and pointing at the
//!   package's `FILE_DESCRIPTOR_SET`: the encoded files of the package and
//!   their imports, with the proto comments, which server reflection
//!   serves (so `grpcurl describe` shows the comments).
//! - `RouteGuideClient`, the async client: `new(channel)`, then one method
//!   per RPC. A unary method takes a message or a `Request` and returns a
//!   `Response`; a server-streaming one returns a `Response<Streaming<_>>`;
//!   a client-streaming one takes a `Stream` or an iterator of messages, or
//!   either in a `Request`; a bidi method `chat()` returns a sender and the
//!   response stream at once, and `chat_with(request)` does the same with a
//!   request's metadata and timeout.
//! - `RouteGuide`, the async server trait: one `fn` per RPC returning
//!   `impl Future + Send` (write it as an `async fn`), taking a
//!   `ServerRequest<_>` (the message, its metadata and the call's
//!   `CallContext`), a `ServerRequest<Streaming<_>>` when the client streams, and for a method whose
//!   server streams an associated type `ListFeaturesStream` for the
//!   responses. `RouteGuideServer::new(service)` serves it.
//! - With [`Builder::build_blocking`]: `RouteGuideBlockingClient` (plus a
//!   `_future` variant of each unary method), the `RouteGuideBlocking`
//!   trait of plain functions, where streaming responses go to a
//!   `ResponseSink`, and `RouteGuideBlockingServer`.
//!
//! RPC names become snake case (`GetFeature` → `get_feature`); a Rust
//! keyword becomes a raw identifier (`Match` → `r#match`), `Self` becomes
//! `self_`, and a name the client itself uses (`new`, `get_ref`,
//! `get_mut`, `into_inner`, `clone`) gets a trailing underscore. Names that
//! would collide, within a service or with a message of the package, are
//! an [`Error::Names`] at build time, not a compile error later.
//!
//! Proto comments become the items' documentation. Every code block in
//! them is marked as `text`, so that examples in other languages do not
//! become doc tests.
//!
//! # Imports
//!
//! `google/protobuf/*.proto` and grpcx's own
//! `google/rpc/{status,code,error_details}.proto` can be imported without
//! being on an include path. Their types are not generated: the well-known
//! types are prost-types' and the `google.rpc` ones are
//! `grpcx::rich::pb`'s, so a `google.rpc.Status` field holds the same type
//! grpcx's rich error model uses.
//!
//! # Stability
//!
//! The builder follows semver. The generated code's shape does too; the
//! `grpcx::codegen` items it calls do not, so generated code must come from
//! the `grpcx-codegen` of the same release as `grpcx`.

mod builder;
mod comments;
mod error;
mod generator;
mod names;

use std::path::Path;

pub use builder::{Builder, GeneratedFile};
pub use error::Error;

/// A [`Builder`] with the defaults: clients and servers, no blocking code,
/// output to `OUT_DIR`.
pub fn configure() -> Builder {
    Builder::default()
}

/// Compiles one `.proto` file with the defaults, its directory being the
/// include directory.
///
/// # Errors
///
/// As for [`Builder::compile`].
pub fn compile_protos(proto: impl AsRef<Path>) -> Result<(), Error> {
    let proto = proto.as_ref();
    let include = proto.parent().unwrap_or_else(|| Path::new("."));
    let include = if include.as_os_str().is_empty() {
        Path::new(".")
    } else {
        include
    };
    configure().compile(&[proto], &[include])
}
