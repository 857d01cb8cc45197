//! A server process killed mid-stream: the client learns promptly, with
//! UNAVAILABLE, and never hangs.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use grpcx::{Code, Endpoint, Origin, Request};
use grpcx_interop::pb::{ResponseParameters, StreamingOutputCallRequest, TestServiceClient};

/// Kills the child on drop, so a failing test leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_server_killed_mid_stream_gives_unavailable_promptly() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_interop-server"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("interop-server starts"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let addr = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a listening line");
        line.trim()
            .strip_prefix("listening on ")
            .expect("listening on ADDR")
            .to_owned()
    });
    let addr = tokio::time::timeout(Duration::from_secs(60), addr)
        .await
        .expect("the server starts within a minute")
        .expect("the reader thread");

    let client = TestServiceClient::new(
        Endpoint::new(format!("http://{addr}"))
            .unwrap()
            .connect_lazy(),
    );
    // Many responses, 50 ms apart: the stream is surely open when the
    // server dies.
    let request = StreamingOutputCallRequest {
        response_parameters: vec![
            ResponseParameters {
                size: 10,
                interval_us: 50_000,
                ..Default::default()
            };
            1000
        ],
        ..Default::default()
    };
    let response = client
        .streaming_output_call(request)
        .await
        .expect("the call starts");
    let mut stream = response.into_inner();
    let first = stream.message().await.expect("a first message");
    assert!(first.is_some());

    child.0.kill().expect("kill -9 the server");
    let started = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended OK after the server was killed"),
                Err(status) => break status,
            }
        }
    })
    .await
    .expect("the client learns within 20 s");
    assert_eq!(status.code(), Code::Unavailable, "{status:#}");
    assert_eq!(status.origin(), Origin::Transport, "{status:#}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // The next call fails fast with UNAVAILABLE too: nobody listens any more.
    let status = client
        .streaming_output_call(
            Request::new(StreamingOutputCallRequest::default())
                .with_timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:#}");
}
