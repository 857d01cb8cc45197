//! The gRPC server: HTTP/2 over TCP (h2c) on hyper.
//!
//! A [`Server`] holds services (each a [`GrpcService`], usually written by
//! grpcx's code generator) and serves them on a listener. Every call runs in
//! its own task with its own [`CallContext`](crate::CallContext); whatever a handler
//! does (fail, panic, overrun its deadline), the other calls go on.
//!
//! ```no_run
//! # use grpcx_transport::server::{GrpcService, Server};
//! # async fn run(service: impl GrpcService) -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! Server::builder()
//!     .add_service(service)
//!     .serve_with_shutdown(listener, async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod body;
mod budget;
mod call;
mod conn;
mod finish;
pub mod handler;
mod routes;
mod signal;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use grpcx_codec::{CompressionConfig, CompressionEncoding, EncodingSet};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service};

pub use body::ResponseBody;

pub(crate) use budget::{Budget, Budgets, Charge};
pub use finish::HandlerPanic;
pub use routes::{BoxFuture, GrpcService, Routes, RoutesFuture, ServerCall, ServiceRoute};
pub use signal::shutdown_signal;

pub(crate) use finish::{
    call_ended, inactive_status, panicked, request_body_error, stream_panicked,
};

use crate::body::Body;
use crate::context::Peer;
use crate::error::{BoxError, Error, Kind};
use call::CallService;
use routes::Layered;

pub use crate::protocol::DEFAULT_MAX_DECODE_MESSAGE_SIZE;

/// The default bound of the pool blocking handlers run on (see
/// [`Server::blocking_threads`]).
pub(crate) const DEFAULT_BLOCKING_THREADS: usize = 64;

/// How long a new connection has to finish its TLS handshake and send the
/// HTTP/2 preface (see [`Server::handshake_timeout`]).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections served at once (see [`Server::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How long calls in flight may go on once a connection reached its
/// maximum age (see [`Server::max_connection_age`]).
pub const DEFAULT_MAX_CONNECTION_AGE_GRACE: Duration = Duration::from_secs(30);

/// The shortest interval between a client's keepalive pings (see
/// [`Server::keepalive_min_time`]); 5 minutes, as in grpc-go.
pub const DEFAULT_KEEPALIVE_MIN_TIME: Duration = Duration::from_secs(5 * 60);

/// How many streams a client may reset in how long (see
/// [`Server::max_client_resets`]).
pub const DEFAULT_MAX_CLIENT_RESETS: (u32, Duration) = (1000, Duration::from_secs(10));

/// The memory budgets for request messages being received: 64 MiB per
/// connection, 512 MiB per server (see [`Server::max_request_buffer`]).
pub const DEFAULT_MAX_REQUEST_BUFFER: (usize, usize) = (64 * 1024 * 1024, 512 * 1024 * 1024);

/// Server settings; every field has a safe default.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) max_decode_message_size: usize,
    pub(crate) max_encode_message_size: usize,
    pub(crate) max_concurrent_streams: Option<u32>,
    pub(crate) max_header_list_size: u32,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_pending_accept_reset_streams: usize,
    pub(crate) max_local_error_reset_streams: usize,
    pub(crate) initial_stream_window_size: u32,
    pub(crate) initial_connection_window_size: u32,
    pub(crate) adaptive_window: bool,
    pub(crate) compression: CompressionConfig,
    /// `grpc-accept-encoding` of `compression`, made once.
    pub(crate) accept_encoding: http::HeaderValue,
    pub(crate) drain_timeout: Duration,
    pub(crate) tcp_nodelay: bool,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connection_age: Option<Duration>,
    pub(crate) max_connection_age_grace: Duration,
    pub(crate) max_connection_idle: Option<Duration>,
    pub(crate) keepalive_min_time: Duration,
    pub(crate) keepalive_permit_without_stream: bool,
    pub(crate) max_client_resets: u32,
    pub(crate) client_reset_window: Duration,
    pub(crate) max_request_buffer_per_connection: usize,
    pub(crate) max_request_buffer_per_server: usize,
    /// One permit per blocking handler allowed to run at once.
    pub(crate) blocking_permits: Arc<tokio::sync::Semaphore>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_decode_message_size: DEFAULT_MAX_DECODE_MESSAGE_SIZE,
            max_encode_message_size: usize::MAX,
            max_concurrent_streams: Some(1024),
            max_header_list_size: 16 * 1024,
            keepalive_interval: Some(Duration::from_secs(7200)),
            keepalive_timeout: Duration::from_secs(20),
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            initial_stream_window_size: crate::protocol::DEFAULT_WINDOW_SIZE,
            initial_connection_window_size: crate::protocol::DEFAULT_WINDOW_SIZE,
            adaptive_window: false,
            compression: CompressionConfig::default(),
            accept_encoding: CompressionConfig::default().accept_encoding(),
            drain_timeout: Duration::from_secs(30),
            tcp_nodelay: true,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            max_connection_age: None,
            max_connection_age_grace: DEFAULT_MAX_CONNECTION_AGE_GRACE,
            max_connection_idle: None,
            keepalive_min_time: DEFAULT_KEEPALIVE_MIN_TIME,
            keepalive_permit_without_stream: false,
            max_client_resets: DEFAULT_MAX_CLIENT_RESETS.0,
            client_reset_window: DEFAULT_MAX_CLIENT_RESETS.1,
            max_request_buffer_per_connection: DEFAULT_MAX_REQUEST_BUFFER.0,
            max_request_buffer_per_server: DEFAULT_MAX_REQUEST_BUFFER.1,
            blocking_permits: Arc::new(tokio::sync::Semaphore::new(DEFAULT_BLOCKING_THREADS)),
        }
    }
}

/// A hook of [`Server::on_start`].
type StartHook = Box<dyn FnOnce(&Routes) + Send>;

/// A gRPC server: services, the layers every call goes through,
/// settings, and the loop that serves them.
///
/// `L` is the stack of layers added with [`Server::layer`].
pub struct Server<L = Identity> {
    config: Config,
    services: HashMap<&'static str, Arc<dyn GrpcService>>,
    layer: L,
    /// Whether [`Server::layer`] was called.
    layered: bool,
    /// Run with the services once the server starts, before it accepts.
    on_start: Vec<StartHook>,
    /// Run once the server stops accepting, before the drain.
    on_shutdown: Vec<Box<dyn FnOnce() + Send>>,
    #[cfg(feature = "tls-rustls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            config: Config::default(),
            services: HashMap::new(),
            layer: Identity::new(),
            layered: false,
            on_start: Vec::new(),
            on_shutdown: Vec::new(),
            #[cfg(feature = "tls-rustls")]
            tls: None,
        }
    }
}

impl Server {
    /// A server with default settings and no service.
    pub fn builder() -> Server {
        Server::default()
    }
}

impl<L> Server<L> {
    /// Adds a service; calls for `/<its name>/<method>` go to it.
    pub fn add_service(mut self, service: impl GrpcService) -> Server<L> {
        self.services.insert(service.name(), Arc::new(service));
        self
    }

    /// Adds a service wrapped in a layer of its own (an authentication
    /// check for one service, say), inside the server's layers; calls are
    /// still routed to it by its name.
    ///
    /// The layer wraps a `Service<http::Request<Body>>` whose responses
    /// carry a [`ResponseBody`]; whatever body the layer answers with, the
    /// server sends, and an error it fails a call with becomes a status
    /// (see [`status_from_layer_error`](crate::status_from_layer_error)).
    pub fn add_layered_service<S, T, B>(
        mut self,
        layer: impl Layer<ServiceRoute<S>, Service = T>,
        service: S,
    ) -> Server<L>
    where
        S: GrpcService,
        T: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        T::Future: Send + 'static,
        T::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let layered = Layered::new(layer, service);
        self.services.insert(layered.name(), Arc::new(layered));
        self
    }

    /// Wraps every call in `layer`: any tower layer over a
    /// `Service<http::Request<Body>>` (tower's timeout and concurrency
    /// limit, tower-http's trace layer, an authentication check of your
    /// own). The first layer added is the outermost, as with tower's
    /// `ServiceBuilder`.
    ///
    /// A layer reads the request's metadata (its headers) and extensions,
    /// where the call's [`CallContext`](crate::CallContext) is, and may add to
    /// them; a handler reads them from its `ServerRequest`. A layer that answers
    /// itself returns a response whose body is a [`ResponseBody`] or any
    /// other; an error it fails a call with becomes a status (see
    /// [`status_from_layer_error`](crate::status_from_layer_error)), and a
    /// [`ResponseBody`] lets it read or replace the final status of every
    /// call ([`ResponseBody::map_status`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder()
    ///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(30)))
    ///     .layer(tower::limit::ConcurrencyLimitLayer::new(256));
    /// # drop(server);
    /// ```
    pub fn layer<N>(self, layer: N) -> Server<Stack<N, L>> {
        Server {
            config: self.config,
            services: self.services,
            layer: Stack::new(layer, self.layer),
            layered: true,
            on_start: self.on_start,
            on_shutdown: self.on_shutdown,
            #[cfg(feature = "tls-rustls")]
            tls: self.tls,
        }
    }

    /// The largest request message accepted, after decompression (4 MiB by
    /// default); a larger one fails the call with `RESOURCE_EXHAUSTED`.
    pub fn max_decode_message_size(mut self, limit: usize) -> Server<L> {
        self.config.max_decode_message_size = limit;
        self
    }

    /// The largest response message sent (unlimited by default); a larger
    /// one fails the call with `RESOURCE_EXHAUSTED`.
    pub fn max_encode_message_size(mut self, limit: usize) -> Server<L> {
        self.config.max_encode_message_size = limit;
        self
    }

    /// The most calls a connection may have open at once (HTTP/2
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`; 1024 by default).
    pub fn max_concurrent_streams(mut self, max: impl Into<Option<u32>>) -> Server<L> {
        self.config.max_concurrent_streams = max.into();
        self
    }

    /// The largest header list accepted (`SETTINGS_MAX_HEADER_LIST_SIZE`;
    /// 16 KiB by default).
    pub fn max_header_list_size(mut self, max: u32) -> Server<L> {
        self.config.max_header_list_size = max;
        self
    }

    /// How long a connection may go without a byte from the client before
    /// the server sends it an HTTP/2 PING (2 hours by default, as in gRPC;
    /// at least 1 ms; `None` disables the pings), and how long to wait for
    /// anything from the client after that before closing the connection
    /// (20 seconds by default). Closing it cancels its calls.
    pub fn keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Server<L> {
        // A zero interval would send a PING each time the connection
        // waits for bytes.
        self.config.keepalive_interval = interval.map(|i| i.max(Duration::from_millis(1)));
        self.config.keepalive_timeout = timeout;
        self
    }

    /// The HTTP/2 flow-control windows for request data: how many bytes a
    /// client may send on each call (`SETTINGS_INITIAL_WINDOW_SIZE`) and on
    /// the whole connection ahead of the handlers reading them; 1 MiB each
    /// by default. Larger windows let uploads go faster over links with a
    /// long round trip, and let each call and connection buffer more (the
    /// [`Server::max_request_buffer`] budgets still apply). Sizes are kept
    /// between 65,535 bytes and 2^31 - 1. Turns
    /// [`Server::adaptive_window`] off.
    ///
    /// ```
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder().initial_window_size(4 << 20, 16 << 20);
    /// # drop(server);
    /// ```
    pub fn initial_window_size(mut self, per_call: u32, per_connection: u32) -> Server<L> {
        self.config.initial_stream_window_size = crate::protocol::window_size(per_call);
        self.config.initial_connection_window_size = crate::protocol::window_size(per_connection);
        self.config.adaptive_window = false;
        self
    }

    /// Sizes the flow-control windows from the connection's measured
    /// bandwidth-delay product (hyper's BDP pings, as grpc-go does by
    /// default) instead of [`Server::initial_window_size`]; off by default.
    /// The windows start at 65,535 bytes and grow while the link can carry
    /// more.
    pub fn adaptive_window(mut self, enabled: bool) -> Server<L> {
        self.config.adaptive_window = enabled;
        self
    }

    /// Rapid-reset defences (CVE-2023-44487): how many streams the client
    /// may reset before the server accepts them (20 by default), and how
    /// many streams the server may reset because the client broke the
    /// protocol (1024 by default), before the connection is closed with
    /// GOAWAY `ENHANCE_YOUR_CALM`.
    pub fn max_reset_streams(mut self, pending_accept: usize, local_error: usize) -> Server<L> {
        self.config.max_pending_accept_reset_streams = pending_accept;
        self.config.max_local_error_reset_streams = local_error;
        self
    }

    /// The compression encodings accepted on requests (every supported one
    /// by default); a request in another is refused with `UNIMPLEMENTED`
    /// and the accepted ones in `grpc-accept-encoding`.
    pub fn accept_compression(mut self, encodings: EncodingSet) -> Server<L> {
        self.config.compression.accept = encodings;
        self
    }

    /// Compresses responses with `encoding` when the client accepts it
    /// (uncompressed by default).
    pub fn send_compression(mut self, encoding: CompressionEncoding) -> Server<L> {
        self.config.compression.send = encoding;
        self
    }

    /// Runs `hook` with the server's services when it starts serving,
    /// before it accepts a connection: for a service that lists the others
    /// (server reflection, as grpcx-reflection's `ServerExt::add_reflection`
    /// does), seeing every service added, before or after it. [`Routes`]
    /// gives their names and descriptors. Hooks run in the order they were
    /// added, once per server.
    ///
    /// ```
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder().on_start(|routes| {
    ///     for name in routes.names() {
    ///         println!("serving {name}");
    ///     }
    /// });
    /// # drop(server);
    /// ```
    pub fn on_start(mut self, hook: impl FnOnce(&Routes) + Send + 'static) -> Server<L> {
        self.on_start.push(Box::new(hook));
        self
    }

    /// Runs `hook` once the server stops accepting connections (its
    /// shutdown signal fired or its listener ended), before it sends GOAWAY
    /// and drains the calls in flight: to mark a health service
    /// `NOT_SERVING`, say, so that its watchers learn it first. Hooks run
    /// in the order they were added.
    pub fn on_shutdown(mut self, hook: impl FnOnce() + Send + 'static) -> Server<L> {
        self.on_shutdown.push(Box::new(hook));
        self
    }

    /// How long a graceful shutdown waits for calls in flight to finish
    /// before closing their connections (30 s by default).
    pub fn drain_timeout(mut self, timeout: Duration) -> Server<L> {
        self.config.drain_timeout = timeout;
        self
    }

    /// How long a new connection has to finish its TLS handshake (with
    /// TLS on) and send the HTTP/2 connection preface
    /// ([`DEFAULT_HANDSHAKE_TIMEOUT`], 10 s, by default; at least 1 ms).
    /// A connection that has not is closed: a client that opens
    /// connections and sends nothing, or a byte at a time (slowloris),
    /// holds none for long.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder().handshake_timeout(Duration::from_secs(5));
    /// # drop(server);
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Server<L> {
        self.config.handshake_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The most connections served at once ([`DEFAULT_MAX_CONNECTIONS`],
    /// 10 000, by default; `None` for no limit; at least 1). A connection
    /// accepted past it is closed at once; each connection counts until
    /// it ends.
    ///
    /// ```
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder().max_connections(2_000);
    /// # drop(server);
    /// ```
    pub fn max_connections(mut self, max: impl Into<Option<usize>>) -> Server<L> {
        self.config.max_connections = max
            .into()
            .map(|max| max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS));
        self
    }

    /// The longest a connection lives (none by default, as in grpc-go's
    /// `MaxConnectionAge`), and the grace its calls get then
    /// ([`DEFAULT_MAX_CONNECTION_AGE_GRACE`], 30 s, by default). Past `age`
    /// (±10%, so that connections made together do not all go at once),
    /// the server sends GOAWAY: the client makes its new calls on a new
    /// connection, the calls in flight have `grace` to finish, and then
    /// the connection is closed. Useful behind a load balancer, so clients
    /// spread over new servers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder()
    ///     .max_connection_age(Duration::from_secs(30 * 60), Duration::from_secs(60));
    /// # drop(server);
    /// ```
    pub fn max_connection_age(
        mut self,
        age: impl Into<Option<Duration>>,
        grace: Duration,
    ) -> Server<L> {
        self.config.max_connection_age = age.into();
        self.config.max_connection_age_grace = grace;
        self
    }

    /// How long a connection may stay without an open call before the
    /// server sends it GOAWAY (none by default, as in grpc-go's
    /// `MaxConnectionIdle`). The client reconnects when it next needs to.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder().max_connection_idle(Duration::from_secs(15 * 60));
    /// # drop(server);
    /// ```
    pub fn max_connection_idle(mut self, idle: impl Into<Option<Duration>>) -> Server<L> {
        self.config.max_connection_idle = idle.into();
        self
    }

    /// The shortest interval the server accepts between a client's
    /// keepalive pings ([`DEFAULT_KEEPALIVE_MIN_TIME`], 5 minutes, by
    /// default, as grpc-go's `EnforcementPolicy.MinTime`). A client pinging
    /// more often gets a strike per ping; past two strikes the server
    /// sends GOAWAY `ENHANCE_YOUR_CALM` with the debug data
    /// `too_many_pings` and closes the connection (a grpcx client then
    /// doubles its keepalive interval). The count starts afresh whenever
    /// the server sends headers or data.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder()
    ///     .keepalive_min_time(Duration::from_secs(60))
    ///     .keepalive_permit_without_stream(true);
    /// # drop(server);
    /// ```
    pub fn keepalive_min_time(mut self, min_time: Duration) -> Server<L> {
        self.config.keepalive_min_time = min_time;
        self
    }

    /// Whether the client may send keepalive pings while it has no call
    /// open (no by default, as grpc-go's
    /// `EnforcementPolicy.PermitWithoutStream`); when not, such pings must
    /// be at least two hours apart. See [`Server::keepalive_min_time`].
    pub fn keepalive_permit_without_stream(mut self, permit: bool) -> Server<L> {
        self.config.keepalive_permit_without_stream = permit;
        self
    }

    /// How many streams a client may reset (`RST_STREAM`) per `window` on
    /// one connection ([`DEFAULT_MAX_CLIENT_RESETS`], 1000 per 10 s, by
    /// default; at least 1 per 1 ms). Past it, the server sends GOAWAY
    /// `ENHANCE_YOUR_CALM` with the debug data `too_many_resets` and closes
    /// the connection: the defence against a rapid reset paced to stay
    /// under [`Server::max_reset_streams`], which bounds bursts only.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder().max_client_resets(200, Duration::from_secs(1));
    /// # drop(server);
    /// ```
    pub fn max_client_resets(mut self, max: u32, window: Duration) -> Server<L> {
        self.config.max_client_resets = max.max(1);
        self.config.client_reset_window = window.max(Duration::from_millis(1));
        self
    }

    /// The memory budgets for request messages being received
    /// ([`DEFAULT_MAX_REQUEST_BUFFER`]: 64 MiB per connection, 512 MiB per
    /// server, by default). The bytes of a message are charged to both as
    /// they arrive, until the whole message has and is handed to the
    /// handler; a call whose next bytes would pass either budget fails with
    /// `RESOURCE_EXHAUSTED`, and the server goes on serving the others.
    /// Together with [`Server::max_decode_message_size`], this bounds what
    /// many slow or unfinished uploads can make the server hold. A budget
    /// under the maximum message size refuses the largest messages.
    ///
    /// ```
    /// use grpcx_transport::Server;
    ///
    /// let server = Server::builder().max_request_buffer(16 << 20, 256 << 20);
    /// # drop(server);
    /// ```
    pub fn max_request_buffer(mut self, per_connection: usize, per_server: usize) -> Server<L> {
        self.config.max_request_buffer_per_connection = per_connection;
        self.config.max_request_buffer_per_server = per_server;
        self
    }

    /// The most blocking handlers (the `blocking_*` adapters of
    /// [`handler`]) that run at once (64 by default; at least 1). Each runs
    /// on a thread of the runtime's blocking pool, never on an async
    /// worker; a call arriving while all are busy waits for one to finish,
    /// and its deadline still applies while it waits. The runtime's own
    /// limit on blocking threads (512 by default) also applies.
    pub fn blocking_threads(mut self, n: usize) -> Server<L> {
        let n = n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self.config.blocking_permits = Arc::new(tokio::sync::Semaphore::new(n));
        self
    }

    /// Serves TLS (HTTP/2 negotiated by ALPN) with `config`, instead of
    /// plaintext h2c. The ALPN protocols of `config` are set to `h2`.
    #[cfg(feature = "tls-rustls")]
    pub fn tls_config(mut self, mut config: tokio_rustls::rustls::ServerConfig) -> Server<L> {
        config.alpn_protocols = vec![b"h2".to_vec()];
        self.tls = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        self
    }
}

impl<L, S, B> Server<L>
where
    L: Layer<Routes, Service = S>,
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    /// Serves on `listener` until the process ends.
    ///
    /// # Errors
    ///
    /// Only when accepting connections fails for good.
    pub async fn serve(self, listener: TcpListener) -> Result<(), Error> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves on `listener` until `signal` completes, then shuts down
    /// gracefully: stops accepting, sends GOAWAY on every connection, lets
    /// calls in flight finish for up to the drain timeout, and closes what
    /// is left.
    ///
    /// # Errors
    ///
    /// Only when accepting connections fails for good.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let incoming = TcpIncoming::new(listener, self.config.tcp_nodelay);
        self.serve_with_incoming_shutdown(incoming, signal).await
    }

    /// Binds a TCP listener on `addr`, then serves on it until the process
    /// ends, as [`Server::serve`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), grpcx_transport::Error> {
    /// use grpcx_transport::Server;
    ///
    /// Server::builder()
    ///     .serve_addr(([0, 0, 0, 0], 50051).into())
    ///     .await
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// An error for which [`Error::is_bind`] holds when `addr` cannot be
    /// bound (in use, not a local address, not permitted), with the I/O
    /// error as its source; otherwise as [`Server::serve`].
    pub async fn serve_addr(self, addr: SocketAddr) -> Result<(), Error> {
        self.serve_addr_with_shutdown(addr, std::future::pending())
            .await
    }

    /// Binds a TCP listener on `addr`, then serves on it until `signal`
    /// completes, as [`Server::serve_with_shutdown`].
    ///
    /// # Errors
    ///
    /// As [`Server::serve_addr`].
    pub async fn serve_addr_with_shutdown(
        self,
        addr: SocketAddr,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|err| Error::new(Kind::Bind, err))?;
        self.serve_with_shutdown(listener, signal).await
    }

    /// Serves the connections `incoming` yields (TCP, Unix sockets, tokio's
    /// in-memory duplex pipes: any [`Connection`]) until it ends.
    ///
    /// # Errors
    ///
    /// When `incoming` yields an error.
    pub async fn serve_with_incoming<I, IO, E>(self, incoming: I) -> Result<(), Error>
    where
        I: Stream<Item = Result<IO, E>>,
        IO: Connection,
        E: Into<BoxError>,
    {
        self.serve_with_incoming_shutdown(incoming, std::future::pending())
            .await
    }

    /// Serves the connections `incoming` yields until it ends or `signal`
    /// completes, then shuts down gracefully (see
    /// [`Server::serve_with_shutdown`]).
    ///
    /// ```
    /// use grpcx_transport::Server;
    ///
    /// # async fn run(server: Server) -> Result<(), grpcx_transport::Error> {
    /// // One in-memory connection: the other end goes to a client's connector.
    /// let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    /// let incoming = futures_util::stream::iter([Ok::<_, std::io::Error>(server_end)]);
    /// tokio::spawn(server.serve_with_incoming(incoming));
    /// # drop(client_end);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// When `incoming` yields an error.
    pub async fn serve_with_incoming_shutdown<I, IO, E>(
        self,
        incoming: I,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error>
    where
        I: Stream<Item = Result<IO, E>>,
        IO: Connection,
        E: Into<BoxError>,
    {
        let mut config = self.config;
        config.accept_encoding = config.compression.accept_encoding();
        let config = Arc::new(config);
        let routes = Routes::new(self.services);
        self.on_start.into_iter().for_each(|hook| hook(&routes));
        let service = self.layer.layer(routes);
        let layered = self.layered;
        let builder = Arc::new(http2_builder(&config));
        let (shutdown, shutdown_watch) = tokio::sync::watch::channel(false);
        let permits = config
            .max_connections
            .map(|max| Arc::new(tokio::sync::Semaphore::new(max)));
        let server_budget = Budget::new(config.max_request_buffer_per_server, "server");
        let mut connections = JoinSet::new();
        let mut signal = std::pin::pin!(signal);
        let mut incoming = std::pin::pin!(incoming);
        let mut result = Ok(());
        loop {
            // Reap finished connection tasks so the set stays small.
            while connections.try_join_next().is_some() {}
            let accepted = tokio::select! {
                accepted = std::future::poll_fn(|cx| incoming.as_mut().poll_next(cx)) => accepted,
                () = &mut signal => break,
            };
            let stream = match accepted {
                Some(Ok(stream)) => stream,
                Some(Err(err)) => {
                    result = Err(Error::new(Kind::Accept, err));
                    break;
                }
                None => break,
            };
            let accepted_at = tokio::time::Instant::now();
            let peer = stream.remote_addr();
            // Past the connection limit, the connection is closed at once.
            let permit = match &permits {
                None => None,
                Some(permits) => match Arc::clone(permits).try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        tracing::debug!(
                            ?peer,
                            "connection limit reached; closing the new connection"
                        );
                        drop(stream);
                        continue;
                    }
                },
            };
            let state = conn::ConnState::new(accepted_at);
            let budgets = Budgets {
                connection: Budget::new(config.max_request_buffer_per_connection, "connection"),
                server: Arc::clone(&server_budget),
            };
            let shutdown = shutdown_watch.clone();
            let builder = Arc::clone(&builder);
            let service = service.clone();
            let config = Arc::clone(&config);
            #[cfg(feature = "tls-rustls")]
            if let Some(acceptor) = self.tls.clone() {
                connections.spawn(async move {
                    let _permit = permit;
                    let deadline = accepted_at + config.handshake_timeout;
                    let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(?peer, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(?peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let certificates = stream.get_ref().1.peer_certificates().map(|certificates| {
                        certificates
                            .iter()
                            .map(|c| c.clone().into_owned())
                            .collect()
                    });
                    let service = CallService::new(
                        service,
                        Arc::clone(&config),
                        Peer {
                            addr: peer,
                            certificates,
                            budgets: Some(budgets),
                        },
                        layered,
                    );
                    conn::drive(&builder, stream, service, state, &config, shutdown, peer).await;
                });
                continue;
            }
            // Without TLS there are no certificates.
            #[cfg_attr(not(feature = "tls-rustls"), allow(clippy::needless_update))]
            let service = CallService::new(
                service,
                Arc::clone(&config),
                Peer {
                    addr: peer,
                    budgets: Some(budgets),
                    ..Peer::default()
                },
                layered,
            );
            connections.spawn(async move {
                let _permit = permit;
                conn::drive(&builder, stream, service, state, &config, shutdown, peer).await;
            });
        }
        // The hooks first (a health service turns NOT_SERVING), then
        // GOAWAY on every connection; each ends when its calls have.
        self.on_shutdown.into_iter().for_each(|hook| hook());
        shutdown.send_replace(true);
        let drained = tokio::time::timeout(config.drain_timeout, async {
            while connections.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                "drain timeout passed; closing the connections still open"
            );
        }
        connections.shutdown().await;
        result
    }
}

impl<L> std::fmt::Debug for Server<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut services: Vec<_> = self.services.keys().collect();
        services.sort_unstable();
        f.debug_struct("Server")
            .field("services", &services)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A connection a server can serve: any async byte stream. TCP and Unix
/// sockets and tokio's in-memory duplex pipes are ones; implement it for
/// another transport to pass it to [`Server::serve_with_incoming`].
pub trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// The remote address, when the transport has one; handlers see it as
    /// [`CallContext::peer_addr`](crate::CallContext::peer_addr).
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl Connection for tokio::net::TcpStream {
    fn remote_addr(&self) -> Option<SocketAddr> {
        self.peer_addr().ok()
    }
}

#[cfg(unix)]
impl Connection for tokio::net::UnixStream {}

impl Connection for tokio::io::DuplexStream {}

#[cfg(feature = "tls-rustls")]
impl<IO: Connection> Connection for tokio_rustls::server::TlsStream<IO> {
    fn remote_addr(&self) -> Option<SocketAddr> {
        self.get_ref().0.remote_addr()
    }
}

/// The connections of a TCP listener, without the errors that concern
/// one connection or a passing shortage (logged, then waited out).
struct TcpIncoming {
    listener: TcpListener,
    nodelay: bool,
    backoff: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl TcpIncoming {
    fn new(listener: TcpListener, nodelay: bool) -> TcpIncoming {
        TcpIncoming {
            listener,
            nodelay,
            backoff: None,
        }
    }
}

impl Stream for TcpIncoming {
    type Item = std::io::Result<tokio::net::TcpStream>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        loop {
            if let Some(backoff) = &mut self.backoff {
                if backoff.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.backoff = None;
            }
            match self.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, _))) => {
                    if self.nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    return Poll::Ready(Some(Ok(stream)));
                }
                Poll::Ready(Err(err)) if is_transient_accept_error(&err) => {
                    tracing::warn!(error = %err, "accept failed; retrying");
                    // Out of file descriptors and similar: give the system a moment.
                    self.backoff = Some(Box::pin(tokio::time::sleep(Duration::from_millis(50))));
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Some(Err(err))),
            }
        }
    }
}

fn http2_builder(config: &Config) -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        // gRPC has no use for a `date` header; it would only show up as
        // metadata at the client.
        .auto_date_header(false)
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(config.max_header_list_size)
        // The keepalive is `conn::Guarded`'s: hyper's costs a lock and a
        // clock read per frame received.
        .keep_alive_interval(None)
        .max_pending_accept_reset_streams(config.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(config.max_local_error_reset_streams)
        .initial_stream_window_size(config.initial_stream_window_size)
        .initial_connection_window_size(config.initial_connection_window_size);
    if config.adaptive_window {
        // After the sizes: setting them turns hyper's adaptive window off.
        builder.adaptive_window(true);
    }
    builder
}

/// Accept errors that concern one connection or a passing shortage, after
/// which the listener is still good.
fn is_transient_accept_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused
            | ConnectionAborted
            | ConnectionReset
            | Interrupted
            | WouldBlock
            | TimedOut
    ) || matches!(err.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::ServiceDescriptor;

    static DESCRIBED: ServiceDescriptor = ServiceDescriptor::new("test.Described", &[]);

    /// A service with the given name and descriptor that answers nothing.
    struct Named(&'static str, Option<&'static ServiceDescriptor>);

    impl GrpcService for Named {
        fn name(&self) -> &'static str {
            self.0
        }

        fn call(&self, _: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
            Box::pin(async move { call.unimplemented() })
        }

        fn descriptor(&self) -> Option<&'static ServiceDescriptor> {
            self.1
        }
    }

    #[tokio::test]
    async fn on_start_hooks_see_every_service_in_order_before_serving() {
        let (seen, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let second = seen.clone();
        let server = Server::builder()
            .add_service(Named("test.Before", None))
            .on_start(move |routes| {
                let described = routes.descriptor("test.Described").map(|d| d.name);
                let _ = seen.send((1, routes.names(), described));
            })
            .on_start(move |routes| {
                let _ = second.send((
                    2,
                    routes.names(),
                    routes.descriptor("test.Before").map(|d| d.name),
                ));
            })
            .layer(tower::layer::util::Identity::new())
            .add_layered_service(
                tower::layer::util::Identity::new(),
                Named("test.Described", Some(&DESCRIBED)),
            );
        assert!(
            heard.try_recv().is_err(),
            "a hook ran before the server started"
        );
        let incoming =
            futures_util::stream::empty::<Result<tokio::io::DuplexStream, std::io::Error>>();
        server.serve_with_incoming(incoming).await.unwrap();
        let names = vec!["test.Before", "test.Described"];
        assert_eq!(
            heard.try_recv().unwrap(),
            (1, names.clone(), Some("test.Described"))
        );
        assert_eq!(heard.try_recv().unwrap(), (2, names, None));
        assert!(heard.try_recv().is_err());
    }
}
