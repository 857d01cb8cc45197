//! gRPC interop programs for grpcx: `interop-server` and `interop-client`
//! follow the command-line convention and behaviour of gRPC's own interop
//! programs (`doc/interop-test-descriptions.md`), so any gRPC
//! implementation's client or server can be paired with ours.
//!
//! Everything here is built as a user would build it: the build script
//! generates `grpc.testing` with grpcx-codegen, [`server::InteropTestService`]
//! implements the generated `TestService` trait, and the cases in
//! [`client`] call through the generated `TestServiceClient`. The codegen
//! end-to-end tests run this same implementation.

pub mod client;
pub mod server;

/// The code generated from `grpc/testing/{test,messages,empty}.proto`: the
/// messages, `TestServiceClient`, `UnimplementedServiceClient` (and their
/// blocking twins), the `TestService` trait and `TestServiceServer`, and
/// `FILE_DESCRIPTOR_SET` for reflection.
pub mod pb {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    grpcx::include_proto!("grpc.testing");
}

/// Sets up logging to stderr, filtered by `RUST_LOG` (warnings by default).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
