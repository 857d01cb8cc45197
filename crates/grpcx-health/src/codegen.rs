//! What the code generated into this crate names as `::grpcx::codegen`:
//! this crate is re-exported by the facade, so it cannot depend on it, and
//! `extern crate self as grpcx` in `lib.rs` points the generated paths
//! here. Keep in step with the facade's `grpcx::codegen`.

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

pub use grpcx_transport::{IntoBlockingStreamingRequest, IntoStreamingRequest, IterStream, marker};
