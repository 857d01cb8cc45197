//! Support for grpcx's wire tests: every error path of the transport is
//! checked over a real HTTP/2 connection on `127.0.0.1:0`.
//!
//! - [`probe`]: the `grpcx.test.Probe` service, whose behaviour each
//!   request chooses (reply, fail with a rich status, panic, abort, sleep,
//!   set the code through the context), and which reports what happened on
//!   the server (the call started, its handler was dropped, how it ended)
//!   as [`Event`]s.
//! - [`TestServer`]: a probe server on an ephemeral port, its events, and
//!   channels to it; [`serve`] starts any [`Server`].
//! - [`raw`]: an h2 client that sends exactly the bytes a test wants (and
//!   reports the GOAWAY and RST_STREAM frames it gets), and an h2 server
//!   that answers exactly what a test wants.
//! - [`relay`]: a TCP relay that turns into a network blackhole on command.
//!
//! Every wait is bounded by [`WAIT`]; nothing sleeps to synchronise.

// Test support: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod frames;
pub mod probe;
pub mod raw;
pub mod relay;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use grpcx::server::Routes;
use grpcx::{
    Body, BoxError, CallOutcome, Channel, Endpoint, IntoRequest, Response, Server, Streaming,
};
use grpcx::{Code, Metadata, Origin, Status};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tower::{Layer, Service};

pub use probe::{
    Action, Event, Events, PANIC_TEXT, ProbeReply, ProbeRequest, SERVICE, SPECIAL_MESSAGE,
};

/// The bound on every wait of a test: generous, so a loaded machine does
/// not fail a test, and far below the 30 s a sleeping handler sleeps.
pub const WAIT: Duration = Duration::from_secs(20);

/// How long a sleeping handler sleeps: longer than any test waits.
pub const LONG_SLEEP: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test with `what` when it takes longer than
/// [`WAIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing within {WAIT:?}"),
    }
}

/// A server running on `127.0.0.1:<ephemeral port>`, shut down when this
/// is dropped.
#[derive(Debug)]
pub struct ServerHandle {
    /// The address the server listens on.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), grpcx::Error>>>,
}

impl ServerHandle {
    /// Gives the server its shutdown signal, without waiting: it stops
    /// accepting, sends GOAWAY and drains the calls in flight.
    /// [`shutdown`](ServerHandle::shutdown) then waits for the end.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Stops accepting, drains the calls in flight, and waits (bounded) for
    /// the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            within("server shutdown", task)
                .await
                .expect("the server task panicked")
                .expect("the server failed");
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts `server` (with any layers) on `127.0.0.1:0`; returns its address
/// and a handle that shuts it down.
pub async fn serve<L, S, B>(server: Server<L>) -> ServerHandle
where
    L: Layer<Routes, Service = S> + Send + 'static,
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with_shutdown(listener, async move {
        let _ = signal.await;
    }));
    ServerHandle {
        addr,
        shutdown: Some(shutdown),
        task: Some(task),
    }
}

/// An endpoint for the server at `addr`.
pub fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::new(format!("http://{addr}")).expect("a valid endpoint URI")
}

/// A lazily connected channel to the server at `addr`.
pub fn channel(addr: SocketAddr) -> Channel {
    endpoint(addr).connect_lazy()
}

/// A probe server, the events it reports, and the gate its `WaitGate`
/// handlers wait on.
#[derive(Debug)]
pub struct TestServer {
    /// The running server.
    pub handle: ServerHandle,
    /// What the probe reports about its calls.
    pub events: Events,
    gate: watch::Sender<bool>,
}

impl TestServer {
    /// Starts a probe server with default settings.
    pub async fn start() -> TestServer {
        TestServer::start_with(|server| server).await
    }

    /// Starts a probe server with settings (and layers) chosen by
    /// `configure`.
    pub async fn start_with<L, S, B>(configure: impl FnOnce(Server) -> Server<L>) -> TestServer
    where
        L: Layer<Routes, Service = S> + Send + 'static,
        S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (gate, _) = watch::channel(false);
        let service = probe::Probe::new(events_tx, gate.clone());
        let handle = serve(configure(Server::builder().add_service(service))).await;
        TestServer {
            handle,
            events: Events::new(events_rx),
            gate,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// A new channel (a new connection) to the server.
    pub fn channel(&self) -> Channel {
        channel(self.addr())
    }

    /// A new raw h2 connection to the server.
    pub async fn raw(&self) -> raw::RawClient {
        raw::RawClient::connect(self.addr()).await
    }

    /// Lets every handler waiting at the gate go on.
    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }
}

/// The path of a probe method.
pub fn path(method: &str) -> http::uri::PathAndQuery {
    format!("/{SERVICE}/{method}")
        .parse()
        .expect("a valid method path")
}

/// The probe's codec on the client side.
pub fn codec() -> grpcx::codec::ProstCodec<ProbeRequest, ProbeReply> {
    grpcx::codec::ProstCodec::default()
}

/// A unary call of `Probe/Unary`, bounded by [`WAIT`].
pub async fn unary(
    channel: &Channel,
    request: impl IntoRequest<ProbeRequest>,
) -> Result<Response<ProbeReply>, Status> {
    let request = request.into_request();
    within("unary call", channel.unary(path("Unary"), request, codec())).await
}

/// A server-streaming call of `Probe/ServerStream`: the response head,
/// bounded by [`WAIT`].
pub async fn server_streaming(
    channel: &Channel,
    request: impl IntoRequest<ProbeRequest>,
) -> Result<Response<Streaming<ProbeReply>>, Status> {
    let request = request.into_request();
    within(
        "server-streaming call",
        channel.server_streaming(path("ServerStream"), request, codec()),
    )
    .await
}

/// Reads a response stream to its end: the messages, then `Ok(())` for an
/// `OK` end or the status it failed with. Bounded by [`WAIT`].
pub async fn drain(stream: &mut Streaming<ProbeReply>) -> (Vec<ProbeReply>, Result<(), Status>) {
    within("the end of the response stream", async {
        let mut messages = Vec::new();
        loop {
            match stream.message().await {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => return (messages, Ok(())),
                Err(status) => return (messages, Err(status)),
            }
        }
    })
    .await
}

/// Checks a status's code, exact message and origin, with the whole status
/// in the failure message.
#[track_caller]
pub fn assert_status(status: &Status, code: Code, message: &str, origin: Origin) {
    assert_eq!(status.code(), code, "code of {status:?}");
    assert_eq!(status.message(), message, "message of {status:?}");
    assert_eq!(status.origin(), origin, "origin of {status:?}");
}

/// Checks that `metadata` holds exactly the probe's initial metadata.
#[track_caller]
pub fn assert_initial_metadata(metadata: &Metadata) {
    assert_eq!(
        metadata.get("x-initial"),
        Some("initial value"),
        "{metadata:?}"
    );
    assert_eq!(
        metadata.get_bin("x-initial-bin").unwrap(),
        Some(probe::INITIAL_BIN.to_vec()),
        "{metadata:?}"
    );
}

/// Checks that `metadata` holds the trailing metadata the probe sets
/// through its context.
#[track_caller]
pub fn assert_context_trailers(metadata: &Metadata) {
    assert_eq!(
        metadata.get_all("x-trailer").collect::<Vec<_>>(),
        ["first", "second"],
        "{metadata:?}"
    );
    assert_eq!(
        metadata
            .get_all_bin("x-trailer-bin")
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        [probe::TRAILER_BIN_1.to_vec(), probe::TRAILER_BIN_2.to_vec()],
        "{metadata:?}"
    );
}

/// Checks that `metadata` holds the metadata the probe puts in its
/// status's own metadata.
#[track_caller]
pub fn assert_status_metadata(metadata: &Metadata) {
    assert_eq!(
        metadata.get("x-status"),
        Some("from the status"),
        "{metadata:?}"
    );
    assert_eq!(
        metadata.get_bin("x-status-bin").unwrap(),
        Some(probe::STATUS_BIN.to_vec()),
        "{metadata:?}"
    );
}

/// Checks how a call ended on the server, as its `on_done` reported.
#[track_caller]
pub fn assert_outcome(outcome: CallOutcome, expected: CallOutcome) {
    assert_eq!(outcome, expected, "the call's outcome on the server");
}
