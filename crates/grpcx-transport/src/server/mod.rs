//! The gRPC server: HTTP/2 over TCP (h2c) on hyper.
//!
//! A [`Server`] holds services (each a [`GrpcService`], usually written by
//! grpcx's code generator) and serves them on a listener. Every call runs in
//! its own task with its own [`Context`](crate::Context); whatever a handler
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
mod dispatch;
pub mod handler;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use grpcx_codec::{CompressionConfig, CompressionEncoding, EncodingSet};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use body::ResponseBody;
pub use dispatch::{BoxFuture, GrpcService, ServerCall};
pub(crate) use dispatch::{deadline_exceeded, is_grpc_content_type, panicked, request_body_error};

use crate::error::{Error, Kind};
use dispatch::{ConnService, Router};

/// The default largest message a server decodes: 4 MiB, as in other gRPC
/// implementations.
pub const DEFAULT_MAX_DECODE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The default bound of the pool blocking handlers run on (see
/// [`Server::blocking_threads`]).
pub(crate) const DEFAULT_BLOCKING_THREADS: usize = 64;

/// How long a TLS handshake may take before the connection is dropped.
#[cfg(feature = "tls-rustls")]
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    pub(crate) compression: CompressionConfig,
    pub(crate) drain_timeout: Duration,
    pub(crate) tcp_nodelay: bool,
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
            initial_stream_window_size: 1024 * 1024,
            initial_connection_window_size: 2 * 1024 * 1024,
            compression: CompressionConfig::default(),
            drain_timeout: Duration::from_secs(30),
            tcp_nodelay: true,
            blocking_permits: Arc::new(tokio::sync::Semaphore::new(DEFAULT_BLOCKING_THREADS)),
        }
    }
}

/// A gRPC server: services, settings, and the loop that serves them.
#[derive(Default)]
pub struct Server {
    config: Config,
    router: Router,
    #[cfg(feature = "tls-rustls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    /// A server with default settings and no service.
    pub fn builder() -> Server {
        Server::default()
    }

    /// Adds a service; calls for `/<its name>/<method>` go to it.
    pub fn add_service(mut self, service: impl GrpcService) -> Server {
        self.router.add(Arc::new(service));
        self
    }

    /// The largest request message accepted, after decompression (4 MiB by
    /// default); a larger one fails the call with `RESOURCE_EXHAUSTED`.
    pub fn max_decode_message_size(mut self, limit: usize) -> Server {
        self.config.max_decode_message_size = limit;
        self
    }

    /// The largest response message sent (unlimited by default); a larger
    /// one fails the call with `RESOURCE_EXHAUSTED`.
    pub fn max_encode_message_size(mut self, limit: usize) -> Server {
        self.config.max_encode_message_size = limit;
        self
    }

    /// The most calls a connection may have open at once (HTTP/2
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`; 1024 by default).
    pub fn max_concurrent_streams(mut self, max: impl Into<Option<u32>>) -> Server {
        self.config.max_concurrent_streams = max.into();
        self
    }

    /// The largest header list accepted (`SETTINGS_MAX_HEADER_LIST_SIZE`;
    /// 16 KiB by default).
    pub fn max_header_list_size(mut self, max: u32) -> Server {
        self.config.max_header_list_size = max;
        self
    }

    /// How often to send HTTP/2 keepalive pings on an idle connection
    /// (2 hours by default, as in gRPC; `None` disables them), and how long
    /// to wait for the answer before closing the connection.
    pub fn keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Server {
        self.config.keepalive_interval = interval;
        self.config.keepalive_timeout = timeout;
        self
    }

    /// Rapid-reset defences (CVE-2023-44487): how many streams the client
    /// may reset before the server accepts them (20 by default), and how
    /// many streams the server may reset because the client broke the
    /// protocol (1024 by default), before the connection is closed with
    /// GOAWAY `ENHANCE_YOUR_CALM`.
    pub fn max_reset_streams(mut self, pending_accept: usize, local_error: usize) -> Server {
        self.config.max_pending_accept_reset_streams = pending_accept;
        self.config.max_local_error_reset_streams = local_error;
        self
    }

    /// The compression encodings accepted on requests (every supported one
    /// by default); a request in another is refused with `UNIMPLEMENTED`
    /// and the accepted ones in `grpc-accept-encoding`.
    pub fn accept_compression(mut self, encodings: EncodingSet) -> Server {
        self.config.compression.accept = encodings;
        self
    }

    /// Compresses responses with `encoding` when the client accepts it
    /// (uncompressed by default).
    pub fn send_compression(mut self, encoding: CompressionEncoding) -> Server {
        self.config.compression.send = encoding;
        self
    }

    /// How long a graceful shutdown waits for calls in flight to finish
    /// before closing their connections (30 s by default).
    pub fn drain_timeout(mut self, timeout: Duration) -> Server {
        self.config.drain_timeout = timeout;
        self
    }

    /// The most blocking handlers (the `blocking_*` adapters of
    /// [`handler`]) that run at once (64 by default; at least 1). Each runs
    /// on a thread of the runtime's blocking pool, never on an async
    /// worker; a call arriving while all are busy waits for one to finish,
    /// and its deadline still applies while it waits. The runtime's own
    /// limit on blocking threads (512 by default) also applies.
    pub fn blocking_threads(mut self, n: usize) -> Server {
        let n = n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self.config.blocking_permits = Arc::new(tokio::sync::Semaphore::new(n));
        self
    }

    /// Serves TLS (HTTP/2 negotiated by ALPN) with `config`, instead of
    /// plaintext h2c. The ALPN protocols of `config` are set to `h2`.
    #[cfg(feature = "tls-rustls")]
    pub fn tls_config(mut self, mut config: tokio_rustls::rustls::ServerConfig) -> Server {
        config.alpn_protocols = vec![b"h2".to_vec()];
        self.tls = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        self
    }

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
        let config = Arc::new(self.config);
        let router = Arc::new(self.router);
        let builder = http2_builder(&config);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let mut signal = std::pin::pin!(signal);
        let mut result = Ok(());
        loop {
            // Reap finished connection tasks so the set stays small.
            while connections.try_join_next().is_some() {}
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut signal => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_transient_accept_error(&err) => {
                    tracing::warn!(error = %err, "accept failed; retrying");
                    // Out of file descriptors and similar: give the system a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(err) => {
                    result = Err(Error::new(Kind::Accept, err));
                    break;
                }
            };
            if config.tcp_nodelay {
                let _ = stream.set_nodelay(true);
            }
            let service = ConnService::new(router.clone(), config.clone(), Some(peer));
            let watcher = graceful.watcher();
            #[cfg(feature = "tls-rustls")]
            if let Some(acceptor) = self.tls.clone() {
                let builder = builder.clone();
                connections.spawn(async move {
                    let handshake =
                        tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(err) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                });
                continue;
            }
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            connections.spawn(async move {
                if let Err(err) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(config.drain_timeout) => {
                tracing::warn!(
                    remaining = connections.len(),
                    "drain timeout passed; closing the connections still open"
                );
            }
        }
        connections.shutdown().await;
        result
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("services", &self.router.names())
            .field("config", &self.config)
            .finish()
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
        .keep_alive_interval(config.keepalive_interval)
        .keep_alive_timeout(config.keepalive_timeout)
        .max_pending_accept_reset_streams(config.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(config.max_local_error_reset_streams)
        .initial_stream_window_size(config.initial_stream_window_size)
        .initial_connection_window_size(config.initial_connection_window_size);
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
