//! The configuration half of gRPC retry (gRFC A6): policies, backoff and
//! throttling.
//!
//! gRPC retries a failed call only when its service owner said so: per
//! method, a [`RetryPolicy`] (retry the listed codes, with exponential
//! backoff and jitter, up to a number of attempts) or a [`HedgingPolicy`]
//! (send copies of the call a delay apart, without waiting for failures),
//! never both; and per channel, a [`RetryThrottle`] that stops retries
//! while too many calls fail, so retries cannot turn an overload into an
//! outage.
//!
//! Everything here is pure and deterministic: no I/O, no clock, no random
//! number generator. The random draw of a backoff is a closure you pass in,
//! so tests can fix it.

mod policy;
mod throttle;

pub use crate::error::ConfigError;
pub use policy::{
    CallPolicy, CodeSet, DEFAULT_MAX_ATTEMPTS_LIMIT, HedgingPolicy, HedgingPolicyBuilder,
    RetryPolicy, RetryPolicyBuilder,
};
pub use throttle::{RetryThrottle, ThrottleConfig};
