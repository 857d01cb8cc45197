//! Every target on its seeds and on each input once found failing
//! (`fuzz/regressions/<target>/*`), with memory counted as in the fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use grpcx_fuzz::{TARGETS, alloc};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

// One test, so that no other test allocates while a target is measured.
#[test]
fn every_target_passes_its_seeds_and_regressions() {
    // The counting allocator counts: a 1 MiB buffer shows in the peak.
    let baseline = alloc::start();
    let buffer = vec![1u8; 1 << 20];
    assert!(alloc::peak_since(baseline) >= buffer.len());
    drop(buffer);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut regressions = 0;
    for target in TARGETS {
        for seed in (target.seeds)() {
            (target.run)(&seed);
        }
        let dir = root.join(target.name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            println!("{}: {}", target.name, path.display());
            (target.run)(&data);
            regressions += 1;
        }
    }
    println!("{regressions} regression inputs passed");
}
