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
    chunks: VecDeque<Bytes>,
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
        self.frame(dst, |buf| encoder.encode(item, buf))
    }

    /// Appends `message`, already encoded, to `dst` as one frame
    /// (compressed if the encoder compresses).
    ///
    /// # Errors
    ///
    /// As for [`encode`](Self::encode).
    pub fn encode_bytes(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), Status> {
        self.frame(dst, |buf| {
            buf.extend_from_slice(message);
            Ok(())
        })
    }

    fn frame<F>(&mut self, dst: &mut BytesMut, write: F) -> Result<(), Status>
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Status>,
    {
        let start = dst.len();
        let result = if self.encoding.is_compressed() {
            self.frame_compressed(start, dst, write)
        } else {
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
            chunks: VecDeque::new(),
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

    /// Adds the next chunk of the stream. Empty chunks are ignored.
    ///
    /// Pushing never fails and never copies: the chunk is queued until
    /// [`next_message`](Self::next_message) takes its messages.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
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
            let header = self.take_header();
            let (compressed, len) = self.parse_header(header)?;
            self.state = State::Body { compressed, len };
        }
        let State::Body { compressed, len } = self.state else {
            return Ok(None);
        };
        if self.buffered < len {
            return Ok(None);
        }
        let message = self.take(len);
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

    fn parse_header(&self, header: [u8; HEADER_LEN]) -> Result<(bool, usize), CodecError> {
        let [flag, l0, l1, l2, l3] = header;
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
        let len = usize::try_from(u32::from_be_bytes([l0, l1, l2, l3])).unwrap_or(usize::MAX);
        if len > self.max_message_size {
            return Err(CodecError::MessageTooLarge {
                len,
                limit: self.max_message_size,
            });
        }
        Ok((compressed, len))
    }

    /// Removes the 5 header bytes from the front of the queue, which holds
    /// at least that many.
    fn take_header(&mut self) -> [u8; HEADER_LEN] {
        let mut header = [0; HEADER_LEN];
        if let Some(front) = self.chunks.front() {
            if let Some(bytes) = front.first_chunk::<HEADER_LEN>() {
                header = *bytes;
                self.consume_front(HEADER_LEN);
                return header;
            }
        }
        self.copy_front(&mut header);
        header
    }

    /// Removes `len` bytes from the front of the queue, which holds at
    /// least that many: a slice of the first chunk if it holds them all, a
    /// copy otherwise.
    fn take(&mut self, len: usize) -> Bytes {
        if len == 0 {
            return Bytes::new();
        }
        match self.chunks.front_mut() {
            Some(front) if front.len() > len => {
                self.buffered -= len;
                front.split_to(len)
            }
            Some(front) if front.len() == len => {
                self.buffered -= len;
                self.chunks.pop_front().unwrap_or_default()
            }
            _ => {
                self.assembly.reserve(len);
                let mut remaining = len;
                while remaining > 0 {
                    let Some(front) = self.chunks.front() else {
                        break;
                    };
                    let n = front.len().min(remaining);
                    self.assembly
                        .extend_from_slice(front.get(..n).unwrap_or_default());
                    remaining -= n;
                    self.consume_front(n);
                }
                self.assembly.split().freeze()
            }
        }
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
            // The current body is complete (checked by the caller).
            bytes.by_ref().take(len).for_each(drop);
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
