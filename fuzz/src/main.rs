//! The grpcx fuzzer: runs every target (or one) for a time, mutating each
//! target's seeds with a seeded PRNG; see the crate docs for why this and
//! not libFuzzer. Run it through `cargo xtask fuzz --seconds N`.
//!
//! ```text
//! grpcx-fuzz [--seconds N] [--target NAME] [--seed S] [--timeout-ms MS]
//! grpcx-fuzz --target NAME --input FILE      # replay one input
//! ```
//!
//! A failing input (a panic, or one that runs past the time-out) is saved
//! under `fuzz/artifacts/<target>/`; copy it to `fuzz/regressions/<target>/`
//! to keep it as a test once fixed.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use grpcx_fuzz::{TARGETS, Target, alloc};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// The largest input the mutator makes.
const MAX_LEN: usize = 64 * 1024;
/// How many inputs the corpus keeps (seeds plus kept mutants).
const MAX_CORPUS: usize = 4096;

struct Options {
    seconds: f64,
    target: Option<String>,
    seed: u64,
    timeout: Duration,
    input: Option<PathBuf>,
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("grpcx-fuzz: {err}");
            ExitCode::from(2)
        }
    }
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        seconds: 10.0,
        target: None,
        seed: fastrand::u64(..),
        timeout: Duration::from_secs(2),
        input: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                options.seconds = value()?
                    .parse()
                    .map_err(|err| format!("--seconds: {err}"))?;
            }
            "--target" => options.target = Some(value()?),
            "--seed" => options.seed = value()?.parse().map_err(|err| format!("--seed: {err}"))?,
            "--timeout-ms" => {
                let ms = value()?
                    .parse()
                    .map_err(|err| format!("--timeout-ms: {err}"))?;
                options.timeout = Duration::from_millis(ms);
            }
            "--input" => options.input = Some(PathBuf::from(value()?)),
            "--list" => {
                for target in TARGETS {
                    println!("{}", target.name);
                }
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(options)
}

fn run(options: Options) -> Result<bool, String> {
    let targets: Vec<&'static Target> = match &options.target {
        Some(name) => vec![
            grpcx_fuzz::target(name).ok_or_else(|| format!("no target {name:?}; try --list"))?,
        ],
        None => TARGETS.iter().collect(),
    };
    if let Some(path) = &options.input {
        let data = std::fs::read(path).map_err(|err| format!("{}: {err}", path.display()))?;
        for target in targets {
            (target.run)(&data);
            println!("{}: {} passes", target.name, path.display());
        }
        return Ok(true);
    }
    println!(
        "fuzzing {} target(s) for {}s each, seed {} (replay with --seed {})",
        targets.len(),
        options.seconds,
        options.seed,
        options.seed
    );
    let watchdog = Watchdog::start(options.timeout);
    let mut ok = true;
    for (i, target) in targets.into_iter().enumerate() {
        let seed = options.seed.wrapping_add(i as u64);
        let budget = Duration::from_secs_f64(options.seconds.max(0.0));
        ok &= fuzz(target, seed, budget, &watchdog);
    }
    Ok(ok)
}

/// Runs one target until `budget` is spent or an input fails.
fn fuzz(target: &'static Target, seed: u64, budget: Duration, watchdog: &Watchdog) -> bool {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut corpus = (target.seeds)();
    // Every seed passes first: a failing seed is a bug, not a find.
    corpus.push(Vec::new());
    let seeds = corpus.len();
    let started = Instant::now();
    let mut execs: u64 = 0;
    let mut slowest = Duration::ZERO;
    let mut i = 0;
    loop {
        let input = if i < corpus.len() {
            corpus[i].clone()
        } else {
            if started.elapsed() >= budget {
                break;
            }
            // Half the time from a seed, so that kept mutants do not
            // crowd out the valid inputs.
            let pool = if rng.bool() {
                &corpus[..seeds]
            } else {
                &corpus[..]
            };
            mutant(&mut rng, pool, target.dictionary)
        };
        i += 1;
        watchdog.arm(target.name, &input);
        let began = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        slowest = slowest.max(began.elapsed());
        watchdog.disarm();
        execs += 1;
        if result.is_err() {
            let path = save(target.name, "crash", &input);
            println!(
                "{}: FAILED after {execs} inputs; input saved to {} \
                 (replay: cargo run -p grpcx-fuzz --profile fuzz -- --target {} --input {})",
                target.name,
                path.display(),
                target.name,
                path.display()
            );
            return false;
        }
        if corpus.len() < MAX_CORPUS && rng.u8(..) < 8 {
            corpus.push(input);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: ok, {execs} inputs in {secs:.1}s ({:.0}/s), slowest {slowest:.1?}, corpus {}",
        target.name,
        execs as f64 / secs.max(1e-9),
        corpus.len()
    );
    true
}

/// A mutant of a corpus entry: one to eight random edits.
fn mutant(rng: &mut fastrand::Rng, corpus: &[Vec<u8>], dictionary: &[&[u8]]) -> Vec<u8> {
    if corpus.is_empty() || rng.u8(..) < 8 {
        let len = rng.usize(..256);
        return (0..len).map(|_| rng.u8(..)).collect();
    }
    let mut data = corpus[rng.usize(..corpus.len())].clone();
    for _ in 0..rng.usize(1..=8) {
        mutate(rng, &mut data, corpus, dictionary);
    }
    data.truncate(MAX_LEN);
    data
}

fn mutate(rng: &mut fastrand::Rng, data: &mut Vec<u8>, corpus: &[Vec<u8>], dictionary: &[&[u8]]) {
    const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b'%', b',', b'\n', b':'];
    let at = |rng: &mut fastrand::Rng, len: usize| rng.usize(..=len);
    match rng.u8(..11) {
        // Flip a bit.
        0 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            data[i] ^= 1 << rng.u8(..8);
        }
        // Set a byte to a random or an interesting value.
        1 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            data[i] = rng.u8(..);
        }
        2 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            data[i] = INTERESTING[rng.usize(..INTERESTING.len())];
        }
        // Add or subtract a little (length prefixes, digits).
        3 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            data[i] = data[i].wrapping_add(rng.u8(..8)).wrapping_sub(4);
        }
        // Insert random bytes.
        4 => {
            let i = at(rng, data.len());
            let n = rng.usize(1..=16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            data.splice(i..i, bytes);
        }
        // Delete a range.
        5 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            let n = rng.usize(1..=(data.len() - i).min(64));
            data.drain(i..i + n);
        }
        // Insert or overwrite with a dictionary token.
        6 | 7 if !dictionary.is_empty() => {
            let token = dictionary[rng.usize(..dictionary.len())];
            let i = at(rng, data.len());
            if rng.bool() {
                data.splice(i..i, token.iter().copied());
            } else {
                let end = (i + token.len()).min(data.len());
                data.splice(i..end, token.iter().copied());
            }
        }
        // Duplicate a range (repeated frames, fields, escapes).
        8 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            let n = rng.usize(1..=(data.len() - i).min(256));
            let copy = data[i..i + n].to_vec();
            let j = at(rng, data.len());
            data.splice(j..j, copy);
        }
        // Splice in part of another corpus entry.
        9 if !corpus.is_empty() => {
            let other = &corpus[rng.usize(..corpus.len())];
            if !other.is_empty() {
                let i = rng.usize(..other.len());
                let n = rng.usize(1..=other.len() - i);
                let j = at(rng, data.len());
                let end = if rng.bool() {
                    (j + n).min(data.len())
                } else {
                    j
                };
                data.splice(j..end, other[i..i + n].iter().copied());
            }
        }
        // Truncate.
        _ if !data.is_empty() => {
            let n = rng.usize(..data.len());
            data.truncate(n);
        }
        _ => data.push(rng.u8(..)),
    }
}

/// Saves `input` under `fuzz/artifacts/<target>/` and returns its path.
fn save(target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(target);
    let path = dir.join(format!("{kind}-{:016x}", fnv(input)));
    if let Err(err) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        eprintln!("could not save {}: {err}", path.display());
    }
    path
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Ends the process when one input runs longer than the time-out, after
/// saving it: a hang cannot be caught like a panic.
struct Watchdog {
    current: Arc<Mutex<Option<Running>>>,
}

/// The input being run: when it started, its target, its bytes.
type Running = (Instant, &'static str, Vec<u8>);

impl Watchdog {
    fn start(timeout: Duration) -> Watchdog {
        let current: Arc<Mutex<Option<Running>>> = Arc::default();
        let watched = Arc::clone(&current);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(timeout / 4);
                let guard = watched.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((began, target, input)) = &*guard
                    && began.elapsed() > timeout
                {
                    let path = save(target, "timeout", input);
                    println!(
                        "{target}: FAILED: one input ran over {timeout:?}; saved to {}",
                        path.display()
                    );
                    std::process::exit(1);
                }
            }
        });
        Watchdog { current }
    }

    fn arm(&self, target: &'static str, input: &[u8]) {
        let mut guard = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *guard {
            Some((began, name, saved)) => {
                *began = Instant::now();
                *name = target;
                saved.clear();
                saved.extend_from_slice(input);
            }
            None => *guard = Some((Instant::now(), target, input.to_vec())),
        }
    }

    fn disarm(&self) {
        let mut guard = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((began, _, _)) = &mut *guard {
            // Far in the future: nothing to watch until the next arm.
            *began = Instant::now() + Duration::from_secs(86_400 * 365);
        }
    }
}
