//! Tower middleware for grpcx (not yet built).
//!
//! This crate will hold the middleware that decides by [`Code`]: retry with
//! exponential backoff and jitter following gRFC A6 (retryable codes only,
//! server pushback, throttling, the deadline spanning every attempt), a
//! circuit breaker, and an error-mapping layer that turns domain errors into
//! rich statuses in one place. It will be generic over `tower::Service` and
//! will never depend on the transport.
//!
//! [`Code`]: https://docs.rs/grpcx-status
