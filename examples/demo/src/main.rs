//! `cargo run -p grpcx-demo`: a tour of every error kind of grpcx.
//!
//! Starts the example servers in this process on free loopback ports,
//! makes one call per kind of outcome, and prints a table of how each
//! ended: code, message, typed details, origin, time. Then it prints what
//! the servers logged, which no client ever saw. It exits with 0 only when
//! every call ended with the code and origin expected.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

/// The name of the runtime's threads, where the servers' handlers run.
const WORKER_THREAD: &str = "grpcx-demo-worker";

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(WORKER_THREAD)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(demo()),
        Err(err) => {
            eprintln!("grpcx-demo: could not start a runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> ExitCode {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_target(false)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init();
    quiet_contained_panics();

    println!("grpcx demo: every kind of error, end to end");
    println!(
        "(user and product services, a REST gateway and a chaos service, on 127.0.0.1 in this process)\n"
    );
    let rows = match grpcx_demo::run().await {
        Ok(rows) => rows,
        Err(err) => {
            eprintln!("grpcx-demo: could not start the servers: {err}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", grpcx_demo::render(&rows));

    let logged = logs.text();
    if !logged.is_empty() {
        println!("\nWhat the servers logged, and no client saw:");
        for line in logged.lines() {
            println!("  {line}");
        }
    }

    let failed: Vec<_> = rows.iter().filter(|row| !row.passed()).collect();
    if failed.is_empty() {
        println!("\n{} calls, each ended as expected.", rows.len());
        return ExitCode::SUCCESS;
    }
    println!(
        "\n{} of {} calls did not end as expected:",
        failed.len(),
        rows.len()
    );
    for row in failed {
        let origin = |origin: Option<grpcx::Origin>| origin.map_or("-", |o| o.as_str());
        println!(
            "  {}: expected {} ({}), got {} ({}){}",
            row.call,
            row.expected_code,
            origin(row.expected_origin),
            row.code,
            origin(row.origin),
            row.leaked
                .map(|secret| format!(", and the status leaked {secret:?}"))
                .unwrap_or_default()
        );
    }
    ExitCode::FAILURE
}

/// Where the demo's log lines go until the table is printed.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// grpcx contains a handler's panic (the client gets INTERNAL) and logs
/// it; the default hook would print it again on stderr, with a backtrace.
/// Panics on the runtime's threads, where handlers run, are left to that
/// log; any other panic is reported as usual.
fn quiet_contained_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(WORKER_THREAD) {
            default(info);
        }
    }));
}
