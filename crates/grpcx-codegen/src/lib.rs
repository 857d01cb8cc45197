//! Code generation for grpcx (not yet built).
//!
//! This crate will be used from `build.rs`: it compiles `.proto` files with a
//! pure-Rust protobuf compiler (no `protoc` needed) and emits, through
//! prost-build, the messages plus async and blocking client stubs and server
//! traits. Generated code names only `grpcx::codegen`, a `#[doc(hidden)]`
//! module of the facade, so it stays thin and stable.
