//! Generates the demo-only `Chaos` service, with the blocking client (for
//! the `CallHandle::cancel` row).

fn main() -> Result<(), grpcx_codegen::Error> {
    grpcx_codegen::configure()
        .build_blocking(true)
        .compile(&["proto/grpcx/demo/v1/chaos.proto"], &["proto"])
}
