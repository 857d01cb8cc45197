//! What a build script sees when generation fails: one clear line per
//! problem, with the place in the `.proto` file when there is one.

// `check` is a test helper: failing loudly is the point.
#![allow(clippy::expect_used)]

use std::path::PathBuf;

use grpcx_codegen::Error;

fn protos() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/protos")
}

fn check(proto: &str) -> Error {
    grpcx_codegen::configure()
        .generate(&[proto], &[protos()])
        .expect_err("generation should fail")
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let err = check("errors/syntax.proto");
    assert_eq!(
        err.to_string(),
        "errors/syntax.proto:7:3: expected ';' or '[', but found 'int32'"
    );
    let Error::Proto {
        file, line, column, ..
    } = &err
    else {
        panic!("not a proto error: {err:?}");
    };
    assert_eq!(file.as_deref(), Some("errors/syntax.proto"));
    assert_eq!((*line, *column), (Some(7), Some(3)));
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_missing_file_is_named() {
    let err = check("errors/missing.proto");
    assert_eq!(
        err.to_string(),
        "errors/missing.proto: file not found, in the current directory or under an include directory"
    );
}

#[test]
fn methods_that_collide_after_snake_case_are_reported() {
    let err = check("errors/method_collision.proto");
    assert!(matches!(err, Error::Names { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the client method of method `collide.Methods.get_thing` and the client method of \
         method `collide.Methods.GetThing` would both be named `get_thing` in the generated \
         code of service `collide.Methods`; rename one of them"
    );
}

#[test]
fn a_bidi_method_and_its_with_variant_may_not_collide() {
    let err = check("errors/suffix_collision.proto");
    assert!(
        err.to_string().contains("would both be named `talk_with`"),
        "{err}"
    );
}

#[test]
fn a_generated_type_may_not_collide_with_a_message() {
    let err = check("errors/message_collision.proto");
    assert_eq!(
        err.to_string(),
        "the client of service `collide.Greeter` and message `collide.GreeterClient` would both \
         be named `GreeterClient` in the module of package `collide`; rename one of them"
    );
}

#[test]
fn a_collision_is_ignored_when_its_side_is_not_generated_by_us() {
    // The client is generated, but the message is extern: no collision.
    let files = grpcx_codegen::configure()
        .extern_path(".collide.GreeterClient", "::other::GreeterClient")
        .generate(&["errors/message_collision.proto"], &[protos()])
        .unwrap();
    assert!(files[0].code.contains("pub struct GreeterClient"));
}

#[test]
fn invalid_attributes_are_refused() {
    let err = grpcx_codegen::configure()
        .message_attribute(".", "derive(Hash)")
        .generate(&["nopackage.proto"], &[protos()])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid attribute \"derive(Hash)\" for \".\": expected `#[...]`"
    );
}

#[test]
fn compile_writes_one_file_per_package() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile_writes");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    grpcx_codegen::configure()
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .include_file("all.rs")
        .compile(&["weird/shapes.proto"], &[protos()])
        .unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["all.rs", "weird.common.rs", "weird.nested.pkg.rs"]);
    let all = std::fs::read_to_string(out.join("all.rs")).unwrap();
    assert!(all.contains("pub mod nested {"), "{all}");
}

#[test]
fn compile_needs_an_output_directory_outside_build_scripts() {
    let result = grpcx_codegen::configure()
        .emit_rerun_if_changed(false)
        .compile(&["nopackage.proto"], &[protos()]);
    if std::env::var_os("OUT_DIR").is_none() {
        assert!(matches!(result, Err(Error::NoOutDir)), "{result:?}");
    }
}
