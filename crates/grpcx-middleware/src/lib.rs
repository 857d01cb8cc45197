//! Middleware for grpcx that decides by status [`Code`].
//!
//! Every layer here has tower's shape (a `Foo` service, a `FooLayer`, and a
//! policy or config type) and works on the seams of `grpcx-transport`: a
//! client stack of `http::Request<Body>` over a `Channel`, and the layers of
//! a `Server`. The decision cores (retry policies, backoff, the throttle, the
//! breaker's state machine) are pure and deterministic: no I/O, no clock and
//! no random source of their own, so they are tested with chosen instants
//! and draws.
//!
//! - [`retry`]: gRPC retry and hedging (gRFC A6): the policies and their
//!   validation, the exponential backoff with jitter, the per-channel retry
//!   throttle, the parser of gRPC's service config JSON with gRPC's
//!   per-method lookup, and the layer that applies them to calls.
//! - [`breaker`]: a client circuit breaker: the rolling window that opens
//!   it, the half-open trial calls that close it, the `UNAVAILABLE` status
//!   (`ErrorInfo` reason `CIRCUIT_OPEN`) that fails a refused call fast, and
//!   its layer.
//! - [`advice`]: the server's one place that maps domain errors to rich
//!   statuses, and redacts what it does not map.
//! - [`interceptor`]: async interceptors for both sides: read and change
//!   metadata, read the method and deadline, reject with a `Status`, hand
//!   values to the handler.
//! - [`tower_errors`]: the layer that turns tower's own errors (timeout,
//!   load shedding) into the statuses they mean.
//! - `metrics` (feature `metrics`, off by default): gRFC A66 call metrics
//!   through the `metrics` facade, as layers for the server and for a
//!   client's calls and attempts.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use grpcx_middleware::retry::ServiceConfig;
//! use grpcx_status::Code;
//!
//! let config = ServiceConfig::from_json(r#"{"methodConfig": [{
//!   "name": [{}],
//!   "retryPolicy": { "maxAttempts": 3, "initialBackoff": "0.2s", "maxBackoff": "2s",
//!                    "backoffMultiplier": 3, "retryableStatusCodes": ["unavailable"] }
//! }]}"#)?;
//! let policy = config.method_config("any.Service", "Any").unwrap().retry_policy().unwrap();
//! assert!(policy.is_retryable(Code::Unavailable));
//! assert_eq!(policy.backoff_cap(2), Duration::from_millis(600));
//! # Ok::<(), grpcx_middleware::retry::ConfigError>(())
//! ```
//!
//! [`Code`]: grpcx_status::Code

pub mod advice;
pub mod breaker;
mod error;
pub mod interceptor;
#[cfg(feature = "metrics")]
pub mod metrics;
mod outcome;
pub mod retry;
pub mod tower_errors;
