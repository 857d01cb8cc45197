//! [`ProstCodec`]: protobuf messages through prost.

use std::fmt;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use grpcx_status::Status;
use prost::Message;

use crate::codec::{Codec, Decoder, Encoder};
use crate::error::CodecError;

/// The protobuf [`Codec`]: sends `Enc` and receives `Dec`, both prost
/// messages.
///
/// It holds nothing and costs nothing to make. Decoding reads from the
/// received [`Bytes`], so `bytes` fields generated as [`Bytes`] share the
/// received memory instead of copying it.
///
/// # Errors
///
/// Bytes that are not a valid `Dec` fail with `INTERNAL` and a message that
/// names the type and prost's reason ([`CodecError::Decode`]), for instance
/// `could not decode SimpleRequest: failed to decode Protobuf message:
/// invalid wire type value: 7`.
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use grpcx_codec::{Codec as _, Decoder as _, Encoder as _, ProstCodec};
/// use grpcx_status::Code;
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct SimpleRequest {
///     #[prost(string, tag = "1")]
///     name: String,
/// }
///
/// let mut codec = ProstCodec::<SimpleRequest, SimpleRequest>::default();
/// let mut buf = BytesMut::new();
/// codec.encoder().encode(SimpleRequest { name: "x".into() }, &mut buf)?;
/// assert_eq!(&buf[..], b"\x0a\x01x");
///
/// let status = codec.decoder().decode(Bytes::from_static(b"\x0f")).unwrap_err();
/// assert_eq!(status.code(), Code::Internal);
/// assert_eq!(
///     status.message(),
///     "could not decode SimpleRequest: failed to decode Protobuf message: invalid wire type value: 7"
/// );
/// # Ok::<(), grpcx_status::Status>(())
/// ```
pub struct ProstCodec<Enc, Dec> {
    _marker: PhantomData<fn(Enc) -> Dec>,
}

/// The [`Encoder`] of a [`ProstCodec`].
pub struct ProstEncoder<T> {
    _marker: PhantomData<fn(T)>,
}

/// The [`Decoder`] of a [`ProstCodec`].
pub struct ProstDecoder<T> {
    _marker: PhantomData<fn() -> T>,
}

impl<Enc, Dec> Codec for ProstCodec<Enc, Dec>
where
    Enc: Message + Send + 'static,
    Dec: Message + Default + Send + 'static,
{
    type Encode = Enc;
    type Decode = Dec;
    type Encoder = ProstEncoder<Enc>;
    type Decoder = ProstDecoder<Dec>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

impl<T: Message> Encoder for ProstEncoder<T> {
    type Item = T;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), Status> {
        // A BytesMut grows as needed, so prost's capacity check cannot fail.
        item.encode(dst).map_err(|error| {
            CodecError::Encode {
                type_name: short_type_name::<T>(),
                error,
            }
            .into()
        })
    }

    fn encoded_len_hint(&self, item: &T) -> usize {
        item.encoded_len()
    }
}

impl<T: Message + Default> Decoder for ProstDecoder<T> {
    type Item = T;

    fn decode(&mut self, src: Bytes) -> Result<T, Status> {
        T::decode(src).map_err(|error| {
            CodecError::Decode {
                type_name: short_type_name::<T>(),
                error,
            }
            .into()
        })
    }
}

/// The last path segment of `T`'s name, without generic arguments:
/// `SimpleRequest` for `my_crate::pb::SimpleRequest`.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

macro_rules! marker_impls {
    ($name:ident<$($param:ident),+>) => {
        impl<$($param),+> Default for $name<$($param),+> {
            fn default() -> Self {
                $name { _marker: PhantomData }
            }
        }

        impl<$($param),+> Clone for $name<$($param),+> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($param),+> Copy for $name<$($param),+> {}

        impl<$($param),+> fmt::Debug for $name<$($param),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}

marker_impls!(ProstCodec<Enc, Dec>);
marker_impls!(ProstEncoder<T>);
marker_impls!(ProstDecoder<T>);

#[cfg(test)]
mod tests {
    use grpcx_status::{Code, Origin};

    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct SimpleRequest {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(bytes = "bytes", tag = "2")]
        payload: Bytes,
    }

    #[test]
    fn round_trip_shares_bytes_fields() {
        let mut codec = ProstCodec::<SimpleRequest, SimpleRequest>::default();
        let message = SimpleRequest {
            name: "grpcx".into(),
            payload: Bytes::from(vec![7; 1000]),
        };
        let mut buf = BytesMut::from(&b"kept"[..]);
        codec.encoder().encode(message.clone(), &mut buf).unwrap();
        assert_eq!(&buf[..4], b"kept");
        let received = buf.freeze().slice(4..);
        let decoded = codec.decoder().decode(received.clone()).unwrap();
        assert_eq!(decoded, message);
        // The payload points into the received buffer: no copy.
        let payload_at = decoded.payload.as_ptr() as usize;
        let received_at = received.as_ptr() as usize;
        assert!((received_at..received_at + received.len()).contains(&payload_at));
    }

    #[test]
    fn empty_message_is_empty_bytes() {
        let mut buf = BytesMut::new();
        ProstEncoder::<SimpleRequest>::default()
            .encode(SimpleRequest::default(), &mut buf)
            .unwrap();
        assert!(buf.is_empty());
        let decoded = ProstDecoder::<SimpleRequest>::default()
            .decode(Bytes::new())
            .unwrap();
        assert_eq!(decoded, SimpleRequest::default());
    }

    #[test]
    fn invalid_protobuf_is_internal() {
        let mut decoder = ProstDecoder::<SimpleRequest>::default();
        for (bytes, reason) in [
            (&b"\x0f"[..], "invalid wire type value: 7"),
            (&b"\x0a\x05ab"[..], "SimpleRequest.name: buffer underflow"),
            (
                &b"\x0a\x02\xff\xfe"[..],
                "SimpleRequest.name: invalid string value: data is not UTF-8 encoded",
            ),
        ] {
            let status = decoder.decode(Bytes::from_static(bytes)).unwrap_err();
            assert_eq!(status.code(), Code::Internal);
            assert_eq!(status.origin(), Origin::Protocol);
            assert_eq!(
                status.message(),
                format!(
                    "could not decode SimpleRequest: failed to decode Protobuf message: {reason}"
                )
            );
        }
    }

    #[test]
    fn short_type_names() {
        assert_eq!(short_type_name::<SimpleRequest>(), "SimpleRequest");
        assert_eq!(short_type_name::<u32>(), "u32");
        assert_eq!(short_type_name::<Vec<String>>(), "Vec");
    }

    #[test]
    fn codec_types_are_send_sync_and_static() {
        fn check<T: Send + Sync + Copy + Default + fmt::Debug + 'static>() {}
        // Even for a message type that is neither Send nor Sync's concern:
        // the markers hold no value.
        check::<ProstCodec<SimpleRequest, SimpleRequest>>();
        check::<ProstEncoder<std::rc::Rc<u8>>>();
        check::<ProstDecoder<std::rc::Rc<u8>>>();
        assert_eq!(
            format!("{:?}", ProstCodec::<SimpleRequest, ()>::default()),
            "ProstCodec"
        );
    }
}
