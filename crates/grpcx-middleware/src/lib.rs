//! Middleware for grpcx that decides by status [`Code`].
//!
//! This crate sits beside the transport, never on it: it depends on
//! `grpcx-status` and on no runtime, HTTP stack or transport crate, so its
//! layers wrap any `tower::Service`.
//!
//! What is here today is the start of gRPC retry (gRFC A6), in [`retry`]:
//! the retry and hedging policies with their validation and the
//! exponential backoff with jitter.
//!
//! [`Code`]: grpcx_status::Code

mod error;
pub mod retry;
