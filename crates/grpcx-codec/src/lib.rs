//! gRPC message framing, compression and the protobuf codec of grpcx.
//!
//! This crate turns messages into the bytes of a gRPC body and back, and
//! nothing else: it is sans-IO (bytes in, messages or [`Status`] out), with
//! no async runtime and no HTTP stack. `grpcx-transport` feeds it the data
//! frames of each HTTP/2 stream; it depends only on `grpcx-status`, `bytes`,
//! `prost`, `flate2` (pure-Rust backend) and `http` (for header values).
//!
//! - [`FrameEncoder`] writes length-prefixed messages (1-byte compressed
//!   flag, 4-byte big-endian length), encoding in place when it does not
//!   compress.
//! - [`FrameDecoder`] reads them back from chunks cut anywhere, slicing
//!   instead of copying whenever a message lies within one chunk, and
//!   enforcing the maximum message size (4 MiB by default) before it waits
//!   for or reserves anything.
//! - [`Codec`], [`Encoder`] and [`Decoder`]: the serialization of messages,
//!   failing with [`Status`]; [`ProstCodec`] for protobuf.
//! - [`CompressionEncoding`] (`identity`, `gzip`, `deflate`),
//!   [`EncodingSet`] and [`CompressionConfig`]: compression and its
//!   negotiation through `grpc-encoding` and `grpc-accept-encoding`.
//! - [`CodecError`]: every reason the codec fails, and the [`Status`] code
//!   each becomes.
//!
//! Every status this crate makes has
//! [`Origin::Protocol`](grpcx_status::Origin::Protocol), and its code is
//! `RESOURCE_EXHAUSTED` (a size limit), `UNIMPLEMENTED` (a request encoding
//! the server does not accept) or `INTERNAL` (anything else), as gRPC's
//! specification asks.
//!
//! # Examples
//!
//! A client frames a compressed request; the server reads it back from
//! chunks that cut it anywhere.
//!
//! ```
//! use bytes::BytesMut;
//! use grpcx_codec::{
//!     Codec as _, CompressionConfig, CompressionEncoding, Decoder as _, FrameDecoder,
//!     FrameEncoder, ProstCodec, GRPC_ENCODING,
//! };
//! use http::HeaderMap;
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! struct HelloRequest {
//!     #[prost(string, tag = "1")]
//!     name: String,
//! }
//!
//! // Client: encode and frame two messages with gzip.
//! let mut codec = ProstCodec::<HelloRequest, HelloRequest>::default();
//! let mut encoder = codec.encoder();
//! let mut frames = FrameEncoder::default().encoding(CompressionEncoding::Gzip);
//! let mut body = BytesMut::new();
//! for name in ["alice", "bob"] {
//!     frames.encode(&mut encoder, HelloRequest { name: name.repeat(100) }, &mut body)?;
//! }
//! let mut headers = HeaderMap::new();
//! headers.insert(GRPC_ENCODING, CompressionEncoding::Gzip.to_header_value());
//!
//! // Server: learn the encoding from the headers, then decode the body as
//! // it arrives, 7 bytes at a time.
//! let encoding = CompressionConfig::default().request_encoding(&headers)?;
//! let mut frames = FrameDecoder::default().encoding(encoding);
//! let mut decoder = codec.decoder();
//! let mut received = Vec::new();
//! let mut body = body.freeze();
//! while !body.is_empty() {
//!     frames.push(body.split_to(body.len().min(7)));
//!     while let Some(message) = frames.next_message()? {
//!         received.push(decoder.decode(message)?.name);
//!     }
//! }
//! frames.finish()?;
//! assert_eq!(received, ["alice".repeat(100), "bob".repeat(100)]);
//! # Ok::<(), grpcx_status::Status>(())
//! ```
//!
//! # Features and stability
//!
//! The crate has no features. Its public enums are `#[non_exhaustive]`:
//! encodings and error reasons may be added. The wording of status messages
//! is for people and may change; match on codes and on [`CodecError`]
//! variants instead.
//!
//! [`Status`]: grpcx_status::Status

mod codec;
mod compression;
mod error;
mod frame;
mod prost;

pub use crate::codec::{Codec, Decoder, Encoder};
pub use crate::compression::{
    CompressionConfig, CompressionEncoding, CompressionLevel, EncodingSet, GRPC_ACCEPT_ENCODING,
    GRPC_ENCODING,
};
pub use crate::error::CodecError;
pub use crate::frame::{
    DEFAULT_MAX_DECODE_MESSAGE_SIZE, DEFAULT_MAX_ENCODE_MESSAGE_SIZE, FrameDecoder, FrameEncoder,
    HEADER_LEN,
};
pub use crate::prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Entry points for fuzz targets; not part of the public API.
#[doc(hidden)]
pub mod fuzzing {
    use bytes::Bytes;

    use crate::{CompressionEncoding, FrameDecoder};

    /// Feeds `data` to a [`FrameDecoder`]: the first byte picks the
    /// encoding and the chunk size, the rest is the stream. Must never
    /// panic, whatever `data` is.
    pub fn frame_decoder(data: &[u8]) {
        let Some((&control, stream)) = data.split_first() else {
            return;
        };
        let encoding = match control % 3 {
            0 => CompressionEncoding::Identity,
            1 => CompressionEncoding::Gzip,
            _ => CompressionEncoding::Deflate,
        };
        let chunk = usize::from(control / 3).max(1);
        let mut decoder = FrameDecoder::default()
            .encoding(encoding)
            .max_message_size(64 * 1024);
        for piece in stream.chunks(chunk) {
            decoder.push(Bytes::copy_from_slice(piece));
            while let Ok(Some(_)) = decoder.next_message() {}
        }
        let _ = decoder.finish();
    }
}
