//! Every interop case of our client against our `TestService`, in process on
//! loopback: one test per case, each with its own server. Both sides are
//! generated code, so this is also the codegen's end-to-end interop test.

// The helpers below run only inside tests, where failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use grpcx::{Endpoint, Server};
use grpcx_interop::client::{ALL_CASES, run_case};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long one case may take before the test fails instead of hanging.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to shut down once the case is over.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                check(stringify!($name)).await;
            }
        )*

        /// The cases that have a test here.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

cases! {
    empty_unary,
    large_unary,
    client_compressed_unary,
    server_compressed_unary,
    client_streaming,
    client_compressed_streaming,
    server_streaming,
    server_compressed_streaming,
    ping_pong,
    empty_stream,
    cancel_after_begin,
    cancel_after_first_response,
    timeout_on_sleeping_server,
    custom_metadata,
    status_code_and_message,
    special_status_message,
    unimplemented_method,
    unimplemented_service,
}

#[test]
fn every_case_has_a_test() {
    assert_eq!(TESTED, ALL_CASES);
}

#[tokio::test]
async fn an_unknown_case_fails() {
    let endpoint = Endpoint::new("http://127.0.0.1:1").unwrap();
    let err = run_case("no_such_case", &endpoint).await.unwrap_err();
    assert_eq!(err.message(), "unknown test case \"no_such_case\"");
}

/// Runs `case` against a fresh server and asserts that it passes and that
/// the server then shuts down cleanly.
async fn check(case: &str) {
    let server = TestServer::start().await;
    let result = tokio::time::timeout(CASE_TIMEOUT, run_case(case, &server.endpoint)).await;
    server.stop().await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!("{case} failed: {err}"),
        Err(_) => panic!("{case} did not finish within {CASE_TIMEOUT:?}"),
    }
}

struct TestServer {
    endpoint: Endpoint,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), grpcx::Error>>,
}

impl TestServer {
    async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(
            Server::builder()
                .drain_timeout(Duration::from_secs(5))
                .add_service(grpcx_interop::server::service())
                .serve_with_shutdown(listener, async {
                    let _ = signal.await;
                }),
        );
        let endpoint = Endpoint::new(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        TestServer {
            endpoint,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        let served = tokio::time::timeout(SHUTDOWN_TIMEOUT, self.task)
            .await
            .expect("the server did not shut down in time")
            .expect("the server task panicked");
        served.expect("the server failed");
    }
}
