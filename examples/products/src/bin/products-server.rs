//! Serves the product service (gRPC) on 127.0.0.1 until Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run -p grpcx-example-products --bin products-server -- [--port 50052]
//! ```

use std::process::ExitCode;

use grpcx::server::shutdown_signal;
use grpcx_example_products::{DEFAULT_PORT, ports_from_args, serve_with_shutdown};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("products-server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = DEFAULT_PORT;
    ports_from_args(std::env::args().skip(1), &mut [("--port", &mut port)])?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("product service listening on {}", listener.local_addr()?);
    serve_with_shutdown(listener, shutdown_signal()).await?;
    Ok(())
}
