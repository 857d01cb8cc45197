//! Connection management: the life of one server connection, from accept
//! to close.
//!
//! [`drive`] serves one accepted connection: the TLS handshake and the
//! HTTP/2 preface must come within the handshake timeout, the connection
//! gets a GOAWAY once it is older than its (jittered) maximum age or idle
//! for longer than the maximum idle time, and calls in flight after a GOAWAY
//! get the grace period to finish before the connection is closed.
//!
//! [`Guarded`] wraps the connection's byte stream below hyper and reads the
//! 9-byte header of every frame the client sends, as the bytes go by (no
//! copy, no allocation): it sees the preface arrive, counts the client's
//! PINGs against the keepalive enforcement policy (as grpc-go's
//! `keepalive.EnforcementPolicy`) and its `RST_STREAM`s against the reset
//! rate, neither of which hyper exposes. Past either, it writes its own
//! GOAWAY `ENHANCE_YOUR_CALM` (debug data `too_many_pings` or
//! `too_many_resets`) at a frame boundary of the server's output, sends
//! FIN, reads and drops what the client still sends for a moment (so that
//! the client reads the GOAWAY rather than a TCP reset), and ends the
//! connection.
//!
//! [`Guarded`] also keeps the connection alive (as grpc-go's
//! `keepalive.ServerParameters`): after the keepalive interval without a
//! byte from the client it writes a PING of its own, and ends the
//! connection when nothing comes back within the keepalive timeout. It
//! takes the client's answer out of the byte stream, so hyper never sees a
//! PING acknowledgement it did not ask for.
//!
//! [`Tracked`] counts the calls open on the connection, for the idle timer
//! and for the ping policy's "without stream" case.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::Config;

/// The HTTP/2 client connection preface string.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const HEADERS: u8 = 0x1;
const DATA: u8 = 0x0;
const RST_STREAM: u8 = 0x3;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// How many pings too early a client may send before it is told to calm
/// down (grpc-go's `maxPingStrikes`).
const MAX_PING_STRIKES: u32 = 2;

/// How long pings are expected to be apart while no call is open, when the
/// policy does not permit pings without calls (as in grpc-go).
const IDLE_PING_MIN_TIME: Duration = Duration::from_secs(2 * 60 * 60);

/// How long a connection closed for misbehaving reads and drops what the
/// client still sends after its GOAWAY, before closing.
const LINGER: Duration = Duration::from_secs(1);

/// The payload of the server's keepalive PINGs: unlike those h2 sends
/// itself, so that only their acknowledgements are taken out of the
/// stream.
const KEEPALIVE_PAYLOAD: [u8; 8] = *b"grpcx-ka";

/// A keepalive PING frame: 9 bytes of header, 8 of payload.
const KEEPALIVE_PING: [u8; 17] = {
    let mut frame = [0u8; 17];
    frame[2] = 8;
    frame[3] = PING;
    let mut i = 0;
    while i < 8 {
        frame[9 + i] = KEEPALIVE_PAYLOAD[i];
        i += 1;
    }
    frame
};

/// What one connection shares between its byte stream, its calls and the
/// task driving it.
pub(crate) struct ConnState {
    start: Instant,
    /// Calls open on the connection.
    active: AtomicUsize,
    /// When the last call ended, in milliseconds since `start`.
    idle_since_ms: AtomicU64,
    /// Whether the client's preface has arrived.
    preface_seen: AtomicBool,
}

impl ConnState {
    pub(crate) fn new(start: Instant) -> Arc<ConnState> {
        Arc::new(ConnState {
            start,
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            preface_seen: AtomicBool::new(false),
        })
    }

    fn idle_since(&self) -> Instant {
        self.start + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }
}

/// Serves one connection with `builder` until it ends, the limits of
/// `config` close it, or a server shutdown (`shutdown` turning `true`)
/// has drained it.
pub(crate) async fn drive<IO, S, B>(
    builder: &hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor>,
    io: IO,
    service: S,
    state: Arc<ConnState>,
    config: &Config,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    peer: Option<std::net::SocketAddr>,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: hyper::service::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::error::BoxError>,
{
    let io = Guarded::new(io, Arc::clone(&state), config);
    let conn = builder.serve_connection(
        hyper_util::rt::TokioIo::new(io),
        Tracked {
            service,
            state: Arc::clone(&state),
        },
    );
    let mut conn = std::pin::pin!(conn);
    let handshake = std::pin::pin!(tokio::time::sleep_until(
        state.start + config.handshake_timeout
    ));
    let mut handshake = handshake;
    let mut handshake_checked = false;
    let age = config.max_connection_age.map(jittered);
    let mut age_sleep = std::pin::pin!(tokio::time::sleep_until(deadline(state.start, age)));
    let mut grace_sleep = std::pin::pin!(tokio::time::sleep_until(far_future()));
    let mut idle_sleep = std::pin::pin!(tokio::time::sleep_until(deadline(
        state.start,
        config.max_connection_idle
    )));
    // Whether a GOAWAY went out (age, idle, shutdown), and whether the
    // grace period runs.
    let mut going_away = false;
    let mut grace_running = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(?peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = handshake.as_mut(), if !handshake_checked => {
                if !state.preface_seen.load(Ordering::Acquire) {
                    tracing::debug!(?peer, timeout = ?config.handshake_timeout,
                        "no HTTP/2 preface within the handshake timeout; closing");
                    return;
                }
                handshake_checked = true;
            }
            Ok(_) = shutdown.wait_for(|down| *down), if !going_away => {
                going_away = true;
                conn.as_mut().graceful_shutdown();
            }
            () = age_sleep.as_mut(), if !grace_running && age.is_some() => {
                tracing::debug!(?peer, "max connection age reached; sending GOAWAY");
                if !going_away {
                    going_away = true;
                    conn.as_mut().graceful_shutdown();
                }
                grace_running = true;
                grace_sleep.as_mut().reset(
                    Instant::now()
                        .checked_add(config.max_connection_age_grace)
                        .unwrap_or_else(far_future),
                );
            }
            () = grace_sleep.as_mut(), if grace_running => {
                tracing::debug!(?peer, "max connection age grace over; closing");
                return;
            }
            () = idle_sleep.as_mut(), if !going_away && config.max_connection_idle.is_some() => {
                let max_idle = config.max_connection_idle.unwrap_or(Duration::MAX);
                let idle_since = state.idle_since();
                let now = Instant::now();
                if state.active.load(Ordering::Acquire) == 0
                    && now.saturating_duration_since(idle_since) >= max_idle
                {
                    tracing::debug!(?peer, "connection idle too long; sending GOAWAY");
                    going_away = true;
                    conn.as_mut().graceful_shutdown();
                    // A client that never answers the GOAWAY's PING does
                    // not hold the connection for longer than the grace.
                    grace_running = true;
                    grace_sleep.as_mut().reset(
                        Instant::now()
                            .checked_add(config.max_connection_age_grace)
                            .unwrap_or_else(far_future),
                    );
                } else {
                    let next = if state.active.load(Ordering::Acquire) == 0 {
                        idle_since.checked_add(max_idle)
                    } else {
                        now.checked_add(max_idle)
                    };
                    idle_sleep.as_mut().reset(next.unwrap_or_else(far_future).max(now));
                }
            }
        }
    }
}

/// `start + after`, or never.
fn deadline(start: Instant, after: Option<Duration>) -> Instant {
    after
        .and_then(|after| start.checked_add(after))
        .unwrap_or_else(far_future)
}

/// A time that never comes (about thirty years away).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(30 * 365 * 24 * 60 * 60)
}

/// `age` ±10%, so that connections made together do not all go away
/// together (as grpc-go does).
fn jittered(age: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    // A number in [0, 2000]: from -10% (0) to +10% (2000), in steps of
    // 0.01%.
    let r = hasher.finish() % 2001;
    let ms = age.as_millis().min(u128::from(u64::MAX));
    let jittered = ms - ms / 10 + ms / 10 * u128::from(r) / 1000;
    Duration::from_millis(u64::try_from(jittered).unwrap_or(u64::MAX))
}

/// Why a connection was closed for misbehaving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Misbehaviour {
    TooManyPings,
    TooManyResets,
}

impl Misbehaviour {
    fn debug_data(self) -> &'static [u8] {
        match self {
            Misbehaviour::TooManyPings => b"too_many_pings",
            Misbehaviour::TooManyResets => b"too_many_resets",
        }
    }
}

/// A GOAWAY frame being written: up to 9 + 8 + 16 bytes.
struct GoAway {
    bytes: [u8; 33],
    len: usize,
    written: usize,
}

impl GoAway {
    fn new(last_stream_id: u32, why: Misbehaviour) -> GoAway {
        let debug = why.debug_data();
        let payload = 8 + debug.len();
        let mut bytes = [0u8; 33];
        bytes[2] = payload as u8;
        bytes[3] = GOAWAY;
        bytes[9..13].copy_from_slice(&(last_stream_id & 0x7fff_ffff).to_be_bytes());
        bytes[13..17].copy_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
        bytes[17..17 + debug.len()].copy_from_slice(debug);
        GoAway {
            bytes,
            len: 9 + payload,
            written: 0,
        }
    }
}

/// Where a connection closed for misbehaving is.
enum Closing {
    /// Writing the GOAWAY (once the server's output is at a frame
    /// boundary), for up to the linger time: a client that reads nothing
    /// does not hold the connection open.
    Writing(GoAway, Pin<Box<Sleep>>),
    /// Sending FIN.
    Shutdown,
    /// Reading and dropping the client's bytes until it closes or the
    /// linger time is over.
    Lingering(Pin<Box<Sleep>>),
    /// Done: reads see the end, writes go nowhere.
    Closed,
}

/// A frame header, as [`FrameHeaders::feed`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameHead {
    kind: u8,
    flags: u8,
    stream: u32,
    /// The payload's length.
    len: usize,
    /// Where the header ends in the bytes given to `feed`: a header split
    /// across two calls ends at less than 9.
    end: usize,
}

/// Follows the frame headers of an HTTP/2 byte stream.
#[derive(Default)]
struct FrameHeaders {
    header: [u8; 9],
    /// How many bytes of the current header have been seen.
    have: usize,
    /// How many payload bytes of the current frame are still to come.
    skip: usize,
}

impl FrameHeaders {
    /// Whether the stream is between two frames.
    fn at_boundary(&self) -> bool {
        self.have == 0 && self.skip == 0
    }

    /// Reads `bytes`, calling `on_frame` with each complete frame header;
    /// stops early when it returns `false`, and returns how many bytes were
    /// consumed.
    fn feed(&mut self, bytes: &[u8], mut on_frame: impl FnMut(FrameHead) -> bool) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len() - at);
                self.skip -= n;
                at += n;
                continue;
            }
            let n = (self.header.len() - self.have).min(bytes.len() - at);
            self.header[self.have..self.have + n].copy_from_slice(&bytes[at..at + n]);
            self.have += n;
            at += n;
            if self.have == self.header.len() {
                let [a, b, c, kind, flags, s0, s1, s2, s3] = self.header;
                self.skip = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                self.have = 0;
                let head = FrameHead {
                    kind,
                    flags,
                    stream: u32::from_be_bytes([s0, s1, s2, s3]) & 0x7fff_ffff,
                    len: self.skip,
                    end: at,
                };
                if !on_frame(head) {
                    return at;
                }
            }
        }
        at
    }
}

/// The server's keepalive (see the module docs).
///
/// hyper has a keepalive of its own, but it takes a lock and reads the
/// clock for every frame it receives: about 1% of a small unary call.
/// Here a read only sets a flag, and the clock is read once an interval.
struct Keepalive {
    interval: Duration,
    timeout: Duration,
    /// The end of the interval, or of the timeout once a PING is due.
    timer: Pin<Box<Sleep>>,
    /// Whether the client sent anything since the timer was last set.
    heard: bool,
    ping: PingState,
}

/// Where the keepalive PING is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PingState {
    /// None is due.
    Idle,
    /// Due, with this many of its bytes written (once the server's output
    /// is at a frame boundary).
    Writing(usize),
    /// Written; to flush.
    Flushing,
    /// Sent: any byte from the client now shows it alive.
    Sent,
}

impl Keepalive {
    fn new(interval: Duration, timeout: Duration) -> Keepalive {
        Keepalive {
            interval,
            timeout,
            timer: Box::pin(tokio::time::sleep(interval)),
            heard: false,
            ping: PingState::Idle,
        }
    }

    fn restart(&mut self, after: Duration) {
        let at = Instant::now().checked_add(after).unwrap_or_else(far_future);
        self.timer.as_mut().reset(at);
    }
}

/// The per-connection policy [`Guarded`] applies.
#[derive(Clone, Copy)]
struct Policy {
    ping_min_time: Duration,
    permit_without_stream: bool,
    max_resets: u32,
    reset_window: Duration,
}

/// A connection's byte stream, watched below hyper (see the module docs).
pub(crate) struct Guarded<IO> {
    io: IO,
    state: Arc<ConnState>,
    policy: Policy,
    /// Preface bytes still to come from the client.
    preface_left: usize,
    inbound: FrameHeaders,
    outbound: FrameHeaders,
    /// The highest stream the client opened.
    last_stream_id: u32,
    last_ping: Option<Instant>,
    ping_strikes: u32,
    /// Set when the server sends headers or data: the next ping starts
    /// the count afresh (as in grpc-go).
    reset_ping_strikes: bool,
    reset_window_start: Option<Instant>,
    resets: u32,
    misbehaviour: Option<Misbehaviour>,
    closing: Option<Closing>,
    read_waker: Option<Waker>,
    keepalive: Option<Keepalive>,
    /// Holds writes back for others to join them.
    coalescer: crate::coalesce::Coalescer,
}

impl<IO> Guarded<IO> {
    fn new(io: IO, state: Arc<ConnState>, config: &Config) -> Guarded<IO> {
        Guarded {
            io,
            state,
            policy: Policy {
                ping_min_time: config.keepalive_min_time,
                permit_without_stream: config.keepalive_permit_without_stream,
                max_resets: config.max_client_resets,
                reset_window: config.client_reset_window,
            },
            preface_left: PREFACE.len(),
            inbound: FrameHeaders::default(),
            outbound: FrameHeaders::default(),
            last_stream_id: 0,
            last_ping: None,
            ping_strikes: 0,
            reset_ping_strikes: false,
            reset_window_start: None,
            resets: 0,
            misbehaviour: None,
            closing: None,
            read_waker: None,
            keepalive: config
                .keepalive_interval
                .map(|interval| Keepalive::new(interval, config.keepalive_timeout)),
            coalescer: crate::coalesce::Coalescer::default(),
        }
    }

    /// Reads the client's bytes; sets `misbehaviour` past a limit. Gives
    /// where the acknowledgement of a keepalive PING starts in `bytes`,
    /// when all of its frame is there.
    fn inspect_inbound(&mut self, mut bytes: &[u8]) -> Option<usize> {
        let mut preface = 0;
        if self.preface_left > 0 {
            preface = self.preface_left.min(bytes.len());
            self.preface_left -= preface;
            bytes = &bytes[preface..];
            if self.preface_left == 0 {
                self.state.preface_seen.store(true, Ordering::Release);
            }
        }
        let mut keepalive_ack = None;
        let Guarded {
            inbound,
            state,
            policy,
            last_stream_id,
            last_ping,
            ping_strikes,
            reset_ping_strikes,
            reset_window_start,
            resets,
            misbehaviour,
            ..
        } = self;
        inbound.feed(bytes, |head| {
            match head.kind {
                HEADERS => *last_stream_id = (*last_stream_id).max(head.stream),
                // An answer to the keepalive: split across reads (rare), it
                // goes through to h2, which ignores it.
                PING if head.flags & ACK != 0 => {
                    let payload = bytes.get(head.end..head.end + 8);
                    if let (Some(start), 8) = (head.end.checked_sub(9), head.len) {
                        if payload == Some(&KEEPALIVE_PAYLOAD[..]) {
                            keepalive_ack = Some(preface + start);
                        }
                    }
                }
                PING => {
                    let now = Instant::now();
                    if std::mem::take(reset_ping_strikes) {
                        *ping_strikes = 0;
                    } else if let Some(last) = *last_ping {
                        let min = if policy.permit_without_stream
                            || state.active.load(Ordering::Acquire) > 0
                        {
                            policy.ping_min_time
                        } else {
                            policy.ping_min_time.max(IDLE_PING_MIN_TIME)
                        };
                        if now.saturating_duration_since(last) < min {
                            *ping_strikes += 1;
                            if *ping_strikes > MAX_PING_STRIKES {
                                *misbehaviour = Some(Misbehaviour::TooManyPings);
                            }
                        }
                    }
                    *last_ping = Some(now);
                }
                RST_STREAM => {
                    let now = Instant::now();
                    match *reset_window_start {
                        Some(start)
                            if now.saturating_duration_since(start) < policy.reset_window => {}
                        _ => {
                            *reset_window_start = Some(now);
                            *resets = 0;
                        }
                    }
                    *resets += 1;
                    if *resets > policy.max_resets {
                        *misbehaviour = Some(Misbehaviour::TooManyResets);
                    }
                }
                _ => {}
            }
            misbehaviour.is_none()
        });
        if let (Some(why), None) = (self.misbehaviour, &self.closing) {
            tracing::debug!(reason = ?why, "client misbehaves; sending GOAWAY ENHANCE_YOUR_CALM");
            self.closing = Some(Closing::Writing(
                GoAway::new(self.last_stream_id, why),
                Box::pin(tokio::time::sleep(LINGER)),
            ));
        }
        keepalive_ack
    }

    /// Reads the server's bytes as they go out.
    fn inspect_outbound(&mut self, bytes: &[u8]) {
        let reset = &mut self.reset_ping_strikes;
        self.outbound.feed(bytes, |head| {
            if head.kind == HEADERS || head.kind == DATA {
                *reset = true;
            }
            true
        });
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Guarded<IO> {
    /// Moves a closing connection on; `Ready` once it is closed.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.closing {
                None | Some(Closing::Closed) => return Poll::Ready(Ok(())),
                Some(Closing::Writing(goaway, deadline)) => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        self.closing = Some(Closing::Closed);
                        continue;
                    }
                    if !self.outbound.at_boundary() {
                        // A frame is half written: the writer finishes it,
                        // then wakes this reader.
                        self.read_waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    while goaway.written < goaway.len {
                        let n = ready!(
                            Pin::new(&mut self.io)
                                .poll_write(cx, &goaway.bytes[goaway.written..goaway.len])
                        )?;
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        goaway.written += n;
                    }
                    self.closing = Some(Closing::Shutdown);
                }
                Some(Closing::Shutdown) => {
                    ready!(Pin::new(&mut self.io).poll_shutdown(cx))?;
                    self.closing = Some(Closing::Lingering(Box::pin(tokio::time::sleep(LINGER))));
                }
                Some(Closing::Lingering(linger)) => {
                    if linger.as_mut().poll(cx).is_ready() {
                        self.closing = Some(Closing::Closed);
                        continue;
                    }
                    let mut scratch = [0u8; 512];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                        Ok(()) if buf.filled().is_empty() => self.closing = Some(Closing::Closed),
                        Ok(()) => {}
                        Err(_) => self.closing = Some(Closing::Closed),
                    }
                }
            }
        }
    }

    /// Moves the keepalive on, when the connection waits for bytes (to
    /// read or to write). An error ends the connection: the client did not
    /// answer in time.
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some(keepalive) = &mut self.keepalive else {
            return Ok(());
        };
        if self.closing.is_some() {
            return Ok(());
        }
        loop {
            match keepalive.ping {
                PingState::Idle => {
                    if keepalive.timer.as_mut().poll(cx).is_pending() {
                        return Ok(());
                    }
                    if std::mem::take(&mut keepalive.heard) {
                        keepalive.restart(keepalive.interval);
                    } else {
                        // Silent for an interval: a PING, and the timeout
                        // runs from now, whether or not it can be written.
                        keepalive.ping = PingState::Writing(0);
                        keepalive.restart(keepalive.timeout);
                    }
                }
                PingState::Writing(0) | PingState::Sent if keepalive.heard => {
                    keepalive.heard = false;
                    keepalive.ping = PingState::Idle;
                    keepalive.restart(keepalive.interval);
                }
                _ if keepalive.timer.as_mut().poll(cx).is_ready() => {
                    tracing::debug!(timeout = ?keepalive.timeout,
                        "keepalive PING not answered in time; closing the connection");
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "keepalive PING not answered",
                    ));
                }
                PingState::Writing(written) => {
                    if !self.outbound.at_boundary() {
                        // A frame is half written: the writer finishes it,
                        // then wakes this reader.
                        self.read_waker = Some(cx.waker().clone());
                        return Ok(());
                    }
                    let rest = KEEPALIVE_PING.get(written..).unwrap_or_default();
                    match Pin::new(&mut self.io).poll_write(cx, rest)? {
                        Poll::Pending => return Ok(()),
                        Poll::Ready(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Poll::Ready(n) if written + n >= KEEPALIVE_PING.len() => {
                            keepalive.ping = PingState::Flushing;
                        }
                        Poll::Ready(n) => keepalive.ping = PingState::Writing(written + n),
                    }
                }
                PingState::Flushing => {
                    if Pin::new(&mut self.io).poll_flush(cx)?.is_pending() {
                        return Ok(());
                    }
                    keepalive.ping = PingState::Sent;
                }
                PingState::Sent => return Ok(()),
            }
        }
    }

    /// Whether a keepalive PING waits for the server's output to reach a
    /// frame boundary.
    fn ping_waiting(&self) -> bool {
        matches!(
            self.keepalive,
            Some(Keepalive {
                ping: PingState::Writing(_),
                ..
            })
        )
    }

    /// Whether part of the keepalive PING is out: nothing else may be
    /// written until the rest is (the writer that found it so is woken
    /// when the socket takes more).
    fn ping_half_written(&self) -> bool {
        matches!(
            self.keepalive,
            Some(Keepalive {
                ping: PingState::Writing(1..),
                ..
            })
        )
    }

    /// Holds the first write of a flush back while more than one call is
    /// open, so the responses of the others join it (see
    /// [`crate::coalesce`]). A lone call would pay for the extra turn (8%
    /// of a one-stream bidi echo) with nothing to share it.
    fn poll_defer_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let others = self.state.active.load(Ordering::Relaxed) > 1;
        self.coalescer.poll_write_turn(cx, others)
    }

    /// What comes before each write of h2's bytes: `true` when they are to
    /// go nowhere (the GOAWAY is out, or goes out now instead), `false`
    /// once they may go (held back for coalescing, after a keepalive PING
    /// that was waiting for a frame boundary).
    fn poll_before_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.writes_discarded() {
            return Poll::Ready(Ok(true));
        }
        if self.closing.is_some() && self.outbound.at_boundary() {
            // Only the GOAWAY goes out from here on.
            ready!(self.poll_close(cx))?;
            return Poll::Ready(Ok(true));
        }
        ready!(self.poll_defer_write(cx));
        if self.ping_waiting() && self.outbound.at_boundary() {
            // The keepalive PING goes out before the next frame.
            self.poll_keepalive(cx)?;
            if self.ping_half_written() {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(false))
    }

    fn wake_reader(&mut self) {
        if self.outbound.at_boundary() {
            if let Some(waker) = self.read_waker.take() {
                waker.wake();
            }
        }
    }

    /// Whether writes should go nowhere: the GOAWAY is out.
    fn writes_discarded(&self) -> bool {
        matches!(
            self.closing,
            Some(Closing::Shutdown | Closing::Lingering(_) | Closing::Closed)
        )
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closing.is_some() {
            // The end of the stream, once the GOAWAY is out and the client
            // had its moment to read it.
            return this.poll_close(cx);
        }
        let before = buf.filled().len();
        loop {
            if Pin::new(&mut this.io).poll_read(cx, buf)?.is_pending() {
                this.poll_keepalive(cx)?;
                return Poll::Pending;
            }
            let filled = buf.filled().len();
            if filled == before {
                // The end of the stream.
                return Poll::Ready(Ok(()));
            }
            if let Some(keepalive) = &mut this.keepalive {
                keepalive.heard = true;
            }
            let Some(ack) = this.inspect_inbound(&buf.filled()[before..]) else {
                return Poll::Ready(Ok(()));
            };
            // The answer to the keepalive PING is the server's, not h2's:
            // it is taken out of what h2 reads.
            let start = before + ack;
            buf.filled_mut()
                .copy_within(start + KEEPALIVE_PING.len().., start);
            buf.set_filled(filled - KEEPALIVE_PING.len());
            if buf.filled().len() > before {
                return Poll::Ready(Ok(()));
            }
            // Nothing else came: read on, for no bytes would mean the end.
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if ready!(this.poll_before_write(cx))? {
            return Poll::Ready(Ok(buf.len()));
        }
        let Poll::Ready(n) = Pin::new(&mut this.io).poll_write(cx, buf)? else {
            this.poll_keepalive(cx)?;
            return Poll::Pending;
        };
        this.inspect_outbound(&buf[..n.min(buf.len())]);
        if this.read_waker.is_some() {
            this.wake_reader();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if ready!(this.poll_before_write(cx))? {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let Poll::Ready(n) = Pin::new(&mut this.io).poll_write_vectored(cx, bufs)? else {
            this.poll_keepalive(cx)?;
            return Poll::Pending;
        };
        let mut left = n;
        for buf in bufs {
            if left == 0 {
                break;
            }
            let take = left.min(buf.len());
            this.inspect_outbound(&buf[..take]);
            left -= take;
        }
        if this.read_waker.is_some() {
            this.wake_reader();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.writes_discarded() {
            return Poll::Ready(Ok(()));
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.coalescer.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.writes_discarded() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The connection's service, counting the calls open on it.
struct Tracked<S> {
    service: S,
    state: Arc<ConnState>,
}

/// Counts one open call while it lives.
struct ActiveCall {
    state: Arc<ConnState>,
}

impl ActiveCall {
    fn new(state: &Arc<ConnState>) -> ActiveCall {
        state.active.fetch_add(1, Ordering::AcqRel);
        ActiveCall {
            state: Arc::clone(state),
        }
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        if self.state.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            let ms = Instant::now()
                .saturating_duration_since(self.state.start)
                .as_millis()
                .min(u128::from(u64::MAX)) as u64;
            self.state.idle_since_ms.store(ms, Ordering::Release);
        }
    }
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
{
    type Response = http::Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let active = ActiveCall::new(&self.state);
        TrackedFuture {
            future: self.service.call(request),
            active: Some(active),
        }
    }
}

/// A call's response future, holding its count.
#[pin_project::pin_project]
pub(crate) struct TrackedFuture<F> {
    #[pin]
    future: F,
    active: Option<ActiveCall>,
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        let active = this.active.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _active: active,
        })))
    }
}

/// A call's response body, holding its count until the call ends.
#[pin_project::pin_project]
pub(crate) struct TrackedBody<B> {
    #[pin]
    body: B,
    _active: Option<ActiveCall>,
}

impl<B: http_body::Body> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let age = jittered(Duration::from_secs(100));
            assert!(age >= Duration::from_secs(90) && age <= Duration::from_secs(110));
        }
    }

    #[test]
    fn frame_headers_are_followed_however_the_bytes_are_split() {
        let mut stream = Vec::new();
        let frames = [
            (0x4u8, 0u8, 12usize, 0u32),
            (PING, 0, 8, 0),
            (PING, ACK, 8, 0),
            (DATA, 0, 300, 0x7fff_fffd),
            (0x1, 0x4, 0, 3),
            (DATA, 0x1, 1, 3),
        ];
        for (kind, flags, len, id) in frames {
            stream.extend([(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
            // The reserved bit is set, and must be ignored.
            stream.extend((id | 0x8000_0000).to_be_bytes());
            stream.extend(std::iter::repeat_n(PING, len));
        }
        let expected: Vec<_> = frames
            .iter()
            .map(|&(kind, flags, _, id)| (kind, flags, id))
            .collect();
        for split in [1, 2, 5, 8, 9, 10, 11, 100, stream.len()] {
            let mut parser = FrameHeaders::default();
            let mut seen = Vec::new();
            for chunk in stream.chunks(split) {
                parser.feed(chunk, |head| {
                    seen.push((head.kind, head.flags, head.stream));
                    true
                });
            }
            assert_eq!(seen, expected, "{split}");
            assert!(parser.at_boundary());
        }
    }

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const INTERVAL: Duration = Duration::from_secs(10);
    const TIMEOUT: Duration = Duration::from_secs(3);
    const SETTINGS_ACK: [u8; 9] = [0, 0, 0, 0x4, ACK, 0, 0, 0, 0];

    fn ping_ack(payload: [u8; 8]) -> [u8; 17] {
        let mut frame = [0u8; 17];
        frame[2] = 8;
        frame[3] = PING;
        frame[4] = ACK;
        frame[9..].copy_from_slice(&payload);
        frame
    }

    /// The server side of an in-memory connection with the keepalive of
    /// [`INTERVAL`] and [`TIMEOUT`], and the client side, once the client's
    /// preface went through.
    async fn keepalive_connection() -> (Guarded<DuplexStream>, DuplexStream) {
        let config = Config {
            keepalive_interval: Some(INTERVAL),
            keepalive_timeout: TIMEOUT,
            ..Config::default()
        };
        let (mut client, server) = tokio::io::duplex(4096);
        let mut guarded = Guarded::new(server, ConnState::new(Instant::now()), &config);
        client.write_all(PREFACE).await.unwrap();
        let mut preface = [0u8; 24];
        guarded.read_exact(&mut preface).await.unwrap();
        (guarded, client)
    }

    /// Reads from `guarded` until the client side has seen a keepalive
    /// PING, then has the client write `then` (maybe nothing); gives what
    /// `guarded` read.
    async fn answer_the_ping(
        guarded: &mut Guarded<DuplexStream>,
        client: &mut DuplexStream,
        then: &[u8],
    ) -> io::Result<Vec<u8>> {
        let mut buf = [0u8; 64];
        let read = guarded.read(&mut buf);
        tokio::pin!(read);
        let mut ping = [0u8; 17];
        tokio::select! {
            result = &mut read => panic!("the read ended before the PING: {result:?}"),
            result = client.read_exact(&mut ping) => result.unwrap(),
        };
        assert_eq!(ping, KEEPALIVE_PING);
        assert_eq!(&ping[..9], &[0, 0, 8, PING, 0, 0, 0, 0, 0]);
        client.write_all(then).await.unwrap();
        let n = read.await?;
        Ok(buf[..n].to_vec())
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_gets_a_keepalive_ping_and_its_answer_is_taken_out() {
        let (mut guarded, mut client) = keepalive_connection().await;
        let start = Instant::now();
        let mut answer = ping_ack(KEEPALIVE_PAYLOAD).to_vec();
        answer.extend(SETTINGS_ACK);
        let read = answer_the_ping(&mut guarded, &mut client, &answer).await;
        // h2 reads only what followed the answer.
        assert_eq!(read.unwrap(), SETTINGS_ACK);
        // The preface counted as hearing from the client: the PING went
        // out after the second silent interval.
        assert_eq!(start.elapsed(), 2 * INTERVAL);

        // Alone in a read, the answer is taken out and the read goes on
        // (returning no bytes would mean the end of the stream).
        let answer = ping_ack(KEEPALIVE_PAYLOAD);
        let read = answer_the_ping(&mut guarded, &mut client, &answer);
        let waited = tokio::time::timeout(INTERVAL / 2, read).await;
        assert!(waited.is_err(), "the read ended: {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn acknowledgements_of_other_pings_reach_h2() {
        let (mut guarded, mut client) = keepalive_connection().await;
        let other = ping_ack(*b"h2-ping!");
        let read = answer_the_ping(&mut guarded, &mut client, &other).await;
        assert_eq!(read.unwrap(), other);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_answer_the_ping_in_time_loses_the_connection() {
        let (mut guarded, mut client) = keepalive_connection().await;
        let start = Instant::now();
        // The PING comes; nothing goes back.
        let err = answer_the_ping(&mut guarded, &mut client, &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), 2 * INTERVAL + TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_keeps_sending_gets_no_ping() {
        let (mut guarded, mut client) = keepalive_connection().await;
        let start = Instant::now();
        let mut buf = [0u8; 64];
        while start.elapsed() < 5 * INTERVAL {
            tokio::time::sleep(INTERVAL / 2).await;
            client.write_all(&SETTINGS_ACK).await.unwrap();
            let n = guarded.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &SETTINGS_ACK);
        }
        // Nothing came from the server.
        let mut byte = [0u8; 1];
        let waited = tokio::time::timeout(Duration::ZERO, client.read(&mut byte)).await;
        assert!(waited.is_err(), "the server wrote: {waited:?}");
    }

    /// Polls one write of `bytes` once.
    fn poll_write_once(guarded: &mut Guarded<DuplexStream>, bytes: &[u8]) -> Poll<usize> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        Pin::new(guarded)
            .poll_write(&mut cx, bytes)
            .map(|written| written.unwrap())
    }

    #[tokio::test]
    async fn writes_wait_for_the_other_ready_tasks_while_calls_are_open() {
        let (mut client, server) = tokio::io::duplex(4096);
        let state = ConnState::new(Instant::now());
        let mut guarded = Guarded::new(server, Arc::clone(&state), &Config::default());

        // One call open: nothing could join the write, which goes at once.
        state.active.store(1, Ordering::Release);
        assert_eq!(poll_write_once(&mut guarded, b"one"), Poll::Ready(3));
        guarded.flush().await.unwrap();

        // Two: the write waits for the worker to run its other tasks, and
        // other wakes (the calls') in between leave it waiting.
        state.active.store(2, Ordering::Release);
        assert_eq!(poll_write_once(&mut guarded, b"two"), Poll::Pending);
        assert_eq!(poll_write_once(&mut guarded, b"two"), Poll::Pending);
        tokio::task::yield_now().await;
        assert_eq!(poll_write_once(&mut guarded, b"two"), Poll::Ready(3));
        // The rest of the flush goes on without waiting again.
        assert_eq!(poll_write_once(&mut guarded, b"2"), Poll::Ready(1));
        guarded.flush().await.unwrap();
        // The next flush waits again.
        assert_eq!(poll_write_once(&mut guarded, b"three"), Poll::Pending);

        let mut got = [0u8; 7];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"onetwo2");
    }

    #[test]
    fn a_goaway_names_the_reason() {
        let goaway = GoAway::new(7, Misbehaviour::TooManyPings);
        let bytes = &goaway.bytes[..goaway.len];
        assert_eq!(&bytes[..9], &[0, 0, 22, GOAWAY, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[9..13], &7u32.to_be_bytes());
        assert_eq!(&bytes[13..17], &ENHANCE_YOUR_CALM.to_be_bytes());
        assert_eq!(&bytes[17..], b"too_many_pings");
    }
}
