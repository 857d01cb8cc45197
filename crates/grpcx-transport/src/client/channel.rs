//! [`Endpoint`] and [`Channel`]: a lazily connected, self-healing HTTP/2
//! connection to one server.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use grpcx_codec::{CompressionConfig, CompressionEncoding, EncodingSet};
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};
use http::Uri;
use http::uri::{Authority, Scheme};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::connect::{BoxIo, Connector, GoAwayWatch, Io};
use super::errors::{error_chain, not_sent};
use crate::body::Body;
use crate::error::{BoxError, Error, Kind};

/// Where and how to connect: the server's URI and the channel's settings.
///
/// ```
/// use std::time::Duration;
/// use grpcx_transport::client::Endpoint;
///
/// let channel = Endpoint::new("http://127.0.0.1:50051")?
///     .connect_timeout(Duration::from_secs(5))
///     .timeout(Duration::from_secs(30))
///     .connect_lazy();
/// # Ok::<(), grpcx_transport::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Option<Duration>,
    pub(crate) backoff: Backoff,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) keepalive_while_idle: bool,
    pub(crate) tcp_nodelay: bool,
    pub(crate) max_decode_message_size: usize,
    pub(crate) max_encode_message_size: usize,
    pub(crate) compression: CompressionConfig,
    pub(crate) user_agent: http::HeaderValue,
    pub(crate) initial_stream_window_size: u32,
    pub(crate) initial_connection_window_size: u32,
    pub(crate) adaptive_window: bool,
    pub(crate) max_header_list_size: u32,
    #[cfg(feature = "tls-rustls")]
    pub(crate) tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
}

/// The default largest header list a client accepts: generous, since a
/// server's status can carry rich details, yet bounded.
const DEFAULT_MAX_HEADER_LIST_SIZE: u32 = 1024 * 1024;

/// Reconnection backoff, as gRPC's `connection-backoff.md` describes:
/// after the n-th failure in a row, calls fail fast with `UNAVAILABLE` for
/// `min(initial * multiplier^n, max)`, give or take `jitter`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) multiplier: f64,
    pub(crate) jitter: f64,
    pub(crate) max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    fn delay(&self, failures: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(failures.saturating_sub(1).min(64) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let jitter = 1.0 + self.jitter * (2.0 * fastrand_unit() - 1.0);
        Duration::try_from_secs_f64((base * jitter).max(0.0)).unwrap_or(self.max)
    }
}

/// A uniform number in [0, 1) from a cheap per-thread generator; good
/// enough for jitter, not for anything secret.
fn fastrand_unit() -> f64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64) | 1);
    }
    STATE.with(|state| {
        // xorshift64*
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    })
}

impl Endpoint {
    /// An endpoint for `uri`, `http://host:port` (h2c; `https` needs the
    /// TLS feature).
    ///
    /// # Errors
    ///
    /// The URI does not parse or has no host, or its scheme is not `http`.
    pub fn new(
        uri: impl TryInto<Uri, Error = impl Into<Box<dyn std::error::Error + Send + Sync>>>,
    ) -> Result<Endpoint, Error> {
        let uri: Uri = uri
            .try_into()
            .map_err(|err| Error::new(Kind::InvalidUri, err))?;
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        let supported =
            scheme == Scheme::HTTP || (cfg!(feature = "tls-rustls") && scheme == Scheme::HTTPS);
        if !supported {
            return Err(Error::new(
                Kind::InvalidUri,
                format!(
                    "unsupported scheme {scheme}: http (h2c) is built in, https needs the tls-rustls feature"
                ),
            ));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| Error::new(Kind::InvalidUri, format!("{uri} has no host")))?;
        Ok(Endpoint {
            scheme,
            authority,
            connect_timeout: Duration::from_secs(20),
            timeout: None,
            backoff: Backoff::default(),
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            keepalive_while_idle: false,
            tcp_nodelay: true,
            max_decode_message_size: crate::protocol::DEFAULT_MAX_DECODE_MESSAGE_SIZE,
            max_encode_message_size: usize::MAX,
            compression: CompressionConfig::default(),
            user_agent: http::HeaderValue::from_static(concat!(
                "grpcx-rust/",
                env!("CARGO_PKG_VERSION")
            )),
            initial_stream_window_size: crate::protocol::DEFAULT_WINDOW_SIZE,
            initial_connection_window_size: crate::protocol::DEFAULT_WINDOW_SIZE,
            adaptive_window: false,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
            #[cfg(feature = "tls-rustls")]
            tls: None,
        })
    }

    /// Connects with TLS using `config` (for an `https://` endpoint); the
    /// ALPN protocols of `config` are set to `h2`. Without it, an `https`
    /// endpoint fails to connect.
    #[cfg(feature = "tls-rustls")]
    pub fn tls_config(mut self, mut config: tokio_rustls::rustls::ClientConfig) -> Endpoint {
        config.alpn_protocols = vec![b"h2".to_vec()];
        self.tls = Some(Arc::new(config));
        self
    }

    /// How long connecting may take (20 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Endpoint {
        self.connect_timeout = timeout;
        self
    }

    /// A default timeout for calls that set none themselves.
    pub fn timeout(mut self, timeout: Duration) -> Endpoint {
        self.timeout = Some(timeout);
        self
    }

    /// The first reconnection backoff (1 s by default) and the largest
    /// (120 s by default).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Endpoint {
        self.backoff.initial = initial;
        self.backoff.max = max.max(initial);
        self
    }

    /// HTTP/2 keepalive pings every `interval`, closing the connection
    /// when one is not answered within `timeout` (off by default).
    ///
    /// A server enforces a shortest interval (5 minutes by default in
    /// grpcx and grpc-go); one that finds the pings too frequent closes the
    /// connection with GOAWAY `ENHANCE_YOUR_CALM` `too_many_pings`, and the
    /// channel then doubles the interval for its next connections, as
    /// grpc-go does.
    pub fn keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Endpoint {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
        self
    }

    /// Whether keepalive pings are sent while no call is open.
    pub fn keepalive_while_idle(mut self, enabled: bool) -> Endpoint {
        self.keepalive_while_idle = enabled;
        self
    }

    /// The largest response message accepted (4 MiB by default).
    pub fn max_decode_message_size(mut self, limit: usize) -> Endpoint {
        self.max_decode_message_size = limit;
        self
    }

    /// The largest request message sent (unlimited by default).
    pub fn max_encode_message_size(mut self, limit: usize) -> Endpoint {
        self.max_encode_message_size = limit;
        self
    }

    /// Compresses request messages with `encoding` (uncompressed by
    /// default). A server that does not accept it answers `UNIMPLEMENTED`.
    pub fn send_compression(mut self, encoding: CompressionEncoding) -> Endpoint {
        self.compression.send = encoding;
        self
    }

    /// The encodings the client accepts for responses (every supported one
    /// by default), sent as `grpc-accept-encoding`.
    pub fn accept_compression(mut self, encodings: EncodingSet) -> Endpoint {
        self.compression.accept = encodings;
        self
    }

    /// The largest header list (response headers or trailers) accepted
    /// (`SETTINGS_MAX_HEADER_LIST_SIZE`; 1 MiB by default). A larger one
    /// fails the call.
    pub fn max_header_list_size(mut self, max: u32) -> Endpoint {
        self.max_header_list_size = max;
        self
    }

    /// The HTTP/2 flow-control windows for response data: how many bytes a
    /// server may send on each call and on the whole connection ahead of
    /// the application reading them; 1 MiB each by default. Larger windows
    /// let downloads go faster over links with a long round trip, and let
    /// each call and connection buffer more. Sizes are kept between 65,535
    /// bytes and 2^31 - 1. Turns [`Endpoint::adaptive_window`] off.
    pub fn initial_window_size(mut self, per_call: u32, per_connection: u32) -> Endpoint {
        self.initial_stream_window_size = crate::protocol::window_size(per_call);
        self.initial_connection_window_size = crate::protocol::window_size(per_connection);
        self.adaptive_window = false;
        self
    }

    /// Sizes the flow-control windows from the connection's measured
    /// bandwidth-delay product (hyper's BDP pings, as grpc-go does by
    /// default) instead of [`Endpoint::initial_window_size`]; off by
    /// default.
    pub fn adaptive_window(mut self, enabled: bool) -> Endpoint {
        self.adaptive_window = enabled;
        self
    }

    /// A channel that connects on its first call.
    pub fn connect_lazy(self) -> Channel {
        self.channel(Connector::Tcp)
    }

    /// A channel that dials through `connector` on its first call (and
    /// whenever it reconnects), instead of TCP: a `tower::Service` taking
    /// the endpoint's URI and returning a byte stream, as hyper-util's
    /// connectors do. Unix sockets and in-memory pipes plug in here; the
    /// endpoint's URI then only names the `:authority` (and, with `https`,
    /// the TLS server name).
    ///
    /// ```
    /// use grpcx_transport::Endpoint;
    ///
    /// # async fn demo() {
    /// use std::sync::{Arc, Mutex};
    ///
    /// let (client_io, _server_io) = tokio::io::duplex(64 * 1024);
    /// let client_io = Arc::new(Mutex::new(Some(client_io)));
    /// let channel = Endpoint::new("http://in-memory")
    ///     .unwrap()
    ///     .connect_with_connector_lazy(tower::service_fn(move |_uri: http::Uri| {
    ///         // One connection only: a second dial fails, which fails the call.
    ///         let io = client_io.lock().unwrap().take();
    ///         async move { io.ok_or_else(|| std::io::Error::other("already connected")) }
    ///     }));
    /// # drop(channel);
    /// # }
    /// ```
    pub fn connect_with_connector_lazy<C>(self, connector: C) -> Channel
    where
        C: tower::Service<Uri> + Clone + Send + Sync + 'static,
        C::Response: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        C::Error: Into<BoxError>,
        C::Future: Send + 'static,
    {
        let connector = connector
            .map_response(|io| -> BoxIo { Box::new(io) })
            .map_err(Into::into);
        self.channel(Connector::Custom(tower::util::BoxCloneSyncService::new(
            connector,
        )))
    }

    /// A channel dialing through `connector` (see
    /// [`Endpoint::connect_with_connector_lazy`]), connected now.
    ///
    /// # Errors
    ///
    /// The connection could not be made within the connect timeout.
    pub async fn connect_with_connector<C>(self, connector: C) -> Result<Channel, Error>
    where
        C: tower::Service<Uri> + Clone + Send + Sync + 'static,
        C::Response: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        C::Error: Into<BoxError>,
        C::Future: Send + 'static,
    {
        let channel = self.connect_with_connector_lazy(connector);
        channel.connect_now().await?;
        Ok(channel)
    }

    fn channel(self, connector: Connector) -> Channel {
        Channel {
            shared: Arc::new(Shared {
                endpoint: self,
                connector,
                state: Mutex::new(State::Idle),
                connecting: tokio::sync::Mutex::new(()),
                calm: Arc::new(AtomicU32::new(0)),
            }),
        }
    }

    /// A channel, connected now.
    ///
    /// # Errors
    ///
    /// The connection could not be made within the connect timeout.
    pub async fn connect(self) -> Result<Channel, Error> {
        let channel = self.connect_lazy();
        channel.connect_now().await?;
        Ok(channel)
    }
}

/// A connection to one server, shared by every call made through it (and
/// every clone of it): calls are multiplexed as HTTP/2 streams.
///
/// The channel connects on first use. When the connection fails or is lost,
/// the next call reconnects; while reconnection is backing off after a
/// failure, calls fail fast with `UNAVAILABLE` (origin
/// [`Origin::Transport`], [`Progress::NotSent`](grpcx_status::Progress))
/// carrying the last connection error. Once the server has sent GOAWAY on
/// a connection, the calls in flight on it finish there, and new calls go
/// to a new connection.
///
/// A channel is a `tower::Service` of `http::Request`s (see the
/// [`Service` implementation](#impl-Service<Request<B>>-for-Channel)), so
/// tower layers can wrap it; [`Grpc`](super::Grpc) (and generated clients)
/// make typed calls on such a stack.
#[derive(Clone)]
pub struct Channel {
    shared: Arc<Shared>,
}

struct Shared {
    endpoint: Endpoint,
    connector: Connector,
    state: Mutex<State>,
    /// Held while connecting, so concurrent calls share one attempt.
    connecting: tokio::sync::Mutex<()>,
    /// How many times a server said `too_many_pings`: each doubles the
    /// keepalive interval of the connections made after it.
    calm: Arc<AtomicU32>,
}

/// A connection ready for calls.
#[derive(Clone, Debug)]
pub(crate) struct Ready {
    pub(crate) sender: SendRequest<Body>,
    pub(crate) generation: u64,
    /// The calls open on it (see [`OpenCall`](super::connect::OpenCall)).
    pub(crate) open: Arc<AtomicUsize>,
}

enum State {
    Idle,
    Ready {
        ready: Ready,
        /// Set when the server has sent GOAWAY on the connection.
        going_away: Arc<AtomicBool>,
    },
    Failing {
        until: Instant,
        error: Status,
        failures: u32,
    },
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Channel {
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.shared.endpoint
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A sender on a live connection (and the connection's generation),
    /// connecting if needed.
    ///
    /// # Errors
    ///
    /// `UNAVAILABLE` when no connection could be made; the call was not
    /// sent ([`Progress::NotSent`](grpcx_status::Progress)).
    pub(crate) async fn sender(&self) -> Result<Ready, Status> {
        if let Some(ready) = self.ready_sender()? {
            return Ok(ready);
        }
        // Connecting is rare, and its future (TCP, TLS, the HTTP/2
        // handshake) runs to kilobytes: boxed, every call's future need
        // not carry it.
        Box::pin(self.connect_sender()).await
    }

    /// [`sender`](Self::sender) when no connection is ready: connects,
    /// one call at a time.
    async fn connect_sender(&self) -> Result<Ready, Status> {
        let _connecting = self.shared.connecting.lock().await;
        // Another call may have connected while this one waited.
        if let Some(ready) = self.ready_sender()? {
            return Ok(ready);
        }
        match self.connect_now().await {
            Ok(ready) => Ok(ready),
            // The failure recorded for the backoff says where and why.
            Err(err) => Err(not_sent(
                self.ready_sender()
                    .err()
                    .unwrap_or_else(|| Status::from(err)),
            )),
        }
    }

    fn ready_sender(&self) -> Result<Option<Ready>, Status> {
        let mut state = self.state();
        match &*state {
            State::Ready { ready, going_away } => {
                if !ready.sender.is_closed() && !going_away.load(Ordering::Acquire) {
                    return Ok(Some(ready.clone()));
                }
                // The calls in flight keep the connection until they end;
                // new ones go to a new connection.
                *state = State::Idle;
                Ok(None)
            }
            State::Failing { until, error, .. } if Instant::now() < *until => {
                Err(not_sent(error.clone()))
            }
            _ => Ok(None),
        }
    }

    /// Stops using the connection of `generation` for new calls: it
    /// refused a request without sending it.
    pub(crate) fn forget(&self, generation: u64) {
        let mut state = self.state();
        if matches!(&*state, State::Ready { ready, .. } if ready.generation == generation) {
            *state = State::Idle;
        }
    }

    /// The endpoint's keepalive interval, doubled for each time a server
    /// said `too_many_pings`.
    fn keepalive_interval(&self) -> Option<Duration> {
        let doublings = self.shared.calm.load(Ordering::Acquire).min(20);
        self.shared
            .endpoint
            .keepalive_interval
            .map(|interval| interval.saturating_mul(1 << doublings))
    }

    async fn connect_now(&self) -> Result<Ready, Error> {
        let endpoint = &self.shared.endpoint;
        let attempt = tokio::time::timeout(endpoint.connect_timeout, self.handshake()).await;
        let result = match attempt {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                Kind::Timeout,
                format!("no connection within {:?}", endpoint.connect_timeout),
            )),
        };
        let mut state = self.state();
        match result {
            Ok((ready, going_away)) => {
                *state = State::Ready {
                    ready: ready.clone(),
                    going_away,
                };
                Ok(ready)
            }
            Err(err) => {
                let failures = match &*state {
                    State::Failing { failures, .. } => failures + 1,
                    _ => 1,
                };
                // The error's own text repeats "could not connect"; its
                // causes say why.
                let why =
                    std::error::Error::source(&err).map_or_else(|| err.to_string(), error_chain);
                // The error stays as the source: a retry layer tells a
                // failed connect (wait for the server, or apply the retry
                // policy) from a request a closing connection gave back
                // (send it again at once) by it.
                let status = not_sent(
                    Status::unavailable(format!(
                        "could not connect to {}: {why}",
                        endpoint.authority
                    ))
                    .with_origin(Origin::Transport)
                    .with_source(Error::new(err.kind(), why.clone())),
                );
                *state = State::Failing {
                    until: Instant::now()
                        .checked_add(endpoint.backoff.delay(failures))
                        .unwrap_or_else(Instant::now),
                    error: status,
                    failures,
                };
                Err(err)
            }
        }
    }

    async fn handshake(&self) -> Result<(Ready, Arc<AtomicBool>), Error> {
        let endpoint = &self.shared.endpoint;
        let host = endpoint.authority.host();
        // An IPv6 literal keeps its brackets in the authority; connect wants it bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let io: BoxIo =
            match &self.shared.connector {
                Connector::Tcp => {
                    let port = endpoint.authority.port_u16().unwrap_or(
                        if endpoint.scheme == Scheme::HTTPS {
                            443
                        } else {
                            80
                        },
                    );
                    let stream = TcpStream::connect((host, port))
                        .await
                        .map_err(|err| Error::new(Kind::Connect, err))?;
                    if endpoint.tcp_nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    Box::new(stream)
                }
                Connector::Custom(connector) => {
                    let uri = Uri::builder()
                        .scheme(endpoint.scheme.clone())
                        .authority(endpoint.authority.clone())
                        .path_and_query("/")
                        .build()
                        .map_err(|err| Error::new(Kind::InvalidUri, err))?;
                    connector
                        .clone()
                        .oneshot(uri)
                        .await
                        .map_err(|err| Error::new(Kind::Connect, err))?
                }
            };
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .initial_stream_window_size(endpoint.initial_stream_window_size)
            .initial_connection_window_size(endpoint.initial_connection_window_size)
            .keep_alive_interval(self.keepalive_interval())
            .keep_alive_timeout(endpoint.keepalive_timeout)
            .keep_alive_while_idle(endpoint.keepalive_while_idle)
            .max_header_list_size(endpoint.max_header_list_size);
        if endpoint.adaptive_window {
            // After the sizes: setting them turns hyper's adaptive window off.
            builder.adaptive_window(true);
        }
        if endpoint.scheme == Scheme::HTTPS {
            return self.handshake_tls(builder, io, host).await;
        }
        self.handshake_h2(builder, io).await
    }

    /// The HTTP/2 handshake over `io`, watched for GOAWAY.
    async fn handshake_h2<I: Io>(
        &self,
        builder: hyper::client::conn::http2::Builder<TokioExecutor>,
        io: I,
    ) -> Result<(Ready, Arc<AtomicBool>), Error> {
        let going_away = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicUsize::new(0));
        let io = GoAwayWatch::new(
            io,
            Arc::clone(&going_away),
            Arc::clone(&self.shared.calm),
            Arc::clone(&open),
        );
        let (sender, connection) = builder
            .handshake(TokioIo::new(io))
            .await
            .map_err(|err| Error::new(Kind::Connect, err))?;
        let ready = Ready {
            sender,
            generation: self.drive(connection),
            open,
        };
        Ok((ready, going_away))
    }

    #[cfg(feature = "tls-rustls")]
    async fn handshake_tls(
        &self,
        builder: hyper::client::conn::http2::Builder<TokioExecutor>,
        io: BoxIo,
        host: &str,
    ) -> Result<(Ready, Arc<AtomicBool>), Error> {
        let endpoint = &self.shared.endpoint;
        let config = endpoint.tls.clone().ok_or_else(|| {
            Error::new(
                Kind::Connect,
                "an https endpoint needs Endpoint::tls_config",
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|err| Error::new(Kind::InvalidUri, err))?;
        let stream = connector
            .connect(name, io)
            .await
            .map_err(|err| Error::new(Kind::Connect, super::tls::HandshakeFailed(err)))?;
        self.handshake_h2(builder, stream).await
    }

    #[cfg(not(feature = "tls-rustls"))]
    async fn handshake_tls(
        &self,
        _builder: hyper::client::conn::http2::Builder<TokioExecutor>,
        _io: BoxIo,
        _host: &str,
    ) -> Result<(Ready, Arc<AtomicBool>), Error> {
        Err(Error::new(
            Kind::InvalidUri,
            "https needs the tls-rustls feature",
        ))
    }

    /// Spawns the task driving a connection; returns its generation.
    fn drive<F>(&self, connection: F) -> u64
    where
        F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
    {
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
            // Forget the dead connection so the next call reconnects.
            if let Some(shared) = shared.upgrade() {
                let mut state = shared
                    .state
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if matches!(&*state, State::Ready { ready, .. } if ready.generation == generation) {
                    *state = State::Idle;
                }
            }
        });
        generation
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("authority", &self.shared.endpoint.authority)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let backoff = Backoff::default();
        for _ in 0..100 {
            let first = backoff.delay(1).as_secs_f64();
            assert!((0.8..=1.2).contains(&first), "{first}");
            let third = backoff.delay(3).as_secs_f64();
            assert!((2.56 * 0.8..=2.56 * 1.2).contains(&third), "{third}");
            let late = backoff.delay(50).as_secs_f64();
            assert!((120.0 * 0.8..=120.0 * 1.2).contains(&late), "{late}");
        }
    }

    #[test]
    fn endpoint_uris() {
        assert!(Endpoint::new("http://127.0.0.1:50051").is_ok());
        assert!(Endpoint::new("127.0.0.1:50051").is_ok());
        // https needs the TLS feature.
        assert_eq!(
            Endpoint::new("https://example.com").is_ok(),
            cfg!(feature = "tls-rustls")
        );
        assert!(
            Endpoint::new("ftp://example.com")
                .unwrap_err()
                .is_invalid_uri()
        );
        assert!(Endpoint::new("/just/a/path").unwrap_err().is_invalid_uri());
        assert!(Endpoint::new("not a uri").unwrap_err().is_invalid_uri());
    }

    #[tokio::test]
    async fn a_refused_connection_fails_fast_with_unavailable() {
        // Bind then drop a listener to get a port nobody listens on.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_lazy();
        let started = std::time::Instant::now();
        let status = channel.sender().await.unwrap_err();
        assert_eq!(status.code(), grpcx_status::Code::Unavailable);
        assert_eq!(status.origin(), Origin::Transport);
        assert_eq!(status.progress(), grpcx_status::Progress::NotSent);
        assert!(
            status
                .message()
                .starts_with("could not connect to 127.0.0.1:"),
            "{status}"
        );
        // During the backoff the next call fails at once, with the same error.
        let again = channel.sender().await.unwrap_err();
        assert_eq!(again.message(), status.message());
        assert_eq!(again.progress(), grpcx_status::Progress::NotSent);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
