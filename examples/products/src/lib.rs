//! A product service whose repository fails with domain errors, mapped to
//! statuses in one place, and a REST gateway that answers those statuses
//! as JSON errors with the right HTTP status.
//!
//! It is the grpc-java example of the "product service + API gateway"
//! article, in Rust:
//!
//! - the repository fails with [`ProductError::NotFound`] carrying a
//!   metadata map (`productId`), never with a gRPC type;
//! - the server's error advice ([`advice()`], the seed's `@GrpcAdvice`
//!   class, applied to every call by an `ErrorAdviceLayer`) turns it into
//!   `NOT_FOUND` with an `ErrorInfo` (reason `PRODUCT_NOT_FOUND`, domain
//!   `products.example.com`, the metadata), and the handlers use `?`;
//!   whatever it does not map, and any panic, reaches the client as
//!   `INTERNAL` with a correlation id and nothing else;
//! - the client reads the `ErrorInfo` back typed: no metadata conventions,
//!   no `UNKNOWN` with the cause lost;
//! - [`gateway`] maps every status to HTTP: `status.code().to_http()` and
//!   `status.to_json()`, Google's JSON error format.
//!
//! The binaries: `products-server` (gRPC) and `products-gateway` (HTTP).

mod advice;
mod error;
pub mod gateway;
mod repository;
mod service;

use std::future::Future;
use std::time::Duration;

use grpcx::Server;
use grpcx::middleware::advice::ErrorAdviceLayer;
use grpcx::reflection::ServerExt as _;
use tokio::net::TcpListener;
use tower::layer::util::{Identity, Stack};

pub use advice::advice;
pub use error::{
    BackendError, ERROR_DOMAIN, OUTAGE_RETRY_DELAY, ProductError, REASON_PRODUCT_NOT_FOUND,
    Violations,
};
pub use service::Products;

/// The code generated from `products.proto`: messages,
/// `ProductServiceClient`, the `ProductService` trait and
/// `ProductServiceServer`.
pub mod pb {
    grpcx::include_proto!("example.products.v1");
}

/// The gRPC port the binaries use when given none.
pub const DEFAULT_PORT: u16 = 50052;

/// The HTTP port of the gateway when given none.
pub const DEFAULT_GATEWAY_PORT: u16 = 8080;

/// The product whose backend is down, to show an outage: getting it fails
/// with `UNAVAILABLE` (HTTP 503).
pub const UNAVAILABLE_PRODUCT_ID: &str = "p-down";

/// A server with the product service and its error advice, to add other
/// services to or to serve.
pub fn server() -> Server<Stack<ErrorAdviceLayer, Identity>> {
    // Health (SERVING until shutdown) and reflection, one line each.
    let (health, reporter) = grpcx::health::service();
    reporter.set_serving(pb::PRODUCT_SERVICE_SERVICE_NAME);
    Server::builder()
        .drain_timeout(Duration::from_secs(5))
        .layer(ErrorAdviceLayer::new(advice()))
        .add_service(pb::ProductServiceServer::new(Products::default()))
        .add_service(health)
        .add_reflection() // v1 and v1alpha, listing every service of the server
        .on_shutdown(reporter.shutdown_hook())
}

/// Serves the product service on `listener` until the process ends.
///
/// # Errors
///
/// Accepting connections failed for good.
pub async fn serve(listener: TcpListener) -> Result<(), grpcx::Error> {
    serve_with_shutdown(listener, std::future::pending()).await
}

/// Serves the product service on `listener` until `signal` completes, then
/// lets calls in flight finish.
///
/// # Errors
///
/// Accepting connections failed for good.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    signal: impl Future<Output = ()>,
) -> Result<(), grpcx::Error> {
    server().serve_with_shutdown(listener, signal).await
}

/// Reads `--name N` port options from `args` (the program's arguments,
/// without its name) into `options`, which hold the defaults.
///
/// # Errors
///
/// An unknown argument, or a value that is not a port number.
pub fn ports_from_args(
    mut args: impl Iterator<Item = String>,
    options: &mut [(&str, &mut u16)],
) -> Result<(), String> {
    while let Some(arg) = args.next() {
        let Some((name, port)) = options.iter_mut().find(|(name, _)| *name == arg) else {
            let known: Vec<_> = options
                .iter()
                .map(|(name, _)| format!("[{name} N]"))
                .collect();
            return Err(format!(
                "unknown argument {arg:?}; usage: {}",
                known.join(" ")
            ));
        };
        let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        **port = value
            .parse()
            .map_err(|_| format!("{name}: {value:?} is not a port number"))?;
    }
    Ok(())
}
