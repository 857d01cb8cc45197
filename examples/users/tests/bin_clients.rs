//! The `users-client` and `users-blocking-client` binaries walk every case
//! against a real server, and check each outcome themselves: they must exit
//! successfully, twice in a row against the same server.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Command, Output};

use support::TestServer;

async fn run(bin: &'static str, port: u16) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["--port", &port.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn assert_success(name: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

#[tokio::test]
async fn the_client_binaries_walk_every_case() {
    let server = TestServer::start().await;
    let port = server.addr.port();
    for _ in 0..2 {
        let output = run(env!("CARGO_BIN_EXE_users-client"), port).await;
        assert_success("users-client", &output);
        let stdout = String::from_utf8_lossy(&output.stdout);
        // What a user sees: the server's details, never its internals.
        assert!(
            stdout.contains(
                "please fix the form: username: is required; email: is not an email address"
            ),
            "{stdout}"
        );
        assert!(stdout.contains("try again in 60s"), "{stdout}");
        assert!(!stdout.contains("db-primary"), "{stdout}");

        let output = run(env!("CARGO_BIN_EXE_users-blocking-client"), port).await;
        assert_success("users-blocking-client", &output);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_without_a_server_fails_cleanly() {
    // A port where nothing listens.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = run(env!("CARGO_BIN_EXE_users-client"), port).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("users-client: UNAVAILABLE"), "{stderr}");
}
