//! The transport's use of grpcx-codec: framing with the call's compression.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use grpcx_codec::{CompressionConfig, CompressionEncoding, Encoder, FrameDecoder, FrameEncoder};
use grpcx_status::Status;

use crate::context::Context as CallContext;

/// The first capacity of a stream's output buffer; it grows as needed and
/// is reused from one message to the next.
const INITIAL_BUFFER: usize = 8 * 1024;

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

/// Frames one message.
pub(crate) fn encode<E: Encoder>(
    frames: &mut FrameEncoder,
    encoder: &mut E,
    item: E::Item,
) -> Result<Bytes, Status> {
    let mut buf = BytesMut::new();
    frames.encode(encoder, item, &mut buf)?;
    Ok(buf.freeze())
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
{
    Box::pin(EncodeStream {
        messages,
        encoder,
        frames,
        context,
        buf: BytesMut::new(),
        done: false,
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
struct EncodeStream<S, E> {
    #[pin]
    messages: S,
    encoder: E,
    frames: FrameEncoder,
    context: Option<CallContext>,
    buf: BytesMut,
    done: bool,
}

impl<S, E> Stream for EncodeStream<S, E>
where
    S: Stream<Item = Result<E::Item, Status>>,
    E: Encoder,
{
    type Item = Result<Bytes, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match ready!(this.messages.poll_next(cx)) {
            Some(Ok(item)) => {
                if this.buf.capacity() == 0 {
                    this.buf.reserve(INITIAL_BUFFER);
                }
                if let Some(context) = this.context {
                    this.frames
                        .set_message_compression(context.message_compression());
                }
                match this.frames.encode(this.encoder, item, this.buf) {
                    Ok(()) => Poll::Ready(Some(Ok(this.buf.split().freeze()))),
                    Err(status) => {
                        *this.done = true;
                        Poll::Ready(Some(Err(status)))
                    }
                }
            }
            Some(Err(status)) => {
                *this.done = true;
                Poll::Ready(Some(Err(status)))
            }
            None => {
                *this.done = true;
                Poll::Ready(None)
            }
        }
    }
}
