//! The transport's use of grpcx-codec: framing with the call's compression.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use grpcx_codec::{
    CompressionConfig, CompressionEncoding, Encoder, FrameDecoder, FrameEncoder, HEADER_LEN,
};
use grpcx_status::Status;

use crate::context::CallContext;

/// The capacity of a stream's output buffer, taken anew when a batch has
/// left less than a quarter of it; what a batch leaves serves the next one.
/// A batch never grows its buffer (that would copy it): a message that does
/// not fit starts the next batch.
const INITIAL_BUFFER: usize = 16 * 1024;

/// How many framed bytes a stream gathers, from messages that are ready,
/// before it hands them to HTTP/2 as one chunk.
const YIELD_THRESHOLD: usize = 32 * 1024;

/// A frame decoder for a stream whose messages use `encoding`.
pub(crate) fn frame_decoder(
    max_message_size: usize,
    encoding: CompressionEncoding,
) -> FrameDecoder {
    FrameDecoder::new()
        .encoding(encoding)
        .max_message_size(max_message_size)
}

/// A frame encoder compressing with `encoding`.
pub(crate) fn frame_encoder(
    config: &CompressionConfig,
    encoding: CompressionEncoding,
    max_message_size: usize,
) -> FrameEncoder {
    FrameEncoder::new()
        .encoding(encoding)
        .compression_level(config.level)
        .max_message_size(max_message_size)
}

/// The block a thread frames single messages in (see [`encode`]).
const ENCODE_BLOCK: usize = 8 * 1024;

thread_local! {
    /// What is left of this thread's block for single messages.
    // Made with the block's capacity, which `BytesMut` remembers: when a
    // frame does not fit in what is left and the block is still shared,
    // its `reserve` takes a new block at least that large.
    static ENCODE_BUFFER: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(ENCODE_BLOCK));
}

/// Frames one message: a unary request, or a unary answer.
///
/// The message is cut from a block the thread shares among its messages,
/// not framed in a buffer of its own: that is one allocation a call less
/// on each side, and the `Bytes` it makes is shared already, so a copy
/// kept to send it again (a refused stream, a retry) allocates nothing.
/// Once every message cut from the block is dropped, the block is reused
/// in place; a message larger than the block gets a buffer of its own.
pub(crate) fn encode<E: Encoder>(
    frames: &mut FrameEncoder,
    encoder: &mut E,
    item: E::Item,
) -> Result<Bytes, Status> {
    let mut item = Some(item);
    let shared = ENCODE_BUFFER.with(|buffer| {
        // An encoder that frames a message of its own on this thread while
        // encoding finds the block taken, and gets a buffer of its own.
        let mut buffer = buffer.try_borrow_mut().ok()?;
        let item = item.take()?;
        Some(
            frames
                .encode(encoder, item, &mut buffer)
                .map(|()| buffer.split().freeze()),
        )
    });
    match (shared, item) {
        (Some(framed), _) => framed,
        (None, Some(item)) => {
            let mut buf = BytesMut::new();
            frames.encode(encoder, item, &mut buf)?;
            Ok(buf.freeze())
        }
        (None, None) => Err(Status::internal("a message was lost while it was framed")),
    }
}

/// Frames every message of a stream of results, ending at the first error
/// (which the stream passes on).
///
/// With a server call's `context`, each message follows the context's
/// per-message compression switch.
pub(crate) fn encode_result_stream<S, E>(
    messages: S,
    encoder: E,
    frames: FrameEncoder,
    context: Option<CallContext>,
) -> Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>
where
    S: Stream<Item = Result<E::Item, Status>> + Send + 'static,
    E: Encoder + Send + 'static,
    E::Item: Send,
{
    Box::pin(EncodeStream {
        messages,
        encoder,
        frames,
        context,
        buf: BytesMut::new(),
        held: None,
        end: End::No,
    })
}

/// Frames every message of a stream of plain messages.
pub(crate) fn encode_stream<S, E>(
    messages: S,
    encoder: E,
    frames: FrameEncoder,
) -> Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>
where
    S: Stream<Item = E::Item> + Send + 'static,
    E: Encoder + Send + 'static,
    E::Item: Send,
{
    encode_result_stream(Oks(messages), encoder, frames, None)
}

#[pin_project::pin_project]
struct Oks<S>(#[pin] S);

impl<S: Stream> Stream for Oks<S> {
    type Item = Result<S::Item, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project().0.poll_next(cx).map(|item| item.map(Ok))
    }
}

#[pin_project::pin_project]
struct EncodeStream<S, E: Encoder> {
    #[pin]
    messages: S,
    encoder: E,
    frames: FrameEncoder,
    context: Option<CallContext>,
    buf: BytesMut,
    /// A message that did not fit in the batch handed out before it: the
    /// first of the next.
    held: Option<E::Item>,
    end: End,
}

impl<S, E> Stream for EncodeStream<S, E>
where
    S: Stream<Item = Result<E::Item, Status>>,
    E: Encoder,
{
    type Item = Result<Bytes, Status>;

    /// Frames every message that is ready, up to [`YIELD_THRESHOLD`] bytes,
    /// into one chunk: a stream of small messages then costs one HTTP/2
    /// DATA frame per batch, not per message. What ends the stream (an
    /// error, or the end) comes after the messages framed before it.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        match this.end {
            End::No => {}
            End::Done => return Poll::Ready(None),
            End::After(_) => {
                let end = std::mem::replace(this.end, End::Done);
                return Poll::Ready(match end {
                    End::After(Some(status)) => Some(Err(status)),
                    _ => None,
                });
            }
        }
        loop {
            let messages = this.messages.as_mut();
            let polled = match this.held.take() {
                Some(item) => Ok(Poll::Ready(Some(Ok(item)))),
                None => catch_unwind(AssertUnwindSafe(|| messages.poll_next(cx))),
            };
            let next = match polled {
                Ok(Poll::Pending) if this.buf.is_empty() => return Poll::Pending,
                Ok(Poll::Pending) => break,
                Ok(Poll::Ready(next)) => next,
                // A panicking stream is never polled again; what it yielded
                // before goes out first.
                Err(panic) => Some(Err(crate::server::stream_panicked(
                    this.context.as_ref(),
                    &*panic,
                ))),
            };
            let end = match next {
                Some(Ok(item)) => {
                    let needed = HEADER_LEN.saturating_add(this.encoder.encoded_len_hint(&item));
                    if this.buf.is_empty() {
                        start_batch(this.buf, needed);
                    } else if this.buf.capacity() - this.buf.len() < needed {
                        // Growing the buffer would copy the batch: it goes
                        // out as it is, and this message starts the next.
                        *this.held = Some(item);
                        break;
                    }
                    if let Some(context) = this.context {
                        this.frames
                            .set_message_compression(context.message_compression());
                    }
                    match this.frames.encode(this.encoder, item, this.buf) {
                        Ok(()) if this.buf.len() >= YIELD_THRESHOLD => break,
                        Ok(()) => continue,
                        Err(status) => Some(status),
                    }
                }
                Some(Err(status)) => Some(status),
                None => None,
            };
            if this.buf.is_empty() {
                *this.end = End::Done;
                return Poll::Ready(end.map(Err));
            }
            *this.end = End::After(end);
            break;
        }
        Poll::Ready(Some(Ok(this.buf.split().freeze())))
    }
}

/// Readies the empty `buf` for a batch whose first message takes `needed`
/// framed bytes. What the last batch left serves this one, unless it is
/// too little to batch in. A message larger than a buffer gets a buffer of
/// its own, reserved by the frame encoder, which knows the size limit (a
/// message over it reserves nothing).
fn start_batch(buf: &mut BytesMut, needed: usize) {
    if buf.capacity() < needed.max(INITIAL_BUFFER / 4) {
        *buf = if needed > INITIAL_BUFFER {
            BytesMut::new()
        } else {
            BytesMut::with_capacity(INITIAL_BUFFER)
        };
    }
}

/// How far an [`EncodeStream`] is from its end.
enum End {
    /// Messages may follow.
    No,
    /// The stream ended (with an error, or not) after the framed messages
    /// not yet handed out.
    After(Option<Status>),
    /// Nothing follows.
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpcx_codec::{Codec as _, Decoder as _, ProstCodec};

    fn encode_one(message: &str) -> Result<Bytes, Status> {
        let mut codec = ProstCodec::<String, String>::default().encoder();
        encode(&mut FrameEncoder::new(), &mut codec, message.to_owned())
    }

    #[test]
    fn single_messages_are_cut_from_one_block_and_decode() {
        std::thread::spawn(|| {
            let framed: Vec<Bytes> = (0..50)
                .map(|i| encode_one(&format!("message {i}")).unwrap())
                .collect();
            // Each follows the last in the thread's block.
            for pair in framed.windows(2) {
                let end = pair[0].as_ptr().wrapping_add(pair[0].len());
                assert_eq!(end, pair[1].as_ptr());
            }
            let decoded = decode(&framed.into_iter().map(Ok).collect::<Vec<_>>());
            let expected: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
            assert_eq!(decoded, expected);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_message_larger_than_the_block_is_framed_whole() {
        std::thread::spawn(|| {
            let small = encode_one("before").unwrap();
            let large = "x".repeat(3 * ENCODE_BLOCK);
            let framed = encode_one(&large).unwrap();
            let after = encode_one("after").unwrap();
            let decoded = decode(&[Ok(small), Ok(framed), Ok(after)]);
            assert_eq!(decoded, ["before".to_owned(), large, "after".to_owned()]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_encoder_that_frames_while_it_encodes_gets_a_buffer_of_its_own() {
        struct Nested;
        impl Encoder for Nested {
            type Item = String;
            fn encode(&mut self, item: String, dst: &mut BytesMut) -> Result<(), Status> {
                // The thread's block is taken by the outer call.
                let inner = encode_one(&item)?;
                dst.extend_from_slice(&inner);
                Ok(())
            }
        }
        let framed = encode(&mut FrameEncoder::new(), &mut Nested, "inside".to_owned()).unwrap();
        // The outer frame holds the inner one: 5 + 5 + the message's 8.
        assert_eq!(framed.len(), 18);
        assert_eq!(decode(&[Ok(framed.slice(5..))]), ["inside".to_owned()]);
    }

    fn encode_all(items: Vec<Result<String, Status>>) -> Vec<Result<Bytes, Status>> {
        let codec = ProstCodec::<String, String>::default().encoder();
        let mut stream =
            encode_result_stream(futures_util_iter(items), codec, FrameEncoder::new(), None);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
            out.push(item);
        }
        out
    }

    /// A ready stream over a vector, without pulling in futures-util.
    fn futures_util_iter<T: Unpin + Send + 'static>(items: Vec<T>) -> impl Stream<Item = T> + Send {
        struct Iter<T>(std::vec::IntoIter<T>);
        impl<T: Unpin> Stream for Iter<T> {
            type Item = T;
            fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
                Poll::Ready(self.0.next())
            }
        }
        Iter(items.into_iter())
    }

    fn decode(chunks: &[Result<Bytes, Status>]) -> Vec<String> {
        let mut frames = FrameDecoder::new();
        let mut decoder = ProstCodec::<String, String>::default().decoder();
        let mut out = Vec::new();
        for chunk in chunks.iter().flatten() {
            frames.push(chunk.clone());
            while let Some(message) = frames.next_message().unwrap() {
                out.push(decoder.decode(message).unwrap());
            }
        }
        out
    }

    #[test]
    fn ready_messages_are_batched_into_one_chunk() {
        let items: Vec<_> = (0..100).map(|i| Ok(format!("m{i}"))).collect();
        let chunks = encode_all(items);
        assert_eq!(chunks.len(), 1, "100 small messages fit in one chunk");
        let messages = decode(&chunks);
        assert_eq!(messages.len(), 100);
        assert_eq!(messages[99], "m99");
    }

    #[test]
    fn batches_stop_at_the_threshold() {
        let big = "x".repeat(10_000);
        let items: Vec<_> = (0..10).map(|_| Ok(big.clone())).collect();
        let chunks = encode_all(items);
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        assert_eq!(decode(&chunks).len(), 10);
    }

    #[test]
    fn a_batch_is_never_grown_a_message_that_does_not_fit_starts_the_next() {
        // Growing a batch's buffer would copy what it holds; 1 KiB messages
        // fill whole buffers instead, each handed out as it is.
        let items: Vec<_> = (0..50)
            .map(|i| Ok(format!("{i:04}{}", "x".repeat(996))))
            .collect();
        let chunks = encode_all(items);
        for chunk in chunks.iter().flatten() {
            assert!(
                chunk.len() <= INITIAL_BUFFER,
                "a chunk of {} bytes",
                chunk.len()
            );
        }
        assert_eq!(chunks.len(), 50usize.div_ceil(INITIAL_BUFFER / 1008));
        let messages = decode(&chunks);
        assert_eq!(messages.len(), 50);
        assert!(
            messages
                .iter()
                .enumerate()
                .all(|(i, m)| m.starts_with(&format!("{i:04}")))
        );
    }

    #[test]
    fn a_batch_starts_in_what_the_last_left_or_in_a_buffer_of_its_own() {
        // A tail big enough is kept.
        let mut buf = BytesMut::with_capacity(10_000);
        start_batch(&mut buf, 1_000);
        assert!(buf.capacity() >= 10_000);
        // A small tail is replaced by a whole buffer.
        let mut buf = BytesMut::with_capacity(1_000);
        start_batch(&mut buf, 500);
        assert_eq!(buf.capacity(), INITIAL_BUFFER);
        // A large message is left to the frame encoder and its limit: no
        // buffer of the announced size is made here.
        let mut buf = BytesMut::with_capacity(1_000);
        start_batch(&mut buf, 64 << 20);
        assert!(buf.capacity() < INITIAL_BUFFER, "{}", buf.capacity());
    }

    #[test]
    fn a_message_over_the_limit_is_refused_in_the_stream() {
        // 64 MiB announced, 1 KiB allowed: refused without a 64 MiB buffer.
        let frames = FrameEncoder::new().max_message_size(1024);
        let codec = ProstCodec::<String, String>::default().encoder();
        let huge = "x".repeat(64 << 20);
        let mut stream =
            encode_result_stream(futures_util_iter(vec![Ok(huge)]), codec, frames, None);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(Some(Err(status))) = stream.as_mut().poll_next(&mut cx) else {
            panic!("the oversized message was not refused");
        };
        assert_eq!(status.code(), grpcx_status::Code::ResourceExhausted);
    }

    #[test]
    fn a_panicking_stream_ends_with_internal_after_the_messages_before_it() {
        struct Panicky(u32);
        impl Stream for Panicky {
            type Item = Result<String, Status>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                self.0 += 1;
                if self.0 > 2 {
                    panic!("secret state");
                }
                Poll::Ready(Some(Ok(format!("m{}", self.0))))
            }
        }
        let codec = ProstCodec::<String, String>::default().encoder();
        let mut stream = encode_result_stream(Panicky(0), codec, FrameEncoder::new(), None);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut chunks = Vec::new();
        while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
            chunks.push(item);
        }
        assert_eq!(chunks.len(), 2);
        assert_eq!(decode(&chunks[..1]), ["m1", "m2"]);
        let status = chunks[1].as_ref().unwrap_err();
        assert_eq!(status.code(), grpcx_status::Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn an_error_comes_after_the_messages_before_it() {
        let items = vec![
            Ok("a".to_owned()),
            Ok("b".to_owned()),
            Err(Status::aborted("stop")),
            Ok("never".to_owned()),
        ];
        let chunks = encode_all(items);
        assert_eq!(chunks.len(), 2);
        assert_eq!(decode(&chunks[..1]), ["a", "b"]);
        assert_eq!(chunks[1].as_ref().unwrap_err().message(), "stop");
    }
}
