//! gRPC retry and hedging (gRFC A6): the policies, the backoff, the
//! throttle and the service config that carries them, and the [`Retry`]
//! layer that applies them to a channel's calls.
//!
//! gRPC retries a failed call only when its service owner said so, in the
//! service config: per method, a [`RetryPolicy`] (retry the listed codes,
//! with exponential backoff and jitter, up to a number of attempts) or a
//! [`HedgingPolicy`] (send copies of the call a delay apart, without
//! waiting for failures), never both; and per channel, a [`RetryThrottle`]
//! that stops retries while too many calls fail, so retries cannot turn an
//! overload into an outage.
//!
//! The configuration half is pure and deterministic: no I/O, no clock, no
//! random number generator. The random draw of a backoff is a closure you
//! pass in, so tests can fix it. The layer draws from a `fastrand`
//! generator, which [`RetryLayer::rng_seed`] makes repeatable.
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
//! # The layer
//!
//! A [`RetryLayer`] is made once per channel (it owns the channel's
//! throttle and replay budget) and goes between the typed client and the
//! channel, over or under other layers:
//!
//! ```
//! use grpcx_middleware::retry::{RetryLayer, ServiceConfig};
//! use grpcx_transport::Endpoint;
//! use grpcx_transport::client::Grpc;
//!
//! let config = ServiceConfig::from_json(r#"{
//!   "methodConfig": [{
//!     "name": [{ "service": "shop.Cart" }],
//!     "timeout": "2s",
//!     "retryPolicy": { "maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
//!                      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"] }
//!   }],
//!   "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 }
//! }"#)?;
//! let channel = Endpoint::new("http://127.0.0.1:50051")?.connect_lazy();
//! let service = tower::ServiceBuilder::new()
//!     .layer(RetryLayer::new(config))
//!     .service(channel.clone());
//! // A generated client takes the same stack: `CartClient::new(service)`.
//! let client = Grpc::new(service).with_config(channel.config());
//! # drop(client);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it does to each call:
//!
//! - **Settings.** The call's method (its `GrpcMethod` extension, else its
//!   URI path) picks the method config: a [`RetryPolicy`], a
//!   [`HedgingPolicy`] or none, a `timeout` and `waitForReady`.
//!   [`RetryLayer::with_policy`] applies one policy to every method.
//! - **Deadline.** One deadline spans all attempts: the earlier of the
//!   call's `Deadline` extension and now plus the method's `timeout`,
//!   written back into the extension for the channel. No wait runs past
//!   it: a retry or a wait for the server that would end after the deadline
//!   ends the call at the deadline with a local `DEADLINE_EXCEEDED`
//!   (origin `Deadline`) whose message and source are the last attempt's
//!   status.
//! - **Commit.** Only a call that ended before response headers (`Err` from
//!   the channel) is retried. Once headers arrive the call is committed:
//!   the response goes up as it is, and a failure later in its body is the
//!   caller's. A call also commits when its request no longer fits the
//!   replay buffers.
//! - **Replay.** A unary request (one chunk of `Bytes`) is sent again from
//!   the same bytes, never encoded twice. A streaming request is recorded as
//!   it is sent, in a replay body that each attempt in turn owns (no lock
//!   per frame), up to [`RetryLayer::per_rpc_buffer_limit`] per call and
//!   [`RetryLayer::retry_buffer_size`] for the whole channel; past either,
//!   the call commits and the recording is freed. Unary requests count
//!   against the same limits.
//! - **Retries.** A failure whose code the policy lists is retried after
//!   `random(0, min(initialBackoff * backoffMultiplier^(n-1), maxBackoff))`,
//!   up to `maxAttempts`, each attempt carrying `grpc-previous-rpc-attempts`.
//!   A server pushback (`grpc-retry-pushback-ms`) of a delay replaces the
//!   backoff and starts it over from `initialBackoff`; a "do not retry"
//!   pushback ends the call. A `google.rpc.RetryInfo` detail is honoured
//!   like a pushback delay, a grpcx extension no other gRPC library has
//!   (see [`RetryLayer::honor_retry_info`]).
//! - **Throttling.** With `retryThrottling`, every retryable failure and
//!   every "do not retry" pushback costs a token, every committed call adds
//!   `tokenRatio`, and no retry or hedge is sent while half the tokens or
//!   fewer are left.
//! - **Transparent retries.** A stream the server's HTTP/2 layer refused
//!   (`REFUSED_STREAM`, or above a GOAWAY's last stream id) is sent again at
//!   once, once per attempt; a call the channel gave back unsent because
//!   its connection was closing likewise, up to
//!   [`RetryLayer::max_transparent_retries`] times in a row. Neither counts
//!   as an attempt or against the throttle,
//!   and they need no policy: a server restarting gracefully under load
//!   loses no call. A call a layer below refused locally (an interceptor,
//!   load shedding: `NotSent`, but not by the channel) is not sent again at
//!   once, where the same refusal would wait; the policy decides by its
//!   code. A failed connect is an ordinary failure under the
//!   policy, unless the method config says `waitForReady`: then the call
//!   waits for the server, with gRPC's connection backoff, until its
//!   deadline.
//! - **Open breakers.** A status carrying `ErrorInfo { reason:
//!   "CIRCUIT_OPEN", domain: "grpcx" }`, from a circuit breaker below, is
//!   never retried, transparently or not.
//! - **Hedging.** A call without a streaming request under a hedging policy
//!   is sent, then sent again every `hedgingDelay` up to `maxAttempts`
//!   while none has answered. The first attempt to answer with headers
//!   wins and the others are dropped, which resets their streams
//!   (`RST_STREAM CANCEL`), so their server handlers see a cancellation. A
//!   failure with a code outside `nonFatalStatusCodes` ends the call; a
//!   non-fatal one sends the next hedge at once, or after a pushback's
//!   delay, and a "do not retry" pushback stops the hedges. A
//!   client-streaming or bidi call under a hedging policy is sent once.
//!   Hedges are retried transparently like any attempt, but a hedged call
//!   does not wait for ready: a failed connect is a non-fatal (or fatal)
//!   failure like any other.
//! - **Outcome.** A failed call ends with its last attempt's status (code,
//!   message, details, metadata), and [`Status::attempts`] says how many
//!   attempts were made. A successful call that needed more than one
//!   carries [`Attempts`] in its response's extensions. Each attempt's end
//!   is a `tracing` event at debug level (method, attempt, code, delay, and
//!   why the call stopped).
//! - **Cost.** A call that succeeds the first time costs a copy of the
//!   request head (header map and extensions) and a few atomic operations:
//!   its future is not boxed and no lock is taken. Policies are shared in
//!   an `Arc`.
//!
//! [`Status::attempts`]: grpcx_status::Status::attempts

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
