//! End-to-end tests of grpcx-codegen: the code generated from
//! `crates/grpcx-codegen/tests/protos` and `proto/grpc/testing`, compiled
//! here as in a user's crate (with this workspace's lints, clippy and
//! `cargo doc -D warnings`), and exercised by the tests in `tests/`.
//!
//! The build script allows `missing_docs` on the messages, which the test
//! protos leave undocumented, and nowhere else: the service code is
//! documented even where the proto is not.

/// `weird/shapes.proto` and what it imports.
pub mod weird {
    /// Package `weird.common`.
    pub mod common {
        grpcx::include_proto!("weird.common");
    }

    /// Package `weird.nested.pkg`, nested in Rust as in protobuf.
    pub mod nested {
        /// Package `weird.nested.pkg`.
        pub mod pkg {
            grpcx::include_proto!("weird.nested.pkg");
        }
    }
}

/// `nopackage.proto`, whose file has no package.
pub mod bare {
    grpcx::include_proto!("_");
}

/// `grpc/testing/test.proto`: the interop `TestService`.
pub mod testing {
    grpcx::include_proto!("grpc.testing");
}
