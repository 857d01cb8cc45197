//! The targets. A failed property is a panic (`assert!`), which the
//! engine catches and saves as a crashing input.

// Properties are checked with assertions: a panic is how a target reports.
#![allow(clippy::panic)]

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use grpcx_codec::{CompressionEncoding, EncodingSet, FrameDecoder, FrameEncoder, HEADER_LEN};
use grpcx_status::wire::{self, MAX_MESSAGE_HEADER_LEN};
use grpcx_status::{Code, Metadata, Status};
use grpcx_transport::timeout::{format_timeout, parse_timeout};
use http::{HeaderMap, HeaderName, HeaderValue};
use prost::Message;

use crate::{Target, alloc};

/// Every target, in the order the engine runs them.
pub static TARGETS: &[Target] = &[
    Target {
        name: "frame_decode",
        run: frame_decode,
        seeds: frame_decode_seeds,
        dictionary: &[
            &[0, 0, 0, 0, 0],
            &[1, 0, 0, 0, 0],
            &[0, 0x7f, 0xff, 0xff, 0xff],
            &[1, 0xff, 0xff, 0xff, 0xff],
            &[0x1f, 0x8b, 8, 0],
            &[0x78, 0x9c],
            &[2],
        ],
    },
    Target {
        name: "frame_roundtrip",
        run: frame_roundtrip,
        seeds: frame_roundtrip_seeds,
        dictionary: &[&[0; 16], &[0xff; 16]],
    },
    Target {
        name: "grpc_timeout",
        run: grpc_timeout,
        seeds: grpc_timeout_seeds,
        dictionary: &[
            b"H",
            b"M",
            b"S",
            b"m",
            b"u",
            b"n",
            b"99999999",
            b"0",
            b"+",
            b"-",
            b" ",
        ],
    },
    Target {
        name: "grpc_message",
        run: grpc_message,
        seeds: grpc_message_seeds,
        dictionary: &[
            b"%",
            b"%25",
            b"%E2%98%BA",
            b"%F0",
            b"%zz",
            b"%C3",
            b"\xff",
            b"\xe2\x98",
        ],
    },
    Target {
        name: "status_headers",
        run: status_headers,
        seeds: status_headers_seeds,
        dictionary: &[
            b"\ngrpc-status:",
            b"\ngrpc-message:",
            b"\ngrpc-status-details-bin:",
            b"\ngrpc-retry-pushback-ms:",
            b"\nx-bin:",
            b"\ncontent-type:",
            b",",
            b"=",
            b"-1",
            b"2147483648",
        ],
    },
    Target {
        name: "metadata",
        run: metadata,
        seeds: metadata_seeds,
        dictionary: &[
            b"\0", b"-bin", b"grpc-", b":", b"=", b"\x7f", b"\xff", b"te",
        ],
    },
    Target {
        name: "encoding_headers",
        run: encoding_headers,
        seeds: encoding_headers_seeds,
        dictionary: &[b"gzip", b"deflate", b"identity", b",", b" ", b"\t", b"GZIP"],
    },
    Target {
        name: "status_json",
        run: status_json,
        seeds: status_json_seeds,
        dictionary: &[
            b"{\"error\":",
            b"\"code\":",
            b"\"status\":",
            b"\"message\":",
            b"\"details\":[",
            b"\"@type\":",
            b"\"type.googleapis.com/google.rpc.RetryInfo\"",
            b"\"retryDelay\":",
            b"\"1.5s\"",
            b"\"-0.000000001s\"",
            b"\"315576000001s\"",
            b"\"1.0000000001s\"",
            b"\"99999999999999999999s\"",
            b"\"type.googleapis.com/google.rpc.BadRequest\"",
            b"\"type.googleapis.com/google.rpc.QuotaFailure\"",
            b"\"type.googleapis.com/google.rpc.DebugInfo\"",
            b"\"type.googleapis.com/google.rpc.Help\"",
            b"\"fieldViolations\":[{",
            b"\"metadata\":{",
            b"\"value\":",
            b"1e400",
            b"-9223372036854775809",
            b"null",
            b"[",
            b"]",
            b"}",
        ],
    },
];

// ---------------------------------------------------------------------------
// Framing and decompression.

/// The codes the codec may give for bad input (see ARCHITECTURE.md).
fn codec_code(code: Code) -> bool {
    matches!(
        code,
        Code::ResourceExhausted | Code::Internal | Code::Unimplemented
    )
}

/// The memory one decode may hold above its baseline: the queued input,
/// a few message buffers of the limit, and the inflater's state.
fn memory_bound(input: usize, limit: usize) -> usize {
    2 * input + 4 * limit + 512 * 1024
}

/// Byte 0 picks the encoding and the chunk size, byte 1 the message size
/// limit (a power of two up to 1 MiB); the rest is the received stream.
fn frame_decode(data: &[u8]) {
    let [control, limit, stream @ ..] = data else {
        return;
    };
    let encoding = encoding_of(*control);
    let chunk = usize::from(*control / 3) + 1;
    let limit = 1usize << (limit % 21);
    let baseline = alloc::start();
    let mut decoder = FrameDecoder::default()
        .encoding(encoding)
        .max_message_size(limit);
    let mut failed = None;
    'stream: for piece in stream.chunks(chunk) {
        decoder.push(Bytes::copy_from_slice(piece));
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => assert!(
                    message.len() <= limit,
                    "a {} byte message passed a {limit} byte limit",
                    message.len()
                ),
                Ok(None) => break,
                Err(status) => {
                    assert!(codec_code(status.code()), "unexpected code: {status:?}");
                    failed = Some(status);
                    break 'stream;
                }
            }
        }
    }
    let finished = decoder.finish();
    if let Some(status) = failed {
        // After an error the decoder keeps reporting the same status.
        let again = decoder.next_message();
        assert!(
            matches!(&again, Err(s) if s.code() == status.code()),
            "{again:?}"
        );
        assert!(finished.is_err());
    }
    if let Err(status) = finished {
        assert!(codec_code(status.code()), "unexpected code: {status:?}");
    }
    let peak = alloc::peak_since(baseline);
    assert!(
        peak <= memory_bound(stream.len(), limit),
        "decoding {} bytes with a {limit} byte limit held {peak} bytes",
        stream.len()
    );
}

fn encoding_of(control: u8) -> CompressionEncoding {
    match control % 3 {
        0 => CompressionEncoding::Identity,
        1 => CompressionEncoding::Gzip,
        _ => CompressionEncoding::Deflate,
    }
}

/// A frame with the compressed flag and `payload` compressed by `encoding`.
fn compressed_frame(encoding: CompressionEncoding, payload: &[u8]) -> Vec<u8> {
    let compressed = compress(encoding, payload);
    let mut frame = vec![1];
    frame.extend_from_slice(
        &u32::try_from(compressed.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&compressed);
    frame
}

fn compress(encoding: CompressionEncoding, payload: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::best();
    let written = match encoding {
        CompressionEncoding::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), level);
            w.write_all(payload).and_then(|()| w.finish())
        }
        _ => {
            let mut w = flate2::write::ZlibEncoder::new(Vec::new(), level);
            w.write_all(payload).and_then(|()| w.finish())
        }
    };
    written.unwrap_or_default()
}

fn plain_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(payload);
    frame
}

fn frame_decode_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let with = |control: u8, limit: u8, frames: &[Vec<u8>]| {
        let mut seed = vec![control, limit];
        for frame in frames {
            seed.extend_from_slice(frame);
        }
        seed
    };
    seeds.push(with(0, 10, &[plain_frame(b""), plain_frame(b"hello")]));
    seeds.push(with(
        3 * 4,
        20,
        &[plain_frame(&[7; 300]), plain_frame(b"x")],
    ));
    for (control, encoding) in [
        (1, CompressionEncoding::Gzip),
        (2, CompressionEncoding::Deflate),
    ] {
        seeds.push(with(
            control,
            12,
            &[
                compressed_frame(encoding, b"hello hello hello"),
                plain_frame(b"raw"),
            ],
        ));
        // Bombs: a few KiB that inflate far past the limit.
        seeds.push(with(
            control,
            10,
            &[compressed_frame(encoding, &[0; 1 << 20])],
        ));
        seeds.push(with(
            control + 30,
            16,
            &[compressed_frame(encoding, &[b'a'; 8 << 20])],
        ));
        // Exactly at the limit, and one past it.
        seeds.push(with(control, 12, &[compressed_frame(encoding, &[1; 4096])]));
        seeds.push(with(control, 12, &[compressed_frame(encoding, &[1; 4097])]));
    }
    // A length prefix far over the limit, and a header cut short.
    seeds.push(with(0, 4, &[vec![0, 0xff, 0xff, 0xff, 0xff]]));
    seeds.push(with(0, 4, &[vec![0, 0, 0]]));
    seeds
}

/// Byte 0 picks the encoding and the chunk size; the rest is a message,
/// sent twice. The decoder gives both back, unchanged, under a limit of
/// exactly the larger of the message and its compressed frame.
fn frame_roundtrip(data: &[u8]) {
    let [control, message @ ..] = data else {
        return;
    };
    let encoding = encoding_of(*control);
    let chunk = usize::from(*control / 3) + 1;
    let mut encoder = FrameEncoder::default().encoding(encoding);
    let mut wire = BytesMut::new();
    let encoded = encoder
        .encode_bytes(message, &mut wire)
        .and_then(|()| encoder.encode_bytes(message, &mut wire));
    assert!(encoded.is_ok(), "encoding failed: {encoded:?}");
    let frame_len = wire.len() / 2 - HEADER_LEN;
    let limit = message.len().max(frame_len);
    let mut decoder = FrameDecoder::default()
        .encoding(encoding)
        .max_message_size(limit);
    let mut received = Vec::new();
    for piece in wire.chunks(chunk) {
        decoder.push(Bytes::copy_from_slice(piece));
        loop {
            match decoder.next_message() {
                Ok(Some(m)) => received.push(m),
                Ok(None) => break,
                Err(status) => panic!("decoding what was encoded failed: {status:?}"),
            }
        }
    }
    assert!(decoder.finish().is_ok(), "{:?}", decoder.finish());
    assert_eq!(received.len(), 2);
    for m in received {
        assert!(m == message, "the message changed in a round trip");
    }
}

fn frame_roundtrip_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![0],
        b"\x00hello".to_vec(),
        b"\x01hello hello hello hello".to_vec(),
        b"\x05compress me compress me".to_vec(),
        [vec![2], vec![0; 5000]].concat(),
        [vec![40], (0..=255).collect()].concat(),
    ]
}

// ---------------------------------------------------------------------------
// grpc-timeout, grpc-encoding and grpc-accept-encoding.

/// Parses the bytes as `grpc-timeout`; a parsed value formats to one that
/// parses to no less and barely more. The first 12 bytes, read as seconds
/// and nanoseconds, also make a duration to format and parse back.
fn grpc_timeout(data: &[u8]) {
    if let Ok(parsed) = parse_timeout(data) {
        check_timeout_roundtrip(parsed);
    }
    if let Some((secs, rest)) = data.split_first_chunk::<8>() {
        let nanos = rest
            .first_chunk::<4>()
            .map_or(0, |n| u32::from_le_bytes(*n) % 1_000_000_000);
        check_timeout_roundtrip(Duration::new(u64::from_le_bytes(*secs), nanos));
    }
}

fn check_timeout_roundtrip(timeout: Duration) {
    const CAP: Duration = Duration::from_secs(99_999_999 * 3600);
    let value = format_timeout(timeout);
    let back = parse_timeout(value.as_bytes());
    let Ok(back) = back else {
        panic!("format_timeout({timeout:?}) = {value:?} does not parse: {back:?}");
    };
    if timeout >= CAP {
        assert_eq!(back, CAP, "{timeout:?} formats as {value:?}");
        return;
    }
    // Rounded up, never down, by less than one unit of the finest unit
    // that holds the value in 8 digits (so at most timeout / 10^5 + 1 ns).
    assert!(
        back >= timeout,
        "{timeout:?} formats as {value:?}, parsed {back:?}"
    );
    let slack = timeout / 100_000 + Duration::from_nanos(1);
    assert!(
        back - timeout <= slack,
        "{timeout:?} formats as {value:?}, parsed {back:?}"
    );
}

fn grpc_timeout_seeds() -> Vec<Vec<u8>> {
    [
        "1S",
        "100m",
        "99999999H",
        "0n",
        "12345678u",
        "5M",
        "00000001n",
        "123456789S",
        "1",
        "S",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// `grpc-encoding` names and `grpc-accept-encoding` lists.
fn encoding_headers(data: &[u8]) {
    let set = EncodingSet::parse(data);
    // What we advertise parses back to the same set.
    let advertised = set.to_header_value();
    assert_eq!(EncodingSet::parse(advertised.as_bytes()), set);
    if let Some(encoding) = CompressionEncoding::from_name(data) {
        assert!(data.eq_ignore_ascii_case(encoding.as_str().as_bytes()));
        assert!(set.contains(encoding) || !encoding.is_compressed());
    }
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(grpcx_codec::GRPC_ENCODING, value.clone());
        headers.insert(grpcx_codec::GRPC_ACCEPT_ENCODING, value);
        let config = grpcx_codec::CompressionConfig::default();
        for result in [
            config.request_encoding(&headers),
            config.response_encoding(&headers),
        ] {
            if let Err(status) = result {
                assert!(codec_code(status.code()), "unexpected code: {status:?}");
            }
        }
        let _ = EncodingSet::from_headers(&headers);
    }
}

fn encoding_headers_seeds() -> Vec<Vec<u8>> {
    [
        "gzip",
        "identity,gzip",
        "deflate, gzip ,identity",
        "GZip",
        "zstd",
        "",
        ",",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

// ---------------------------------------------------------------------------
// grpc-message.

/// Decoding never fails; what it gives encodes to a valid header value
/// that decodes back to the same text, and any text survives
/// encode-then-decode.
fn grpc_message(data: &[u8]) {
    let decoded = wire::decode_message(data);
    check_message_roundtrip(&decoded);
    if let Ok(text) = std::str::from_utf8(data) {
        check_message_roundtrip(text);
    }
}

fn check_message_roundtrip(text: &str) {
    let encoded = wire::encode_message(text);
    assert!(
        HeaderValue::from_str(&encoded).is_ok(),
        "{text:?} encodes to an invalid header value {encoded:?}"
    );
    let back = wire::decode_message(encoded.as_bytes());
    assert_eq!(back, text, "encoded as {encoded:?}");
}

fn grpc_message_seeds() -> Vec<Vec<u8>> {
    [
        &b"user%2042 not found"[..],
        b"50%25 %E2%98%BA",
        b"bad %zz escape %",
        b"\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP \xf0\x9f\x98\x88\t\n",
        b"%F0%9F%98",
        b"\xff\xfe",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

// ---------------------------------------------------------------------------
// Trailers → Status, and metadata.

/// Lines of `name:value` (invalid names or values are skipped, as the
/// HTTP/2 layer would refuse them) make the received fields.
fn header_map(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    headers
}

/// `Status::from_header_map` on arbitrary trailers: every accessor works
/// on what it gives, and writing the status and reading it back keeps its
/// code, message (unless cut for length), details, pushback and metadata.
fn status_headers(data: &[u8]) {
    let headers = header_map(data);
    let Some(status) = Status::from_header_map(&headers) else {
        assert!(!headers.contains_key(wire::GRPC_STATUS));
        return;
    };
    let _ = status.details();
    let _ = status.details_error().map(ToString::to_string);
    let _ = format!("{status} {status:?} {status:#}");
    touch_metadata(status.metadata());

    let written = status.to_header_map();
    let Some(back) = Status::from_header_map(&written) else {
        panic!("{status:?} wrote no grpc-status: {written:?}");
    };
    assert_eq!(back.code(), status.code());
    if wire::encode_message(status.message()).len() <= MAX_MESSAGE_HEADER_LEN {
        assert_eq!(back.message(), status.message());
    } else {
        assert!(back.message().len() < status.message().len());
    }
    assert_eq!(back.details_any(), status.details_any());
    assert_eq!(back.pushback(), status.pushback());
    assert_eq!(back.metadata(), status.metadata());

    // A gateway renders what it received as the JSON error body; that
    // body parses back, with the same code and message.
    let json = status.to_json();
    let parsed = Status::from_json(&json);
    let Ok(parsed) = parsed else {
        panic!("{status:?} renders as {json} which does not parse: {parsed:?}");
    };
    assert_eq!(parsed.code(), status.code(), "{json}");
    assert_eq!(parsed.message(), status.message(), "{json}");
    assert_eq!(
        parsed.details_any().len(),
        status.details_any().len(),
        "{json}"
    );
}

fn touch_metadata(metadata: &Metadata) {
    for (key, value) in metadata.iter() {
        let _ = (value.as_str(), value.is_binary(), value.as_wire_bytes());
        let _ = value.to_bytes();
        let _ = metadata.get(key);
        let _ = metadata.get_all(key).count();
        let _ = metadata.get_bin(key);
        let _ = metadata.get_all_bin(key).count();
    }
    let _ = format!("{metadata:?}");
}

fn status_headers_seeds() -> Vec<Vec<u8>> {
    let rich = Status::unavailable("try later ☺")
        .with_detail(grpcx_status::RetryInfo::after(Duration::from_millis(1500)))
        .with_detail(grpcx_status::ErrorInfo::new("QUOTA", "example.com").with_metadata("k", "v"));
    let details = rich.to_header_map();
    let mut seeds = vec![
        b"grpc-status:5\ngrpc-message:user%2042 not found\nx-request-id:r-1".to_vec(),
        b"grpc-status:14\ngrpc-retry-pushback-ms:1500\ntrace-bin:AAEC/w==".to_vec(),
        b"grpc-status:99\ngrpc-message:%zz%\ngrpc-status-details-bin:!!!".to_vec(),
        b"grpc-status:-1\ngrpc-retry-pushback-ms:-1".to_vec(),
    ];
    let mut text = Vec::new();
    for (name, value) in &details {
        text.extend_from_slice(name.as_str().as_bytes());
        text.push(b':');
        text.extend_from_slice(value.as_bytes());
        text.push(b'\n');
    }
    seeds.push(text);
    // A details message whose code and message differ from the headers'.
    let proto = grpcx_status::pb::Status {
        code: 3,
        message: "other".into(),
        details: rich.details_any().to_vec(),
    };
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(proto.encode_to_vec());
    seeds.push(format!("grpc-status:3\ngrpc-status-details-bin:{b64},AAAA").into_bytes());
    seeds
}

/// Byte 0 splits the rest into a key and a value (at the first NUL). The
/// setters refuse or store; what they store reads back unchanged, and a
/// map of received fields exposes every entry without panicking.
fn metadata(data: &[u8]) {
    let (key, value) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let key_text = String::from_utf8_lossy(key);
    let value_text = String::from_utf8_lossy(value);
    let mut md = Metadata::new();
    if md.insert(&key_text, &value_text).is_ok() {
        assert_eq!(md.get(&key_text), Some(&*value_text), "key {key_text:?}");
        assert!(md.contains_key(&key_text));
    }
    let mut md = Metadata::new();
    if md.append_bin(&key_text, value).is_ok() {
        let stored = md.get_bin(&key_text);
        assert_eq!(stored, Ok(Some(value.to_vec())), "key {key_text:?}");
        // And through the wire: the header map read back as received.
        let received = Metadata::from_headers(md.clone().into_headers());
        assert_eq!(received.get_bin(&key_text), Ok(Some(value.to_vec())));
        assert!(md.remove(&key_text));
    }
    // Received fields: anything the HTTP layer lets through.
    let mut headers = HeaderMap::new();
    if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key), HeaderValue::from_bytes(value)) {
        headers.append(name, value);
    }
    let received = Metadata::from_headers(headers);
    touch_metadata(&received);
    let mut merged = Metadata::new();
    merged.extend(received.clone());
    assert_eq!(merged, received);
}

fn metadata_seeds() -> Vec<Vec<u8>> {
    [
        &b"x-request-id\0abc-123"[..],
        b"trace-bin\0\x00\x01\x02\xff",
        b"trace-bin\0AAEC/w==",
        b"grpc-status\x000",
        b"Upper\0v",
        b"x-key\0 spaces and \ttab",
        b"-bin\0",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

// ---------------------------------------------------------------------------
// The JSON error body.

/// `Status::from_json` on arbitrary text; a status it accepts renders to
/// JSON that reads back to the same code, message and details.
fn status_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(status) = Status::from_json(&text) else {
        return;
    };
    let _ = status.details();
    let json = status.to_json();
    let back = Status::from_json(&json);
    let Ok(back) = back else {
        panic!("{status:?} renders as {json} which does not parse: {back:?}");
    };
    assert_eq!(back.code(), status.code(), "{json}");
    assert_eq!(back.message(), status.message(), "{json}");
    assert_eq!(back.details(), status.details(), "{json}");
}

fn status_json_seeds() -> Vec<Vec<u8>> {
    let rich = Status::unavailable("try later")
        .with_detail(grpcx_status::RetryInfo::after(Duration::from_millis(1500)))
        .with_detail(grpcx_status::ErrorInfo::new("QUOTA", "example.com").with_metadata("k", "v"));
    vec![
        rich.to_json().into_bytes(),
        Status::not_found("no user ☺").to_json().into_bytes(),
        br#"{"error": {"code": 429, "message": "slow down"}}"#.to_vec(),
        br#"{"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "a", "description": "b"}]}]}}"#.to_vec(),
        br#"{"error": {"message": 42}}"#.to_vec(),
        br#"{"error": {"code": 503, "details": [{"@type": "type.googleapis.com/other.Thing", "value": "AAEC"}]}}"#.to_vec(),
    ]
}
