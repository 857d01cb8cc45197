//! Serves the user service with call metrics, and the metrics in
//! Prometheus' text format, on 127.0.0.1 until Ctrl-C.
//!
//! ```text
//! cargo run -p grpcx-example-metrics -- [--port 50051] [--metrics-port 9464]
//! curl http://127.0.0.1:9464/metrics
//! ```

use std::process::ExitCode;

use grpcx_example_metrics::{install_recorder, serve_metrics, server};
use grpcx_example_users::Config;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("metrics-server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (port, metrics_port) = ports(std::env::args().skip(1))?;
    let handle = install_recorder()?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let metrics_listener = TcpListener::bind(("127.0.0.1", metrics_port)).await?;
    tracing::info!("user service on {}", listener.local_addr()?);
    tracing::info!(
        "metrics on http://{}/metrics",
        metrics_listener.local_addr()?
    );
    tokio::spawn(serve_metrics(
        metrics_listener,
        handle,
        std::future::pending(),
    ));
    server(Config::default())
        .serve_with_shutdown(listener, grpcx::server::shutdown_signal())
        .await?;
    Ok(())
}

/// `--port N` and `--metrics-port N`.
fn ports(mut args: impl Iterator<Item = String>) -> Result<(u16, u16), String> {
    let (mut port, mut metrics_port) = (50051, 9464);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--port" => &mut port,
            "--metrics-port" => &mut metrics_port,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: [--port N] [--metrics-port N]"
                ));
            }
        };
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        *slot = value
            .parse()
            .map_err(|_| format!("{arg}: {value:?} is not a port number"))?;
    }
    Ok((port, metrics_port))
}
