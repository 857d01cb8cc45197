//! Compiles `proto/grpc/health/v1/health.proto` with grpcx-codegen (no
//! protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    grpcx_codegen::configure().compile(&["grpc/health/v1/health.proto"], &[root])?;
    Ok(())
}
