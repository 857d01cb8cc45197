//! The base64 engines of the crate, in one place: gRPC's for binary
//! metadata and `grpc-status-details-bin`, and proto3 JSON's for `bytes`
//! (the base64 form of a detail in the JSON error body).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Base64 as gRPC emits it: the standard alphabet without padding.
const GRPC_ENCODE: GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// Base64 as gRPC accepts it: padded or not, lenient on trailing bits.
const GRPC_DECODE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes bytes as gRPC sends `-bin` values: standard alphabet, no
/// padding.
pub(crate) fn grpc_encode(bytes: impl AsRef<[u8]>) -> String {
    GRPC_ENCODE.encode(bytes)
}

/// Decodes a `-bin` value as gRPC reads it: padded or not, ignoring
/// surrounding ASCII whitespace; `None` when it is not base64.
pub(crate) fn grpc_decode(value: &[u8]) -> Option<Vec<u8>> {
    GRPC_DECODE.decode(value.trim_ascii()).ok()
}

/// Base64 as proto3 JSON writes `bytes`: standard alphabet, padded.
#[cfg(feature = "json")]
const JSON_ENCODE: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Base64 as proto3 JSON reads `bytes`: standard or URL-safe alphabet, with
/// or without padding.
#[cfg(feature = "json")]
const JSON_DECODE: [GeneralPurpose; 2] = [
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    ),
    GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    ),
];

/// Encodes bytes as proto3 JSON writes them.
#[cfg(feature = "json")]
pub(crate) fn json_encode(bytes: impl AsRef<[u8]>) -> String {
    JSON_ENCODE.encode(bytes)
}

/// Decodes text as proto3 JSON reads `bytes`; `None` when it is not
/// base64 in either alphabet.
#[cfg(feature = "json")]
pub(crate) fn json_decode(text: &str) -> Option<Vec<u8>> {
    JSON_DECODE
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}
