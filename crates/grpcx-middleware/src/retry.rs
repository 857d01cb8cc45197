//! The configuration half of gRPC retry (gRFC A6): policies, backoff,
//! throttling and the service config that carries them.
//!
//! gRPC retries a failed call only when its service owner said so, in the
//! service config: per method, a [`RetryPolicy`] (retry the listed codes,
//! with exponential backoff and jitter, up to a number of attempts) or a
//! [`HedgingPolicy`] (send copies of the call a delay apart, without
//! waiting for failures), never both; and per channel, a [`RetryThrottle`]
//! that stops retries while too many calls fail, so retries cannot turn an
//! overload into an outage.
//!
//! Everything here is pure and deterministic: no I/O, no clock, no random
//! number generator. The random draw of a backoff is a closure you pass in,
//! so tests can fix it.
//!
//! # Parsing a service config
//!
//! [`ServiceConfig::from_json`] reads the JSON that grpc-go, grpc-java and
//! grpc-core read, validating it as gRFC A6 says, and
//! [`ServiceConfig::method_config`] finds a call's settings as gRPC does:
//! the entry for the exact method, else the one for its service, else the
//! default entry.
//!
//! ```
//! use std::time::Duration;
//! use grpcx_middleware::retry::ServiceConfig;
//! use grpcx_status::Code;
//!
//! let config = ServiceConfig::from_json(r#"{
//!   "methodConfig": [{
//!     "name": [{ "service": "shop.Cart" }],
//!     "timeout": "5s",
//!     "retryPolicy": {
//!       "maxAttempts": 4,
//!       "initialBackoff": "0.1s",
//!       "maxBackoff": "1s",
//!       "backoffMultiplier": 2,
//!       "retryableStatusCodes": ["UNAVAILABLE"]
//!     }
//!   }],
//!   "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 }
//! }"#)?;
//!
//! let cart = config.method_config("shop.Cart", "AddItem").expect("the service entry");
//! assert_eq!(cart.timeout(), Some(Duration::from_secs(5)));
//! let policy = cart.retry_policy().expect("a retry policy");
//! assert!(policy.is_retryable(Code::Unavailable));
//! assert!(!policy.is_retryable(Code::InvalidArgument));
//! # Ok::<(), grpcx_middleware::retry::ConfigError>(())
//! ```
//!
//! # Computing a backoff
//!
//! Retry `n` (1 for the first retry) waits
//! `random(0, min(initialBackoff * backoffMultiplier^(n-1), maxBackoff))`.
//! [`RetryPolicy::backoff`] takes the random draw as a closure returning a
//! number in `[0, 1)`:
//!
//! ```
//! # use std::time::Duration;
//! # use grpcx_middleware::retry::RetryPolicy;
//! # use grpcx_status::Code;
//! # let policy = RetryPolicy::builder(4)
//! #     .initial_backoff(Duration::from_millis(100))
//! #     .max_backoff(Duration::from_secs(1))
//! #     .backoff_multiplier(2.0)
//! #     .retryable_codes([Code::Unavailable])
//! #     .build()?;
//! // The bounds grow 100ms, 200ms, 400ms, 800ms, then stay at 1s.
//! assert_eq!(policy.backoff_cap(3), Duration::from_millis(400));
//! assert_eq!(policy.backoff_cap(10), Duration::from_secs(1));
//! // A draw of 0.5 waits half the bound.
//! assert_eq!(policy.backoff(3, || 0.5), Duration::from_millis(200));
//! # Ok::<(), grpcx_middleware::retry::ConfigError>(())
//! ```
//!
//! # Throttling
//!
//! One [`RetryThrottle`] per channel, shared by its calls in an `Arc`:
//! record each call's outcome, and ask it before every retry or hedge.
//!
//! ```
//! # use grpcx_middleware::retry::ServiceConfig;
//! # let config = ServiceConfig::from_json(
//! #     r#"{"retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 }}"#)?;
//! let throttle = config.retry_throttle().expect("the config throttles");
//! throttle.record_failure(); // a retryable code, or a "do not retry" pushback
//! throttle.record_success();
//! assert!(throttle.allows_retry());
//! # Ok::<(), grpcx_middleware::retry::ConfigError>(())
//! ```
//!
//! # What comes next
//!
//! The `Retry` tower layer that applies all this to calls (buffering the
//! request for replay, committing once response headers arrive, server
//! pushback, transparent retries, the deadline across attempts, the
//! `grpc-previous-rpc-attempts` header) is not built yet.

mod call;
mod layer;
mod policy;
mod replay;
mod service;
mod service_config;
mod throttle;

pub use crate::error::ConfigError;
pub use layer::{
    Attempts, DEFAULT_MAX_TRANSPARENT_RETRIES, DEFAULT_PER_RPC_BUFFER_LIMIT,
    DEFAULT_RETRY_BUFFER_SIZE, RetryLayer,
};
pub use policy::{
    CallPolicy, CodeSet, DEFAULT_MAX_ATTEMPTS_LIMIT, HedgingPolicy, HedgingPolicyBuilder,
    RetryPolicy, RetryPolicyBuilder,
};
pub use service::{ResponseFuture, Retry};
pub use service_config::{MethodConfig, MethodName, ParseOptions, ServiceConfig};
pub use throttle::{RetryThrottle, ThrottleConfig};

#[cfg(test)]
mod tests;
