//! `grpcx.test.Probe`: a hand-written service whose behaviour each request
//! chooses, and which reports what happened on the server.
//!
//! Methods: `Unary`, `ServerStream` (`count` messages, then the action),
//! `ClientStream` (reads the first request, acts on it, reads the rest,
//! replies with how many it read) and `Bidi` (reads the first request, then
//! as `ServerStream`). Any other method is `UNIMPLEMENTED`.
//!
//! Every call reports [`Event::Started`] once its first request is read,
//! [`Event::Done`] from `CallContext::on_done`, and [`Event::HandlerDropped`]
//! when its handler future (or response stream) is dropped before it
//! finished: the cleanup a cancelled or expired call must get.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use grpcx::codec::ProstCodec;
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{BadRequest, Code, Detail, ErrorInfo, Metadata, RetryInfo, Status};
use grpcx::{CallContext, CallOutcome, Response, ServerRequest, Streaming};
use tokio::sync::{mpsc, watch};

use crate::within;

/// The probe's full service name.
pub const SERVICE: &str = "grpcx.test.Probe";

/// The message gRPC's spec uses to test `grpc-message` encoding.
pub const SPECIAL_MESSAGE: &str =
    "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

/// What a panicking probe panics with; a client must never see it.
pub const PANIC_TEXT: &str = "probe panic: secret-token-7f3a do not leak";

/// The value of the probe's `x-initial-bin` initial metadata.
pub const INITIAL_BIN: [u8; 5] = [0xde, 0xad, 0x00, 0xbe, 0xef];
/// The first value of the probe's `x-trailer-bin` trailing metadata.
pub const TRAILER_BIN_1: [u8; 4] = [0, 1, 2, 255];
/// The second value of the probe's `x-trailer-bin` trailing metadata.
pub const TRAILER_BIN_2: [u8; 1] = [0xfe];
/// The value of the probe's status's own `x-status-bin` metadata.
pub const STATUS_BIN: [u8; 3] = [255, 254, 253];

/// The type URL of the probe's detail of a type nobody knows.
pub const CUSTOM_TYPE_URL: &str = "type.example.com/acme.v1.Custom";
/// The bytes of the probe's detail of a type nobody knows.
pub const CUSTOM_BYTES: [u8; 6] = [0x0a, 0x02, 0xff, 0x00, 0x10, 0x07];

/// What a probe call does once it has sent its `count` messages (for
/// `Unary` and `ClientStream`: before it replies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Action {
    /// Reply (unary) or end the stream with `OK`.
    Reply = 0,
    /// Fail with the status the request describes ([`probe_status`]).
    Fail = 1,
    /// Panic with [`PANIC_TEXT`].
    Panic = 2,
    /// `ctx.set_code(code)` and `ctx.set_message(message)`, then reply or
    /// end the stream as if all went well.
    SetCode = 3,
    /// `ctx.abort_with_status(probe_status)`, then never finish.
    Abort = 4,
    /// Sleep `sleep_ms`, then reply.
    Sleep = 5,
    /// Wait until the test opens the server's gate, then reply.
    WaitGate = 6,
}

/// A probe request: which behaviour to show.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProbeRequest {
    /// An id that names the call in the server's events.
    #[prost(string, tag = "1")]
    pub id: String,
    /// What to do at the end (an [`Action`]).
    #[prost(enumeration = "Action", tag = "2")]
    pub action: i32,
    /// The status code for `Fail`, `SetCode` and `Abort`.
    #[prost(int32, tag = "3")]
    pub code: i32,
    /// The status message for `Fail`, `SetCode` and `Abort`.
    #[prost(string, tag = "4")]
    pub message: String,
    /// When not zero, the status message is this many `a`s instead.
    #[prost(uint32, tag = "5")]
    pub message_len: u32,
    /// Attach the rich details of [`rich_details`] to the status.
    #[prost(bool, tag = "6")]
    pub details: bool,
    /// Set trailing metadata through `CallContext::set_trailing_metadata`.
    #[prost(bool, tag = "7")]
    pub context_trailers: bool,
    /// Put metadata in the status itself.
    #[prost(bool, tag = "8")]
    pub status_metadata: bool,
    /// Send initial metadata (response headers) with a response.
    #[prost(bool, tag = "9")]
    pub initial_metadata: bool,
    /// How many messages a streaming response sends before the action.
    #[prost(uint32, tag = "10")]
    pub count: u32,
    /// How long `Sleep` sleeps.
    #[prost(uint64, tag = "11")]
    pub sleep_ms: u64,
    /// The size of each reply's payload.
    #[prost(uint32, tag = "12")]
    pub response_size: u32,
    /// Register an `on_done` callback that panics (before the one that
    /// reports the outcome).
    #[prost(bool, tag = "13")]
    pub panic_on_done: bool,
    /// Padding, to make a request as large as a test needs.
    #[prost(bytes = "vec", tag = "14")]
    pub padding: Vec<u8>,
}

impl ProbeRequest {
    /// A request named `id` that does `action`.
    pub fn new(id: &str, action: Action) -> ProbeRequest {
        ProbeRequest {
            id: id.to_owned(),
            action: action as i32,
            ..ProbeRequest::default()
        }
    }

    /// A request named `id` that fails with `code` and `message`.
    pub fn fail(id: &str, code: Code, message: &str) -> ProbeRequest {
        ProbeRequest {
            code: code.as_i32(),
            message: message.to_owned(),
            ..ProbeRequest::new(id, Action::Fail)
        }
    }

    /// The same request, with rich details, trailing metadata through the
    /// context and in the status, and initial metadata.
    pub fn with_everything(self) -> ProbeRequest {
        ProbeRequest {
            details: true,
            context_trailers: true,
            status_metadata: true,
            initial_metadata: true,
            ..self
        }
    }

    /// The same request, streaming `count` messages before its action.
    pub fn after(self, count: u32) -> ProbeRequest {
        ProbeRequest { count, ..self }
    }
}

/// A probe reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProbeReply {
    /// The id of the request.
    #[prost(string, tag = "1")]
    pub id: String,
    /// The reply's position in its stream (from 0); for `ClientStream`, how
    /// many requests were read.
    #[prost(uint32, tag = "2")]
    pub seq: u32,
    /// `response_size` bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
}

/// What the probe reports about its calls.
#[derive(Clone, Debug)]
pub enum Event {
    /// A call read its first request.
    Started {
        /// The request's id.
        id: String,
        /// The method, `/grpcx.test.Probe/<name>`.
        method: String,
        /// The request metadata the handler received.
        metadata: Metadata,
        /// `CallContext::time_remaining` when the handler started.
        time_remaining: Option<Duration>,
        /// `CallContext::deadline`.
        deadline: Option<tokio::time::Instant>,
    },
    /// A call's handler future or response stream was dropped before it
    /// finished.
    HandlerDropped {
        /// The request's id.
        id: String,
    },
    /// A call ended, as `CallContext::on_done` reported.
    Done {
        /// The request's id.
        id: String,
        /// How it ended.
        outcome: CallOutcome,
        /// When `on_done` ran.
        at: tokio::time::Instant,
    },
}

impl Event {
    /// The id of the call the event is about.
    pub fn id(&self) -> &str {
        match self {
            Event::Started { id, .. } | Event::HandlerDropped { id } | Event::Done { id, .. } => id,
        }
    }
}

/// The events of one probe server, in the order they happened.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
    /// Events received while waiting for another one.
    seen: VecDeque<Event>,
}

impl Events {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Event>) -> Events {
        Events {
            rx,
            seen: VecDeque::new(),
        }
    }

    /// Waits (bounded by [`WAIT`](crate::WAIT)) for the first event that `matches`,
    /// keeping the others for later waits.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        if let Some(index) = self.seen.iter().position(&matches) {
            return self.seen.remove(index).unwrap();
        }
        let rx = &mut self.rx;
        let seen = &mut self.seen;
        within(what, async {
            loop {
                let event = rx.recv().await.expect("the probe service is gone");
                if matches(&event) {
                    return event;
                }
                seen.push_back(event);
            }
        })
        .await
    }

    /// Waits for call `id` to start; gives its request metadata and the
    /// time it had left.
    pub async fn started(&mut self, id: &str) -> (Metadata, Option<Duration>) {
        let what = format!("call {id:?} starting on the server");
        match self
            .wait_for(&what, |e| {
                matches!(e, Event::Started { .. }) && e.id() == id
            })
            .await
        {
            Event::Started {
                metadata,
                time_remaining,
                ..
            } => (metadata, time_remaining),
            other => unreachable!("{other:?}"),
        }
    }

    /// Waits for call `id` to end on the server; gives its outcome.
    pub async fn done(&mut self, id: &str) -> CallOutcome {
        self.done_at(id).await.0
    }

    /// Waits for call `id` to end on the server; gives its outcome and when
    /// it was recorded.
    pub async fn done_at(&mut self, id: &str) -> (CallOutcome, tokio::time::Instant) {
        let what = format!("on_done of call {id:?}");
        match self
            .wait_for(&what, |e| matches!(e, Event::Done { .. }) && e.id() == id)
            .await
        {
            Event::Done { outcome, at, .. } => (outcome, at),
            other => unreachable!("{other:?}"),
        }
    }

    /// Waits for call `id` to start; gives its deadline on the server.
    pub async fn started_deadline(&mut self, id: &str) -> Option<tokio::time::Instant> {
        let what = format!("call {id:?} starting on the server");
        match self
            .wait_for(&what, |e| {
                matches!(e, Event::Started { .. }) && e.id() == id
            })
            .await
        {
            Event::Started { deadline, .. } => deadline,
            other => unreachable!("{other:?}"),
        }
    }

    /// Waits for the handler of call `id` to be dropped before finishing.
    pub async fn handler_dropped(&mut self, id: &str) {
        let what = format!("the handler of call {id:?} being dropped");
        self.wait_for(&what, |e| {
            matches!(e, Event::HandlerDropped { .. }) && e.id() == id
        })
        .await;
    }

    /// Whether the handler of call `id` was reported dropped so far (without
    /// waiting).
    pub fn was_dropped(&mut self, id: &str) -> bool {
        self.receive_now();
        self.seen
            .iter()
            .any(|e| matches!(e, Event::HandlerDropped { .. }) && e.id() == id)
    }

    /// Whether call `id` was reported started so far and not yet waited
    /// for (without waiting).
    pub fn was_started(&mut self, id: &str) -> bool {
        self.count_so_far(|e| matches!(e, Event::Started { .. }) && e.id() == id) > 0
    }

    /// How many of the events reported so far and not yet waited for
    /// `match` (without waiting).
    pub fn count_so_far(&mut self, matches: impl Fn(&Event) -> bool) -> usize {
        self.receive_now();
        self.seen.iter().filter(|e| matches(e)).count()
    }

    /// Moves the events already sent into `seen`.
    fn receive_now(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            self.seen.push_back(event);
        }
    }
}

/// The status a probe request describes: its code and message, and as it
/// asks, the rich details and the status's own metadata.
pub fn probe_status(request: &ProbeRequest) -> Status {
    let code = Code::from_i32(request.code);
    let mut status = Status::new(code, probe_message(request));
    if request.details {
        status = status.with_details(rich_details(code));
    }
    if request.status_metadata {
        status = status.with_metadata(status_metadata());
    }
    status
}

/// The status message a probe request describes.
pub fn probe_message(request: &ProbeRequest) -> String {
    if request.message_len > 0 {
        "a".repeat(request.message_len as usize)
    } else {
        request.message.clone()
    }
}

/// The rich details the probe attaches to a status with `code`: typed
/// `google.rpc` ones and one of a type nobody knows.
pub fn rich_details(code: Code) -> Vec<Detail> {
    vec![
        Detail::ErrorInfo(
            ErrorInfo::new("PROBE_FAILURE", "probe.grpcx.test")
                .with_metadata("code", code.as_str())
                .with_metadata("smiley", "☺"),
        ),
        Detail::BadRequest(
            BadRequest::default()
                .violation("name", "must not be empty 😈")
                .violation("age", "must be positive"),
        ),
        Detail::RetryInfo(RetryInfo::after(Duration::from_millis(1500))),
        Detail::Unknown {
            type_url: CUSTOM_TYPE_URL.to_owned(),
            value: CUSTOM_BYTES.to_vec(),
        },
    ]
}

/// The initial metadata the probe sends when asked.
pub fn initial_metadata() -> Metadata {
    let mut md = Metadata::new();
    md.insert("x-initial", "initial value").unwrap();
    md.insert_bin("x-initial-bin", INITIAL_BIN).unwrap();
    md
}

/// The trailing metadata the probe sets through its context when asked.
pub fn context_trailers() -> Metadata {
    let mut md = Metadata::new();
    md.append("x-trailer", "first").unwrap();
    md.append("x-trailer", "second").unwrap();
    md.append_bin("x-trailer-bin", TRAILER_BIN_1).unwrap();
    md.append_bin("x-trailer-bin", TRAILER_BIN_2).unwrap();
    md
}

/// The metadata the probe puts in its status when asked.
pub fn status_metadata() -> Metadata {
    let mut md = Metadata::new();
    md.insert("x-status", "from the status").unwrap();
    md.insert_bin("x-status-bin", STATUS_BIN).unwrap();
    md
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<ProbeReply, Status>> + Send>>;

/// The probe service.
#[derive(Clone, Debug)]
pub struct Probe {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    events: mpsc::UnboundedSender<Event>,
    gate: watch::Sender<bool>,
}

impl Probe {
    /// A probe reporting to `events`, whose `WaitGate` calls wait on `gate`.
    pub fn new(events: mpsc::UnboundedSender<Event>, gate: watch::Sender<bool>) -> Probe {
        Probe {
            shared: Arc::new(Shared { events, gate }),
        }
    }
}

impl GrpcService for Probe {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let shared = self.shared.clone();
        match method {
            "Unary" => Box::pin(handler::unary(call, ProstCodec::default(), move |req| {
                unary(shared, req)
            })),
            "ServerStream" => Box::pin(handler::server_streaming(
                call,
                ProstCodec::default(),
                move |req| server_stream(shared, req),
            )),
            "ClientStream" => Box::pin(handler::client_streaming(
                call,
                ProstCodec::default(),
                move |req| client_stream(shared, req),
            )),
            "Bidi" => Box::pin(handler::bidi_streaming(
                call,
                ProstCodec::default(),
                move |req| bidi(shared, req),
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

/// Reports [`Event::HandlerDropped`] when dropped, unless disarmed first.
struct DropReport {
    id: String,
    events: mpsc::UnboundedSender<Event>,
    armed: bool,
}

impl DropReport {
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for DropReport {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.events.send(Event::HandlerDropped {
                id: self.id.clone(),
            });
        }
    }
}

impl Shared {
    /// Reports the start, registers the `on_done` callbacks and the
    /// trailing metadata the request asks for, and arms a drop report.
    fn start(&self, request: &ProbeRequest, ctx: &CallContext, metadata: Metadata) -> DropReport {
        tracing::debug!(id = %request.id, method = %ctx.method(), "probe call started");
        if request.panic_on_done {
            ctx.on_done(|_| panic!("{PANIC_TEXT} (on_done)"));
        }
        let events = self.events.clone();
        let id = request.id.clone();
        ctx.on_done(move |outcome| {
            let at = tokio::time::Instant::now();
            let _ = events.send(Event::Done { id, outcome, at });
        });
        if request.context_trailers {
            ctx.set_trailing_metadata(context_trailers());
        }
        let _ = self.events.send(Event::Started {
            id: request.id.clone(),
            method: ctx.method().to_owned(),
            metadata,
            time_remaining: ctx.time_remaining(),
            deadline: ctx.deadline(),
        });
        DropReport {
            id: request.id.clone(),
            events: self.events.clone(),
            armed: true,
        }
    }

    /// Does the request's action. `Ok` means "finish normally".
    async fn act(&self, request: &ProbeRequest, ctx: &CallContext) -> Result<(), Status> {
        match Action::try_from(request.action).unwrap_or(Action::Reply) {
            Action::Reply => Ok(()),
            Action::Fail => Err(probe_status(request)),
            Action::Panic => panic!("{PANIC_TEXT}"),
            Action::SetCode => {
                ctx.set_code(Code::from_i32(request.code));
                ctx.set_message(probe_message(request));
                Ok(())
            }
            Action::Abort => {
                let _ = ctx.abort_with_status(probe_status(request));
                // The abort alone must end the call.
                std::future::pending().await
            }
            Action::Sleep => {
                tokio::time::sleep(Duration::from_millis(request.sleep_ms)).await;
                Ok(())
            }
            Action::WaitGate => {
                let mut gate = self.gate.subscribe();
                within("the test opening the gate", gate.wait_for(|open| *open))
                    .await
                    .expect("the gate is gone");
                Ok(())
            }
        }
    }
}

fn reply(request: &ProbeRequest, seq: u32) -> ProbeReply {
    ProbeReply {
        id: request.id.clone(),
        seq,
        payload: vec![0xab; request.response_size as usize],
    }
}

async fn unary(
    shared: Arc<Shared>,
    request: ServerRequest<ProbeRequest>,
) -> Result<Response<ProbeReply>, Status> {
    let (metadata, request, ctx) = request.into_parts();
    let mut report = shared.start(&request, &ctx, metadata);
    let result = shared.act(&request, &ctx).await;
    report.disarm();
    result?;
    let response = Response::new(reply(&request, 0));
    Ok(if request.initial_metadata {
        response.with_metadata(initial_metadata())
    } else {
        response
    })
}

async fn server_stream(
    shared: Arc<Shared>,
    request: ServerRequest<ProbeRequest>,
) -> Result<Response<ReplyStream>, Status> {
    let (metadata, request, ctx) = request.into_parts();
    let report = shared.start(&request, &ctx, metadata);
    let initial = request.initial_metadata;
    let stream = replies(StreamState {
        shared,
        ctx,
        request: Some(request),
        requests: None,
        metadata: None,
        sent: 0,
        ended: false,
        report: Some(report),
    });
    let response = Response::new(stream);
    Ok(if initial {
        response.with_metadata(initial_metadata())
    } else {
        response
    })
}

async fn client_stream(
    shared: Arc<Shared>,
    request: ServerRequest<Streaming<ProbeRequest>>,
) -> Result<Response<ProbeReply>, Status> {
    let (metadata, mut requests, ctx) = request.into_parts();
    let Some(first) = requests.message().await? else {
        return Err(Status::invalid_argument("no request"));
    };
    let mut report = shared.start(&first, &ctx, metadata);
    let mut read = 1;
    // A sleeping or waiting call does so with the request stream open.
    if !matches!(
        Action::try_from(first.action),
        Ok(Action::Sleep | Action::WaitGate)
    ) {
        while requests.message().await?.is_some() {
            read += 1;
        }
    }
    let result = shared.act(&first, &ctx).await;
    report.disarm();
    result?;
    let response = Response::new(reply(&first, read));
    Ok(if first.initial_metadata {
        response.with_metadata(initial_metadata())
    } else {
        response
    })
}

async fn bidi(
    shared: Arc<Shared>,
    request: ServerRequest<Streaming<ProbeRequest>>,
) -> Result<Response<ReplyStream>, Status> {
    let (metadata, requests, ctx) = request.into_parts();
    // The first request is read by the response stream, so the response
    // headers go out at once.
    let stream = replies(StreamState {
        shared,
        ctx,
        request: None,
        requests: Some(requests),
        metadata: Some(metadata),
        sent: 0,
        ended: false,
        report: None,
    });
    Ok(Response::new(stream))
}

struct StreamState {
    shared: Arc<Shared>,
    ctx: CallContext,
    /// The request that decides the behaviour, once read.
    request: Option<ProbeRequest>,
    /// A bidi call's requests, to read the first one from.
    requests: Option<Streaming<ProbeRequest>>,
    /// A bidi call's request metadata, until it starts.
    metadata: Option<Metadata>,
    sent: u32,
    ended: bool,
    report: Option<DropReport>,
}

fn replies(state: StreamState) -> ReplyStream {
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            if state.ended {
                return None;
            }
            if state.request.is_none() {
                let requests = state.requests.as_mut()?;
                let first = match requests.message().await {
                    Ok(Some(first)) => first,
                    Ok(None) => {
                        state.ended = true;
                        return Some((Err(Status::invalid_argument("no request")), state));
                    }
                    Err(status) => {
                        state.ended = true;
                        return Some((Err(status), state));
                    }
                };
                let metadata = state.metadata.take().unwrap_or_default();
                state.report = Some(state.shared.start(&first, &state.ctx, metadata));
                state.request = Some(first);
            }
            let request = state.request.as_ref()?;
            if state.sent < request.count {
                let item = reply(request, state.sent);
                state.sent += 1;
                return Some((Ok(item), state));
            }
            let result = state.shared.act(request, &state.ctx).await;
            state.ended = true;
            if let Some(report) = &mut state.report {
                report.disarm();
            }
            match result {
                Ok(()) => None,
                Err(status) => Some((Err(status), state)),
            }
        },
    ))
}
