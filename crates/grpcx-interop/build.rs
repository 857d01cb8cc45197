//! Generates the interop `TestService` with grpcx-codegen, as a user's
//! build script would (no protoc needed).

fn main() -> Result<(), grpcx_codegen::Error> {
    grpcx_codegen::configure().compile(&["grpc/testing/test.proto"], &["../../proto"])
}
