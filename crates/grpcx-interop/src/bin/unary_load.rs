//! `unary-load --port N [--calls N] [--concurrency K] [--retry]`: makes
//! `calls` 64-byte `UnaryCall`s, `concurrency` at a time on one channel,
//! against any `grpc.testing.TestService` server on 127.0.0.1; with
//! `--retry`, under a `RetryLayer` whose policy retries `UNAVAILABLE`
//! (which never comes). For `benches/scripts/client_instructions.sh`:
//! what a client spends per call, and what the retry layer adds to it.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use grpcx::client::ClientService;
use grpcx::middleware::retry::{CallPolicy, RetryLayer, RetryPolicy};
use grpcx::{Code, Endpoint};
use grpcx_interop::pb::{Payload, SimpleRequest, TestServiceClient};

struct Args {
    port: u16,
    calls: u64,
    concurrency: u64,
    retry: bool,
}

fn parse() -> Option<Args> {
    let mut args = Args {
        port: 0,
        calls: 10_000,
        concurrency: 32,
        retry: false,
    };
    let mut port = None;
    let mut given = std::env::args().skip(1);
    while let Some(key) = given.next() {
        match key.as_str() {
            "--retry" => args.retry = true,
            "--port" => port = Some(given.next()?.parse().ok()?),
            "--calls" => args.calls = given.next()?.parse().ok()?,
            "--concurrency" => args.concurrency = given.next()?.parse().ok()?,
            _ => return None,
        }
    }
    args.port = port?;
    Some(args)
}

/// Runs `calls` calls on `client`, `concurrency` at a time; the failures.
async fn run<T>(client: TestServiceClient<T>, calls: u64, concurrency: u64) -> u64
where
    T: ClientService + Clone + Send + Sync + 'static,
    TestServiceClient<T>: Clone,
{
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, errors) = (client.clone(), next.clone(), errors.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < calls {
                    let request = SimpleRequest {
                        response_size: 64,
                        payload: Some(Payload {
                            r#type: 0,
                            body: vec![0; 64],
                        }),
                        ..Default::default()
                    };
                    if client.unary_call(request).await.is_err() {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    errors.load(Ordering::Relaxed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(args) = parse() else {
        eprintln!("usage: unary-load --port N [--calls N] [--concurrency K] [--retry]");
        return ExitCode::from(2);
    };
    let channel = match Endpoint::new(format!("http://127.0.0.1:{}", args.port)) {
        Ok(endpoint) => endpoint.connect_lazy(),
        Err(err) => {
            eprintln!("unary-load: {err}");
            return ExitCode::from(2);
        }
    };
    let errors = if args.retry {
        let policy = RetryPolicy::builder(3)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1))
            .backoff_multiplier(2.0)
            .retryable_codes([Code::Unavailable])
            .build();
        let policy = match policy {
            Ok(policy) => policy,
            Err(err) => {
                eprintln!("unary-load: {err}");
                return ExitCode::from(2);
            }
        };
        let layered = tower::ServiceBuilder::new()
            .layer(RetryLayer::with_policy(CallPolicy::Retry(policy)))
            .service(channel.clone());
        let client = TestServiceClient::new(layered).with_config(channel.config());
        run(client, args.calls, args.concurrency).await
    } else {
        run(
            TestServiceClient::new(channel),
            args.calls,
            args.concurrency,
        )
        .await
    };
    println!("calls={} errors={errors}", args.calls);
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
