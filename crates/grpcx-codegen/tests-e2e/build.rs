//! Generates the code of the test protos with grpcx-codegen, as a user's
//! build script would.

fn main() -> Result<(), grpcx_codegen::Error> {
    // The test protos leave most messages undocumented; the service code
    // must be documented regardless, which `missing_docs` checks.
    let builder = grpcx_codegen::configure()
        .build_blocking(BLOCKING)
        .type_attribute(".", "#[allow(missing_docs)]");
    // The weird shapes: keywords, every kind of call, two packages, two
    // services in a file, well-known and google.rpc types.
    builder
        .clone()
        .compile(&["weird/shapes.proto"], &["../tests/protos"])?;
    // A file without a package.
    builder
        .clone()
        .compile(&["../tests/protos/nopackage.proto"], &["../tests/protos"])?;
    // The interop TestService.
    builder.compile(&["grpc/testing/test.proto"], &["../../../proto"])
}

/// Whether to generate and test the blocking API too.
const BLOCKING: bool = true;
