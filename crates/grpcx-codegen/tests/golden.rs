//! Snapshots of the generated code, under `tests/golden/`.
//!
//! A change to the generator shows up here as a diff to review. After
//! checking it, rewrite the snapshots with
//! `UPDATE_EXPECT=1 cargo test -p grpcx-codegen --test golden`.

// `check` is a test helper: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use expect_test::{ExpectFile, expect_file};
use grpcx_codegen::Builder;

/// Generates `protos` (relative to one of `includes`, themselves relative
/// to this crate) with `builder` and compares every file with `expected`.
fn check(builder: Builder, protos: &[&str], includes: &[&str], expected: ExpectFile) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let includes: Vec<PathBuf> = includes.iter().map(|dir| root.join(dir)).collect();
    let files = builder.generate(protos, &includes).unwrap();
    let mut actual = String::from(
        "// Snapshot of grpcx-codegen's output; see crates/grpcx-codegen/tests/golden.rs.\n",
    );
    for file in files {
        let code = redact_descriptor_set(&file.code);
        write!(actual, "\n// ===== {} =====\n\n{}", file.name, code).unwrap();
    }
    expected.assert_eq(&actual);
}

/// The code with the bytes of `FILE_DESCRIPTOR_SET` replaced by their
/// length: they are binary, and checked by decoding them (see
/// `descriptor_set.rs`).
fn redact_descriptor_set(code: &str) -> String {
    const START: &str = "pub const FILE_DESCRIPTOR_SET: &[u8] = b\"";
    let Some(start) = code.find(START) else {
        return code.to_owned();
    };
    let from = start + START.len();
    let end = from + code[from..].find("\";").unwrap();
    format!(
        "{}<{} bytes of source>{}",
        &code[..from],
        end - from,
        &code[end..]
    )
}

#[test]
fn shapes() {
    check(
        grpcx_codegen::configure().build_blocking(true),
        &["weird/shapes.proto"],
        &["tests/protos"],
        expect_file!["golden/shapes.rs"],
    );
}

#[test]
fn no_package() {
    check(
        grpcx_codegen::configure(),
        &["nopackage.proto"],
        &["tests/protos"],
        expect_file!["golden/nopackage.rs"],
    );
}

#[test]
fn client_only_with_attributes() {
    check(
        grpcx_codegen::configure()
            .build_server(false)
            .build_blocking(true)
            .service_attribute(".", "#[cfg(feature = \"rpc\")]")
            .message_attribute(".Ping", "#[derive(Eq)]"),
        &["nopackage.proto"],
        &["tests/protos"],
        expect_file!["golden/client_only.rs"],
    );
}

#[test]
fn interop_test_service() {
    check(
        grpcx_codegen::configure().build_blocking(true),
        &["grpc/testing/test.proto"],
        &["../../proto"],
        expect_file!["golden/test_service.rs"],
    );
}
