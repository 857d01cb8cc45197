//! The servers of the tour, each on a free port of 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use grpcx::middleware::advice::{Advice, ErrorAdviceLayer};
use grpcx::middleware::interceptor::{CallHead, InterceptorLayer, sync_interceptor_fn};
use grpcx::{Endpoint, ErrorInfo, Server, Status};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::Error;
use crate::chaos::ChaosService;
use crate::pb::ChaosServer;

/// Running servers; dropping this stops them all.
#[derive(Debug)]
pub(crate) struct Servers {
    /// The user service, allowing one creation per client per 30 s.
    pub(crate) users: SocketAddr,
    /// The product service.
    pub(crate) products: SocketAddr,
    /// The REST gateway in front of the product service.
    pub(crate) gateway: SocketAddr,
    /// A REST gateway whose product service is not running.
    pub(crate) gateway_to_nowhere: SocketAddr,
    /// The demo-only chaos service.
    pub(crate) chaos: SocketAddr,
    /// The chaos service behind a link with [`LINK_LATENCY`].
    pub(crate) chaos_far: SocketAddr,
    /// The chaos service behind an authentication interceptor that wants
    /// `authorization: Bearer` [`DEMO_TOKEN`].
    pub(crate) chaos_guarded: SocketAddr,
    /// A port where nothing listens.
    pub(crate) nowhere: SocketAddr,
    /// The servers' tasks, aborted when the set is dropped.
    _tasks: JoinSet<()>,
}

impl Servers {
    pub(crate) async fn start() -> Result<Servers, Error> {
        let mut tasks = JoinSet::new();

        let (listener, users) = bind().await?;
        let config = grpcx_example_users::Config {
            creation_quota: 1,
            quota_window: Duration::from_secs(30),
        };
        let server = grpcx_example_users::server(config);
        tasks.spawn(report("users", server.serve(listener)));

        let (listener, products) = bind().await?;
        tasks.spawn(report("products", grpcx_example_products::serve(listener)));

        // The error advice redacts the panic to INTERNAL with a
        // correlation id, which the server's log event carries too.
        let (listener, chaos) = bind().await?;
        let server = Server::builder()
            .layer(ErrorAdviceLayer::new(Advice::new()))
            .add_service(ChaosServer::new(ChaosService::default()));
        tasks.spawn(report("chaos", server.serve(listener)));

        let (listener, chaos_far) = bind().await?;
        tasks.spawn(slow_link(listener, chaos));

        let (listener, chaos_guarded) = bind().await?;
        let server = Server::builder()
            .layer(InterceptorLayer::new(sync_interceptor_fn(authenticate)))
            .add_service(ChaosServer::new(ChaosService::default()));
        tasks.spawn(report("chaos (guarded)", server.serve(listener)));

        let nowhere = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;

        let gateway = start_gateway(&mut tasks, products).await?;
        let gateway_to_nowhere = start_gateway(&mut tasks, nowhere).await?;

        Ok(Servers {
            users,
            products,
            gateway,
            gateway_to_nowhere,
            chaos,
            chaos_far,
            chaos_guarded,
            nowhere,
            _tasks: tasks,
        })
    }
}

/// The token the guarded chaos server accepts.
pub(crate) const DEMO_TOKEN: &str = "demo-token";

/// The `ErrorInfo` domain of the guarded server's refusals.
pub(crate) const AUTH_DOMAIN: &str = "demo.grpcx.dev";

/// The guarded server's interceptor: a call without the demo's bearer
/// token is refused before any handler runs.
fn authenticate(call: &mut CallHead) -> Result<(), Status> {
    match call.metadata().get("authorization") {
        Some(value) if value.strip_prefix("Bearer ") == Some(DEMO_TOKEN) => Ok(()),
        Some(_) => Err(Status::unauthenticated("the bearer token is not valid")
            .with_detail(ErrorInfo::new("TOKEN_INVALID", AUTH_DOMAIN))),
        None => Err(Status::unauthenticated("a bearer token is required")
            .with_detail(ErrorInfo::new("TOKEN_MISSING", AUTH_DOMAIN))),
    }
}

/// Starts a REST gateway calling the product service at `target`.
async fn start_gateway(tasks: &mut JoinSet<()>, target: SocketAddr) -> Result<SocketAddr, Error> {
    let (listener, addr) = bind().await?;
    let channel = Endpoint::new(format!("http://{target}"))?
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy();
    let serve = grpcx_example_products::gateway::serve_with_shutdown(
        listener,
        channel,
        std::future::pending(),
    );
    tasks.spawn(report("gateway", serve));
    Ok(addr)
}

/// The latency of the link to `chaos_far`.
pub(crate) const LINK_LATENCY: Duration = Duration::from_millis(20);

/// Relays connections to `upstream`, each starting [`LINK_LATENCY`] late,
/// as over a network: a call's first bytes reach the server that much
/// after the client sent them.
///
/// It matters for deadlines. On loopback the server learns of a call the
/// instant the client starts it, so the client's timer and the server's
/// expire in the same millisecond, and either side may report
/// `DEADLINE_EXCEEDED` first. Over a real network the client's own
/// deadline always has a head start, as it has here.
async fn slow_link(listener: TcpListener, upstream: SocketAddr) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            tokio::time::sleep(LINK_LATENCY).await;
            if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Runs a server, logging why it stopped if it fails.
async fn report<E: std::fmt::Display>(
    name: &'static str,
    serve: impl Future<Output = Result<(), E>>,
) {
    if let Err(err) = serve.await {
        tracing::error!(server = name, error = %err, "server failed");
    }
}
