//! The user service with gRFC A66 call metrics, exported in Prometheus'
//! text format on a plain HTTP endpoint.
//!
//! - [`install_recorder`] installs `metrics-exporter-prometheus` as the
//!   process's `metrics` recorder (durations as histograms) and describes
//!   grpcx's metrics.
//! - [`server`] is the user service with a
//!   [`ServerMetricsLayer`] that knows its methods, so a made-up method is
//!   reported as `"other"`.
//! - [`client`] is a user client whose stack records the client metrics:
//!   calls outside the retry layer, attempts inside it.
//! - [`serve_metrics`] answers `GET /metrics` with the rendered metrics:
//!   what Prometheus scrapes.
//!
//! The binary `metrics-server` runs both servers and makes a few calls,
//! so that `curl http://127.0.0.1:9464/metrics` shows something:
//!
//! ```text
//! cargo run -p grpcx-example-metrics -- [--port 50051] [--metrics-port 9464]
//! ```

use std::future::Future;

use grpcx::Server;
use grpcx::middleware::metrics::{
    ClientAttemptMetricsLayer, ClientCallMetricsLayer, ServerMetricsLayer,
};
use grpcx::middleware::retry::RetryLayer;
use grpcx_example_users::Config;
use grpcx_example_users::pb::{USER_SERVICE_DESCRIPTOR, UserServiceClient, UserServiceServer};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tower::layer::util::{Identity, Stack};

pub use grpcx_example_users::Users;

/// The buckets of the duration histograms, in seconds (A66 recommends
/// buckets from 0 to 100 s; these are a coarser set of the same span).
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 100.0,
];

/// The buckets of the message-size histograms, in bytes (A66's: powers of
/// 4 from 1 KiB to 4 GiB).
pub const SIZE_BUCKETS: &[f64] = &[
    0.0,
    1024.0,
    2048.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];

/// The largest request head [`serve_metrics`] reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Installs a Prometheus recorder as the process's `metrics` recorder and
/// describes grpcx's metrics to it; the handle renders what it holds.
///
/// # Errors
///
/// A recorder is already installed.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration".to_owned()), DURATION_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("message_size".to_owned()), SIZE_BUCKETS)?
        .install_recorder()?;
    grpcx::middleware::metrics::describe();
    Ok(handle)
}

/// The user service, with server metrics for its methods.
pub fn server(config: Config) -> Server<Stack<ServerMetricsLayer, Identity>> {
    Server::builder()
        .layer(ServerMetricsLayer::new().service(&USER_SERVICE_DESCRIPTOR))
        .add_service(UserServiceServer::new(Users::new(config)))
}

/// A user client of the server at `target` (`http://127.0.0.1:50051`),
/// recording the client metrics.
///
/// # Errors
///
/// `target` is not a valid URI.
pub fn client(
    target: &str,
) -> Result<UserServiceClient<impl grpcx::client::ClientService>, grpcx::Error> {
    let channel = grpcx::Endpoint::new(target.to_owned())?.connect_lazy();
    let config = channel.config();
    let service = tower::ServiceBuilder::new()
        .layer(ClientCallMetricsLayer::new(target))
        .layer(RetryLayer::default())
        .layer(ClientAttemptMetricsLayer::new(target))
        .service(channel);
    Ok(UserServiceClient::new(service).with_config(config))
}

/// Answers `GET /metrics` on `listener` with `handle`'s metrics in
/// Prometheus' text format (anything else gets a 404), one request per
/// connection, until `signal` completes.
///
/// # Errors
///
/// Accepting a connection failed.
pub async fn serve_metrics(
    listener: TcpListener,
    handle: PrometheusHandle,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut signal => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(stream, &handle).await {
                tracing::debug!(%err, "a metrics request failed");
            }
        });
    }
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let (status, content_type, body) = if head.starts_with(b"GET /metrics ") {
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            handle.render(),
        )
    } else {
        ("404 Not Found", "text/plain", "not found\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
