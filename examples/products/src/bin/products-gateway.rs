//! Serves the REST gateway (HTTP/1.1, JSON) on 127.0.0.1 until Ctrl-C or SIGTERM, in
//! front of the gRPC product service.
//!
//! ```text
//! cargo run -p grpcx-example-products --bin products-server              # one terminal
//! cargo run -p grpcx-example-products --bin products-gateway -- [--port 8080] [--grpc-port 50052]
//! curl -i localhost:8080/products/p-1      # 200 and the product
//! curl -i localhost:8080/products/p-9      # 404 and an ErrorInfo
//! curl -i localhost:8080/products -d '{"name": "Mug", "priceCents": -5}'   # 400 and a BadRequest
//! curl -i localhost:8080/products/p-down   # 503 and a RetryInfo (and Retry-After)
//! ```
//!
//! With the product service stopped, every call answers 503.

use std::process::ExitCode;
use std::time::Duration;

use grpcx::Endpoint;
use grpcx::server::shutdown_signal;
use grpcx_example_products::{DEFAULT_GATEWAY_PORT, DEFAULT_PORT, gateway, ports_from_args};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("products-gateway: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut grpc_port) = (DEFAULT_GATEWAY_PORT, DEFAULT_PORT);
    ports_from_args(
        std::env::args().skip(1),
        &mut [("--port", &mut port), ("--grpc-port", &mut grpc_port)],
    )?;
    // Connects on the first request, and again after a failure: the
    // gateway starts, and keeps answering (503), while the service is down.
    let channel = Endpoint::new(format!("http://127.0.0.1:{grpc_port}"))?
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy();
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(
        "gateway listening on http://{}, calling 127.0.0.1:{grpc_port}",
        listener.local_addr()?
    );
    gateway::serve_with_shutdown(listener, channel, shutdown_signal()).await?;
    Ok(())
}
