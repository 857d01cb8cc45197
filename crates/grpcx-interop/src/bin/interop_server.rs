//! `interop-server --port N [--host H]`: gRPC's interop test server.

use std::process::ExitCode;

use grpcx::Server;
use grpcx::reflection::ServerExt as _;

fn usage() -> ExitCode {
    eprintln!("usage: interop-server --port N [--host 127.0.0.1] [--use_tls false]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    grpcx_interop::init_tracing();
    let mut port: Option<u16> = None;
    let mut host = "127.0.0.1".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match key.as_str() {
            "--port" => match value().and_then(|v| v.parse().ok()) {
                Some(p) => port = Some(p),
                None => return usage(),
            },
            "--host" => match value() {
                Some(h) => host = h,
                None => return usage(),
            },
            "--use_tls" => {
                if value().is_some_and(|v| v == "true") {
                    eprintln!("interop-server: TLS is not supported yet");
                    return ExitCode::from(2);
                }
            }
            _ => return usage(),
        }
    }
    let Some(port) = port else {
        return usage();
    };
    let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("interop-server: cannot listen on {host}:{port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(_) => println!("listening on {host}:{port}"),
    }
    // Health and reflection, for grpcio's reflection and health clients
    // (tests/interop/reflection_check.py).
    let (health, reporter) = grpcx::health::service();
    reporter.set_serving("grpc.testing.TestService");
    let server = Server::builder()
        .drain_timeout(std::time::Duration::from_secs(5))
        .add_service(grpcx_interop::server::service())
        .add_service(health)
        .add_reflection()
        .on_shutdown(reporter.shutdown_hook());
    match server
        .serve_with_shutdown(listener, grpcx::server::shutdown_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("interop-server: {err}");
            ExitCode::FAILURE
        }
    }
}
