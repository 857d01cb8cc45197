//! The server's error advice: the one place that maps an application's
//! errors to rich statuses, and redacts what it does not map.
//!
//! Business code should not build transport types: a repository fails with
//! `ProductNotFound`, not with `NOT_FOUND`. Handlers return those errors
//! (as the source of a status: `?` on a
//! [`DomainError`](grpcx_status::DomainError), or
//! [`ResultExt::or_status`](grpcx_status::ResultExt::or_status), or
//! [`Status::with_source`](grpcx_status::Status::with_source)) and an
//! [`Advice`] says, once for the whole server, which status each error type
//! becomes, like Spring's `@GrpcAdvice` with its `@GrpcExceptionHandler`
//! methods. Whatever it does not map and should not be shown (an internal
//! failure, a panic) reaches the client as `INTERNAL` with a correlation id
//! and nothing else; the server's log has the rest.
//!
//! [`ErrorAdviceLayer`] applies an advice to every call of a server
//! ([`Server::layer`]) or of one service
//! ([`Server::add_layered_service`]); [`ErrorAdvice`] is its service. It
//! wraps services that answer with a
//! [`ResponseBody`](grpcx_transport::server::ResponseBody): add it after
//! (inside) any layer that replaces the body. Panics and errors of the
//! layers inside it are advised too; add it first to cover them all.
//!
//! # Example
//!
//! A product service's global advice: a missing product is `NOT_FOUND` with
//! a `ResourceInfo`, an empty stock is `FAILED_PRECONDITION` with a
//! `PreconditionFailure`, the database being down (an `sqlx`-like error,
//! wherever it sits in the chain) is `UNAVAILABLE` with a `RetryInfo`, and
//! anything else is redacted.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use grpcx_middleware::advice::{Advice, ErrorAdviceLayer};
//! use grpcx_status::{
//!     Code, PreconditionFailure, RequestInfo, ResourceInfo, ResultExt, RetryInfo, Status,
//! };
//! use grpcx_transport::Server;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("product {0} not found")]
//! struct ProductNotFound(String);
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("product {sku} is out of stock")]
//! struct OutOfStock { sku: String }
//!
//! /// What a database driver fails with, `sqlx::Error` say.
//! #[derive(Debug, thiserror::Error)]
//! #[error("pool timed out while waiting for an open connection")]
//! struct PoolTimedOut;
//!
//! /// The repository's error: it wraps the driver's.
//! #[derive(Debug, thiserror::Error)]
//! #[error("could not load the cart")]
//! struct CartError(#[source] PoolTimedOut);
//!
//! let advice = Advice::new()
//!     .on(|err: &ProductNotFound, _| {
//!         Status::not_found(err.to_string())
//!             .with_detail(ResourceInfo::new("product", &err.0, "", "no such product"))
//!     })
//!     .on(|err: &OutOfStock, _| {
//!         Status::failed_precondition("the product is out of stock").with_detail(
//!             PreconditionFailure::default().violation("STOCK", &err.sku, "no item left"),
//!         )
//!     })
//!     .on(|_: &PoolTimedOut, failure| {
//!         Status::unavailable("the catalogue is unavailable, try again")
//!             .with_detail(RetryInfo::after(Duration::from_secs(2)))
//!             .with_detail(RequestInfo::new(failure.request_id(), ""))
//!     });
//!
//! // In the server: every call of every service goes through it.
//! let advice = Arc::new(advice);
//! let server = Server::builder().layer(ErrorAdviceLayer::new(advice.clone()));
//! # drop(server);
//!
//! // What it does to the statuses handlers fail with (the layer calls
//! // `apply` as each call ends).
//! let failed = Status::unknown("").with_source(ProductNotFound("sku-1".into()));
//! let status = advice.apply(failed, "/shop.Products/Get");
//! assert_eq!(status.code(), Code::NotFound);
//! assert_eq!(status.get_detail::<ResourceInfo>().unwrap().resource_name, "sku-1");
//!
//! // The driver's error is found below the repository's.
//! let failed: Result<(), Status> = Err(CartError(PoolTimedOut))
//!     .or_status(Code::Internal, "loading the cart failed");
//! let status = advice.apply(failed.unwrap_err(), "/shop.Cart/Get");
//! assert_eq!(status.code(), Code::Unavailable);
//! assert!(status.get_detail::<RetryInfo>().is_some());
//!
//! // What no handler maps is redacted: a generic message and an id, which
//! // the error's log event carries too.
//! let failed = Status::internal("insert failed").with_source(std::io::Error::other("disk /srv full"));
//! let status = advice.apply(failed, "/shop.Cart/Add");
//! assert_eq!(status.code(), Code::Internal);
//! let id = status.get_detail::<RequestInfo>().unwrap().request_id;
//! assert_eq!(status.message(), format!("internal server error; request id: {id}"));
//!
//! // A deliberate status passes as it is.
//! let status = advice.apply(Status::not_found("no such cart"), "/shop.Cart/Get");
//! assert_eq!(status.message(), "no such cart");
//! ```
//!
//! # How a handler is chosen
//!
//! When a call ends with a status other than `OK`, the advice walks the
//! status's source chain: [`status.source()`](std::error::Error::source),
//! then that error's `source()`, and so on (and into the error an
//! `io::Error` wraps, which its `source()` skips). At each error, the
//! handlers are tried in the order they were registered; the first whose
//! type the error is answers. So the **outermost** error that has a handler
//! wins over its causes (`CartError` over the `PoolTimedOut` inside it, when
//! both have one), and a cause's handler is reached when the errors above it
//! have none. The status itself is not in the chain, but a `Status` that is
//! the source of another is, so `.on(|upstream: &Status, _| ..)` maps the
//! relayed failure of an upstream call.
//!
//! # What is unmapped
//!
//! A status no handler maps goes out unchanged, but for its `DebugInfo`,
//! unless it is an internal failure whose text must not reach the client:
//! a code of `UNKNOWN` or `INTERNAL`, made in this process by application
//! code (its [`Origin`](grpcx_status::Origin) is `Application`), with a
//! source. That is an error the handler let through with `?` or mapped
//! without thought, whose message may well hold a file path or a SQL
//! query. It becomes `INTERNAL` `"internal server error; request id: <id>"`
//! with a `google.rpc.RequestInfo` detail holding the same id, and nothing
//! else of it (no detail, no metadata) is sent; trailers the handler set
//! through its `CallContext` still are, as they belong to the call. Panics are
//! always treated so, whether the advice caught them (in the inner
//! service's future or `call`) or the transport did (in a response stream,
//! or a blocking handler:
//! [`HandlerPanic`](grpcx_transport::server::HandlerPanic)), and so is a
//! failure whose advice handler (or fallback) panicked.
//!
//! Statuses that pass unchanged, then:
//!
//! - a status with a chosen code (`Status::not_found(..)`, a
//!   `DomainError` whose code is not `UNKNOWN` or `INTERNAL`), with or
//!   without a source;
//! - an `UNKNOWN` or `INTERNAL` status without a source: its message was
//!   written for the client (`Status::internal("quota store unreachable")`),
//!   unless [`Advice::redact_internal_without_source`] says otherwise;
//! - a status received from a peer and relayed (origin `Peer`): its
//!   server decided what to reveal (and, if it runs this advice, sent its
//!   own correlation id);
//! - a status grpcx made for a deadline, a cancellation, a transport or a
//!   protocol failure (origins `Deadline`, `Cancelled`, `Transport`,
//!   `Protocol`): their messages are grpcx's own.
//!
//! [`Advice::fallback`] replaces the redacted answer with one of your own
//! for unmapped errors (not for panics).
//!
//! # Correlation ids and logs
//!
//! An unmapped error or a panic is logged once, by the advice, with
//! `tracing` at error level: the `request_id`, the `method`, the original
//! `code`, the whole `error` chain (`{status:#}`: code, message, and every
//! `caused by`), the `debug_info` it carried, and the `client_request_id`
//! when the client sent an `x-request-id` header. The id is made by the
//! server, never taken from the client (which may repeat one): a random
//! 64-bit prefix drawn once per process and a counter, as
//! `3f9c2a71d04e8b15-42`, which costs one atomic add and is made only for a
//! failure. A handler may give a mapped status an id too, with
//! [`Failure::request_id`]; the failure is then logged with it, at warn
//! level.
//!
//! `google.rpc.DebugInfo` details are removed from every status the advice
//! sees (and logged, at info level), unless
//! [`Advice::keep_debug_info`] allows them.
//!
//! # Exactly once
//!
//! A status is advised once, however many advice layers it meets (a
//! server-wide one and a per-service one, say) and however often it passes
//! through one. A status that was mapped, or passed with a source, gets a
//! private marker as its source, in front of its error chain (which logs
//! still show); an advice meeting a status with that marker leaves it
//! alone. A redacted status has no source at all, so no advice can find
//! anything in it to map or redact again. The inner advice, nearer the
//! handler, is the one that applies. A layer outside an advice that looks
//! for an error type in a status's source should therefore walk the chain
//! (the marker's `source()` continues it), not downcast the first link.
//!
//! # Costs
//!
//! Per call: two reference counts (the advice's `Arc`, and the call's
//! [`CallContext`](grpcx_transport::CallContext), for the method in the log; the
//! `x-request-id` header's when the client sent one) and one boxed closure
//! ([`ResponseBody::map_status`]). Per message: nothing, the body is the
//! inner service's own. The closure runs once, with the final status: an
//! `OK` status is returned as it is; the source chain is walked only for a
//! failure.
//!
//! [`Server::layer`]: grpcx_transport::Server::layer
//! [`Server::add_layered_service`]: grpcx_transport::Server::add_layered_service
//! [`ResponseBody::map_status`]: grpcx_transport::server::ResponseBody::map_status

mod future;
mod handlers;
mod layer;
mod service;
#[cfg(test)]
mod test_log;

pub use future::ResponseFuture;
pub use handlers::{Advice, Failure, REDACTED_MESSAGE};
pub use layer::ErrorAdviceLayer;
pub use service::ErrorAdvice;
