//! `interop-load --port N [--mode unary|client|bidi] [--calls N | --duration SECS]
//! [--streams S] [--size B] [--count N] [--retry | --pass-through]`: a load driver for the
//! benchmark scripts (`benches/scripts/`), against any
//! `grpc.testing.TestService` server on 127.0.0.1.
//!
//! - `unary` (the default): 64-byte `UnaryCall`s.
//! - `client`: `StreamingInputCall`s of `count` requests of `size` bytes.
//! - `bidi`: `FullDuplexCall`s of `count` requests, each asking for one
//!   response of `size` bytes; requests are sent as fast as the stream
//!   takes them while the responses are read.
//!
//! `streams` calls run at once on one channel (32 for `unary`, 1
//! otherwise), each followed by the next, until `calls` calls are made or
//! `duration` is over (4 s when neither is given). With `--retry` the calls
//! go through a `RetryLayer` whose policy retries `UNAVAILABLE`, which
//! never comes: what the layer costs a call. With `--pass-through` they go
//! through a layer that does nothing, so that the channel is called as a
//! layered service: what any layer costs, against which `--retry` shows
//! what retrying itself costs. Prints `calls`, `msgs`
//! (request messages for `client`, response messages for `bidi`),
//! `errors`, `msgs/s`, `MB/s`; exits non-zero after any error.
//! `../shared/bench/compare.sh` covers server streaming with tonic's
//! `stream-bench`; this covers the rest.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grpcx::client::ClientService;
use grpcx::middleware::retry::{CallPolicy, RetryLayer, RetryPolicy};
use grpcx::{Code, Endpoint, Status};
use grpcx_interop::pb::{
    Payload, ResponseParameters, SimpleRequest, StreamingInputCallRequest,
    StreamingOutputCallRequest, TestServiceClient,
};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Unary,
    Client,
    Bidi,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Unary => "unary",
            Mode::Client => "client",
            Mode::Bidi => "bidi",
        }
    }
}

struct Args {
    port: u16,
    mode: Mode,
    calls: Option<u64>,
    duration: Option<Duration>,
    streams: Option<u64>,
    size: usize,
    count: usize,
    layer: Layer,
}

/// What the calls go through on their way to the channel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    None,
    PassThrough,
    Retry,
}

const USAGE: &str = "usage: interop-load --port N [--mode unary|client|bidi] \
    [--calls N | --duration SECS] [--streams S] [--size B] [--count N] [--retry | --pass-through]";

fn parse() -> Option<Args> {
    let mut args = Args {
        port: 0,
        mode: Mode::Unary,
        calls: None,
        duration: None,
        streams: None,
        size: 1024,
        count: 1000,
        layer: Layer::None,
    };
    let mut port = None;
    let mut given = std::env::args().skip(1);
    while let Some(key) = given.next() {
        if key == "--retry" {
            args.layer = Layer::Retry;
            continue;
        }
        if key == "--pass-through" {
            args.layer = Layer::PassThrough;
            continue;
        }
        let value = given.next()?;
        match key.as_str() {
            "--port" => port = Some(value.parse().ok()?),
            "--mode" => {
                args.mode = match value.as_str() {
                    "unary" => Mode::Unary,
                    "client" => Mode::Client,
                    "bidi" => Mode::Bidi,
                    _ => return None,
                }
            }
            "--calls" => args.calls = Some(value.parse().ok()?),
            "--duration" => args.duration = Some(Duration::from_secs_f64(value.parse().ok()?)),
            "--streams" => args.streams = Some(value.parse().ok()?),
            "--size" => args.size = value.parse().ok()?,
            "--count" => args.count = value.parse().ok()?,
            _ => return None,
        }
    }
    args.port = port?;
    Some(args)
}

/// One call of `args.mode`; the messages it counts.
async fn call<T: ClientService + Sync>(
    client: &TestServiceClient<T>,
    args: &Args,
) -> Result<u64, Status> {
    match args.mode {
        Mode::Unary => {
            let request = SimpleRequest {
                response_size: 64,
                payload: Some(Payload {
                    r#type: 0,
                    body: vec![0; 64],
                }),
                ..Default::default()
            };
            client.unary_call(request).await?;
            Ok(1)
        }
        Mode::Client => {
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
        Mode::Bidi => {
            let (sender, mut responses) = client.full_duplex_call();
            let request = StreamingOutputCallRequest {
                response_parameters: vec![ResponseParameters {
                    size: i32::try_from(args.size).unwrap_or(i32::MAX),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let count = args.count;
            let send = tokio::spawn(async move {
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
    }
}

#[derive(Default)]
struct Totals {
    started: AtomicU64,
    calls: AtomicU64,
    msgs: AtomicU64,
    errors: AtomicU64,
}

async fn run<T>(client: TestServiceClient<T>, args: Arc<Args>) -> Arc<Totals>
where
    T: ClientService + Sync,
{
    let client = Arc::new(client);
    let totals = Arc::new(Totals::default());
    let end = match (args.calls, args.duration) {
        (Some(_), None) => None,
        (_, duration) => Some(Instant::now() + duration.unwrap_or(Duration::from_secs(4))),
    };
    let streams = args
        .streams
        .unwrap_or(if args.mode == Mode::Unary { 32 } else { 1 });
    let workers: Vec<_> = (0..streams)
        .map(|_| {
            let (client, args, totals) = (client.clone(), args.clone(), totals.clone());
            tokio::spawn(async move {
                loop {
                    if end.is_some_and(|end| Instant::now() >= end) {
                        break;
                    }
                    let n = totals.started.fetch_add(1, Ordering::Relaxed);
                    if args.calls.is_some_and(|calls| n >= calls) {
                        break;
                    }
                    match call(&client, &args).await {
                        Ok(msgs) => {
                            totals.calls.fetch_add(1, Ordering::Relaxed);
                            totals.msgs.fetch_add(msgs, Ordering::Relaxed);
                        }
                        Err(status) => {
                            // The first few say what went wrong.
                            if totals.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("interop-load: a call failed: {status}");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    totals
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(args) = parse() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let channel = match Endpoint::new(format!("http://127.0.0.1:{}", args.port)) {
        Ok(endpoint) => endpoint.connect_lazy(),
        Err(err) => {
            eprintln!("interop-load: {err}");
            return ExitCode::from(2);
        }
    };
    let args = Arc::new(args);
    let start = Instant::now();
    let totals = if args.layer == Layer::PassThrough {
        let layered = tower::ServiceBuilder::new()
            .map_request(|request: http::Request<grpcx::Body>| request)
            .service(channel.clone());
        let client = TestServiceClient::new(layered).with_config(channel.config());
        run(client, args.clone()).await
    } else if args.layer == Layer::Retry {
        let policy = RetryPolicy::builder(3)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1))
            .backoff_multiplier(2.0)
            .retryable_codes([Code::Unavailable])
            .build();
        let policy = match policy {
            Ok(policy) => policy,
            Err(err) => {
                eprintln!("interop-load: {err}");
                return ExitCode::from(2);
            }
        };
        let layered = tower::ServiceBuilder::new()
            .layer(RetryLayer::with_policy(CallPolicy::Retry(policy)))
            .service(channel.clone());
        let client = TestServiceClient::new(layered).with_config(channel.config());
        run(client, args.clone()).await
    } else {
        run(TestServiceClient::new(channel), args.clone()).await
    };
    let secs = start.elapsed().as_secs_f64();
    let msgs = totals.msgs.load(Ordering::Relaxed);
    let errors = totals.errors.load(Ordering::Relaxed);
    let size = if args.mode == Mode::Unary {
        64
    } else {
        args.size
    };
    println!(
        "mode={} size={size} count={} secs={secs:.2} calls={} msgs={msgs} errors={errors} msgs/s={:.0} MB/s={:.1}",
        args.mode.name(),
        args.count,
        totals.calls.load(Ordering::Relaxed),
        msgs as f64 / secs,
        msgs as f64 * size as f64 / secs / 1e6,
    );
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
