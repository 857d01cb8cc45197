//! `stream-load --port N --mode client|bidi [--size B] [--count N]
//! [--streams S] [--duration SECS]`: a load driver for the streaming
//! benchmarks, against any `grpc.testing.TestService` server on 127.0.0.1.
//!
//! - `client`: `StreamingInputCall`s of `count` requests of `size` bytes.
//! - `bidi`: `FullDuplexCall`s of `count` requests, each asking for one
//!   response of `size` bytes; requests are sent as fast as the stream
//!   takes them while the responses are read.
//!
//! `streams` calls run at once on one connection, each followed by the
//! next until `duration` is over. Prints what was done: `calls`, `msgs`
//! (request messages for `client`, response messages for `bidi`),
//! `errors`, `msgs/s`, `MB/s`. `../shared/bench/compare.sh` covers
//! server streaming with tonic's `stream-bench`; this covers the other two
//! kinds, for `benches/scripts/stream_instructions.sh`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grpcx::Endpoint;
use grpcx_interop::pb::{
    Payload, ResponseParameters, StreamingInputCallRequest, StreamingOutputCallRequest,
    TestServiceClient,
};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Client,
    Bidi,
}

struct Args {
    port: u16,
    mode: Mode,
    size: usize,
    count: usize,
    streams: usize,
    duration: Duration,
}

fn parse() -> Option<Args> {
    let mut args = Args {
        port: 0,
        mode: Mode::Client,
        size: 1024,
        count: 1000,
        streams: 1,
        duration: Duration::from_secs(4),
    };
    let mut port = None;
    let mut given = std::env::args().skip(1);
    while let Some(key) = given.next() {
        let value = given.next()?;
        match key.as_str() {
            "--port" => port = Some(value.parse().ok()?),
            "--mode" => {
                args.mode = match value.as_str() {
                    "client" => Mode::Client,
                    "bidi" => Mode::Bidi,
                    _ => return None,
                }
            }
            "--size" => args.size = value.parse().ok()?,
            "--count" => args.count = value.parse().ok()?,
            "--streams" => args.streams = value.parse().ok()?,
            "--duration" => args.duration = Duration::from_secs_f64(value.parse().ok()?),
            _ => return None,
        }
    }
    args.port = port?;
    Some(args)
}

#[derive(Default)]
struct Totals {
    calls: AtomicU64,
    msgs: AtomicU64,
    errors: AtomicU64,
}

async fn client_call(client: &TestServiceClient, args: &Args) -> Result<u64, grpcx::Status> {
    let body = vec![0; args.size];
    let requests = (0..args.count).map(move |_| StreamingInputCallRequest {
        payload: Some(Payload {
            r#type: 0,
            body: body.clone(),
        }),
        ..Default::default()
    });
    client.streaming_input_call(requests).await?;
    Ok(args.count as u64)
}

async fn bidi_call(client: &TestServiceClient, args: &Args) -> Result<u64, grpcx::Status> {
    let (sender, mut responses) = client.full_duplex_call();
    let (count, size) = (args.count, args.size);
    let send = tokio::spawn(async move {
        let request = StreamingOutputCallRequest {
            response_parameters: vec![ResponseParameters {
                size: i32::try_from(size).unwrap_or(i32::MAX),
                ..Default::default()
            }],
            ..Default::default()
        };
        for _ in 0..count {
            if sender.send(request.clone()).await.is_err() {
                break;
            }
        }
    });
    let mut received = 0;
    while responses.message().await?.is_some() {
        received += 1;
    }
    let _ = send.await;
    Ok(received)
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(args) = parse() else {
        eprintln!(
            "usage: stream-load --port N --mode client|bidi [--size B] [--count N] [--streams S] [--duration SECS]"
        );
        return ExitCode::from(2);
    };
    let channel = match Endpoint::new(format!("http://127.0.0.1:{}", args.port)) {
        Ok(endpoint) => endpoint.connect_lazy(),
        Err(err) => {
            eprintln!("stream-load: {err}");
            return ExitCode::from(2);
        }
    };
    let client = TestServiceClient::new(channel);
    let args = Arc::new(args);
    let totals = Arc::new(Totals::default());
    let start = Instant::now();
    let end = start + args.duration;
    let workers: Vec<_> = (0..args.streams)
        .map(|_| {
            let (client, args, totals) = (client.clone(), args.clone(), totals.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let done = match args.mode {
                        Mode::Client => client_call(&client, &args).await,
                        Mode::Bidi => bidi_call(&client, &args).await,
                    };
                    match done {
                        Ok(msgs) => {
                            totals.calls.fetch_add(1, Ordering::Relaxed);
                            totals.msgs.fetch_add(msgs, Ordering::Relaxed);
                        }
                        Err(_) => {
                            totals.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let msgs = totals.msgs.load(Ordering::Relaxed);
    println!(
        "mode={} size={} count={} streams={} secs={secs:.2} calls={} msgs={msgs} errors={} msgs/s={:.0} MB/s={:.1}",
        if args.mode == Mode::Client {
            "client"
        } else {
            "bidi"
        },
        args.size,
        args.count,
        args.streams,
        totals.calls.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
        msgs as f64 / secs,
        msgs as f64 * args.size as f64 / secs / 1e6,
    );
    if totals.errors.load(Ordering::Relaxed) == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
