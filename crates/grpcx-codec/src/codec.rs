//! The [`Codec`] traits: how messages become bytes and back.

use bytes::{Bytes, BytesMut};
use grpcx_status::Status;

/// Turns messages into the bytes of a gRPC message body.
///
/// An encoder only appends to the buffer it is given; the framing (header,
/// compression) is [`FrameEncoder`](crate::FrameEncoder)'s job, which
/// encodes straight into the output when it does not compress.
///
/// # Examples
///
/// An encoder of UTF-8 text:
///
/// ```
/// use bytes::BytesMut;
/// use grpcx_codec::Encoder;
/// use grpcx_status::Status;
///
/// struct TextEncoder;
///
/// impl Encoder for TextEncoder {
///     type Item = String;
///
///     fn encode(&mut self, item: String, dst: &mut BytesMut) -> Result<(), Status> {
///         dst.extend_from_slice(item.as_bytes());
///         Ok(())
///     }
/// }
/// ```
pub trait Encoder {
    /// The message type.
    type Item;

    /// Appends the encoding of `item` to `dst`, leaving what `dst` already
    /// holds untouched.
    ///
    /// # Errors
    ///
    /// The status to end the call with; a codec's own failures are
    /// `INTERNAL`.
    fn encode(&mut self, item: Self::Item, dst: &mut BytesMut) -> Result<(), Status>;

    /// How many bytes `item` will likely encode to, so that a frame can be
    /// reserved in one allocation instead of growing as it is written; 0
    /// (the default) when unknown. Only a hint: `encode` may write more or
    /// less.
    fn encoded_len_hint(&self, item: &Self::Item) -> usize {
        let _ = item;
        0
    }
}

/// Turns the bytes of one gRPC message body, already unframed and
/// decompressed, into a message.
pub trait Decoder {
    /// The message type.
    type Item;

    /// Decodes one whole message. `src` is often a slice of the received
    /// data, so a decoder that keeps parts of it (protobuf `bytes` fields
    /// as [`Bytes`]) copies nothing.
    ///
    /// # Errors
    ///
    /// `INTERNAL` with a message saying what is wrong when `src` is not a
    /// valid encoding.
    fn decode(&mut self, src: Bytes) -> Result<Self::Item, Status>;
}

/// A serialization format for the messages of one method: the request type
/// it encodes and the response type it decodes (on a client; a server's
/// codec is the other way round).
///
/// [`ProstCodec`](crate::ProstCodec) is the protobuf codec that generated
/// code uses.
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use grpcx_codec::{Codec, Decoder as _, Encoder as _, ProstCodec};
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Ping {
///     #[prost(uint64, tag = "1")]
///     id: u64,
/// }
///
/// let mut codec = ProstCodec::<Ping, Ping>::default();
/// let mut buf = BytesMut::new();
/// codec.encoder().encode(Ping { id: 7 }, &mut buf)?;
/// assert_eq!(codec.decoder().decode(buf.freeze())?, Ping { id: 7 });
/// # Ok::<(), grpcx_status::Status>(())
/// ```
pub trait Codec {
    /// The type of the messages sent.
    type Encode: Send + 'static;
    /// The type of the messages received.
    type Decode: Send + 'static;
    /// The encoder of sent messages.
    type Encoder: Encoder<Item = Self::Encode> + Send + 'static;
    /// The decoder of received messages.
    type Decoder: Decoder<Item = Self::Decode> + Send + 'static;

    /// An encoder for one call.
    fn encoder(&mut self) -> Self::Encoder;

    /// A decoder for one call.
    fn decoder(&mut self) -> Self::Decoder;
}
