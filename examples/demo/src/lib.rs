//! The grpcx demo: a tour of every error kind, end to end, in one process.
//!
//! [`run`] starts the example servers on free loopback ports (the user
//! service, the product service and its REST gateway, and the demo-only
//! [`ChaosService`]), makes one call per kind of outcome, and returns one
//! [`Row`] per call: the code it ended with, the message, the typed
//! details, where the status came from, how long it took, and what was
//! expected. [`render`] makes the table `cargo run -p grpcx-demo` prints.
//!
//! Every failure here is checked twice: it must have the expected code
//! and origin, and a status that came from a server must carry none of the
//! internals the servers only log (database hosts, a panic's text).

mod cases;
mod chaos;
mod layers;
mod servers;
mod table;

use std::time::Duration;

use grpcx::{Code, Origin};

pub use chaos::{ChaosService, PANIC_MESSAGE};
pub use table::{compact_details, render};

/// The code generated from `chaos.proto`.
pub mod pb {
    grpcx::include_proto!("grpcx.demo.v1");
}

/// The error of [`run`]: a server could not start.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One call of the tour, and how it ended.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was called, and how.
    pub call: String,
    /// The code the call ended with (`OK` for a success).
    pub code: Code,
    /// The status's message, or a summary of the response.
    pub message: String,
    /// The status's details and trailers, compactly; empty for none.
    pub details: String,
    /// Where the status was made; `None` for a success.
    pub origin: Option<Origin>,
    /// How long the call took.
    pub elapsed: Duration,
    /// The code the call should end with.
    pub expected_code: Code,
    /// The origin the status should have; `None` for a success.
    pub expected_origin: Option<Origin>,
    /// A piece of server internals found in a status from a server, which
    /// must never happen.
    pub leaked: Option<&'static str>,
}

impl Row {
    /// Whether the call ended as expected, leaking nothing.
    pub fn passed(&self) -> bool {
        self.code == self.expected_code
            && self.origin == self.expected_origin
            && self.leaked.is_none()
    }
}

/// Starts the servers, makes every call of the tour, stops the servers.
///
/// # Errors
///
/// A server could not be started (no free port, say). The calls' own
/// failures are rows, not errors.
pub async fn run() -> Result<Vec<Row>, Error> {
    let servers = servers::Servers::start().await?;
    let rows = cases::all(&servers).await;
    // Dropping the servers stops them.
    drop(servers);
    rows
}
