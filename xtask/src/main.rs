//! grpcx's developer tasks, run as `cargo xtask <task>` (see `help`).
//!
//! Only cargo is needed: no protoc, no shell scripts. Each task prints the
//! commands it runs, and `ci` stops at the first one that fails.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod codegen;
mod interop;

const HELP: &str = "\
cargo xtask <task>

tasks:
  ci               everything CI checks: fmt, lint, codegen --check, doc, the demo,
                   interop, test
  fmt              cargo fmt --check over the workspace
  lint             cargo clippy --workspace --all-targets --all-features -D warnings
  test             every test of the workspace (unit, integration, doc)
  doc              cargo doc --no-deps with warnings denied
  codegen          regenerate the committed code of our own .proto files
  codegen --check  fail when the committed generated code is stale
  interop          gRPC's interop suite both ways against the grpcio peer in
                   tests/interop (needs python3 and, the first time, PyPI)
  fuzz [--seconds N] [ARGS]
                   every fuzz target for N seconds each (default 10); ARGS go
                   to the fuzzer (--target NAME, --seed S, --input FILE)
";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["ci"] => ci(),
        ["fmt"] => fmt(),
        ["lint"] => lint(),
        ["test"] => test(),
        ["doc"] => doc(),
        ["codegen"] => codegen::run(&root(), false),
        ["codegen", "--check"] => codegen::run(&root(), true),
        ["interop"] => interop::run(&root()),
        ["fuzz", args @ ..] => fuzz(args),
        [] | ["help"] | ["--help"] | ["-h"] => {
            print!("{HELP}");
            Ok(())
        }
        _ => Err(format!("unknown task {args:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result {
    fmt()?;
    lint()?;
    codegen::run(&root(), true)?;
    doc()?;
    // The README's first command: a tour of every error kind, which exits
    // non-zero when a call does not end as expected.
    cargo(&["run", "-q", "-p", "grpcx-demo"], &[])?;
    interop::run(&root())?;
    // A smoke run: one second per target, to catch what the seeds and
    // mutation find at once; longer runs are `cargo xtask fuzz`.
    fuzz(&["--seconds", "1"])?;
    // Last, so that the run ends with the test runner's summary.
    test()
}

fn fmt() -> Result {
    cargo(&["fmt", "--all", "--", "--check"], &[])
}

fn lint() -> Result {
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )
}

fn doc() -> Result {
    cargo(
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

fn test() -> Result {
    cargo(
        &["test", "--workspace", "--all-features", "--no-fail-fast"],
        &[],
    )
}

/// Runs the fuzzer (`fuzz/`) in its own profile: optimized, with overflow
/// checks and debug assertions.
fn fuzz(args: &[&str]) -> Result {
    let mut command = vec!["run", "-q", "--profile", "fuzz", "-p", "grpcx-fuzz", "--"];
    command.extend_from_slice(args);
    cargo(&command, &[])
}

/// Runs cargo from the workspace root, echoing the command.
fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(Command::new(cargo).args(args).envs(envs.iter().copied()))
}

fn run(cmd: &mut Command) -> Result {
    cmd.current_dir(root());
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|err| format!("could not run `{}`: {err}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {status}", describe(cmd)))
    }
}

fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// The workspace root: the parent of this crate's directory.
fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
