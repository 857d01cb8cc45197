//! [`CodecError`]: why the codec refused a message, and the [`Status`] each
//! reason becomes.

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Code, Origin, Status};

use crate::compression::{CompressionEncoding, EncodingSet};
use crate::frame::HEADER_LEN;

/// Why the codec refused to frame, unframe, compress, decompress, encode or
/// decode a message.
///
/// The public operations of this crate return [`Status`]; every status they
/// make is `Status::from` one of these, so the table below is the whole of
/// what the codec can fail with. Each status has [`Origin::Protocol`] (it is
/// made locally, because the peer broke the protocol or went over a limit)
/// and its message is this error's `Display`.
///
/// | Error | Code |
/// |---|---|
/// | [`MessageTooLarge`](Self::MessageTooLarge), [`DecompressedTooLarge`](Self::DecompressedTooLarge), [`SendTooLarge`](Self::SendTooLarge), [`Unframeable`](Self::Unframeable) | `RESOURCE_EXHAUSTED` |
/// | [`UnsupportedRequestEncoding`](Self::UnsupportedRequestEncoding) | `UNIMPLEMENTED` |
/// | every other variant | `INTERNAL` |
///
/// The codec never produces the codes reserved for applications
/// (`INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS`,
/// `FAILED_PRECONDITION`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`).
///
/// # Examples
///
/// ```
/// use grpcx_codec::CodecError;
/// use grpcx_status::{Code, Origin, Status};
///
/// let status = Status::from(CodecError::MessageTooLarge { len: 5_242_880, limit: 4_194_304 });
/// assert_eq!(status.code(), Code::ResourceExhausted);
/// assert_eq!(status.message(), "received message larger than max (5242880 vs. 4194304)");
/// assert_eq!(status.origin(), Origin::Protocol);
///
/// // The error is kept as the status's source.
/// let source = std::error::Error::source(&status).and_then(|e| e.downcast_ref::<CodecError>());
/// assert!(matches!(source, Some(CodecError::MessageTooLarge { len: 5_242_880, .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A received length prefix is over the maximum decoded message size.
    /// It is refused as soon as the 5-byte header is read, before the body
    /// is waited for or any memory is reserved for it.
    #[error("received message larger than max ({len} vs. {limit})")]
    MessageTooLarge {
        /// The length the prefix announced.
        len: usize,
        /// The maximum decoded message size.
        limit: usize,
    },
    /// A received message grew over the maximum decoded message size while
    /// it was decompressed. Decompression stops one byte past the limit, so
    /// only a lower bound of the full size is known.
    #[error(
        "received message larger than max after decompression (at least {} vs. {limit})",
        .limit.saturating_add(1)
    )]
    DecompressedTooLarge {
        /// The maximum decoded message size.
        limit: usize,
    },
    /// A message to send is over the maximum encoded message size (before
    /// or after compression).
    #[error("message to send larger than max ({len} vs. {limit})")]
    SendTooLarge {
        /// The message's length.
        len: usize,
        /// The maximum encoded message size.
        limit: usize,
    },
    /// A message to send is longer than the 4-byte length prefix can say
    /// (`u32::MAX` bytes).
    #[error("message to send too large for a gRPC frame ({len} vs. {})", u32::MAX)]
    Unframeable {
        /// The message's length.
        len: usize,
    },
    /// A received message header has a compressed flag other than 0 or 1.
    #[error("invalid compressed flag {flag} in message header: expected 0 or 1")]
    InvalidCompressedFlag {
        /// The flag byte received.
        flag: u8,
    },
    /// A received message has the compressed flag set, but the stream's
    /// `grpc-encoding` is `identity` or absent.
    #[error("compressed flag set but grpc-encoding is identity or absent")]
    CompressedWithoutEncoding,
    /// A request's `grpc-encoding` names an encoding this server does not
    /// accept. The server answers `UNIMPLEMENTED` and, in
    /// `grpc-accept-encoding`, the encodings it does accept.
    #[error("grpc-encoding {encoding:?} is not supported (supported: {supported})")]
    UnsupportedRequestEncoding {
        /// The encoding named (lossily decoded, at most 64 characters).
        encoding: String,
        /// The encodings that are accepted.
        supported: EncodingSet,
    },
    /// A response's `grpc-encoding` names an encoding this client does not
    /// accept (the gRPC compression spec makes this `INTERNAL` on a client).
    #[error("response grpc-encoding {encoding:?} is not supported (supported: {supported})")]
    UnsupportedResponseEncoding {
        /// The encoding named (lossily decoded, at most 64 characters).
        encoding: String,
        /// The encodings that are accepted.
        supported: EncodingSet,
    },
    /// A received compressed message could not be decompressed.
    #[error("could not decompress {encoding} message: {reason}")]
    Decompress {
        /// The stream's encoding.
        encoding: CompressionEncoding,
        /// What was wrong with the compressed data.
        reason: String,
    },
    /// A message to send could not be compressed.
    #[error("could not compress message with {encoding}: {reason}")]
    Compress {
        /// The encoding asked for.
        encoding: CompressionEncoding,
        /// What went wrong.
        reason: String,
    },
    /// The stream ended after part of a message header.
    #[error("stream ended inside a message header: expected {HEADER_LEN} bytes, got {received}")]
    TruncatedHeader {
        /// How many header bytes were received.
        received: usize,
    },
    /// The stream ended after part of a message body.
    #[error("stream ended inside a message: expected {expected} bytes, got {received}")]
    TruncatedMessage {
        /// The length the message's prefix announced.
        expected: usize,
        /// How many of its bytes were received.
        received: usize,
    },
    /// The stream was declared finished while complete messages were still
    /// buffered: the caller did not read every message before finishing.
    #[error("stream finished with {len} buffered bytes not read as messages")]
    UnreadMessages {
        /// How many bytes were still buffered.
        len: usize,
    },
    /// A received message is not a valid protobuf encoding of the expected
    /// type.
    #[error("could not decode {type_name}: {error}")]
    Decode {
        /// The short name of the Rust type expected.
        type_name: &'static str,
        /// What prost reported.
        error: prost::DecodeError,
    },
    /// A message could not be encoded as protobuf.
    #[error("could not encode {type_name}: {error}")]
    Encode {
        /// The short name of the Rust type.
        type_name: &'static str,
        /// What prost reported.
        error: prost::EncodeError,
    },
    /// An [`Encoder`](crate::Encoder) removed bytes from the output buffer
    /// that it did not write (an encoder may only append).
    #[error("the encoder removed bytes it did not write from the output buffer")]
    EncoderTruncatedOutput,
}

impl CodecError {
    /// The code of the [`Status`] this error becomes.
    pub fn code(&self) -> Code {
        match self {
            CodecError::MessageTooLarge { .. }
            | CodecError::DecompressedTooLarge { .. }
            | CodecError::SendTooLarge { .. }
            | CodecError::Unframeable { .. } => Code::ResourceExhausted,
            CodecError::UnsupportedRequestEncoding { .. } => Code::Unimplemented,
            CodecError::InvalidCompressedFlag { .. }
            | CodecError::CompressedWithoutEncoding
            | CodecError::UnsupportedResponseEncoding { .. }
            | CodecError::Decompress { .. }
            | CodecError::Compress { .. }
            | CodecError::TruncatedHeader { .. }
            | CodecError::TruncatedMessage { .. }
            | CodecError::UnreadMessages { .. }
            | CodecError::Decode { .. }
            | CodecError::Encode { .. }
            | CodecError::EncoderTruncatedOutput => Code::Internal,
        }
    }
}

impl From<CodecError> for Status {
    /// A status with [`CodecError::code`], the error's `Display` as its
    /// message, [`Origin::Protocol`], and the error itself as the status's
    /// [`source`](std::error::Error::source), so a caller can downcast it
    /// back to a [`CodecError`] and match on its variant.
    fn from(err: CodecError) -> Self {
        Status::new(err.code(), err.to_string())
            .with_origin(Origin::Protocol)
            .with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message type for tests that need prost's errors.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Named {
        #[prost(string, tag = "1")]
        name: String,
    }

    fn decode_error() -> prost::DecodeError {
        use prost::Message as _;
        // Field 1 with wire type 7, which does not exist.
        Named::decode(&[0x0f_u8][..]).unwrap_err()
    }

    fn encode_error() -> prost::EncodeError {
        use prost::Message as _;
        let named = Named { name: "abc".into() };
        named.encode(&mut &mut [0_u8; 2][..]).unwrap_err()
    }

    #[test]
    fn mapping_table() {
        let gzip_only = EncodingSet::IDENTITY.with(CompressionEncoding::Gzip);
        let cases: Vec<(CodecError, Code, &str)> = vec![
            (
                CodecError::MessageTooLarge {
                    len: 5_242_880,
                    limit: 4_194_304,
                },
                Code::ResourceExhausted,
                "received message larger than max (5242880 vs. 4194304)",
            ),
            (
                CodecError::DecompressedTooLarge { limit: 4_194_304 },
                Code::ResourceExhausted,
                "received message larger than max after decompression (at least 4194305 vs. 4194304)",
            ),
            (
                CodecError::SendTooLarge { len: 11, limit: 10 },
                Code::ResourceExhausted,
                "message to send larger than max (11 vs. 10)",
            ),
            (
                CodecError::Unframeable { len: 4_294_967_296 },
                Code::ResourceExhausted,
                "message to send too large for a gRPC frame (4294967296 vs. 4294967295)",
            ),
            (
                CodecError::InvalidCompressedFlag { flag: 2 },
                Code::Internal,
                "invalid compressed flag 2 in message header: expected 0 or 1",
            ),
            (
                CodecError::CompressedWithoutEncoding,
                Code::Internal,
                "compressed flag set but grpc-encoding is identity or absent",
            ),
            (
                CodecError::UnsupportedRequestEncoding {
                    encoding: "br".into(),
                    supported: gzip_only,
                },
                Code::Unimplemented,
                "grpc-encoding \"br\" is not supported (supported: gzip, identity)",
            ),
            (
                CodecError::UnsupportedResponseEncoding {
                    encoding: "br".into(),
                    supported: EncodingSet::ALL,
                },
                Code::Internal,
                "response grpc-encoding \"br\" is not supported (supported: gzip, deflate, identity)",
            ),
            (
                CodecError::Decompress {
                    encoding: CompressionEncoding::Gzip,
                    reason: "invalid gzip header".into(),
                },
                Code::Internal,
                "could not decompress gzip message: invalid gzip header",
            ),
            (
                CodecError::Compress {
                    encoding: CompressionEncoding::Deflate,
                    reason: "oops".into(),
                },
                Code::Internal,
                "could not compress message with deflate: oops",
            ),
            (
                CodecError::TruncatedHeader { received: 2 },
                Code::Internal,
                "stream ended inside a message header: expected 5 bytes, got 2",
            ),
            (
                CodecError::TruncatedMessage {
                    expected: 10,
                    received: 3,
                },
                Code::Internal,
                "stream ended inside a message: expected 10 bytes, got 3",
            ),
            (
                CodecError::UnreadMessages { len: 6 },
                Code::Internal,
                "stream finished with 6 buffered bytes not read as messages",
            ),
            (
                CodecError::Decode {
                    type_name: "SimpleRequest",
                    error: decode_error(),
                },
                Code::Internal,
                "could not decode SimpleRequest: failed to decode Protobuf message: invalid wire type value: 7",
            ),
            (
                CodecError::Encode {
                    type_name: "Named",
                    error: encode_error(),
                },
                Code::Internal,
                "could not encode Named: failed to encode Protobuf message; insufficient buffer capacity (required: 5, remaining: 2)",
            ),
            (
                CodecError::EncoderTruncatedOutput,
                Code::Internal,
                "the encoder removed bytes it did not write from the output buffer",
            ),
        ];
        for (err, code, message) in cases {
            assert_eq!(err.code(), code, "{err:?}");
            let status = Status::from(err.clone());
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
            assert_eq!(status.origin(), Origin::Protocol);
            // The error is the status's source, whole.
            let source = std::error::Error::source(&status)
                .and_then(|source| source.downcast_ref::<CodecError>());
            assert_eq!(source, Some(&err));
        }
    }

    #[test]
    fn the_source_can_be_matched_on() {
        let status = Status::from(CodecError::TruncatedMessage {
            expected: 10,
            received: 3,
        });
        let source = std::error::Error::source(&status)
            .and_then(|source| source.downcast_ref::<CodecError>());
        assert!(matches!(
            source,
            Some(CodecError::TruncatedMessage {
                expected: 10,
                received: 3
            })
        ));
    }

    #[test]
    fn never_an_application_code() {
        let application = [
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::OutOfRange,
            Code::DataLoss,
        ];
        let all = [
            CodecError::MessageTooLarge { len: 1, limit: 0 },
            CodecError::DecompressedTooLarge { limit: 0 },
            CodecError::SendTooLarge { len: 1, limit: 0 },
            CodecError::Unframeable { len: 0 },
            CodecError::InvalidCompressedFlag { flag: 9 },
            CodecError::CompressedWithoutEncoding,
            CodecError::UnsupportedRequestEncoding {
                encoding: String::new(),
                supported: EncodingSet::IDENTITY,
            },
            CodecError::UnsupportedResponseEncoding {
                encoding: String::new(),
                supported: EncodingSet::IDENTITY,
            },
            CodecError::Decompress {
                encoding: CompressionEncoding::Gzip,
                reason: String::new(),
            },
            CodecError::Compress {
                encoding: CompressionEncoding::Gzip,
                reason: String::new(),
            },
            CodecError::TruncatedHeader { received: 0 },
            CodecError::TruncatedMessage {
                expected: 0,
                received: 0,
            },
            CodecError::UnreadMessages { len: 0 },
            CodecError::Decode {
                type_name: "T",
                error: decode_error(),
            },
            CodecError::Encode {
                type_name: "T",
                error: encode_error(),
            },
            CodecError::EncoderTruncatedOutput,
        ];
        for err in all {
            assert!(!application.contains(&err.code()), "{err:?}");
        }
    }
}
