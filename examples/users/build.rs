//! Generates the messages, the async and blocking clients and the server
//! traits of `proto/example/users/v1/users.proto`, with no `protoc`.

fn main() -> Result<(), grpcx_codegen::Error> {
    grpcx_codegen::configure()
        .build_blocking(true)
        .compile(&["proto/example/users/v1/users.proto"], &["proto"])
}
