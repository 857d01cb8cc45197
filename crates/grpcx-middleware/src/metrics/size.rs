//! [`MessageBytes`]: the compressed message sizes of A66, counted from a
//! body's chunks as they go by; [`CountedBody`], a request body counted so.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use grpcx_status::Status;
use grpcx_transport::Body;
use http_body::{Frame, SizeHint};
use pin_project::pin_project;

/// A body passed on unchanged, adding the message bytes it carries to a
/// counter kept in `owner` (the counter of `owner` that `counter` picks):
/// the requests a client attempt sends, or a server call receives.
#[pin_project]
pub(crate) struct CountedBody<T> {
    #[pin]
    inner: Body,
    bytes: MessageBytes,
    owner: Arc<T>,
    counter: fn(&T) -> &AtomicU64,
}

impl<T> CountedBody<T> {
    /// `inner`, its message bytes added to `counter(&owner)`.
    pub(crate) fn new(inner: Body, owner: Arc<T>, counter: fn(&T) -> &AtomicU64) -> Self {
        CountedBody {
            inner,
            bytes: MessageBytes::default(),
            owner,
            counter,
        }
    }
}

impl<T> http_body::Body for CountedBody<T> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let polled = ready!(this.inner.poll_frame(cx));
        if let Some(data) = polled
            .as_ref()
            .and_then(|frame| frame.as_ref().ok())
            .and_then(Frame::data_ref)
        {
            let counted = this.bytes.feed(data);
            if counted > 0 {
                (this.counter)(this.owner).fetch_add(counted, Ordering::Relaxed);
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts the payload bytes of the gRPC messages in a stream of chunks:
/// their lengths as on the wire (after compression), without the 5-byte
/// prefixes. A prefix or a payload may be split across chunks anywhere;
/// the counter keeps where it is between them. No copy, no allocation: a
/// chunk costs a few comparisons, plus one step per prefix byte.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MessageBytes {
    state: State,
    total: u64,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Reading a prefix: `seen` of its 5 bytes so far, and the length
    /// they give so far.
    Prefix { seen: u8, len: u32 },
    /// Inside a payload, `left` bytes of it still to come.
    Payload { left: u32 },
}

impl Default for State {
    fn default() -> State {
        State::Prefix { seen: 0, len: 0 }
    }
}

impl MessageBytes {
    /// Counts the payload bytes of `chunk`, the next bytes of the stream;
    /// returns how many it held.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> u64 {
        let mut counted = 0u64;
        let mut rest = chunk;
        while !rest.is_empty() {
            match &mut self.state {
                State::Prefix { seen, len } => {
                    let Some((&byte, tail)) = rest.split_first() else {
                        break;
                    };
                    rest = tail;
                    // Byte 0 is the compressed flag; 1 to 4 the length,
                    // big-endian.
                    if *seen > 0 {
                        *len = (*len << 8) | u32::from(byte);
                    }
                    *seen += 1;
                    if *seen == 5 {
                        self.state = match *len {
                            0 => State::default(),
                            left => State::Payload { left },
                        };
                    }
                }
                State::Payload { left } => {
                    let n = rest.len().min(*left as usize);
                    rest = rest.get(n..).unwrap_or_default();
                    counted += n as u64;
                    // `n <= left`, which is a `u32`.
                    *left -= n as u32;
                    if *left == 0 {
                        self.state = State::default();
                    }
                }
            }
        }
        self.total += counted;
        counted
    }

    /// The payload bytes counted so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two messages: 3 bytes (compressed flag set), then 0 bytes, then 300.
    fn stream() -> Vec<u8> {
        let mut bytes = vec![1, 0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0, 0, 0, 1, 44]);
        bytes.extend(std::iter::repeat_n(7u8, 300));
        bytes
    }

    #[test]
    fn counts_payloads_without_prefixes_in_one_chunk() {
        let mut counter = MessageBytes::default();
        assert_eq!(counter.feed(&stream()), 303);
        assert_eq!(counter.total(), 303);
    }

    #[test]
    fn counts_the_same_however_the_chunks_split() {
        let bytes = stream();
        // Every single split point, and every pair of them.
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                let mut counter = MessageBytes::default();
                let mut seen = 0;
                for chunk in [&bytes[..a], &bytes[a..b], &bytes[b..]] {
                    seen += counter.feed(chunk);
                }
                assert_eq!(counter.total(), 303, "split at {a} and {b}");
                assert_eq!(seen, 303);
            }
        }
        // One byte at a time.
        let mut counter = MessageBytes::default();
        for byte in &bytes {
            counter.feed(std::slice::from_ref(byte));
        }
        assert_eq!(counter.total(), 303);
    }

    #[test]
    fn a_stream_cut_short_counts_what_went_by() {
        let bytes = stream();
        let mut counter = MessageBytes::default();
        // The first message, and 10 bytes of the third.
        counter.feed(&bytes[..8 + 5 + 5 + 10]);
        assert_eq!(counter.total(), 13);
        // A prefix cut in two counts nothing.
        let mut counter = MessageBytes::default();
        counter.feed(&[0, 0, 0]);
        assert_eq!(counter.total(), 0);
        counter.feed(&[0, 2, 9, 9]);
        assert_eq!(counter.total(), 2);
    }

    #[test]
    fn the_largest_length_does_not_overflow() {
        let mut counter = MessageBytes::default();
        counter.feed(&[0, 0xff, 0xff, 0xff, 0xff]);
        counter.feed(&[0; 1000]);
        assert_eq!(counter.total(), 1000);
    }
}
