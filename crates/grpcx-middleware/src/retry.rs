//! The configuration half of gRPC retry (gRFC A6): policies and backoff.
//!
//! gRPC retries a failed call only when its service owner said so: per
//! method, a [`RetryPolicy`] (retry the listed codes, with exponential
//! backoff and jitter, up to a number of attempts) or a [`HedgingPolicy`]
//! (send copies of the call a delay apart, without waiting for failures),
//! never both.
//!
//! Everything here is pure and deterministic: no I/O, no clock, no random
//! number generator. The random draw of a backoff is a closure you pass in,
//! so tests can fix it.

mod policy;

pub use crate::error::ConfigError;
pub use policy::{
    CallPolicy, CodeSet, DEFAULT_MAX_ATTEMPTS_LIMIT, HedgingPolicy, HedgingPolicyBuilder,
    RetryPolicy, RetryPolicyBuilder,
};
