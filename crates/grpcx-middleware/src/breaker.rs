//! The decision core of a client circuit breaker: when to stop sending
//! calls to a failing server, and when to try it again.
//!
//! A [`Breaker`] guards one channel or one method. It starts **closed**:
//! every call gets a [`Permit`], and each call's outcome goes into a
//! rolling window of fixed buckets. When the window holds
//! [`failure_count`] failures, or at least [`failure_ratio`]'s minimum of
//! calls of which that ratio failed, the breaker **opens**: calls fail fast
//! with [`Open`], which [`Open::to_status`] turns into an `UNAVAILABLE`
//! status carrying `ErrorInfo { reason: "CIRCUIT_OPEN", domain: "grpcx" }`.
//! Once [`open_for`] has passed, the breaker is **half-open**: it lets up
//! to [`half_open_calls`] trial calls through; [`half_open_successes`]
//! successes close it, and one failure opens it again, for twice as long
//! each time up to [`max_open_for`].
//!
//! Which codes are failures is configurable ([`failure_codes`]); by
//! default only the codes that say the server is unwell count
//! ([`DEFAULT_FAILURE_CODES`]), never a client fault such as
//! `INVALID_ARGUMENT` or `NOT_FOUND`, and never `OK`.
//!
//! Everything here is pure and deterministic: the breaker has no clock and
//! every method takes `now`, so tests drive it with chosen instants. The
//! tower layer that applies it to calls is not built yet.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use grpcx_middleware::breaker::{Breaker, BreakerConfig, BreakerState};
//! use grpcx_status::Code;
//!
//! let breaker = Breaker::new(
//!     BreakerConfig::builder()
//!         .window(Duration::from_secs(10), 10)
//!         .without_failure_ratio()
//!         .failure_count(3)
//!         .open_for(Duration::from_secs(1))
//!         .build()?,
//! );
//! let t0 = Instant::now();
//!
//! // Closed: three failures within the window open the breaker. A client
//! // fault does not count.
//! breaker.try_acquire(t0).unwrap().record(Code::InvalidArgument, t0);
//! for _ in 0..3 {
//!     breaker.try_acquire(t0).unwrap().record(Code::Unavailable, t0);
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//!
//! // Open: calls fail fast, saying how long is left.
//! let open = breaker.try_acquire(t0 + Duration::from_millis(300)).unwrap_err();
//! assert_eq!(open.retry_after(), Duration::from_millis(700));
//! let status = open.to_status("shop.Cart");
//! assert_eq!(status.code(), Code::Unavailable);
//!
//! // Half-open: after a second, one trial call goes through ...
//! let t1 = t0 + Duration::from_secs(1);
//! let trial = breaker.try_acquire(t1).unwrap();
//! assert_eq!(breaker.state(), BreakerState::HalfOpen);
//! assert!(breaker.try_acquire(t1).is_err(), "only one trial at a time");
//!
//! // ... and its success closes the breaker.
//! trial.record(Code::Ok, t1);
//! assert_eq!(breaker.state(), BreakerState::Closed);
//! # Ok::<(), grpcx_middleware::retry::ConfigError>(())
//! ```
//!
//! [`failure_count`]: BreakerConfigBuilder::failure_count
//! [`failure_ratio`]: BreakerConfigBuilder::failure_ratio
//! [`open_for`]: BreakerConfigBuilder::open_for
//! [`max_open_for`]: BreakerConfigBuilder::max_open_for
//! [`half_open_calls`]: BreakerConfigBuilder::half_open_calls
//! [`half_open_successes`]: BreakerConfigBuilder::half_open_successes
//! [`failure_codes`]: BreakerConfigBuilder::failure_codes

mod config;
mod state;
mod status;

pub use config::{BreakerConfig, BreakerConfigBuilder, DEFAULT_FAILURE_CODES, MAX_BUCKETS};
pub use state::{Breaker, BreakerState, Open, Permit};
pub use status::{CIRCUIT_OPEN, DOMAIN};
