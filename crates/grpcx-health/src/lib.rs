//! The gRPC health checking service, `grpc.health.v1.Health`, for grpcx
//! servers ([gRPC's health checking protocol]).
//!
//! [`service`] makes the service and a [`HealthReporter`], the handle the
//! application sets statuses through: per service (`package.Service`) and
//! for the whole server (the empty name, `SERVING` from the start).
//!
//! - `Check` answers the current status, or `NOT_FOUND` for a service
//!   never set (or [cleared](HealthReporter::clear)).
//! - `Watch` streams the current status, then each change; an unknown
//!   service is `SERVICE_UNKNOWN` and the call stays open, so the watcher
//!   learns when it appears.
//! - `List` answers every status.
//!
//! On graceful shutdown, [`HealthReporter::shutdown`] (hooked to
//! `Server::on_shutdown`) sets every status to `NOT_SERVING` for good; each
//! watcher gets that message, then its call ends with `UNAVAILABLE`, so the
//! drain does not wait for watches that would never end.
//!
//! ```
//! use grpcx_health::ServingStatus;
//! use grpcx_transport::Server;
//!
//! let (health, reporter) = grpcx_health::service();
//! reporter.set_serving("example.users.v1.UserService");
//! let server = Server::builder()
//!     .add_service(health)
//!     .on_shutdown(reporter.shutdown_hook());
//! assert_eq!(reporter.status(""), Some(ServingStatus::Serving));
//! # drop(server);
//! ```
//!
//! Statuses are kept in a [`tokio::sync::watch`] channel: setting one never
//! waits, and no lock is held across an `.await`.
//!
//! [gRPC's health checking protocol]: https://github.com/grpc/grpc/blob/master/doc/health-checking.md

// The generated code names `::grpcx::codegen::*`; see `codegen.rs`.
extern crate self as grpcx;

#[doc(hidden)]
pub mod codegen;
mod reporter;
mod service;

pub use reporter::{HealthReporter, ServingStatus};
pub use service::HealthService;

/// The generated code of `grpc/health/v1/health.proto`: the messages, the
/// `HealthClient` (for health checks from Rust) and the server trait
/// (committed under `src/generated/`; `cargo xtask codegen` writes it).
pub mod pb {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    include!("generated/grpc_health_v1.rs");
}

/// The full name of the health service, `grpc.health.v1.Health`.
pub const SERVICE_NAME: &str = pb::HEALTH_SERVICE_NAME;

/// The descriptor of `grpc.health.v1.Health` (with its file descriptor set,
/// for reflection).
pub static DESCRIPTOR: &grpcx_transport::descriptor::ServiceDescriptor = &pb::HEALTH_DESCRIPTOR;

/// A health service and the reporter that sets its statuses; the server as
/// a whole (`""`) starts `SERVING`.
///
/// ```
/// let (health, reporter) = grpcx_health::service();
/// reporter.set_not_serving("example.products.v1.ProductService");
/// # drop(health);
/// ```
pub fn service() -> (pb::HealthServer<HealthService>, HealthReporter) {
    let reporter = HealthReporter::new();
    let service = HealthService::new(reporter.clone());
    (pb::HealthServer::new(service), reporter)
}
