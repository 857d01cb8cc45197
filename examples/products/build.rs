//! Generates the messages, the client and the server trait of
//! `proto/example/products/v1/products.proto`, with no `protoc`.

fn main() -> Result<(), grpcx_codegen::Error> {
    grpcx_codegen::compile_protos("proto/example/products/v1/products.proto")
}
