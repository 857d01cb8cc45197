//! A user service whose every failure reaches the client as a precise
//! gRPC status: the right code, a message safe to show, and typed
//! `google.rpc` details the client can act on.
//!
//! The service (`proto/example/users/v1/users.proto`) has four methods,
//! each with the failures of a real one:
//!
//! | method | fails with |
//! | --- | --- |
//! | `CreateUser` | `INVALID_ARGUMENT` + `BadRequest` (every invalid field), `ALREADY_EXISTS` + `ResourceInfo`, `RESOURCE_EXHAUSTED` + `QuotaFailure` + `RetryInfo`, `INTERNAL` (the cause only in the server's log) |
//! | `GetUsers` | `UNAUTHENTICATED` + `ErrorInfo` + `www-authenticate` trailer, `PERMISSION_DENIED` + `ErrorInfo`, `INVALID_ARGUMENT`, `OUT_OF_RANGE` |
//! | `StreamActivity` | events, then `DATA_LOSS` at a corrupt record (set with `CallContext::set_code`) |
//! | `ProcessTransaction` | `INVALID_ARGUMENT`, `NOT_FOUND`, `FAILED_PRECONDITION`, `ABORTED` + `ErrorInfo` on a version conflict; always rolled back |
//!
//! How it is built:
//!
//! - `build.rs` generates the messages, the async and blocking clients and
//!   the server trait with `grpcx-codegen`; [`pb`] includes them.
//! - [`ServiceError`] is every business failure, a `thiserror` enum. Its
//!   `DomainError` impl is the one place that maps failures to statuses;
//!   handlers just use `?`.
//! - [`Users`] implements the generated `UserService` trait on in-memory
//!   state; [`serve`] runs it.
//! - [`explain`] is the client side: what a client tells its user for each
//!   failure, from the code and the typed details.
//!
//! The binaries: `users-server`, `users-client` (the async client walking
//! every case) and `users-blocking-client` (the same with the blocking
//! client, plus a call in the futures style).

mod error;
pub mod explain;
mod service;
mod store;

use std::future::Future;
use std::time::Duration;

use grpcx::Server;
use grpcx::reflection::ServerExt as _;
use tokio::net::TcpListener;

pub use error::{
    AuthError, DbError, ERROR_DOMAIN, REASON_MISSING_PERMISSION, REASON_VERSION_CONFLICT,
    ServiceError, Violations,
};
pub use service::Users;

/// The code generated from `users.proto`: messages, `UserServiceClient`,
/// `UserServiceBlockingClient`, the `UserService` trait and
/// `UserServiceServer`.
pub mod pb {
    grpcx::include_proto!("example.users.v1");
}

/// The port the binaries use when given no `--port`.
pub const DEFAULT_PORT: u16 = 50051;

/// The metadata naming the caller, for the creation quota.
pub const CLIENT_ID_METADATA: &str = "x-client-id";

/// A token with the `read_users` permission (this example's tokens are
/// fixed strings).
pub const ADMIN_TOKEN: &str = "admin-token";

/// A valid token without any permission.
pub const GUEST_TOKEN: &str = "guest-token";

/// The permission `GetUsers` needs.
pub const READ_USERS: &str = "read_users";

/// The username the simulated database fails to store, to show what an
/// internal error looks like.
pub const FAILING_USERNAME: &str = "db-down";

/// The service's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How many users one client (metadata `x-client-id`) may create per
    /// window.
    pub creation_quota: u32,
    /// The window of the creation quota.
    pub quota_window: Duration,
}

impl Default for Config {
    /// 3 users per client per minute.
    fn default() -> Self {
        Config {
            creation_quota: 3,
            quota_window: Duration::from_secs(60),
        }
    }
}

/// A server with the user service, to add other services to or to serve.
pub fn server(config: Config) -> Server {
    // Health (SERVING until shutdown) and reflection, one line each.
    let (health, reporter) = grpcx::health::service();
    reporter.set_serving(pb::USER_SERVICE_SERVICE_NAME);
    Server::builder()
        .drain_timeout(Duration::from_secs(5))
        .add_service(pb::UserServiceServer::new(Users::new(config)))
        .add_service(health)
        .add_reflection() // v1 and v1alpha, listing every service of the server
        .on_shutdown(reporter.shutdown_hook())
}

/// Serves the user service, with the default settings, on `listener` until
/// the process ends.
///
/// # Errors
///
/// Accepting connections failed for good.
pub async fn serve(listener: TcpListener) -> Result<(), grpcx::Error> {
    serve_with_shutdown(listener, std::future::pending()).await
}

/// Serves the user service on `listener` until `signal` completes, then
/// lets calls in flight finish.
///
/// # Errors
///
/// Accepting connections failed for good.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    signal: impl Future<Output = ()>,
) -> Result<(), grpcx::Error> {
    server(Config::default())
        .serve_with_shutdown(listener, signal)
        .await
}

/// The value of `--port` in `args` (the program's arguments, without the
/// program's name), or `default`.
///
/// # Errors
///
/// An argument other than `--port N`, or `N` is not a port number.
pub fn port_from_args(mut args: impl Iterator<Item = String>, default: u16) -> Result<u16, String> {
    let mut port = default;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value
                    .parse()
                    .map_err(|_| format!("--port: {value:?} is not a port number"))?;
            }
            other => return Err(format!("unknown argument {other:?}; usage: [--port N]")),
        }
    }
    Ok(port)
}
