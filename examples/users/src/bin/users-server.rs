//! Serves the user service on 127.0.0.1 until Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run -p grpcx-example-users --bin users-server -- [--port 50051]
//! ```
//!
//! The server logs what clients never see: the real cause of an internal
//! error, a rolled-back transaction, a corrupt activity record.

use std::process::ExitCode;

use grpcx::server::shutdown_signal;
use grpcx_example_users::{DEFAULT_PORT, port_from_args, serve_with_shutdown};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("users-server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let port = port_from_args(std::env::args().skip(1), DEFAULT_PORT)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    // Taken over before the address is announced: from then on, SIGTERM
    // drains the server.
    let signal = shutdown_signal();
    tracing::info!("user service listening on {}", listener.local_addr()?);
    serve_with_shutdown(listener, signal).await?;
    Ok(())
}
