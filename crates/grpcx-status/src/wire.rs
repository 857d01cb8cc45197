//! The wire form of a [`Status`]: `grpc-status`, `grpc-message` and
//! `grpc-status-details-bin`, as gRPC's `PROTOCOL-HTTP2.md` specifies.
//!
//! - `grpc-status` is the code in decimal, without leading zeros.
//! - `grpc-message` is the message's UTF-8 bytes, with every byte outside
//!   0x20 to 0x7E, and `%` itself, written as `%XX` (uppercase hex).
//!   Decoding never fails: an escape that is not `%` and two hex digits is
//!   kept as is, and bytes that are not UTF-8 become U+FFFD.
//! - `grpc-status-details-bin` is a serialized `google.rpc.Status`, in
//!   base64 without padding; padded and unpadded values are both accepted.
//!
//! # Long messages
//!
//! Peers limit the size of the header list they accept (8 KiB to 16 KiB is
//! common), and a status whose trailers are over the limit does not arrive
//! at all: the peer fails the call, or the whole connection. So a message
//! whose encoded form is longer than [`MAX_MESSAGE_HEADER_LEN`] is sent cut
//! at a character boundary and ended with `…`, in `grpc-message` and in the
//! details alike (so they still agree). The [`Status`] itself keeps the
//! whole message.
//!
//! # When the details disagree with `grpc-status`
//!
//! `grpc-status` and `grpc-message` are what every gRPC peer reads, so they
//! decide the [`Status`]'s code and message. When the `google.rpc.Status` in
//! `grpc-status-details-bin` names another code or message, its details are
//! still kept (they are what the peer sent), and
//! [`Status::details_error`] reports [`DetailsError::Mismatch`] with the
//! code and message the details named, so a careful client can refuse them.
//! A header that is not base64 or not a `google.rpc.Status` leaves the
//! status with no details and [`Status::details_error`] saying why; the code
//! and message are never lost.

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode, percent_encode};
use prost::Message as _;

use crate::__private::StatusInternals as _;
use crate::b64;
use crate::code::Code;
use crate::metadata::Metadata;
use crate::pb;
use crate::status::{DetailsError, Origin, Pushback, Status};

/// The `grpc-status` header name.
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The `grpc-message` header name.
pub const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
/// The `grpc-status-details-bin` header name.
pub const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// The `grpc-retry-pushback-ms` header name (gRFC A6).
pub const GRPC_RETRY_PUSHBACK: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// The longest `grpc-message` value sent, in bytes after percent-encoding;
/// a longer message is cut (see the module documentation).
pub const MAX_MESSAGE_HEADER_LEN: usize = 8 * 1024;

/// Reads `grpc-retry-pushback-ms` as gRFC A6 says: a non-negative 32-bit
/// number of milliseconds is a delay; a negative, malformed or repeated
/// value means "do not retry".
fn read_pushback(headers: &HeaderMap) -> Option<Pushback> {
    let mut values = headers.get_all(GRPC_RETRY_PUSHBACK).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return Some(Pushback::Stop);
    }
    let parsed = std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok());
    Some(match parsed {
        Some(ms) if ms >= 0 => Pushback::Delay(std::time::Duration::from_millis(u64::from(
            ms.unsigned_abs(),
        ))),
        _ => Pushback::Stop,
    })
}

/// Bytes `grpc-message` escapes: everything outside 0x20..=0x7E, and `%`.
const MESSAGE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// Percent-encodes a message for `grpc-message`.
///
/// ```
/// assert_eq!(grpcx_status::wire::encode_message("50% ☺"), "50%25 %E2%98%BA");
/// ```
pub fn encode_message(message: &str) -> Cow<'_, str> {
    percent_encode(message.as_bytes(), MESSAGE_ESCAPES).into()
}

/// Decodes a `grpc-message` value; never fails (see the module docs).
///
/// ```
/// assert_eq!(grpcx_status::wire::decode_message(b"50%25 %E2%98%BA"), "50% ☺");
/// assert_eq!(grpcx_status::wire::decode_message(b"bad %zz escape %"), "bad %zz escape %");
/// ```
pub fn decode_message(value: &[u8]) -> Cow<'_, str> {
    match percent_decode(value).into() {
        Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Cow::Owned(text),
            Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
        },
    }
}

impl Status {
    /// Reads a status from received header fields: the trailers of a
    /// response, or the headers of a Trailers-Only response.
    ///
    /// `None` when there is no `grpc-status`. An unparseable `grpc-status`
    /// gives `UNKNOWN`. Custom metadata (every field that is not reserved)
    /// is kept. The status's origin is [`Origin::Peer`].
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderMap;
    /// use grpcx_status::{Code, Status};
    ///
    /// let mut trailers = HeaderMap::new();
    /// trailers.insert("grpc-status", "5".parse().unwrap());
    /// trailers.insert("grpc-message", "user%2042 not found".parse().unwrap());
    /// trailers.insert("x-request-id", "r-1".parse().unwrap());
    ///
    /// let status = Status::from_header_map(&trailers).unwrap();
    /// assert_eq!(status.code(), Code::NotFound);
    /// assert_eq!(status.message(), "user 42 not found");
    /// assert_eq!(status.metadata().get("x-request-id"), Some("r-1"));
    /// ```
    pub fn from_header_map(headers: &HeaderMap) -> Option<Status> {
        let code = Code::from_header_bytes(headers.get(GRPC_STATUS)?.as_bytes());
        let message = headers
            .get(GRPC_MESSAGE)
            .map(|v| decode_message(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let mut status = Status::new(code, message)
            .with_metadata(Metadata::from_header_map(headers))
            .with_origin(Origin::Peer);
        if let Some(value) = headers.get(GRPC_STATUS_DETAILS) {
            status = status.with_received_details(decode_details(value.as_bytes()));
        }
        if let Some(pushback) = read_pushback(headers) {
            status = status.with_pushback(pushback);
        }
        Some(status)
    }

    /// Writes the status as header fields: `grpc-status`, `grpc-message`
    /// (when the message is not empty), `grpc-status-details-bin` (when there
    /// are details) and the custom metadata.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderMap;
    /// use grpcx_status::Status;
    ///
    /// let mut trailers = HeaderMap::new();
    /// Status::not_found("no user ☺").write_headers(&mut trailers);
    /// assert_eq!(trailers["grpc-status"], "5");
    /// assert_eq!(trailers["grpc-message"], "no user %E2%98%BA");
    /// ```
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(
            GRPC_STATUS,
            HeaderValue::from_static(self.code().header_value()),
        );
        if let Some(value) = message_value(self.message()) {
            headers.insert(GRPC_MESSAGE, value);
        }
        if !self.details_any().is_empty() {
            let proto = pb::Status {
                code: self.code().as_i32(),
                message: message_for_header(self.message()).into_owned(),
                details: self.details_any().to_vec(),
            };
            let encoded = b64::grpc_encode(proto.encode_to_vec());
            if let Ok(value) = HeaderValue::from_str(&encoded) {
                headers.insert(GRPC_STATUS_DETAILS, value);
            }
        }
        match self.pushback() {
            None => {}
            Some(Pushback::Delay(delay)) => {
                let ms = u64::try_from(delay.as_millis())
                    .unwrap_or(u64::MAX)
                    .min(i32::MAX as u64);
                headers.insert(GRPC_RETRY_PUSHBACK, HeaderValue::from(ms));
            }
            Some(Pushback::Stop) => {
                headers.insert(GRPC_RETRY_PUSHBACK, HeaderValue::from_static("-1"));
            }
        }
        self.metadata().append_to(headers);
    }

    /// The status as header fields (see [`Status::write_headers`]).
    pub fn to_header_map(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(3 + self.metadata().len());
        self.write_headers(&mut headers);
        headers
    }
}

/// The `grpc-message` value of `message`; `None` for an empty one.
fn message_value(message: &str) -> Option<HeaderValue> {
    if message.is_empty() {
        return None;
    }
    // Most messages are short printable ASCII with no `%`: they go as they
    // are, checked in one pass, with no cut and no percent-encoding to copy.
    let plain = |b: &u8| (b' '..=b'~').contains(b) && *b != b'%';
    if message.len() <= MAX_MESSAGE_HEADER_LEN && message.as_bytes().iter().all(plain) {
        return HeaderValue::from_str(message).ok();
    }
    // Percent-encoding leaves only printable ASCII, always a valid value.
    HeaderValue::from_str(&encode_message(&message_for_header(message))).ok()
}

/// The message as sent: whole, or cut so that its encoded form fits in
/// [`MAX_MESSAGE_HEADER_LEN`].
fn message_for_header(message: &str) -> Cow<'_, str> {
    const ELLIPSIS: &str = "…";
    let encoded_len = |c: char| -> usize {
        if (' '..='~').contains(&c) && c != '%' {
            1
        } else {
            3 * c.len_utf8()
        }
    };
    let mut total = 0;
    for (i, c) in message.char_indices() {
        total += encoded_len(c);
        if total > MAX_MESSAGE_HEADER_LEN {
            // Cut so that the message and the encoded ellipsis (9 bytes) fit.
            let budget = MAX_MESSAGE_HEADER_LEN - 3 * ELLIPSIS.len();
            let mut used = 0;
            let mut end = 0;
            for (j, c) in message[..i].char_indices() {
                used += encoded_len(c);
                if used > budget {
                    break;
                }
                end = j + c.len_utf8();
            }
            return Cow::Owned(format!("{}{ELLIPSIS}", &message[..end]));
        }
    }
    Cow::Borrowed(message)
}

/// The `google.rpc.Status` in a `grpc-status-details-bin` value.
fn decode_details(value: &[u8]) -> Result<pb::Status, DetailsError> {
    // Several values joined by commas would not be one message; take the first.
    let first = value.split(|b| *b == b',').next().unwrap_or_default();
    let bytes = b64::grpc_decode(first).ok_or(DetailsError::InvalidBase64)?;
    pb::Status::decode(bytes.as_slice()).map_err(DetailsError::InvalidProtobuf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rich::{BadRequest, Detail, ErrorInfo, RetryInfo};
    use proptest::prelude::*;

    /// The special_status_message string of gRPC's interop tests.
    const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

    #[test]
    fn pushback_is_a_delay_or_stop_as_a6_says() {
        let read = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            headers.insert(GRPC_STATUS, HeaderValue::from_static("14"));
            for value in values {
                headers.append(GRPC_RETRY_PUSHBACK, HeaderValue::from_str(value).unwrap());
            }
            Status::from_header_map(&headers).unwrap().pushback()
        };
        let delay = |ms| Some(Pushback::Delay(std::time::Duration::from_millis(ms)));
        assert_eq!(read(&[]), None);
        assert_eq!(read(&["0"]), delay(0));
        assert_eq!(read(&["1500"]), delay(1500));
        assert_eq!(read(&["2147483647"]), delay(2_147_483_647));
        for stop in [
            &["-1"][..],
            &["abc"],
            &[""],
            &["2147483648"],
            &["1.5"],
            &["10", "20"],
        ] {
            assert_eq!(read(stop), Some(Pushback::Stop), "{stop:?}");
        }
        // The header is never custom metadata.
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_STATUS, HeaderValue::from_static("14"));
        headers.insert(GRPC_RETRY_PUSHBACK, HeaderValue::from_static("5"));
        assert!(
            Status::from_header_map(&headers)
                .unwrap()
                .metadata()
                .is_empty()
        );
        // Written back as A6 says.
        let stop = Status::unavailable("no").with_pushback(Pushback::Stop);
        assert_eq!(stop.to_header_map()[GRPC_RETRY_PUSHBACK], "-1");
    }

    #[test]
    fn special_status_message_encodes_as_the_spec_says() {
        let encoded = encode_message(SPECIAL);
        assert_eq!(
            encoded,
            "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and non-BMP %F0%9F%98%88%09%0A"
        );
        assert_eq!(decode_message(encoded.as_bytes()), SPECIAL);
    }

    #[test]
    fn printable_ascii_is_not_escaped_but_percent_is() {
        assert_eq!(
            encode_message("a b~!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}"),
            "a b~!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}"
        );
        assert_eq!(encode_message("100%"), "100%25");
        assert_eq!(encode_message("\u{7f}"), "%7F");
        assert!(matches!(encode_message("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn decoding_is_tolerant() {
        assert_eq!(decode_message(b"%"), "%");
        assert_eq!(decode_message(b"%4"), "%4");
        assert_eq!(decode_message(b"%G0 x"), "%G0 x");
        assert_eq!(decode_message(b"%e2%98%ba"), "☺");
        // A lone invalid UTF-8 byte becomes U+FFFD; the rest is kept.
        assert_eq!(decode_message(b"ok %FF ok"), "ok \u{fffd} ok");
        // Raw non-ASCII bytes a peer should have escaped are still read.
        assert_eq!(decode_message("caf\u{e9}".as_bytes()), "café");
    }

    #[test]
    fn status_round_trips_through_headers() {
        let mut status = Status::failed_precondition(SPECIAL)
            .with_detail(ErrorInfo::new("STALE", "example.com").with_metadata("etag", "7"))
            .with_detail(BadRequest::default().violation("a", "b"))
            .with_detail(Detail::Unknown {
                type_url: "type.googleapis.com/acme.X".into(),
                value: vec![1, 2, 3],
            });
        status.metadata_mut().insert("x-a", "1").unwrap();
        status
            .metadata_mut()
            .insert_bin("x-b-bin", [0, 255])
            .unwrap();
        let headers = status.to_header_map();
        assert_eq!(headers["grpc-status"], "9");
        assert!(
            !headers["grpc-status-details-bin"]
                .as_bytes()
                .ends_with(b"=")
        );

        let back = Status::from_header_map(&headers).unwrap();
        assert_eq!(back.code(), Code::FailedPrecondition);
        assert_eq!(back.message(), SPECIAL);
        assert_eq!(back.origin(), Origin::Peer);
        assert_eq!(back.details(), status.details());
        assert_eq!(back.details_error(), None);
        assert_eq!(back.metadata().get("x-a"), Some("1"));
        assert_eq!(
            back.metadata().get_bin("x-b-bin").unwrap(),
            Some(vec![0, 255])
        );
        assert_eq!(back.metadata().len(), 2);
    }

    #[test]
    fn long_messages_are_cut_to_fit_and_agree_with_the_details() {
        let long = "é".repeat(5000) + &"x".repeat(5000);
        let status = Status::internal(long.clone()).with_detail(ErrorInfo::new("R", "d"));
        let headers = status.to_header_map();
        let sent = headers["grpc-message"].as_bytes();
        assert!(sent.len() <= MAX_MESSAGE_HEADER_LEN, "{}", sent.len());
        let back = Status::from_header_map(&headers).unwrap();
        assert!(back.message().ends_with('…'));
        assert!(long.starts_with(back.message().trim_end_matches('…')));
        assert_eq!(
            back.details_error(),
            None,
            "the cut message agrees with the details"
        );
        // The status itself keeps the whole message.
        assert_eq!(status.message(), long);
        // A message that fits is sent whole, even right at the limit.
        let fits = "a".repeat(MAX_MESSAGE_HEADER_LEN);
        let back =
            Status::from_header_map(&Status::internal(fits.clone()).to_header_map()).unwrap();
        assert_eq!(back.message(), fits);
    }

    #[test]
    fn ok_status_writes_only_grpc_status() {
        let headers = Status::ok().to_header_map();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["grpc-status"], "0");
    }

    #[test]
    fn missing_or_bad_grpc_status() {
        assert!(Status::from_header_map(&HeaderMap::new()).is_none());
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("abc"));
        headers.insert("grpc-message", HeaderValue::from_static("hello"));
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(status.message(), "hello");
    }

    fn with_details_header(value: &[u8]) -> Status {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("14"));
        headers.insert("grpc-message", HeaderValue::from_static("down"));
        headers.insert(
            "grpc-status-details-bin",
            HeaderValue::from_bytes(value).unwrap(),
        );
        Status::from_header_map(&headers).unwrap()
    }

    #[test]
    fn malformed_details_keep_code_and_message() {
        let status = with_details_header(b"!!not base64!!");
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unavailable, "down")
        );
        assert!(status.details().is_empty());
        assert_eq!(status.details_error(), Some(&DetailsError::InvalidBase64));

        // Valid base64 of bytes that are not a google.rpc.Status.
        let status = with_details_header(b64::grpc_encode([0x0a, 0xff]).as_bytes());
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unavailable, "down")
        );
        assert!(status.details().is_empty());
        assert!(matches!(
            status.details_error(),
            Some(DetailsError::InvalidProtobuf(_))
        ));
        assert!(
            status
                .details_error()
                .unwrap()
                .to_string()
                .starts_with("grpc-status-details-bin is not a valid google.rpc.Status")
        );
    }

    #[test]
    fn padded_details_are_accepted() {
        let proto = pb::Status {
            code: 14,
            message: "down".into(),
            details: vec![RetryInfo::after(std::time::Duration::from_secs(1)).into_detail_any()],
        };
        use base64::Engine as _;
        let padded = base64::engine::general_purpose::STANDARD.encode(proto.encode_to_vec());
        let status = with_details_header(padded.as_bytes());
        assert_eq!(status.details_error(), None);
        assert_eq!(
            status.get_detail::<RetryInfo>().unwrap().delay(),
            Some(std::time::Duration::from_secs(1))
        );
    }

    #[test]
    fn mismatched_details_are_kept_and_reported() {
        let proto = pb::Status {
            code: 5,
            message: "not found".into(),
            details: vec![ErrorInfo::new("R", "d").into_detail_any()],
        };
        let status = with_details_header(b64::grpc_encode(proto.encode_to_vec()).as_bytes());
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unavailable, "down")
        );
        assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "R");
        assert_eq!(
            status.details_error(),
            Some(&DetailsError::Mismatch {
                details_code: 5,
                details_message: "not found".into()
            })
        );
        assert_eq!(
            status.details_error().unwrap().to_string(),
            "grpc-status-details-bin disagrees with grpc-status: the details say NOT_FOUND \"not found\""
        );
    }

    #[test]
    fn proto_conversion() {
        let status = Status::aborted("txn").with_detail(ErrorInfo::new("R", "d"));
        let back = Status::from_proto(status.to_proto());
        assert_eq!(back.code(), Code::Aborted);
        assert_eq!(back.message(), "txn");
        assert_eq!(back.details(), status.details());
        assert_eq!(
            Status::from_proto(pb::Status {
                code: 99,
                ..Default::default()
            })
            .code(),
            Code::Unknown
        );
    }

    trait IntoDetailAny {
        fn into_detail_any(self) -> prost_types::Any;
    }
    impl<T: crate::rich::DetailMessage> IntoDetailAny for T {
        fn into_detail_any(self) -> prost_types::Any {
            self.to_any()
        }
    }

    fn arb_detail() -> impl Strategy<Value = Detail> {
        prop_oneof![
            (".*", ".*", prop::collection::hash_map(".*", ".*", 0..3)).prop_map(|(r, d, m)| {
                Detail::ErrorInfo(ErrorInfo {
                    reason: r,
                    domain: d,
                    metadata: m,
                })
            }),
            (0u64..1_000_000, 0u32..1_000_000_000)
                .prop_map(|(s, n)| RetryInfo::after(std::time::Duration::new(s, n)).into()),
            prop::collection::vec((".*", ".*"), 0..4).prop_map(|v| {
                v.into_iter()
                    .fold(BadRequest::default(), |b, (f, d)| b.violation(f, d))
                    .into()
            }),
            ("[a-z.]{1,20}", prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(t, value)| {
                Detail::Unknown {
                    type_url: format!("type.googleapis.com/{t}"),
                    value,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn cut_messages_fit_and_are_prefixes(message in ".{0,4000}", repeat in 1usize..8) {
            let message = message.repeat(repeat);
            let cut = message_for_header(&message);
            prop_assert!(encode_message(&cut).len() <= MAX_MESSAGE_HEADER_LEN);
            prop_assert!(message == cut.as_ref() || message.starts_with(cut.trim_end_matches('…')));
        }

        #[test]
        fn message_round_trips(message in any::<String>()) {
            let encoded = encode_message(&message);
            prop_assert!(encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert!(HeaderValue::from_str(&encoded).is_ok());
            prop_assert_eq!(decode_message(encoded.as_bytes()), message.as_str());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_fails(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_message(&bytes);
        }

        #[test]
        fn details_header_round_trips(
            code in 0i32..=16,
            message in any::<String>(),
            details in prop::collection::vec(arb_detail(), 0..5),
        ) {
            let status = Status::new(Code::from_i32(code), message.clone()).with_details(details.clone());
            let back = Status::from_header_map(&status.to_header_map()).unwrap();
            prop_assert_eq!(back.code().as_i32(), code);
            prop_assert_eq!(back.message(), message.as_str());
            prop_assert_eq!(back.details(), details);
            prop_assert_eq!(back.details_error(), None);
        }

        #[test]
        fn arbitrary_details_header_never_panics(value in "[A-Za-z0-9+/=,]{0,100}") {
            let status = with_details_header(value.as_bytes());
            prop_assert_eq!(status.code(), Code::Unavailable);
            prop_assert_eq!(status.message(), "down");
        }
    }
}
