//! Length-prefixed messages: [`FrameEncoder`] writes them, [`FrameDecoder`]
//! reads them back from chunks cut anywhere.
//!
//! Every gRPC message travels in a frame of its own:
//!
//! ```text
//! +------------+--------------------------+------------------+
//! | compressed | length (u32, big-endian) | message (length) |
//! |   1 byte   |         4 bytes          |      bytes       |
//! +------------+--------------------------+------------------+
//! ```
//!
//! The compressed flag is 0 (the message is as encoded) or 1 (the message is
//! compressed with the stream's `grpc-encoding`); any other value is a
//! protocol error.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf as _, Bytes, BytesMut};
use grpcx_status::Status;

use crate::codec::Encoder;
use crate::compression::{CompressionEncoding, CompressionLevel, Compressor, Decompressor};
use crate::error::CodecError;

/// The length of a message header: a 1-byte compressed flag and a 4-byte
/// big-endian length.
pub const HEADER_LEN: usize = 5;

/// The default maximum size of a received message, 4 MiB, as in the other
/// gRPC implementations. It bounds both the length prefix and the size
/// after decompression.
pub const DEFAULT_MAX_DECODE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The default maximum size of a sent message: no limit beyond what the
/// length prefix can say (`u32::MAX` bytes).
pub const DEFAULT_MAX_ENCODE_MESSAGE_SIZE: usize = usize::MAX;

/// A scratch buffer that grew past this is dropped after use rather than
/// kept, so one huge message does not pin its memory for the whole stream.
const SCRATCH_KEEP: usize = 1024 * 1024;

/// Writes messages as gRPC frames into a [`BytesMut`], compressing them if
/// asked.
///
/// Without compression a message is encoded in place: the encoder reserves
/// the 5-byte header in the output, encodes the message right after it, and
/// fills in the length, so nothing is copied. With compression the message
/// is encoded into a scratch buffer the encoder keeps, then compressed into
/// the output; the scratch buffer and the compressor's state are reused
/// from one message to the next.
///
/// On error the output is left as it was: no partial frame is ever written.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use grpcx_codec::FrameEncoder;
///
/// let mut encoder = FrameEncoder::default();
/// let mut out = BytesMut::new();
/// encoder.encode_bytes(b"hi", &mut out)?;
/// assert_eq!(&out[..], b"\x00\x00\x00\x00\x02hi");
/// # Ok::<(), grpcx_status::Status>(())
/// ```
pub struct FrameEncoder {
    encoding: CompressionEncoding,
    /// Whether the next messages are compressed (when `encoding` compresses).
    compress_messages: bool,
    level: CompressionLevel,
    max_message_size: usize,
    scratch: BytesMut,
    compressor: Compressor,
}

/// Reads gRPC frames from a stream of [`Bytes`] chunks cut anywhere, and
/// hands out each message, decompressed, as [`Bytes`].
///
/// Push every chunk of the stream with [`push`](Self::push), take the
/// messages that are complete with [`next_message`](Self::next_message)
/// until it returns `Ok(None)`, and when the stream ends call
/// [`finish`](Self::finish), which fails if the stream stopped inside a
/// message.
///
/// # Copies
///
/// The decoder keeps a queue of the chunks it was given. A message that
/// lies within one chunk is handed out as a slice of that chunk, with no
/// copy (the slice keeps the chunk's memory alive while it lives). Only a
/// message that spans chunks is copied, exactly once, into a buffer of its
/// size; that buffer's memory is reused for later messages once the
/// message handed out is dropped. A compressed message is decompressed into
/// a reused buffer too.
///
/// # Limits
///
/// A length prefix over the maximum message size (4 MiB by default) is
/// refused with `RESOURCE_EXHAUSTED` as soon as the 5-byte header is read,
/// before waiting for the body or reserving memory for it; decompression
/// stops with the same error when the output would pass the limit, so a zip
/// bomb costs at most the limit in memory. Nothing is reserved for a
/// message before all of its bytes have arrived.
///
/// # Errors
///
/// Every error is a [`Status`] made from a [`CodecError`] (see its table),
/// with [`Origin::Protocol`](grpcx_status::Origin::Protocol). After an error
/// the stream cannot be read any further: the decoder returns the same
/// status from every later call, and the call should end with it.
///
/// # Examples
///
/// A transport drives it from its body's data frames. Here the chunks cut
/// the second message in the middle of its header:
///
/// ```
/// use bytes::Bytes;
/// use grpcx_codec::FrameDecoder;
///
/// let chunks = [
///     Bytes::from_static(b"\x00\x00\x00\x00\x05hello\x00\x00"),
///     Bytes::from_static(b"\x00\x00\x05world"),
/// ];
/// let mut decoder = FrameDecoder::default();
/// let mut messages = Vec::new();
/// for chunk in chunks {
///     decoder.push(chunk);
///     while let Some(message) = decoder.next_message()? {
///         messages.push(message);
///     }
/// }
/// // The body ended (`poll_frame` gave `None`, or the trailers came).
/// decoder.finish()?;
/// assert_eq!(messages, ["hello", "world"]);
/// # Ok::<(), grpcx_status::Status>(())
/// ```
///
/// A stream that stops inside a message fails when it is finished:
///
/// ```
/// use bytes::Bytes;
/// use grpcx_codec::FrameDecoder;
/// use grpcx_status::Code;
///
/// let mut decoder = FrameDecoder::default();
/// decoder.push(Bytes::from_static(b"\x00\x00\x00\x00\x0aabc"));
/// assert_eq!(decoder.next_message()?, None);
/// let status = decoder.finish().unwrap_err();
/// assert_eq!(status.code(), Code::Internal);
/// assert_eq!(status.message(), "stream ended inside a message: expected 10 bytes, got 3");
/// # Ok::<(), grpcx_status::Status>(())
/// ```
pub struct FrameDecoder {
    chunks: Chunks,
    buffered: usize,
    state: State,
    encoding: CompressionEncoding,
    max_message_size: usize,
    assembly: BytesMut,
    decompressed: BytesMut,
    decompressor: Decompressor,
}

enum State {
    /// Waiting for the 5-byte header of the next message.
    Header,
    /// The header was read; waiting for `len` bytes of message.
    Body { compressed: bool, len: usize },
    /// The stream broke; every later call returns this status.
    Failed(Status),
}

impl FrameEncoder {
    /// A frame encoder that does not compress and has no size limit
    /// (the same as `FrameEncoder::default()`).
    pub fn new() -> FrameEncoder {
        FrameEncoder {
            encoding: CompressionEncoding::Identity,
            compress_messages: true,
            level: CompressionLevel::DEFAULT,
            max_message_size: DEFAULT_MAX_ENCODE_MESSAGE_SIZE,
            scratch: BytesMut::new(),
            compressor: Compressor::default(),
        }
    }

    /// Compresses every message with `encoding` (the stream's
    /// `grpc-encoding`, chosen with
    /// [`CompressionConfig::send_encoding_for`](crate::CompressionConfig::send_encoding_for)
    /// on a server). `identity` turns compression off.
    #[must_use]
    pub fn encoding(mut self, encoding: CompressionEncoding) -> FrameEncoder {
        self.encoding = encoding;
        self
    }

    /// Whether the next messages are compressed, when the stream's encoding
    /// compresses (they are by default). gRPC flags each message, so a
    /// stream may send some messages uncompressed, for instance ones that
    /// are already compressed or must not be (to avoid CRIME/BREACH-style
    /// leaks of secrets next to attacker-chosen data).
    pub fn set_message_compression(&mut self, enabled: bool) {
        self.compress_messages = enabled;
    }

    /// Compresses at `level` (6 by default).
    #[must_use]
    pub fn compression_level(mut self, level: CompressionLevel) -> FrameEncoder {
        self.level = level;
        self
    }

    /// Refuses messages longer than `limit` bytes, before or after
    /// compression, with `RESOURCE_EXHAUSTED` (no limit by default).
    #[must_use]
    pub fn max_message_size(mut self, limit: usize) -> FrameEncoder {
        self.max_message_size = limit;
        self
    }

    /// Encodes `item` with `encoder` and appends it to `dst` as one frame.
    ///
    /// # Errors
    ///
    /// The encoder's own error, or `RESOURCE_EXHAUSTED` for a message over
    /// the maximum size or longer than `u32::MAX` bytes, or `INTERNAL` if
    /// compression fails. `dst` is then left as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use grpcx_codec::{Codec as _, FrameEncoder, ProstCodec};
    ///
    /// #[derive(Clone, PartialEq, prost::Message)]
    /// struct Hello {
    ///     #[prost(string, tag = "1")]
    ///     name: String,
    /// }
    ///
    /// let mut codec = ProstCodec::<Hello, Hello>::default();
    /// let mut encoder = codec.encoder();
    /// let mut frames = FrameEncoder::default();
    /// let mut out = BytesMut::new();
    /// frames.encode(&mut encoder, Hello { name: "grpcx".into() }, &mut out)?;
    /// assert_eq!(&out[..], b"\x00\x00\x00\x00\x07\x0a\x05grpcx");
    /// # Ok::<(), grpcx_status::Status>(())
    /// ```
    pub fn encode<E>(
        &mut self,
        encoder: &mut E,
        item: E::Item,
        dst: &mut BytesMut,
    ) -> Result<(), Status>
    where
        E: Encoder + ?Sized,
    {
        let hint = encoder.encoded_len_hint(&item);
        self.frame(dst, hint, |buf| encoder.encode(item, buf))
    }

    /// Appends `message`, already encoded, to `dst` as one frame
    /// (compressed if the encoder compresses).
    ///
    /// # Errors
    ///
    /// As for [`encode`](Self::encode).
    pub fn encode_bytes(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), Status> {
        self.frame(dst, message.len(), |buf| {
            buf.extend_from_slice(message);
            Ok(())
        })
    }

    /// Appends one frame whose message `write` writes, `hint` bytes long
    /// as far as the encoder knows: room for it is reserved at once, so a
    /// frame costs one allocation at most rather than one per growth.
    fn frame<F>(&mut self, dst: &mut BytesMut, hint: usize, write: F) -> Result<(), Status>
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Status>,
    {
        let start = dst.len();
        // A hint over the limit is an error `write` will report; reserve no
        // more than the limit allows.
        let hint = hint.min(self.max_message_size);
        let result = if self.encoding.is_compressed() && self.compress_messages {
            self.scratch.reserve(hint);
            self.frame_compressed(start, dst, write)
        } else {
            dst.reserve(HEADER_LEN.saturating_add(hint));
            dst.extend_from_slice(&[0; HEADER_LEN]);
            write(dst).and_then(|()| {
                let len = dst
                    .len()
                    .checked_sub(start + HEADER_LEN)
                    .ok_or(CodecError::EncoderTruncatedOutput)?;
                check_encode_len(len, self.max_message_size)?;
                write_header(dst, start, false, len)
            })
        };
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }

    fn frame_compressed<F>(
        &mut self,
        start: usize,
        dst: &mut BytesMut,
        write: F,
    ) -> Result<(), Status>
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Status>,
    {
        self.scratch.clear();
        let result = write(&mut self.scratch).and_then(|()| {
            check_encode_len(self.scratch.len(), self.max_message_size)?;
            dst.extend_from_slice(&[1, 0, 0, 0, 0]);
            self.compressor
                .compress(self.encoding, self.level, &self.scratch, dst)?;
            let len = dst.len() - start - HEADER_LEN;
            check_encode_len(len, self.max_message_size)?;
            write_header(dst, start, true, len)
        });
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = BytesMut::new();
        }
        result
    }
}

impl Default for FrameEncoder {
    fn default() -> Self {
        FrameEncoder::new()
    }
}

impl fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("encoding", &self.encoding)
            .field("level", &self.level)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

impl FrameDecoder {
    /// A frame decoder for a stream without compression (`grpc-encoding`
    /// absent or `identity`) and a 4 MiB message limit (the same as
    /// `FrameDecoder::default()`).
    pub fn new() -> FrameDecoder {
        FrameDecoder {
            chunks: Chunks::default(),
            buffered: 0,
            state: State::Header,
            encoding: CompressionEncoding::Identity,
            max_message_size: DEFAULT_MAX_DECODE_MESSAGE_SIZE,
            assembly: BytesMut::new(),
            decompressed: BytesMut::new(),
            decompressor: Decompressor::default(),
        }
    }

    /// Decompresses the messages flagged compressed with `encoding`, the
    /// stream's `grpc-encoding` as read by
    /// [`CompressionConfig::request_encoding`](crate::CompressionConfig::request_encoding)
    /// or [`response_encoding`](crate::CompressionConfig::response_encoding).
    /// With `identity` (the default) a message flagged compressed is a
    /// protocol error.
    #[must_use]
    pub fn encoding(mut self, encoding: CompressionEncoding) -> FrameDecoder {
        self.encoding = encoding;
        self
    }

    /// Refuses messages longer than `limit` bytes, as sent or once
    /// decompressed, with `RESOURCE_EXHAUSTED` (4 MiB by default).
    #[must_use]
    pub fn max_message_size(mut self, limit: usize) -> FrameDecoder {
        self.max_message_size = limit;
        self
    }

    /// Adds the next chunk of the stream. Empty chunks are ignored, and so
    /// is everything after an error (the stream is broken; nothing more is
    /// buffered).
    ///
    /// Pushing never fails and never copies: the chunk is queued until
    /// [`next_message`](Self::next_message) takes its messages.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() && !matches!(self.state, State::Failed(_)) {
            self.buffered += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// The next complete message, decompressed, or `None` when more bytes
    /// are needed.
    ///
    /// Call it until it returns `Ok(None)` after each
    /// [`push`](Self::push): one chunk may complete many messages.
    ///
    /// # Errors
    ///
    /// - `RESOURCE_EXHAUSTED`: the length prefix is over the maximum
    ///   message size (checked as soon as the header is here), or the
    ///   message is once decompressed.
    /// - `INTERNAL`: a compressed flag other than 0 or 1; a compressed
    ///   message on a stream without encoding; data that does not
    ///   decompress.
    ///
    /// After an error every later call returns the same status.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, Status> {
        if let State::Failed(status) = &self.state {
            return Err(status.clone());
        }
        self.read_message().map_err(|err| {
            let status = Status::from(err);
            self.state = State::Failed(status.clone());
            status
        })
    }

    /// Checks that the stream ended between messages. Call it when the
    /// stream ends (the body has no more data, or its trailers arrived),
    /// after [`next_message`](Self::next_message) returned `Ok(None)`.
    ///
    /// # Errors
    ///
    /// `INTERNAL` when the stream ended inside a message header or body,
    /// with how many bytes were expected and received (for instance
    /// `stream ended inside a message: expected 10 bytes, got 3`); when
    /// complete messages were left unread; or the status of an earlier
    /// error.
    pub fn finish(&self) -> Result<(), Status> {
        match &self.state {
            State::Failed(status) => Err(status.clone()),
            State::Header if self.buffered == 0 => Ok(()),
            State::Header if self.buffered < HEADER_LEN => Err(CodecError::TruncatedHeader {
                received: self.buffered,
            }
            .into()),
            State::Body { len, .. } if self.buffered < *len => Err(CodecError::TruncatedMessage {
                expected: *len,
                received: self.buffered,
            }
            .into()),
            State::Header | State::Body { .. } => match self.peek_truncated() {
                Some(err) => Err(err.into()),
                None => Err(CodecError::UnreadMessages { len: self.buffered }.into()),
            },
        }
    }

    /// How many bytes are buffered and not yet handed out as messages. A
    /// transport can stop reading its body while this is high.
    pub fn buffered_len(&self) -> usize {
        self.buffered
    }

    fn read_message(&mut self) -> Result<Option<Bytes>, CodecError> {
        if let State::Header = self.state {
            if self.buffered < HEADER_LEN {
                return Ok(None);
            }
            let (flag, len) = self.take_header();
            let (compressed, len) = self.parse_header(flag, len)?;
            self.state = State::Body { compressed, len };
        }
        let State::Body { compressed, len } = self.state else {
            return Ok(None);
        };
        let Some(message) = self.take_body(len) else {
            return Ok(None);
        };
        self.state = State::Header;
        if !compressed {
            return Ok(Some(message));
        }
        self.decompressor.decompress(
            self.encoding,
            &message,
            &mut self.decompressed,
            self.max_message_size,
        )?;
        Ok(Some(self.decompressed.split().freeze()))
    }

    fn parse_header(&self, flag: u8, len: u32) -> Result<(bool, usize), CodecError> {
        let compressed = match flag {
            0 => false,
            1 => true,
            flag => return Err(CodecError::InvalidCompressedFlag { flag }),
        };
        if compressed && !self.encoding.is_compressed() {
            return Err(CodecError::CompressedWithoutEncoding);
        }
        // A u32 always fits a usize on the 32- and 64-bit targets we build
        // for; on a 16-bit one it saturates and is refused by the limit.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max_message_size {
            return Err(CodecError::MessageTooLarge {
                len,
                limit: self.max_message_size,
            });
        }
        Ok((compressed, len))
    }

    /// Removes the 5 header bytes from the front of the queue, which holds
    /// at least that many: the compressed flag and the message length.
    ///
    /// Read straight from the first chunk when it holds them all. Copied
    /// into an array first, the length was loaded across two stores the
    /// CPU could not forward: a stall that cost 6% of a server's time on
    /// a stream of small messages.
    fn take_header(&mut self) -> (u8, u32) {
        if let Some(front) = self.chunks.front() {
            if let Some(&[flag, l0, l1, l2, l3]) = front.first_chunk::<HEADER_LEN>() {
                self.consume_front(HEADER_LEN);
                return (flag, u32::from_be_bytes([l0, l1, l2, l3]));
            }
        }
        let mut header = [0; HEADER_LEN];
        self.copy_front(&mut header);
        let [flag, l0, l1, l2, l3] = header;
        (flag, u32::from_be_bytes([l0, l1, l2, l3]))
    }

    /// The `len` bytes of the current message once they have all arrived:
    /// a slice of the first chunk when it holds them all (no copy);
    /// otherwise they are copied into `assembly` as they arrive.
    ///
    /// Gathering early, rather than queueing a large message's chunks
    /// until its last one arrives, costs no extra copy (a message across
    /// chunks is copied once either way) and lets each chunk go as soon as
    /// it is read. Hundreds of small chunks held for a few large messages
    /// pin and fragment far more heap than the messages' own size, and the
    /// allocator keeps it after the calls end. The buffer grows by at most
    /// doubling what has arrived, so a peer that announces a large message
    /// and sends little makes the decoder hold little.
    fn take_body(&mut self, len: usize) -> Option<Bytes> {
        if len == 0 {
            return Some(Bytes::new());
        }
        if self.assembly.is_empty() {
            match self.chunks.front_mut() {
                Some(front) if front.len() > len => {
                    self.buffered -= len;
                    return Some(front.split_to(len));
                }
                Some(front) if front.len() == len => {
                    self.buffered -= len;
                    return self.chunks.pop_front();
                }
                Some(_) => {}
                None => return None,
            }
        }
        while self.assembly.len() < len {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let have = self.assembly.len();
            let n = front.len().min(len - have);
            if self.assembly.capacity() - have < n {
                self.assembly.reserve((len - have).min(have.max(n)));
            }
            self.assembly
                .extend_from_slice(front.get(..n).unwrap_or_default());
            // The bytes moved from the queue to `assembly`: still buffered.
            if n == front.len() {
                self.chunks.pop_front();
            } else {
                front.advance(n);
            }
        }
        if self.assembly.len() < len {
            return None;
        }
        self.buffered -= len;
        Some(self.assembly.split().freeze())
    }

    /// Fills `out` from the front of the queue, dropping the chunks it
    /// empties.
    fn copy_front(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let n = front.len().min(out.len() - filled);
            if let (Some(dst), Some(src)) = (out.get_mut(filled..filled + n), front.get(..n)) {
                dst.copy_from_slice(src);
            }
            filled += n;
            self.consume_front(n);
        }
    }

    /// Drops `n` bytes (at most the first chunk's length) from the front.
    fn consume_front(&mut self, n: usize) {
        if let Some(front) = self.chunks.front_mut() {
            if n >= front.len() {
                self.chunks.pop_front();
            } else {
                front.advance(n);
            }
            self.buffered -= n;
        }
    }

    /// For [`finish`](Self::finish) with more than a header buffered: the
    /// truncation of the first incomplete frame, if any, walking the
    /// buffered frames without consuming them.
    fn peek_truncated(&self) -> Option<CodecError> {
        let mut bytes = self.chunks.iter().flat_map(|chunk| chunk.iter().copied());
        let mut remaining = self.buffered;
        if let State::Body { len, .. } = self.state {
            // The current body is complete (checked by the caller); what
            // of it is not yet in `assembly` is at the front of the queue.
            bytes
                .by_ref()
                .take(len - self.assembly.len())
                .for_each(drop);
            remaining -= len;
        }
        while remaining > 0 {
            if remaining < HEADER_LEN {
                return Some(CodecError::TruncatedHeader {
                    received: remaining,
                });
            }
            let mut header = [0; HEADER_LEN];
            for byte in &mut header {
                *byte = bytes.next().unwrap_or_default();
            }
            let [_, l0, l1, l2, l3] = header;
            let len = usize::try_from(u32::from_be_bytes([l0, l1, l2, l3])).unwrap_or(usize::MAX);
            remaining -= HEADER_LEN;
            if remaining < len {
                return Some(CodecError::TruncatedMessage {
                    expected: len,
                    received: remaining,
                });
            }
            bytes.by_ref().take(len).for_each(drop);
            remaining -= len;
        }
        None
    }
}

/// The queue of received chunks not yet read. Most messages arrive in one
/// chunk, so the first is held inline and the queue only allocates for a
/// second: a call whose messages each come whole costs no allocation here.
#[derive(Default)]
struct Chunks {
    /// The front chunk; `None` only when the queue is empty.
    first: Option<Bytes>,
    /// The chunks after the first.
    rest: VecDeque<Bytes>,
}

impl Chunks {
    fn push_back(&mut self, chunk: Bytes) {
        if self.first.is_none() {
            self.first = Some(chunk);
        } else {
            self.rest.push_back(chunk);
        }
    }

    fn pop_front(&mut self) -> Option<Bytes> {
        let front = self.first.take();
        self.first = self.rest.pop_front();
        front
    }

    fn front(&self) -> Option<&Bytes> {
        self.first.as_ref()
    }

    fn front_mut(&mut self) -> Option<&mut Bytes> {
        self.first.as_mut()
    }

    fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.first.iter().chain(self.rest.iter())
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Header => "header",
            State::Body { .. } => "body",
            State::Failed(_) => "failed",
        };
        f.debug_struct("FrameDecoder")
            .field("state", &state)
            .field("buffered", &self.buffered)
            .field("chunks", &self.chunks.len())
            .field("encoding", &self.encoding)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

/// Checks the length of a message to send against `limit` and the length
/// prefix.
fn check_encode_len(len: usize, limit: usize) -> Result<(), CodecError> {
    if len > limit {
        return Err(CodecError::SendTooLarge { len, limit });
    }
    if u32::try_from(len).is_err() {
        return Err(CodecError::Unframeable { len });
    }
    Ok(())
}

/// Fills in the header reserved at `start`.
fn write_header(
    dst: &mut BytesMut,
    start: usize,
    compressed: bool,
    len: usize,
) -> Result<(), Status> {
    let len = u32::try_from(len).map_err(|_| CodecError::Unframeable { len })?;
    let [l0, l1, l2, l3] = len.to_be_bytes();
    let header = dst
        .get_mut(start..start + HEADER_LEN)
        .ok_or(CodecError::EncoderTruncatedOutput)?;
    header.copy_from_slice(&[u8::from(compressed), l0, l1, l2, l3]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use grpcx_status::{Code, Origin};
    use proptest::prelude::*;

    use super::*;
    use crate::{Codec as _, ProstCodec};

    #[derive(Clone, PartialEq, prost::Message)]
    struct SimpleRequest {
        #[prost(string, tag = "1")]
        name: String,
    }

    fn frames(encoder: &mut FrameEncoder, messages: &[&[u8]]) -> Bytes {
        let mut out = BytesMut::new();
        for message in messages {
            encoder.encode_bytes(message, &mut out).unwrap();
        }
        out.freeze()
    }

    /// Pushes `chunks` and collects every message, then finishes.
    fn decode_chunks(
        decoder: &mut FrameDecoder,
        chunks: impl IntoIterator<Item = Bytes>,
    ) -> Result<Vec<Bytes>, Status> {
        let mut messages = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            while let Some(message) = decoder.next_message()? {
                messages.push(message);
            }
        }
        decoder.finish()?;
        Ok(messages)
    }

    fn assert_status(status: &Status, code: Code, message: &str) {
        assert_eq!(status.code(), code, "{status:?}");
        assert_eq!(status.message(), message);
        assert_eq!(status.origin(), Origin::Protocol);
    }

    #[test]
    fn messages_can_skip_compression_one_by_one() {
        let mut frames = FrameEncoder::new().encoding(CompressionEncoding::Gzip);
        let mut out = BytesMut::new();
        frames.set_message_compression(false);
        frames.encode_bytes(&[0; 100], &mut out).unwrap();
        assert_eq!(&out[..5], &[0, 0, 0, 0, 100]);
        frames.set_message_compression(true);
        let mut compressed = BytesMut::new();
        frames.encode_bytes(&[0; 100], &mut compressed).unwrap();
        assert_eq!(compressed[0], 1);
        let mut decoder = FrameDecoder::new().encoding(CompressionEncoding::Gzip);
        decoder.push(out.freeze());
        decoder.push(compressed.freeze());
        assert_eq!(decoder.next_message().unwrap().unwrap(), vec![0; 100]);
        assert_eq!(decoder.next_message().unwrap().unwrap(), vec![0; 100]);
        decoder.finish().unwrap();
    }

    #[test]
    fn exact_header_for_a_known_message() {
        let mut out = BytesMut::from(&b"before"[..]);
        let mut encoder = FrameEncoder::default();
        encoder.encode_bytes(b"hello", &mut out).unwrap();
        assert_eq!(&out[..], b"before\x00\x00\x00\x00\x05hello");

        let mut codec = ProstCodec::<SimpleRequest, SimpleRequest>::default();
        let mut out = BytesMut::new();
        let message = SimpleRequest {
            name: "a".repeat(300),
        };
        encoder
            .encode(&mut codec.encoder(), message, &mut out)
            .unwrap();
        // 1 tag byte + 2 length bytes (300 as a varint) + 300 = 303 = 0x12f.
        assert_eq!(&out[..8], b"\x00\x00\x00\x01\x2f\x0a\xac\x02");
        assert_eq!(out.len(), HEADER_LEN + 303);

        let mut out = BytesMut::new();
        encoder.encode_bytes(b"", &mut out).unwrap();
        assert_eq!(&out[..], b"\x00\x00\x00\x00\x00");
    }

    #[test]
    fn a_huge_length_prefix_is_refused_at_the_header() {
        let mut decoder = FrameDecoder::default();
        decoder.push(Bytes::from_static(b"\x00\xff\xff"));
        assert_eq!(decoder.next_message().unwrap(), None);
        decoder.push(Bytes::from_static(b"\xff\xff"));
        let status = decoder.next_message().unwrap_err();
        assert_status(
            &status,
            Code::ResourceExhausted,
            "received message larger than max (4294967295 vs. 4194304)",
        );
        // Nothing was reserved for the body, and the error sticks.
        assert_eq!(decoder.assembly.capacity(), 0);
        assert_eq!(decoder.buffered_len(), 0);
        assert_status(
            &decoder.next_message().unwrap_err(),
            Code::ResourceExhausted,
            "received message larger than max (4294967295 vs. 4194304)",
        );
        assert_eq!(decoder.finish().unwrap_err().message(), status.message());
        decoder.push(Bytes::from_static(b"more"));
        assert_eq!(decoder.buffered_len(), 0);

        // One byte over the default limit, then exactly at it.
        let mut decoder = FrameDecoder::default();
        decoder.push(Bytes::from_static(b"\x00\x00\x40\x00\x01"));
        assert_status(
            &decoder.next_message().unwrap_err(),
            Code::ResourceExhausted,
            "received message larger than max (4194305 vs. 4194304)",
        );
        let mut decoder = FrameDecoder::default();
        decoder.push(Bytes::from_static(b"\x00\x00\x40\x00\x00"));
        assert_eq!(decoder.next_message().unwrap(), None);

        // Without a limit a 4 GiB prefix waits for its bytes, reserving
        // only about what arrived meanwhile.
        let mut decoder = FrameDecoder::default().max_message_size(usize::MAX);
        decoder.push(Bytes::from_static(b"\x00\xff\xff\xff\xff\x01\x02"));
        assert_eq!(decoder.next_message().unwrap(), None);
        assert!(decoder.assembly.capacity() < 64);
        assert_status(
            &decoder.finish().unwrap_err(),
            Code::Internal,
            "stream ended inside a message: expected 4294967295 bytes, got 2",
        );
    }

    #[test]
    fn truncated_streams_are_internal() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"\x00\x00",
                "stream ended inside a message header: expected 5 bytes, got 2",
            ),
            (
                b"\x00\x00\x00\x00\x0aabc",
                "stream ended inside a message: expected 10 bytes, got 3",
            ),
            (
                b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0aabc",
                "stream ended inside a message: expected 10 bytes, got 3",
            ),
            (
                b"\x00\x00\x00\x00\x01a\x00",
                "stream ended inside a message header: expected 5 bytes, got 1",
            ),
        ];
        for (stream, message) in cases {
            // Read as far as possible, then finish.
            let mut decoder = FrameDecoder::default();
            decoder.push(Bytes::from_static(stream));
            while decoder.next_message().unwrap().is_some() {}
            assert_status(&decoder.finish().unwrap_err(), Code::Internal, message);
            // finish() reports the same truncation when complete messages
            // before it were left unread.
            let mut unread = FrameDecoder::default();
            unread.push(Bytes::from_static(stream));
            assert_status(&unread.finish().unwrap_err(), Code::Internal, message);
        }

        // A complete stream whose messages were not read.
        let mut decoder = FrameDecoder::default();
        decoder.push(Bytes::from_static(
            b"\x00\x00\x00\x00\x01a\x00\x00\x00\x00\x00",
        ));
        assert_status(
            &decoder.finish().unwrap_err(),
            Code::Internal,
            "stream finished with 11 buffered bytes not read as messages",
        );
        assert_eq!(decoder.next_message().unwrap().unwrap(), "a");
        assert_status(
            &decoder.finish().unwrap_err(),
            Code::Internal,
            "stream finished with 5 buffered bytes not read as messages",
        );
        assert_eq!(decoder.next_message().unwrap().unwrap(), "");
        assert!(decoder.finish().is_ok());
        assert!(FrameDecoder::default().finish().is_ok());
    }

    #[test]
    fn invalid_flags_are_internal() {
        for flag in [2_u8, 0x80, 0xff] {
            let mut decoder = FrameDecoder::default().encoding(CompressionEncoding::Gzip);
            decoder.push(Bytes::from(vec![flag, 0, 0, 0, 0]));
            assert_status(
                &decoder.next_message().unwrap_err(),
                Code::Internal,
                &format!("invalid compressed flag {flag} in message header: expected 0 or 1"),
            );
        }
        let mut decoder = FrameDecoder::default();
        decoder.push(Bytes::from_static(b"\x01\x00\x00\x00\x01x"));
        assert_status(
            &decoder.next_message().unwrap_err(),
            Code::Internal,
            "compressed flag set but grpc-encoding is identity or absent",
        );
    }

    #[test]
    fn messages_within_a_chunk_are_not_copied() {
        let stream = frames(
            &mut FrameEncoder::default(),
            &[b"one", b"", b"three", b"four"],
        );
        let range = stream.as_ptr() as usize..stream.as_ptr() as usize + stream.len();
        let mut decoder = FrameDecoder::default();
        let messages = decode_chunks(&mut decoder, [stream.clone()]).unwrap();
        assert_eq!(messages, [&b"one"[..], b"", b"three", b"four"]);
        for message in messages.iter().filter(|m| !m.is_empty()) {
            assert!(range.contains(&(message.as_ptr() as usize)));
        }
        assert_eq!(decoder.assembly.capacity(), 0);
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn messages_across_chunks_are_copied_once() {
        let stream = frames(&mut FrameEncoder::default(), &[b"hello", b"world!"]);
        // Every cut of the stream into three chunks.
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let chunks = [stream.slice(..i), stream.slice(i..j), stream.slice(j..)];
                let mut decoder = FrameDecoder::default();
                let messages = decode_chunks(&mut decoder, chunks).unwrap();
                assert_eq!(messages, [&b"hello"[..], b"world!"], "{i} {j}");
            }
        }
        // One byte at a time.
        let mut decoder = FrameDecoder::default();
        let chunks = (0..stream.len()).map(|i| stream.slice(i..=i));
        let messages = decode_chunks(&mut decoder, chunks).unwrap();
        assert_eq!(messages, [&b"hello"[..], b"world!"]);
    }

    #[test]
    fn the_chunks_of_a_large_message_are_released_as_they_arrive() {
        let body = vec![3_u8; 64 * 1024];
        let stream = frames(&mut FrameEncoder::default(), &[&body]);
        let mut decoder = FrameDecoder::default();
        let mut message = None;
        for (index, chunk) in stream.chunks(1000).enumerate() {
            decoder.push(Bytes::copy_from_slice(chunk));
            if let Some(done) = decoder.next_message().unwrap() {
                message = Some(done);
                break;
            }
            // Nothing is queued: the chunk was read into the message.
            assert!(decoder.chunks.is_empty(), "chunk {index}");
            let received = (index + 1) * 1000 - HEADER_LEN;
            assert_eq!(decoder.buffered_len(), received);
            assert!(
                decoder.assembly.capacity() <= 2 * received,
                "{} bytes reserved for {received} received",
                decoder.assembly.capacity()
            );
        }
        assert_eq!(message.as_deref(), Some(&body[..]));
        assert_eq!(decoder.buffered_len(), 0);
        decoder.finish().unwrap();
    }

    #[test]
    fn a_large_announced_message_reserves_only_what_arrived() {
        let mut decoder = FrameDecoder::default();
        // 4 MiB announced, 10 bytes sent in two chunks.
        decoder.push(Bytes::from_static(b"\x00\x00\x40\x00\x00abcde"));
        decoder.push(Bytes::from_static(b"fghij"));
        assert_eq!(decoder.next_message().unwrap(), None);
        assert!(
            decoder.assembly.capacity() < 64,
            "{}",
            decoder.assembly.capacity()
        );
        assert_status(
            &decoder.finish().unwrap_err(),
            Code::Internal,
            "stream ended inside a message: expected 4194304 bytes, got 10",
        );
    }

    #[test]
    fn a_truncated_frame_after_a_gathered_message_is_found() {
        let stream = frames(&mut FrameEncoder::default(), &[b"hello", b"world"]);
        let mut decoder = FrameDecoder::default();
        // The first message arrives in two chunks, then half the second.
        decoder.push(stream.slice(..7));
        assert_eq!(decoder.next_message().unwrap(), None);
        decoder.push(stream.slice(7..17));
        assert_status(
            &decoder.finish().unwrap_err(),
            Code::Internal,
            "stream ended inside a message: expected 5 bytes, got 2",
        );
        assert_eq!(
            decoder.next_message().unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(decoder.next_message().unwrap(), None);
    }

    #[test]
    fn the_assembly_buffer_is_reused() {
        let stream = frames(&mut FrameEncoder::default(), &[&[7; 1000]]);
        let mut decoder = FrameDecoder::default();
        let mut first_at = None;
        for _ in 0..3 {
            decoder.push(stream.slice(..500));
            decoder.push(stream.slice(500..));
            let message = decoder.next_message().unwrap().unwrap();
            assert_eq!(message.len(), 1000);
            let at = message.as_ptr() as usize;
            assert_eq!(*first_at.get_or_insert(at), at);
            drop(message);
        }
    }

    #[test]
    fn gzip_and_deflate_round_trip() {
        for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Deflate] {
            let mut encoder = FrameEncoder::default()
                .encoding(encoding)
                .compression_level(CompressionLevel::BEST);
            let big = vec![b'a'; 10_000];
            let stream = frames(&mut encoder, &[b"", b"hello", &big]);
            assert_eq!(stream.first(), Some(&1));
            assert!(stream.len() < 200, "{}", stream.len());
            let mut decoder = FrameDecoder::default().encoding(encoding);
            let messages = decode_chunks(&mut decoder, [stream.clone()]).unwrap();
            assert_eq!(messages, [&b""[..], b"hello", &big]);

            // Decompressed over the limit.
            let mut decoder = FrameDecoder::default()
                .encoding(encoding)
                .max_message_size(9_999);
            let status = decode_chunks(&mut decoder, [stream]).unwrap_err();
            assert_status(
                &status,
                Code::ResourceExhausted,
                "received message larger than max after decompression (at least 10000 vs. 9999)",
            );
            assert!(decoder.decompressed.capacity() <= 2 * 10_000);
        }
    }

    #[test]
    fn a_zip_bomb_through_the_decoder() {
        let mut encoder = FrameEncoder::default().encoding(CompressionEncoding::Gzip);
        let stream = frames(&mut encoder, &[&vec![0; 8 << 20]]);
        assert!(stream.len() < 20_000);
        let mut decoder = FrameDecoder::default().encoding(CompressionEncoding::Gzip);
        let status = decode_chunks(&mut decoder, [stream]).unwrap_err();
        assert_status(
            &status,
            Code::ResourceExhausted,
            "received message larger than max after decompression (at least 4194305 vs. 4194304)",
        );
    }

    #[test]
    fn corrupt_compressed_data_is_internal() {
        let mut decoder = FrameDecoder::default().encoding(CompressionEncoding::Gzip);
        decoder.push(Bytes::from_static(b"\x01\x00\x00\x00\x03abc"));
        assert_status(
            &decoder.next_message().unwrap_err(),
            Code::Internal,
            "could not decompress gzip message: invalid gzip header",
        );
    }

    #[test]
    fn uncompressed_messages_on_a_compressed_stream() {
        // The flag is per message: a stream with an encoding may still send
        // messages uncompressed.
        let mut stream = BytesMut::new();
        FrameEncoder::default()
            .encode_bytes(b"plain", &mut stream)
            .unwrap();
        FrameEncoder::default()
            .encoding(CompressionEncoding::Deflate)
            .encode_bytes(b"packed", &mut stream)
            .unwrap();
        let mut decoder = FrameDecoder::default().encoding(CompressionEncoding::Deflate);
        let messages = decode_chunks(&mut decoder, [stream.freeze()]).unwrap();
        assert_eq!(messages, [&b"plain"[..], b"packed"]);
    }

    #[test]
    fn encode_limits() {
        let mut out = BytesMut::from(&b"kept"[..]);
        let mut encoder = FrameEncoder::default().max_message_size(4);
        encoder.encode_bytes(b"four", &mut out).unwrap();
        let status = encoder.encode_bytes(b"five!", &mut out).unwrap_err();
        assert_status(
            &status,
            Code::ResourceExhausted,
            "message to send larger than max (5 vs. 4)",
        );
        assert_eq!(&out[..], b"kept\x00\x00\x00\x00\x04four");

        // With compression the size before compression counts too.
        let mut encoder = FrameEncoder::default()
            .encoding(CompressionEncoding::Gzip)
            .max_message_size(100);
        let status = encoder.encode_bytes(&[0; 101], &mut out).unwrap_err();
        assert_status(
            &status,
            Code::ResourceExhausted,
            "message to send larger than max (101 vs. 100)",
        );
        // ... and so does the size after (gzip adds 18 bytes or more).
        encoder.encode_bytes(b"tiny", &mut out).unwrap();
        let mut encoder = FrameEncoder::default()
            .encoding(CompressionEncoding::Gzip)
            .max_message_size(10);
        let status = encoder.encode_bytes(b"tiny", &mut out).unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status
                .message()
                .starts_with("message to send larger than max (")
        );
        assert!(status.message().ends_with(" vs. 10)"));
        assert_eq!(&out[..9 + 4], b"kept\x00\x00\x00\x00\x04four");

        // A length the prefix cannot hold (checked without allocating it).
        assert_eq!(check_encode_len(u32::MAX as usize, usize::MAX), Ok(()));
        let err = check_encode_len(u32::MAX as usize + 1, usize::MAX).unwrap_err();
        assert_eq!(err, CodecError::Unframeable { len: 1 << 32 });
        assert_eq!(Status::from(err).code(), Code::ResourceExhausted);
    }

    #[test]
    fn encoder_errors_leave_the_output_as_it_was() {
        struct Failing;
        impl Encoder for Failing {
            type Item = ();
            fn encode(&mut self, (): (), dst: &mut BytesMut) -> Result<(), Status> {
                dst.extend_from_slice(b"partial");
                Err(Status::unavailable("backend down"))
            }
        }
        struct Truncating;
        impl Encoder for Truncating {
            type Item = ();
            fn encode(&mut self, (): (), dst: &mut BytesMut) -> Result<(), Status> {
                dst.clear();
                Ok(())
            }
        }
        for encoding in [CompressionEncoding::Identity, CompressionEncoding::Gzip] {
            let mut encoder = FrameEncoder::default().encoding(encoding);
            let mut out = BytesMut::from(&b"kept"[..]);
            let status = encoder.encode(&mut Failing, (), &mut out).unwrap_err();
            assert_eq!(status.code(), Code::Unavailable);
            assert_eq!(status.message(), "backend down");
            assert_eq!(&out[..], b"kept");
            // A dyn encoder works too.
            let dynamic: &mut dyn Encoder<Item = ()> = &mut Failing;
            assert!(encoder.encode(dynamic, (), &mut out).is_err());
        }
        let mut out = BytesMut::from(&b"kept"[..]);
        let status = FrameEncoder::default()
            .encode(&mut Truncating, (), &mut out)
            .unwrap_err();
        assert_status(
            &status,
            Code::Internal,
            "the encoder removed bytes it did not write from the output buffer",
        );
    }

    #[test]
    fn a_large_scratch_buffer_is_not_kept() {
        let mut encoder = FrameEncoder::default().encoding(CompressionEncoding::Gzip);
        let mut out = BytesMut::new();
        encoder.encode_bytes(&[1; 1000], &mut out).unwrap();
        assert!(encoder.scratch.capacity() >= 1000);
        encoder
            .encode_bytes(&vec![1; SCRATCH_KEEP + 1], &mut out)
            .unwrap();
        assert_eq!(encoder.scratch.capacity(), 0);
    }

    #[test]
    fn types_are_send_sync_and_debug() {
        fn check<T: Send + Sync + fmt::Debug>() {}
        check::<FrameEncoder>();
        check::<FrameDecoder>();
        assert_eq!(
            format!("{:?}", FrameDecoder::default()),
            "FrameDecoder { state: \"header\", buffered: 0, chunks: 0, encoding: Identity, max_message_size: 4194304, .. }"
        );
        assert_eq!(
            format!("{:?}", FrameEncoder::default()),
            "FrameEncoder { encoding: Identity, level: CompressionLevel(6), max_message_size: 18446744073709551615, .. }"
        );
    }

    fn encoding_strategy() -> impl Strategy<Value = CompressionEncoding> {
        prop_oneof![
            Just(CompressionEncoding::Identity),
            Just(CompressionEncoding::Gzip),
            Just(CompressionEncoding::Deflate),
        ]
    }

    fn message_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            (any::<u8>(), 0..5000_usize).prop_map(|(byte, len)| vec![byte; len]),
        ]
    }

    /// Cuts `stream` at the positions `cuts` picks.
    fn cut(stream: &Bytes, cuts: &[prop::sample::Index]) -> Vec<Bytes> {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        at.push(0);
        at.push(stream.len());
        at.sort_unstable();
        at.windows(2).map(|w| stream.slice(w[0]..w[1])).collect()
    }

    proptest! {
        #[test]
        fn round_trip_under_any_chunking(
            messages in proptest::collection::vec(message_strategy(), 0..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
            encoding in encoding_strategy(),
        ) {
            let mut encoder = FrameEncoder::default().encoding(encoding);
            let mut out = BytesMut::new();
            for message in &messages {
                encoder.encode_bytes(message, &mut out).unwrap();
            }
            let stream = out.freeze();
            let mut decoder = FrameDecoder::default().encoding(encoding);
            let decoded = decode_chunks(&mut decoder, cut(&stream, &cuts)).unwrap();
            prop_assert_eq!(decoded, messages);
            prop_assert_eq!(decoder.buffered_len(), 0);
        }

        #[test]
        fn a_cut_stream_fails_unless_cut_between_messages(
            messages in proptest::collection::vec(message_strategy(), 1..5),
            end in any::<prop::sample::Index>(),
            encoding in encoding_strategy(),
        ) {
            let mut encoder = FrameEncoder::default().encoding(encoding);
            let mut out = BytesMut::new();
            let mut boundaries = vec![0];
            for message in &messages {
                encoder.encode_bytes(message, &mut out).unwrap();
                boundaries.push(out.len());
            }
            let end = end.index(out.len() + 1);
            let mut decoder = FrameDecoder::default().encoding(encoding);
            let result = decode_chunks(&mut decoder, [out.freeze().slice(..end)]);
            match result {
                Ok(decoded) => {
                    prop_assert!(boundaries.contains(&end));
                    prop_assert_eq!(&decoded[..], &messages[..decoded.len()]);
                }
                Err(status) => {
                    prop_assert!(!boundaries.contains(&end));
                    prop_assert_eq!(status.code(), Code::Internal);
                    prop_assert!(status.message().starts_with("stream ended inside a message"));
                }
            }
        }

        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            crate::fuzzing::frame_decoder(&data);
        }

        #[test]
        fn arbitrary_frames_never_panic(
            flag in 0_u8..3,
            body in proptest::collection::vec(any::<u8>(), 0..300),
            encoding in encoding_strategy(),
        ) {
            let mut stream = vec![flag];
            stream.extend_from_slice(&(body.len() as u32).to_be_bytes());
            stream.extend_from_slice(&body);
            let mut decoder = FrameDecoder::default().encoding(encoding).max_message_size(1000);
            decoder.push(Bytes::from(stream));
            match decoder.next_message() {
                Ok(message) => prop_assert!(message.is_some()),
                Err(status) => prop_assert!(matches!(
                    status.code(),
                    Code::Internal | Code::ResourceExhausted
                )),
            }
        }
    }
}
