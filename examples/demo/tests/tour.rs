//! The demo's tour, run in-process: every row ends with the code and the
//! origin it demonstrates, and no server status leaks internals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use grpcx::{Code, Origin};

/// Every row of the tour, in order: call, code, origin.
const EXPECTED: &[(&str, Code, Option<Origin>)] = &[
    ("users.CreateUser ada", Code::Ok, None),
    (
        "users.CreateUser '' bad-email",
        Code::InvalidArgument,
        Some(Origin::Peer),
    ),
    (
        "users.CreateUser alice",
        Code::AlreadyExists,
        Some(Origin::Peer),
    ),
    (
        "users.CreateUser, quota used",
        Code::ResourceExhausted,
        Some(Origin::Peer),
    ),
    (
        "users.CreateUser, database down",
        Code::Internal,
        Some(Origin::Peer),
    ),
    (
        "users.GetUsers, no token",
        Code::Unauthenticated,
        Some(Origin::Peer),
    ),
    (
        "users.GetUsers, guest token",
        Code::PermissionDenied,
        Some(Origin::Peer),
    ),
    ("users.GetUsers, admin token", Code::Ok, None),
    (
        "users.GetUsers, offset 99",
        Code::OutOfRange,
        Some(Origin::Peer),
    ),
    ("users.StreamActivity", Code::DataLoss, Some(Origin::Peer)),
    (
        "users.ProcessTransaction, stale version",
        Code::Aborted,
        Some(Origin::Peer),
    ),
    (
        "users.ProcessTransaction, amount 0",
        Code::InvalidArgument,
        Some(Origin::Peer),
    ),
    (
        "users.ProcessTransaction, overdraft",
        Code::FailedPrecondition,
        Some(Origin::Peer),
    ),
    (
        "users.ProcessTransaction, no such account",
        Code::NotFound,
        Some(Origin::Peer),
    ),
    ("users.ProcessTransaction alice pays bob 10", Code::Ok, None),
    ("products.GetProduct p-1", Code::Ok, None),
    (
        "products.GetProduct p-9 (advice)",
        Code::NotFound,
        Some(Origin::Peer),
    ),
    (
        "products.GetProduct p-down",
        Code::Unavailable,
        Some(Origin::Peer),
    ),
    (
        "products.CreateProduct, price -5",
        Code::InvalidArgument,
        Some(Origin::Peer),
    ),
    ("HTTP GET /products/p-9", Code::NotFound, Some(Origin::Peer)),
    (
        "HTTP GET /products/p-1, service down",
        Code::Unavailable,
        Some(Origin::Peer),
    ),
    ("chaos.Panic", Code::Internal, Some(Origin::Peer)),
    (
        "chaos.Sleep 2 s, deadline 150 ms",
        Code::DeadlineExceeded,
        Some(Origin::Deadline),
    ),
    (
        "chaos.Ticks, Streaming::cancel",
        Code::Cancelled,
        Some(Origin::Cancelled),
    ),
    (
        "chaos.Sleep (blocking), CallHandle::cancel",
        Code::Cancelled,
        Some(Origin::Cancelled),
    ),
    (
        "users.GetUsers, nothing listening",
        Code::Unavailable,
        Some(Origin::Transport),
    ),
    (
        "chaos.Panic, on the users server",
        Code::Unimplemented,
        Some(Origin::Peer),
    ),
    ("health.Check example.users.v1.UserService", Code::Ok, None),
    (
        "health.Check no.such.Service",
        Code::NotFound,
        Some(Origin::Peer),
    ),
    ("reflection.ListServices", Code::Ok, None),
    ("chaos.Flaky, 2 x UNAVAILABLE, retried", Code::Ok, None),
    (
        "chaos.Flaky, pushback: stop retrying",
        Code::Unavailable,
        Some(Origin::Peer),
    ),
    ("chaos.Race, hedged after 50 ms", Code::Ok, None),
    (
        "chaos.Flaky x3, breaker opens at 2",
        Code::Unavailable,
        Some(Origin::Application),
    ),
    (
        "chaos.Sleep, no token (interceptor)",
        Code::Unauthenticated,
        Some(Origin::Peer),
    ),
    ("chaos.Sleep, token (interceptor)", Code::Ok, None),
];

// One test, so that one tour runs at a time: the deadline row races the
// server's own deadline, and a second tour in parallel would load the
// machine for nothing.
//
// The tour is one long async function; unoptimised, its poll frames
// outgrow the 2 MiB of a test thread, so it runs on a thread with the
// main thread's 8 MiB, as `cargo run -p grpcx-demo` does.
#[test]
fn every_row_ends_with_its_code_and_origin() {
    const STACK: usize = 8 * 1024 * 1024;
    let rows = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_stack_size(STACK)
                .enable_all()
                .build()
                .unwrap()
                .block_on(grpcx_demo::run())
                .unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|row| (row.call.as_str(), row.code, row.origin))
        .collect();
    assert_eq!(got, EXPECTED);
    for row in &rows {
        assert!(row.passed(), "{row:?}");
        assert_eq!(row.leaked, None, "{row:?}");
    }

    // Every code but UNKNOWN is shown.
    let codes: HashSet<Code> = rows.iter().map(|row| row.code).collect();
    for code in (0..=16).map(Code::from_i32) {
        assert_eq!(codes.contains(&code), code != Code::Unknown, "{code}");
    }

    let row = |call: &str| rows.iter().find(|row| row.call == call).unwrap();
    // A panic reaches the client as the generic INTERNAL with the
    // correlation id the server logged it with, nothing more.
    let panic = row("chaos.Panic");
    let id = panic
        .message
        .strip_prefix("internal server error; request id: ")
        .expect("a redacted message with a request id");
    assert_eq!(panic.details, format!("RequestInfo({id})"));
    // So does a database failure.
    assert_eq!(
        row("users.CreateUser, database down").message,
        "internal server error"
    );
    // The middleware rows: a retry that got through, a pushback obeyed at
    // once, a hedge that won, a breaker that failed a call fast.
    assert_eq!(
        row("chaos.Flaky, 2 x UNAVAILABLE, retried").message,
        "answered on attempt 3 (grpc-previous-rpc-attempts: 2)"
    );
    assert_eq!(
        row("chaos.Flaky, pushback: stop retrying").details,
        "pushback: stop, 1 attempt(s)"
    );
    assert!(
        row("chaos.Race, hedged after 50 ms")
            .message
            .starts_with("won by attempt")
    );
    assert!(
        row("chaos.Flaky x3, breaker opens at 2")
            .details
            .starts_with("ErrorInfo(CIRCUIT_OPEN@grpcx {breaker=chaos, retryAfterMs="),
        "{:?}",
        row("chaos.Flaky x3, breaker opens at 2")
    );
    assert_eq!(
        row("chaos.Sleep, no token (interceptor)").details,
        "ErrorInfo(TOKEN_MISSING@demo.grpcx.dev)"
    );
    // Rich details, compactly.
    assert_eq!(
        row("users.CreateUser '' bad-email").details,
        "BadRequest[username: is required; email: is not an email address]"
    );
    assert_eq!(
        row("users.CreateUser, quota used").details,
        "QuotaFailure[client:web-1: 1 user creations per 30s] RetryInfo(30s)"
    );
    assert_eq!(
        row("HTTP GET /products/p-9").details,
        "ErrorInfo(PRODUCT_NOT_FOUND@products.example.com {productId=p-9})"
    );
    assert_eq!(
        row("users.GetUsers, no token").details,
        "ErrorInfo(CREDENTIALS_MISSING@users.example.com) +www-authenticate"
    );
    // Reflection lists every service of the users server, itself included.
    assert_eq!(
        row("reflection.ListServices").message,
        "example.users.v1.UserService, grpc.health.v1.Health, \
         grpc.reflection.v1.ServerReflection, grpc.reflection.v1alpha.ServerReflection"
    );
    // The failed transactions were all rolled back before this one.
    assert_eq!(
        row("users.ProcessTransaction alice pays bob 10").message,
        "alice 90 (v2), bob 60 (v2)"
    );

    assert_table_is_aligned(&rows);
}

fn assert_table_is_aligned(rows: &[grpcx_demo::Row]) {
    let table = grpcx_demo::render(rows);
    let lines: Vec<&str> = table.lines().collect();
    // A header, a rule, one line per row.
    assert_eq!(lines.len(), rows.len() + 2);
    let column = |line: &str, text: &str| {
        let at = line.find(text).unwrap();
        line[..at].chars().count()
    };
    let code_column = column(lines[0], "code");
    let origin_column = column(lines[0], "origin");
    for (line, row) in lines[2..].iter().zip(rows) {
        assert!(line.starts_with('✓'), "{line}");
        assert_eq!(column(line, row.code.as_str()), code_column, "{line}");
        let origin = row.origin.map_or("-", |origin| origin.as_str());
        let after_code: String = line.chars().skip(origin_column).collect();
        assert!(after_code.starts_with(origin), "{line}");
    }
}
