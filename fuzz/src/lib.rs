//! Fuzz targets for everything grpcx parses from a peer, and the engine
//! that runs them on the stable toolchain.
//!
//! Each [`Target`] is a function from bytes to nothing that panics when a
//! property fails: parsing never panics, never takes longer than the
//! fuzzer's per-input time-out, never holds more memory than its limits
//! allow (a decompression bomb is capped; see [`alloc`]), and, where an
//! encoder exists, encoding then parsing gives the value back.
//!
//! The engine (`src/main.rs`, run by `cargo xtask fuzz`) is a mutation
//! fuzzer: a seeded PRNG mutates each target's corpus of valid seeds by
//! bit flips, byte edits, dictionary tokens, insertions, deletions and
//! splices. It is not coverage-guided: libFuzzer (`cargo fuzz`) and the
//! sanitizer coverage it needs are nightly-only, and AFL needs its own
//! toolchain installed (`cargo afl`); this one needs only cargo. Inputs
//! that once failed are kept under `fuzz/regressions/<target>/` and run by
//! `cargo test -p grpcx-fuzz`.

pub mod alloc;
mod targets;

pub use targets::TARGETS;

/// One fuzz target: what it parses, how, and where mutation starts.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The name used on the command line and for the regression folder.
    pub name: &'static str,
    /// Runs one input; panics when a property fails.
    pub run: fn(&[u8]),
    /// Valid inputs that mutation starts from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens that mutation inserts or writes over the input.
    pub dictionary: &'static [&'static [u8]],
}

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
