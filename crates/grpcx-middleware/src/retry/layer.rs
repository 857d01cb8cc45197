//! [`RetryLayer`]: the per-channel settings and state of the retry layer.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use grpcx_transport::GrpcMethod;

use super::policy::CallPolicy;
use super::replay::Budget;
use super::service::Retry;
use super::service_config::ServiceConfig;
use super::throttle::{RetryThrottle, ThrottleConfig};

/// The default of [`RetryLayer::per_rpc_buffer_limit`]: 256 KiB, as in
/// grpc-go.
pub const DEFAULT_PER_RPC_BUFFER_LIMIT: usize = 256 * 1024;

/// The default of [`RetryLayer::retry_buffer_size`]: 16 MiB, as in
/// grpc-java.
pub const DEFAULT_RETRY_BUFFER_SIZE: usize = 16 * 1024 * 1024;

/// The default of [`RetryLayer::max_transparent_retries`].
pub const DEFAULT_MAX_TRANSPARENT_RETRIES: u32 = 3;

/// Applies gRFC A6 retries and hedging to the calls of one channel.
///
/// A `RetryLayer` is made per channel: it owns the channel's retry
/// throttle (`retryThrottling`) and its budget of bytes buffered for
/// replay, which every [`Retry`] service it makes shares. Each call finds
/// its settings by its method: in a [`ServiceConfig`]
/// ([`RetryLayer::new`]), by the request's [`GrpcMethod`] extension (or,
/// without one, the URI path `/package.Service/Method`); or one
/// [`CallPolicy`] for every method ([`RetryLayer::with_policy`]).
///
/// See the [module docs](super) for what the layer does to a call.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::retry::{CallPolicy, RetryLayer, RetryPolicy, ThrottleConfig};
/// use grpcx_status::Code;
///
/// let policy = RetryPolicy::builder(3)
///     .initial_backoff(Duration::from_millis(100))
///     .max_backoff(Duration::from_secs(1))
///     .backoff_multiplier(2.0)
///     .retryable_codes([Code::Unavailable])
///     .build()?;
/// let layer = RetryLayer::with_policy(CallPolicy::Retry(policy))
///     .throttle(ThrottleConfig::new(10, 0.1)?)
///     .per_rpc_buffer_limit(64 * 1024);
/// assert_eq!(layer.retry_throttle().map(|t| t.tokens()), Some(10.0));
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer {
    pub(crate) settings: Arc<Settings>,
    pub(crate) channel: Arc<ChannelState>,
}

/// The count of attempts of a call that succeeded after retries or
/// hedges, in its response's extensions (defined by the transport, whose
/// typed client reads it for the call's span).
pub use grpcx_transport::Attempts;

/// The immutable settings of a layer.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) methods: Methods,
    pub(crate) per_rpc_buffer_limit: usize,
    pub(crate) honor_retry_info: bool,
    pub(crate) rng_seed: Option<u64>,
    pub(crate) max_transparent_retries: u32,
    pub(crate) wait_for_ready_backoff: (Duration, Duration),
}

/// Where calls find their settings.
#[derive(Clone, Debug)]
pub(crate) enum Methods {
    Config(ServiceConfig),
    Fixed(CallPolicy),
}

/// Which settings a call found: what it keeps, instead of a borrow.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MethodRef {
    None,
    Config(usize),
    Fixed,
}

/// The state a channel's calls share.
#[derive(Debug)]
pub(crate) struct ChannelState {
    pub(crate) throttle: Option<RetryThrottle>,
    pub(crate) budget: Arc<Budget>,
    /// Counts the calls that drew a backoff, to seed each one's generator.
    pub(crate) draws: AtomicU64,
}

impl RetryLayer {
    /// A layer that finds each call's settings in `config` (its retry or
    /// hedging policy, timeout and `waitForReady`), with the config's retry
    /// throttling, if any.
    ///
    /// ```
    /// use grpcx_middleware::retry::{RetryLayer, ServiceConfig};
    ///
    /// let config = ServiceConfig::from_json(r#"{
    ///   "methodConfig": [{ "name": [{ "service": "shop.Cart" }], "timeout": "2s",
    ///     "retryPolicy": { "maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
    ///                      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"] } }],
    ///   "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 }
    /// }"#)?;
    /// let layer = RetryLayer::new(config);
    /// assert!(layer.retry_throttle().is_some());
    /// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
    /// ```
    pub fn new(config: ServiceConfig) -> RetryLayer {
        let throttle = config.retry_throttle();
        RetryLayer {
            settings: Arc::new(Settings::new(Methods::Config(config))),
            channel: Arc::new(ChannelState::new(throttle, DEFAULT_RETRY_BUFFER_SIZE)),
        }
    }

    /// A layer that applies `policy` to every call, without throttling
    /// (see [`RetryLayer::throttle`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_middleware::retry::{CallPolicy, HedgingPolicy, RetryLayer};
    /// use grpcx_status::Code;
    ///
    /// // Send a second copy of a call that has not answered within 50ms.
    /// let hedging = HedgingPolicy::builder(2)
    ///     .hedging_delay(Duration::from_millis(50))
    ///     .non_fatal_codes([Code::Unavailable])
    ///     .build()?;
    /// let layer = RetryLayer::with_policy(CallPolicy::Hedging(hedging));
    /// # drop(layer);
    /// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
    /// ```
    pub fn with_policy(policy: CallPolicy) -> RetryLayer {
        RetryLayer {
            settings: Arc::new(Settings::new(Methods::Fixed(policy))),
            channel: Arc::new(ChannelState::new(None, DEFAULT_RETRY_BUFFER_SIZE)),
        }
    }

    /// Throttles retries and hedges with a new, full bucket of `config`,
    /// in place of the service config's `retryThrottling`.
    ///
    /// Like every setter here, it gives the layer new channel state (an
    /// empty replay budget): set up a layer before making services with it.
    #[must_use]
    pub fn throttle(mut self, config: ThrottleConfig) -> RetryLayer {
        self.channel = Arc::new(ChannelState::new(
            Some(RetryThrottle::new(config)),
            self.channel.budget.limit(),
        ));
        self
    }

    /// The most bytes of a streaming request one call buffers for replay
    /// (gRFC A6's `per_rpc_buffer_limit_in_bytes`; 256 KiB by default).
    /// Once a call's request passes it, the call commits: it is not
    /// retried again. A unary request larger than this is sent once.
    #[must_use]
    pub fn per_rpc_buffer_limit(mut self, bytes: usize) -> RetryLayer {
        Arc::make_mut(&mut self.settings).per_rpc_buffer_limit = bytes;
        self
    }

    /// The most bytes all the channel's calls buffer for replay together
    /// (gRFC A6's `retry_buffer_size_in_bytes`; 16 MiB by default). A call
    /// whose request does not fit commits.
    #[must_use]
    pub fn retry_buffer_size(mut self, bytes: usize) -> RetryLayer {
        let throttle = self
            .channel
            .throttle
            .as_ref()
            .map(|t| RetryThrottle::new(t.config()));
        self.channel = Arc::new(ChannelState::new(throttle, bytes));
        self
    }

    /// Whether a retryable failure carrying a `google.rpc.RetryInfo`
    /// detail waits its `retry_delay` before the next attempt, as a server
    /// pushback (`grpc-retry-pushback-ms`) would; on by default.
    ///
    /// gRFC A6 only knows the pushback header, and no other gRPC library
    /// reads `RetryInfo` when it retries; grpcx does, because servers that
    /// follow Google's error model (AIP-193) say when to come back that
    /// way. A pushback header, when present, wins. Turn this off to behave
    /// exactly as grpc-go, grpc-java and grpc-core do.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_middleware::retry::{CallPolicy, RetryLayer, RetryPolicy};
    /// use grpcx_status::{Code, RetryInfo, Status};
    /// use grpcx_transport::Body;
    /// use tokio::time::Instant;
    /// use tower::{Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let policy = RetryPolicy::builder(2)
    ///     .initial_backoff(Duration::from_millis(10))
    ///     .max_backoff(Duration::from_millis(10))
    ///     .backoff_multiplier(1.0)
    ///     .retryable_codes([Code::Unavailable])
    ///     .build()?;
    /// // A server that is busy for two seconds, and says so.
    /// let busy = tower::service_fn(|_request: http::Request<Body>| async {
    ///     Err::<http::Response<Body>, _>(
    ///         Status::unavailable("busy").with_detail(RetryInfo::after(Duration::from_secs(2))),
    ///     )
    /// });
    /// let layer = RetryLayer::with_policy(CallPolicy::Retry(policy));
    ///
    /// let start = Instant::now();
    /// let mut honouring = layer.clone().layer(busy);
    /// let _ = honouring.ready().await?.call(http::Request::new(Body::empty())).await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    ///
    /// let start = Instant::now();
    /// let mut ignoring = layer.honor_retry_info(false).layer(busy);
    /// let _ = ignoring.ready().await?.call(http::Request::new(Body::empty())).await;
    /// assert!(start.elapsed() <= Duration::from_millis(10));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn honor_retry_info(mut self, honor: bool) -> RetryLayer {
        Arc::make_mut(&mut self.settings).honor_retry_info = honor;
        self
    }

    /// Seeds the random source of the backoff jitter, so that the delays
    /// are the same from run to run (for tests). Each call that draws a
    /// delay gets its own generator, seeded with `seed` plus the number of
    /// calls that drew before it.
    #[must_use]
    pub fn rng_seed(mut self, seed: u64) -> RetryLayer {
        Arc::make_mut(&mut self.settings).rng_seed = Some(seed);
        self
    }

    /// How many times in a row a call the channel gave back unsent (its
    /// connection was closing) is sent again transparently, without counting
    /// as an attempt; 3 by default. A stream the server refused is sent
    /// again once per attempt, whatever this says.
    #[must_use]
    pub fn max_transparent_retries(mut self, retries: u32) -> RetryLayer {
        Arc::make_mut(&mut self.settings).max_transparent_retries = retries;
        self
    }

    /// The delays a `waitForReady` call waits between failed connects:
    /// from `initial`, growing 1.6 times each time up to `max`, with ±20%
    /// jitter, as gRPC's connection backoff (1 s and 120 s by default).
    /// A channel also keeps its own reconnection backoff, during which a
    /// call fails at once without dialing: the channel's backoff decides
    /// when the server is dialed again, this one how often a waiting call
    /// asks.
    #[must_use]
    pub fn wait_for_ready_backoff(mut self, initial: Duration, max: Duration) -> RetryLayer {
        Arc::make_mut(&mut self.settings).wait_for_ready_backoff = (initial, max.max(initial));
        self
    }

    /// The channel's retry throttle, if retries are throttled.
    pub fn retry_throttle(&self) -> Option<&RetryThrottle> {
        self.channel.throttle.as_ref()
    }
}

impl Default for RetryLayer {
    /// A layer without policies: calls are only retried transparently.
    fn default() -> Self {
        RetryLayer::new(ServiceConfig::default())
    }
}

impl<S> tower::Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry::new(inner, self)
    }
}

impl Settings {
    fn new(methods: Methods) -> Settings {
        Settings {
            methods,
            per_rpc_buffer_limit: DEFAULT_PER_RPC_BUFFER_LIMIT,
            honor_retry_info: true,
            rng_seed: None,
            max_transparent_retries: DEFAULT_MAX_TRANSPARENT_RETRIES,
            wait_for_ready_backoff: (Duration::from_secs(1), Duration::from_secs(120)),
        }
    }

    /// Finds the settings of a call to `path` (`/package.Service/Method`)
    /// or to `method`.
    pub(crate) fn find(&self, method: Option<&GrpcMethod>, path: &str) -> MethodRef {
        match &self.methods {
            Methods::Fixed(_) => MethodRef::Fixed,
            Methods::Config(config) => {
                let (service, name) = match method {
                    Some(method) => (method.service(), method.method()),
                    None => split_path(path),
                };
                config
                    .method_index(service, name)
                    .map_or(MethodRef::None, MethodRef::Config)
            }
        }
    }

    /// The policy of the settings a call found.
    pub(crate) fn policy(&self, method: MethodRef) -> Option<&CallPolicy> {
        match (method, &self.methods) {
            (MethodRef::Fixed, Methods::Fixed(policy)) => Some(policy),
            (MethodRef::Config(index), Methods::Config(config)) => {
                config.method_configs().get(index)?.policy()
            }
            _ => None,
        }
    }

    /// The timeout of the settings a call found.
    pub(crate) fn timeout(&self, method: MethodRef) -> Option<Duration> {
        match (method, &self.methods) {
            (MethodRef::Config(index), Methods::Config(config)) => {
                config.method_configs().get(index)?.timeout()
            }
            _ => None,
        }
    }

    /// Whether the settings a call found make it wait for the server.
    pub(crate) fn wait_for_ready(&self, method: MethodRef) -> bool {
        match (method, &self.methods) {
            (MethodRef::Config(index), Methods::Config(config)) => config
                .method_configs()
                .get(index)
                .and_then(|m| m.wait_for_ready())
                .unwrap_or(false),
            _ => false,
        }
    }
}

impl ChannelState {
    fn new(throttle: Option<RetryThrottle>, buffer: usize) -> ChannelState {
        ChannelState {
            throttle,
            budget: Arc::new(Budget::new(buffer)),
            draws: AtomicU64::new(0),
        }
    }
}

/// `("package.Service", "Method")` from `/package.Service/Method`.
fn split_path(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or(("", ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_splits_into_service_and_method() {
        assert_eq!(split_path("/a.B/C"), ("a.B", "C"));
        assert_eq!(split_path("nonsense"), ("", ""));
    }
}
