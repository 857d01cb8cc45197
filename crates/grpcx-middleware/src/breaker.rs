//! A client circuit breaker: when to stop sending calls to a failing
//! server, when to try it again, and the tower layer that does so.
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
//! The decision core is pure and deterministic: the breaker has no clock
//! and every method takes `now`, so tests drive it with chosen instants.
//!
//! [`CircuitBreakerLayer`] applies breakers to the calls of a client
//! stack: one for the whole channel, or one per method
//! ([`per_method`](CircuitBreakerLayer::per_method)). Its
//! [`CircuitBreaker`] service takes a permit before each call, fails the
//! call fast when the breaker is open, and records how the call ended: the
//! code of an `Err`, of a Trailers-Only head, or of the trailers at the end
//! of the response body. State changes are tracing events and, with
//! [`on_state_change`](CircuitBreakerLayer::on_state_change), callbacks.
//!
//! # Where it goes in a stack
//!
//! **Outside** a retry layer (the usual place), the breaker sees each call
//! once, with its final outcome after any retries, and an open breaker
//! fails the call before any attempt. **Inside** one, it sees every
//! attempt, and the retry layer sees its refusals: `UNAVAILABLE` marked
//! [`Progress::NotSent`](grpcx_status::Progress::NotSent), with a
//! `RetryInfo` saying when the breaker will let a call through. grpcx's
//! [`RetryLayer`](crate::retry::RetryLayer) never retries a refusal with
//! the `CIRCUIT_OPEN` reason, transparently or not: retrying into an open
//! breaker would defeat it.
//!
//! # The layer
//!
//! ```
//! use std::time::Duration;
//! use grpcx_middleware::breaker::{BreakerConfig, BreakerState, CircuitBreakerLayer};
//! use grpcx_status::{Code, ErrorInfo};
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let layer = CircuitBreakerLayer::new(
//!     BreakerConfig::builder()
//!         .without_failure_ratio()
//!         .failure_count(2)
//!         .open_for(Duration::from_secs(5))
//!         .build()?,
//! )
//! .name("inventory");
//! // A backend that is down: every call fails with UNAVAILABLE.
//! let backend = tower::service_fn(|_: http::Request<()>| async {
//!     Err::<http::Response<grpcx_transport::Body>, _>(grpcx_status::Status::unavailable("down"))
//! });
//! let mut service = tower::ServiceBuilder::new().layer(layer.clone()).service(backend);
//!
//! for _ in 0..2 {
//!     let status = service.ready().await?.call(http::Request::new(())).await.unwrap_err();
//!     assert_eq!(status.message(), "down");
//! }
//! assert_eq!(layer.state("/any/Method"), Some(BreakerState::Open));
//!
//! // Open: the next call fails fast, without reaching the backend.
//! let status = service.ready().await?.call(http::Request::new(())).await.unwrap_err();
//! assert_eq!(status.code(), Code::Unavailable);
//! assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "CIRCUIT_OPEN");
//! # Ok(())
//! # }
//! ```
//!
//! # The decision core
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
mod future;
mod layer;
mod state;
mod status;

pub use config::{BreakerConfig, BreakerConfigBuilder, DEFAULT_FAILURE_CODES, MAX_BUCKETS};
pub use future::{RecordingBody, ResponseFuture};
pub use layer::{CircuitBreaker, CircuitBreakerLayer, DEFAULT_NAME, MAX_METHOD_BREAKERS};
pub use state::{Breaker, BreakerState, Open, Permit};
pub use status::{CIRCUIT_OPEN, DOMAIN};
