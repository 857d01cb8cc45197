//! Shared by the `advice_*` wire tests (included with `#[path]`, not a test
//! of its own): the `test.Shop` service, whose handlers fail with domain
//! errors, internal errors and panics as each request asks, the shop's
//! error advice, and a log that keeps every event for the tests to read.

// Each test file uses part of it.
#![allow(dead_code)]

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use grpcx::codec::ProstCodec;
use grpcx::middleware::advice::{Advice, Failure};
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{Channel, Request, Response, ServerRequest, Streaming};
use grpcx::{DebugInfo, PreconditionFailure, ResourceInfo, RetryInfo, Status};
use grpcx_tests::within;

/// A product that does not exist.
#[derive(Debug)]
pub(crate) struct ProductNotFound(pub(crate) String);

impl fmt::Display for ProductNotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "product {} not found", self.0)
    }
}

impl StdError for ProductNotFound {}

/// A product with no item left.
#[derive(Debug)]
pub(crate) struct OutOfStock(pub(crate) String);

impl fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "product {} is out of stock", self.0)
    }
}

impl StdError for OutOfStock {}

/// The cart could not be updated: wraps the error that stopped it.
#[derive(Debug)]
pub(crate) struct CartError(pub(crate) ProductNotFound);

impl fmt::Display for CartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("could not update the cart")
    }
}

impl StdError for CartError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// A database driver's error (`sqlx::Error::PoolTimedOut`, say).
#[derive(Debug)]
pub(crate) struct PoolTimedOut;

impl fmt::Display for PoolTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pool timed out while waiting for an open connection")
    }
}

impl StdError for PoolTimedOut {}

/// Text that must never reach a client: in internal errors and panics.
pub(crate) const SECRET: &str = "password=hunter2@10.0.0.7";

/// The status a handler fails with for `kind`:
///
/// - `missing:<sku>`: `ProductNotFound` (as the source of an `UNKNOWN`);
/// - `stock:<sku>`: `OutOfStock`;
/// - `cart:<sku>`: `CartError` wrapping `ProductNotFound`;
/// - `db`: an `io::Error` wrapping `PoolTimedOut`;
/// - `secret`: an `INTERNAL` with [`SECRET`] in its message and source;
/// - `deliberate`: `Status::not_found("no such cart")`;
/// - `debug`: a `FAILED_PRECONDITION` with a `DebugInfo`;
/// - `secret-debug`: `secret` with a `DebugInfo`;
/// - `panic`: panics with [`SECRET`] in the message.
pub(crate) fn failure(kind: &str) -> Status {
    let (kind, arg) = kind.split_once(':').unwrap_or((kind, ""));
    match kind {
        "missing" => Status::unknown("lookup failed").with_source(ProductNotFound(arg.into())),
        "stock" => Status::unknown("reservation failed").with_source(OutOfStock(arg.into())),
        "cart" => {
            Status::unknown("cart failed").with_source(CartError(ProductNotFound(arg.into())))
        }
        "db" => Status::internal("query failed").with_source(std::io::Error::other(PoolTimedOut)),
        "secret" => secret(),
        "deliberate" => Status::not_found("no such cart"),
        "debug" => Status::failed_precondition("the cart is frozen")
            .with_detail(DebugInfo::new("frozen by job 7", ["jobs.rs:7"])),
        "secret-debug" => secret().with_detail(DebugInfo::new("wal fsync", ["wal.rs:99"])),
        "panic" => panic!("handler panicked holding {SECRET}"),
        other => Status::invalid_argument(format!("unknown failure kind {other:?}")),
    }
}

fn secret() -> Status {
    Status::internal(format!("select failed: {SECRET}")).with_source(std::io::Error::other(
        format!("connect to {SECRET} refused"),
    ))
}

/// `test.Shop`:
///
/// - `Get` (unary): `ok` answers `ok`; anything else fails with
///   [`failure`]; `GetBlocking` the same, as a blocking handler;
/// - `List` (server streaming), `<n>/<kind>`: `n` messages, then the
///   failure (`<n>/ok` ends well; `<n>/panic` panics in the stream);
/// - `Upload` (client streaming): counts the messages; one that is not
///   `ok` fails the call with its failure;
/// - `Chat` (bidirectional): echoes each message; one that is not `ok` ends
///   the stream with its failure.
pub(crate) struct Shop;

pub(crate) const SERVICE: &str = "test.Shop";

type Codec = ProstCodec<String, String>;
type Messages = futures_util::stream::BoxStream<'static, Result<String, Status>>;

impl GrpcService for Shop {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let codec = Codec::default();
        match method {
            "Get" => Box::pin(handler::unary(
                call,
                codec,
                |req: ServerRequest<String>| async move {
                    match req.get_ref().as_str() {
                        "ok" => Ok(Response::new("ok".to_owned())),
                        kind => Err(failure(kind)),
                    }
                },
            )),
            "GetBlocking" => Box::pin(handler::blocking_unary(
                call,
                codec,
                |req: ServerRequest<String>| match req.get_ref().as_str() {
                    "ok" => Ok(Response::new("ok".to_owned())),
                    kind => Err(failure(kind)),
                },
            )),
            "List" => Box::pin(handler::server_streaming(
                call,
                codec,
                |req: ServerRequest<String>| async move {
                    let (count, kind) = req.get_ref().split_once('/').unwrap();
                    let count: usize = count.parse().unwrap();
                    let kind = kind.to_owned();
                    let messages = futures_util::stream::iter(0..count).map(|n| Ok(n.to_string()));
                    let end = futures_util::stream::once(async move {
                        match kind.as_str() {
                            "ok" => None,
                            kind => Some(Err(failure(kind))),
                        }
                    })
                    .filter_map(std::future::ready);
                    let stream: Messages = Box::pin(messages.chain(end));
                    Ok::<_, Status>(Response::new(stream))
                },
            )),
            "Upload" => Box::pin(handler::client_streaming(
                call,
                codec,
                |req: ServerRequest<Streaming<String>>| async move {
                    let mut messages = req.into_inner();
                    let mut count = 0;
                    while let Some(message) = messages.message().await? {
                        if message != "ok" {
                            return Err(failure(&message));
                        }
                        count += 1;
                    }
                    Ok(Response::new(count.to_string()))
                },
            )),
            "Chat" => Box::pin(handler::bidi_streaming(
                call,
                codec,
                |req: ServerRequest<Streaming<String>>| async move {
                    let messages = req.into_inner();
                    let replies: Messages = Box::pin(futures_util::stream::unfold(
                        Some(messages),
                        |messages| async move {
                            let mut messages = messages?;
                            match messages.message().await {
                                Ok(Some(message)) if message == "ok" => {
                                    Some((Ok(message), Some(messages)))
                                }
                                Ok(Some(kind)) => Some((Err(failure(&kind)), None)),
                                Ok(None) => None,
                                Err(status) => Some((Err(status), None)),
                            }
                        },
                    ));
                    Ok::<_, Status>(Response::new(replies))
                },
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

/// The shop's global advice, as in the seed's Spring service.
pub(crate) fn shop_advice() -> Advice {
    Advice::new()
        .on(|err: &ProductNotFound, _: &Failure<'_>| {
            Status::not_found(format!("product {} does not exist", err.0))
                .with_detail(ResourceInfo::new("product", &err.0, "", "no such product"))
        })
        .on(|err: &OutOfStock, _: &Failure<'_>| {
            Status::failed_precondition("the product is out of stock").with_detail(
                PreconditionFailure::default().violation("STOCK", &err.0, "no item left"),
            )
        })
        .on(|_: &PoolTimedOut, _: &Failure<'_>| {
            Status::unavailable("the catalogue is unavailable")
                .with_detail(RetryInfo::after(Duration::from_secs(2)))
        })
}

fn path(method: &str) -> http::uri::PathAndQuery {
    format!("/{SERVICE}/{method}").parse().unwrap()
}

/// `Get` with `message`.
pub(crate) async fn get(channel: &Channel, message: &str) -> Result<String, Status> {
    call_get(channel, "Get", message).await
}

/// `GetBlocking` with `message`.
pub(crate) async fn get_blocking(channel: &Channel, message: &str) -> Result<String, Status> {
    call_get(channel, "GetBlocking", message).await
}

async fn call_get(channel: &Channel, method: &str, message: &str) -> Result<String, Status> {
    within(
        "a Get call",
        channel.unary(
            path(method),
            Request::new(message.to_owned()),
            Codec::default(),
        ),
    )
    .await
    .map(Response::into_inner)
}

/// `List` with `message`: the messages received, and how the stream ended.
pub(crate) async fn list(channel: &Channel, message: &str) -> (Vec<String>, Result<(), Status>) {
    let response = within(
        "a List call",
        channel.server_streaming(
            path("List"),
            Request::new(message.to_owned()),
            Codec::default(),
        ),
    )
    .await;
    let mut stream = match response {
        Ok(response) => response.into_inner(),
        Err(status) => return (Vec::new(), Err(status)),
    };
    let mut messages = Vec::new();
    loop {
        match within("a List message", stream.message()).await {
            Ok(Some(message)) => messages.push(message),
            Ok(None) => return (messages, Ok(())),
            Err(status) => return (messages, Err(status)),
        }
    }
}

/// `Upload` with `messages`.
pub(crate) async fn upload(channel: &Channel, messages: &[&str]) -> Result<String, Status> {
    let messages: Vec<String> = messages.iter().map(|m| (*m).to_owned()).collect();
    within(
        "an Upload call",
        channel.client_streaming(
            path("Upload"),
            Request::new(futures_util::stream::iter(messages)),
            Codec::default(),
        ),
    )
    .await
    .map(Response::into_inner)
}

/// `Chat` with `messages`: the replies, and how the stream ended.
pub(crate) async fn chat(
    channel: &Channel,
    messages: &[&str],
) -> (Vec<String>, Result<(), Status>) {
    let messages: Vec<String> = messages.iter().map(|m| (*m).to_owned()).collect();
    let response = within(
        "a Chat call",
        channel.bidi_streaming_from_stream(
            path("Chat"),
            Request::new(futures_util::stream::iter(messages)),
            Codec::default(),
        ),
    )
    .await;
    let mut stream = match response {
        Ok(response) => response.into_inner(),
        Err(status) => return (Vec::new(), Err(status)),
    };
    let mut replies = Vec::new();
    loop {
        match within("a Chat reply", stream.message()).await {
            Ok(Some(reply)) => replies.push(reply),
            Ok(None) => return (replies, Ok(())),
            Err(status) => return (replies, Err(status)),
        }
    }
}

/// Everything the server logs (at info level and above), one line per
/// event, `LEVEL field=value ...`: the subscriber is installed for the
/// whole test binary on first use, so tests find their own lines by
/// something unique (a request id).
pub(crate) fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        tracing::subscriber::set_global_default(Capture(log.lines.clone()))
            .expect("no other global subscriber");
        log
    })
}

/// The lines of [`log`].
#[derive(Default)]
pub(crate) struct Log {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    /// The lines containing `needle`.
    pub(crate) fn lines_with(&self, needle: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .cloned()
            .collect()
    }
}

struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

/// Everything a client can see of a status: code, message, details,
/// metadata, as one string to search for leaks.
pub(crate) fn seen_by_client(status: &Status) -> String {
    format!(
        "{} {} {:?} {:?}",
        status.code(),
        status.message(),
        status.details(),
        status.metadata()
    )
}
