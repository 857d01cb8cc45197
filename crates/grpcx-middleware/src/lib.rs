//! Middleware for grpcx that decides by status [`Code`].
//!
//! This crate sits beside the transport, never on it: it depends on
//! `grpcx-status` (for [`Code`], `Status` and `Pushback`) and on no
//! runtime, HTTP stack or transport crate, so its layers wrap any
//! `tower::Service`.
//!
//! What is here today is pure and deterministic (no I/O, no clock, no
//! random source of its own):
//!
//! - [`retry`]: the configuration half of gRPC retry (gRFC A6): the retry
//!   and hedging policies with their validation, the exponential backoff
//!   with jitter, the per-channel retry throttle, and the parser of gRPC's
//!   service config JSON with gRPC's per-method lookup.
//! - [`breaker`]: the decision core of a client circuit breaker: when the
//!   failures in a rolling window open it, how long it stays open, the
//!   half-open trial calls that close it, and the `UNAVAILABLE` status
//!   (`ErrorInfo` reason `CIRCUIT_OPEN`) that fails a refused call fast.
//!
//! Planned, not yet built: the `Retry` tower layer that applies those
//! policies to calls (replaying the buffered request, server pushback,
//! transparent retries, the deadline spanning every attempt), the
//! `CircuitBreaker` tower layer around [`breaker::Breaker`], and an
//! error-mapping layer that turns domain errors into rich statuses in one
//! place.
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

pub mod breaker;
mod error;
pub mod retry;
