//! Compiles `proto/grpc/reflection/{v1,v1alpha}/reflection.proto` with
//! grpcx-codegen (no protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    grpcx_codegen::configure().compile(
        &[
            "grpc/reflection/v1/reflection.proto",
            "grpc/reflection/v1alpha/reflection.proto",
        ],
        &[root],
    )?;
    Ok(())
}
