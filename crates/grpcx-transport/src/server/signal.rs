//! [`shutdown_signal`]: the signals that ask a server to stop.

/// Completes when the process is asked to stop: Ctrl-C (SIGINT) or, on
/// Unix, SIGTERM, which is what `kill`, systemd and Kubernetes send. Give
/// it to [`Server::serve_with_shutdown`](crate::Server::serve_with_shutdown)
/// so that the server stops accepting, sends GOAWAY and drains its calls
/// instead of dying with them.
///
/// Called inside a tokio runtime, it takes the signals over at once, so a
/// SIGTERM that arrives before the server starts polling it is not the
/// default (the process dying) but a shutdown; outside a runtime it does
/// so when first polled. A signal whose handler cannot be installed is not
/// waited for; if neither can be, the future never completes.
///
/// ```no_run
/// # async fn run(listener: tokio::net::TcpListener) -> Result<(), grpcx_transport::Error> {
/// use grpcx_transport::Server;
/// use grpcx_transport::server::shutdown_signal;
///
/// Server::builder()
///     .serve_with_shutdown(listener, shutdown_signal())
///     .await
/// # }
/// ```
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    fn install() -> (Option<Signal>, Option<Signal>) {
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    }
    /// The next delivery of `signal`; never, without a handler.
    async fn next(signal: &mut Option<Signal>) -> Option<()> {
        match signal {
            Some(signal) => signal.recv().await,
            None => std::future::pending().await,
        }
    }

    let installed = tokio::runtime::Handle::try_current().is_ok().then(install);
    async move {
        let (mut interrupt, mut terminate) = installed.unwrap_or_else(install);
        tokio::select! {
            Some(()) = next(&mut interrupt) => tracing::info!("interrupted: shutting down"),
            Some(()) = next(&mut terminate) => tracing::info!("SIGTERM: shutting down"),
            else => std::future::pending().await,
        }
    }
}

/// Completes when the process is asked to stop: Ctrl-C. Give it to
/// [`Server::serve_with_shutdown`](crate::Server::serve_with_shutdown) so
/// that the server drains its calls instead of dying with them. If the
/// handler cannot be installed, the future never completes.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("interrupted: shutting down");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sigterm_completes_it() {
        use tokio::signal::unix::{SignalKind, signal};
        use tokio::time::{Duration, Instant, sleep};
        // Installed first, so that from here on a SIGTERM reaches tokio and
        // can never end the test process.
        let _installed = signal(SignalKind::terminate()).unwrap();
        let waiting = tokio::spawn(shutdown_signal());
        let deadline = Instant::now() + Duration::from_secs(20);
        // Signalled until seen: one sent before the task listens is missed.
        while !waiting.is_finished() {
            assert!(Instant::now() < deadline, "SIGTERM was not seen");
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &std::process::id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            sleep(Duration::from_millis(20)).await;
        }
        waiting.await.unwrap();
    }
}
