//! gRPC interop programs for grpcx: `interop-server` and `interop-client`
//! follow the command-line convention and behaviour of gRPC's own interop
//! programs (`doc/interop-test-descriptions.md`), so any gRPC
//! implementation's client or server can be paired with ours.
//!
//! The service glue here is written by hand against grpcx-transport's
//! runtime types, as generated code will be.

pub mod client;
pub mod server;

/// The messages of `grpc/testing/{messages,empty,test}.proto`.
pub mod pb {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
}

/// The encoded `FileDescriptorSet` of `grpc/testing/*.proto`, for the
/// server's reflection service (the service glue here is hand-written, so
/// it has no generated descriptor set).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/grpc_testing_descriptor_set.bin"));

/// Sets up logging to stderr, filtered by `RUST_LOG` (warnings by default).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
