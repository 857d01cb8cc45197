//! How a [`Channel`](super::Channel) gets its connections: TCP by default,
//! or any connector (a `tower::Service<Uri>` returning an IO, as hyper-util's
//! connectors are), and the watch that sees a server's GOAWAY.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use http::Uri;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::util::BoxCloneSyncService;

use crate::error::BoxError;

/// A connection's byte stream, whatever the connector made it of.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed IO: what a custom connector's connections are, so that a
/// [`Channel`](super::Channel) stays one type whatever it dials through.
pub(crate) type BoxIo = Box<dyn Io>;

/// A connector with its IO boxed.
pub(crate) type BoxConnector = BoxCloneSyncService<Uri, BoxIo, BoxError>;

/// How the channel dials.
#[derive(Clone)]
pub(crate) enum Connector {
    /// TCP to the endpoint's host and port.
    Tcp,
    /// A connector given by the user.
    Custom(BoxConnector),
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connector::Tcp => f.write_str("Tcp"),
            Connector::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// An IO that watches the frames the server sends for a GOAWAY, so the
/// channel stops starting calls on a connection that is going away.
///
/// It reads only the 9-byte frame headers as they go by (the server's
/// first bytes are a frame: a server sends no preface string), copying and
/// allocating nothing.
///
/// A GOAWAY `ENHANCE_YOUR_CALM` with the debug data `too_many_pings` (the
/// server's keepalive enforcement) adds one to `calm`, once per
/// connection: the channel doubles its keepalive interval for each, as
/// grpc-go does.
///
/// It also coalesces the channel's writes, as the server does (see
/// `crate::coalesce`): while more than one call is open on the connection
/// (`open`, counted by [`OpenCall`]), the first write of each flush waits
/// for the calls ready meanwhile to add their requests. With one call, a
/// one-stream client or bidi stream would pay 7% for the extra turn.
pub(crate) struct GoAwayWatch<T> {
    io: T,
    parser: FrameHeaders,
    going_away: Arc<AtomicBool>,
    calm: Arc<AtomicU32>,
    told_to_calm: bool,
    open: Arc<AtomicUsize>,
    coalescer: crate::coalesce::Coalescer,
}

impl<T> GoAwayWatch<T> {
    pub(crate) fn new(
        io: T,
        going_away: Arc<AtomicBool>,
        calm: Arc<AtomicU32>,
        open: Arc<AtomicUsize>,
    ) -> GoAwayWatch<T> {
        GoAwayWatch {
            io,
            parser: FrameHeaders::default(),
            going_away,
            calm,
            told_to_calm: false,
            open,
            coalescer: crate::coalesce::Coalescer::default(),
        }
    }

    fn poll_write_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let others = self.open.load(Ordering::Relaxed) > 1;
        self.coalescer.poll_write_turn(cx, others)
    }
}

/// One call open on a connection, counted while it lives (from sending the
/// request to dropping the response body), for [`GoAwayWatch`]'s write
/// coalescing.
#[derive(Debug)]
pub(crate) struct OpenCall(Arc<AtomicUsize>);

impl OpenCall {
    pub(crate) fn new(open: &Arc<AtomicUsize>) -> OpenCall {
        open.fetch_add(1, Ordering::Relaxed);
        OpenCall(Arc::clone(open))
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GoAwayWatch<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let this = &mut *self;
            let seen = this.parser.feed(&buf.filled()[before..]);
            if seen.go_away {
                this.going_away.store(true, Ordering::Release);
            }
            if seen.too_many_pings && !std::mem::replace(&mut this.told_to_calm, true) {
                this.calm.fetch_add(1, Ordering::AcqRel);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GoAwayWatch<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_write_turn(cx));
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.coalescer.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_write_turn(cx));
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The HTTP/2 frame type of GOAWAY.
const GOAWAY: u8 = 0x7;

/// The HTTP/2 error code `ENHANCE_YOUR_CALM`.
const ENHANCE_YOUR_CALM: [u8; 4] = 0xbu32.to_be_bytes();

/// The debug data of a GOAWAY for too many pings.
const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// The bytes of a GOAWAY's payload worth reading: the last stream id, the
/// error code, and as much debug data as `too_many_pings`.
const GOAWAY_PREFIX: usize = 8 + TOO_MANY_PINGS.len();

/// What [`FrameHeaders::feed`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    /// A GOAWAY.
    go_away: bool,
    /// A GOAWAY `ENHANCE_YOUR_CALM` `too_many_pings`.
    too_many_pings: bool,
}

/// Follows the frame headers of an HTTP/2 byte stream.
#[derive(Default)]
struct FrameHeaders {
    header: [u8; 9],
    /// How many bytes of the current header have been read.
    have: usize,
    /// How many payload bytes of the current frame are still to come.
    skip: usize,
    /// The start of the current GOAWAY's payload, while in one.
    goaway: Option<([u8; GOAWAY_PREFIX], usize, usize)>,
}

impl FrameHeaders {
    /// Reads `bytes`; whether a GOAWAY frame was among them, and why.
    fn feed(&mut self, mut bytes: &[u8]) -> Seen {
        let mut seen = Seen::default();
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                if let Some((payload, have, len)) = &mut self.goaway {
                    let keep = n.min(GOAWAY_PREFIX - *have);
                    payload[*have..*have + keep].copy_from_slice(&bytes[..keep]);
                    *have += keep;
                    if *have == (*len).min(GOAWAY_PREFIX) {
                        seen.too_many_pings |= payload[4..8] == ENHANCE_YOUR_CALM
                            && *len == GOAWAY_PREFIX
                            && &payload[8..] == TOO_MANY_PINGS;
                        self.goaway = None;
                    }
                }
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (self.header.len() - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == self.header.len() {
                let [a, b, c, kind, ..] = self.header;
                self.skip = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                self.have = 0;
                if kind == GOAWAY {
                    seen.go_away = true;
                    self.goaway = (self.skip > 0).then_some(([0; GOAWAY_PREFIX], 0, self.skip));
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_wait_for_the_other_ready_tasks_while_calls_are_open() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (io, mut server) = tokio::io::duplex(4096);
        let open = Arc::new(AtomicUsize::new(0));
        let mut watch = GoAwayWatch::new(io, Arc::default(), Arc::default(), Arc::clone(&open));
        fn write(watch: &mut GoAwayWatch<tokio::io::DuplexStream>, bytes: &[u8]) -> Poll<usize> {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            Pin::new(watch)
                .poll_write(&mut cx, bytes)
                .map(|written| written.unwrap())
        }

        // One call open: the write goes at once.
        let first = OpenCall::new(&open);
        assert_eq!(write(&mut watch, b"one"), Poll::Ready(3));
        watch.flush().await.unwrap();

        // Two: the write waits for the worker's other ready tasks.
        let second = OpenCall::new(&open);
        assert_eq!(open.load(Ordering::Relaxed), 2);
        assert_eq!(write(&mut watch, b"two"), Poll::Pending);
        tokio::task::yield_now().await;
        assert_eq!(write(&mut watch, b"two"), Poll::Ready(3));

        // A call's end is counted.
        drop(second);
        drop(first);
        assert_eq!(open.load(Ordering::Relaxed), 0);
        watch.flush().await.unwrap();
        let mut got = [0u8; 6];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"onetwo");
    }

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            0,
            0,
            0,
            0,
            1,
        ];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn too_many_pings_is_seen_however_the_bytes_are_split() {
        let mut calm = vec![0, 0, 0, 3, 0, 0, 0, 0xb];
        calm.extend_from_slice(b"too_many_pings");
        let mut other = vec![0, 0, 0, 3, 0, 0, 0, 0xb];
        other.extend_from_slice(b"too_many_resets");
        let mut stream = frame(0x4, &[0; 12]);
        stream.extend(frame(GOAWAY, &other));
        stream.extend(frame(GOAWAY, &[0, 0, 0, 3, 0, 0, 0, 0]));
        let clean = stream.len();
        stream.extend(frame(GOAWAY, &calm));
        for split in [1, 2, 5, 9, 10, 100, stream.len()] {
            let mut parser = FrameHeaders::default();
            let seen: Vec<_> = stream[..clean]
                .chunks(split)
                .map(|c| parser.feed(c))
                .collect();
            assert!(!seen.iter().any(|s| s.too_many_pings), "{split}");
            let seen: Vec<_> = stream[clean..]
                .chunks(split)
                .map(|c| parser.feed(c))
                .collect();
            assert!(seen.iter().any(|s| s.too_many_pings), "{split}");
        }
    }

    #[test]
    fn a_goaway_is_seen_however_the_bytes_are_split() {
        let mut stream = frame(0x4, &[0; 12]); // SETTINGS
        stream.extend(frame(0x0, &[7; 300])); // DATA that looks like a GOAWAY header
        stream.extend(frame(GOAWAY, &[0; 8]));
        for split in [1, 2, 5, 9, 10, 100, stream.len()] {
            let mut parser = FrameHeaders::default();
            let seen = stream
                .chunks(split)
                .map(|c| parser.feed(c))
                .collect::<Vec<_>>();
            assert!(seen.iter().any(|s| s.go_away), "{split}");
            assert!(!seen.iter().any(|s| s.too_many_pings), "{split}");
            let mut parser = FrameHeaders::default();
            let before = stream.len() - 17;
            assert!(
                !stream[..before]
                    .chunks(split)
                    .any(|c| parser.feed(c).go_away),
                "{split}"
            );
        }
    }
}
