//! Message compression: the encodings, their negotiation through
//! `grpc-encoding` and `grpc-accept-encoding`, and the compressors.
//!
//! gRPC compresses each message on its own (no context is shared between
//! messages) with the algorithm a stream names in `grpc-encoding`, and
//! flags every compressed message in its 5-byte header. Each side says which
//! encodings it can decode in `grpc-accept-encoding`.
//!
//! - [`CompressionEncoding`]: `identity`, `gzip`, and `deflate` (the zlib
//!   format, as gRPC means it), through flate2's pure-Rust backend.
//! - [`EncodingSet`]: a set of encodings, parsed from and written to
//!   `grpc-accept-encoding`.
//! - [`CompressionConfig`]: what one side accepts and sends; it reads the
//!   peer's `grpc-encoding` with the status the spec asks for on each side
//!   (`UNIMPLEMENTED` on a server, `INTERNAL` on a client).

use std::fmt;

use bytes::BytesMut;
use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress};
use grpcx_status::Status;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::CodecError;

/// The `grpc-encoding` header name: the encoding of a stream's compressed
/// messages.
pub const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");

/// The `grpc-accept-encoding` header name: the encodings a peer decodes.
pub const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");

/// A message compression algorithm, as named in `grpc-encoding`.
///
/// # Examples
///
/// ```
/// use grpcx_codec::CompressionEncoding;
///
/// assert_eq!(CompressionEncoding::from_name("gzip"), Some(CompressionEncoding::Gzip));
/// assert_eq!(CompressionEncoding::from_name("br"), None);
/// assert_eq!(CompressionEncoding::Deflate.as_str(), "deflate");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CompressionEncoding {
    /// No compression. Messages are never flagged compressed.
    #[default]
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// `deflate` as gRPC means it: the zlib format (RFC 1950), that is
    /// deflate data with a zlib header and an Adler-32 checksum.
    Deflate,
}

/// A set of [`CompressionEncoding`]s, as listed in `grpc-accept-encoding`.
///
/// `identity` is always in the set: every peer can read uncompressed
/// messages.
///
/// # Examples
///
/// ```
/// use grpcx_codec::{CompressionEncoding, EncodingSet};
///
/// let set = EncodingSet::parse(" gzip ,, br,IDENTITY");
/// assert!(set.contains(CompressionEncoding::Gzip));
/// assert!(!set.contains(CompressionEncoding::Deflate));
/// assert_eq!(set.to_header_value(), "gzip,identity");
/// assert_eq!(set.to_string(), "gzip, identity");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncodingSet {
    bits: u8,
}

/// A compression level, from 0 (store only) to 9 (smallest output).
///
/// # Examples
///
/// ```
/// use grpcx_codec::CompressionLevel;
///
/// assert_eq!(CompressionLevel::new(42), CompressionLevel::BEST);
/// assert_eq!(CompressionLevel::default().get(), 6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompressionLevel(u8);

/// The compression settings of one side of a call: which encodings it
/// decodes, which one it compresses with, and how hard.
///
/// The default accepts `gzip` and `deflate` (decompression is always capped
/// by the maximum message size, so a zip bomb costs at most that much
/// memory) and sends uncompressed messages.
///
/// # How a transport uses it
///
/// ```
/// use grpcx_codec::{
///     CompressionConfig, CompressionEncoding, EncodingSet, GRPC_ACCEPT_ENCODING, GRPC_ENCODING,
/// };
/// use grpcx_status::Code;
/// use http::{HeaderMap, HeaderValue};
///
/// let mut server = CompressionConfig::default();
/// server.send = CompressionEncoding::Gzip;
///
/// // The request's headers, as a client would send them.
/// let mut request = HeaderMap::new();
/// request.insert(GRPC_ENCODING, HeaderValue::from_static("deflate"));
/// request.insert(GRPC_ACCEPT_ENCODING, HeaderValue::from_static("identity, gzip, br"));
///
/// // How to decode the request's messages...
/// assert_eq!(server.request_encoding(&request)?, CompressionEncoding::Deflate);
/// // ... and how to compress the response's: gzip, since the client accepts it.
/// let peer = EncodingSet::from_headers(&request);
/// assert_eq!(server.send_encoding_for(peer), CompressionEncoding::Gzip);
///
/// // An encoding the server does not accept: UNIMPLEMENTED, and the
/// // response carries `grpc-accept-encoding: gzip,deflate,identity`.
/// request.insert(GRPC_ENCODING, HeaderValue::from_static("br"));
/// let status = server.request_encoding(&request).unwrap_err();
/// assert_eq!(status.code(), Code::Unimplemented);
/// assert_eq!(
///     status.message(),
///     "grpc-encoding \"br\" is not supported (supported: gzip, deflate, identity)"
/// );
/// assert_eq!(server.accept_encoding(), "gzip,deflate,identity");
/// # Ok::<(), grpcx_status::Status>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompressionConfig {
    /// The encodings this side decodes, advertised in
    /// `grpc-accept-encoding` ([`CompressionConfig::accept_encoding`]).
    pub accept: EncodingSet,
    /// The encoding this side would like to compress its messages with. A
    /// server uses it only when the client accepts it
    /// ([`CompressionConfig::send_encoding_for`]); a client cannot know
    /// beforehand, and learns from an `UNIMPLEMENTED` status that carries
    /// the server's `grpc-accept-encoding`.
    pub send: CompressionEncoding,
    /// The level to compress with.
    pub level: CompressionLevel,
}

impl CompressionEncoding {
    /// Every encoding, in the order they are listed in
    /// `grpc-accept-encoding`.
    const ALL: [CompressionEncoding; 3] = [
        CompressionEncoding::Gzip,
        CompressionEncoding::Deflate,
        CompressionEncoding::Identity,
    ];

    /// The name used in `grpc-encoding` and `grpc-accept-encoding`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CompressionEncoding::Identity => "identity",
            CompressionEncoding::Gzip => "gzip",
            CompressionEncoding::Deflate => "deflate",
        }
    }

    /// The encoding named `name` (ASCII case-insensitive, no surrounding
    /// spaces), or `None` for a name this crate does not implement.
    pub fn from_name(name: impl AsRef<[u8]>) -> Option<CompressionEncoding> {
        let name = name.as_ref();
        CompressionEncoding::ALL
            .into_iter()
            .find(|encoding| name.eq_ignore_ascii_case(encoding.as_str().as_bytes()))
    }

    /// Whether messages are compressed (every encoding but `identity`).
    pub const fn is_compressed(self) -> bool {
        !matches!(self, CompressionEncoding::Identity)
    }

    /// The value for a `grpc-encoding` header.
    pub const fn to_header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }

    const fn bit(self) -> u8 {
        match self {
            CompressionEncoding::Identity => 0,
            CompressionEncoding::Gzip => 1,
            CompressionEncoding::Deflate => 2,
        }
    }
}

impl fmt::Display for CompressionEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EncodingSet {
    /// Only `identity`: no compression.
    pub const IDENTITY: EncodingSet = EncodingSet { bits: 0 };

    /// Every encoding this crate implements.
    pub const ALL: EncodingSet = EncodingSet {
        bits: CompressionEncoding::Gzip.bit() | CompressionEncoding::Deflate.bit(),
    };

    /// The set with `encoding` added.
    #[must_use]
    pub const fn with(self, encoding: CompressionEncoding) -> EncodingSet {
        EncodingSet {
            bits: self.bits | encoding.bit(),
        }
    }

    /// The set with `encoding` removed (`identity` stays in every set).
    #[must_use]
    pub const fn without(self, encoding: CompressionEncoding) -> EncodingSet {
        EncodingSet {
            bits: self.bits & !encoding.bit(),
        }
    }

    /// Whether `encoding` is in the set (always true for `identity`).
    pub const fn contains(self, encoding: CompressionEncoding) -> bool {
        self.bits & encoding.bit() == encoding.bit()
    }

    /// The encodings in the set: the compressed ones first, `identity`
    /// last.
    pub fn iter(self) -> impl Iterator<Item = CompressionEncoding> {
        CompressionEncoding::ALL
            .into_iter()
            .filter(move |encoding| self.contains(*encoding))
    }

    /// Parses one `grpc-accept-encoding` value: a comma-separated list of
    /// names. Spaces and tabs around names, empty items and unknown names
    /// are ignored, and names are ASCII case-insensitive; parsing never
    /// fails.
    pub fn parse(value: impl AsRef<[u8]>) -> EncodingSet {
        value
            .as_ref()
            .split(|b| *b == b',')
            .filter_map(|name| CompressionEncoding::from_name(name.trim_ascii()))
            .collect()
    }

    /// The encodings a peer accepts, from every `grpc-accept-encoding`
    /// field of `headers`. A peer that sent none accepts only `identity`.
    pub fn from_headers(headers: &HeaderMap) -> EncodingSet {
        headers
            .get_all(GRPC_ACCEPT_ENCODING)
            .iter()
            .fold(EncodingSet::IDENTITY, |set, value| {
                set.union(EncodingSet::parse(value))
            })
    }

    /// The encodings in either set.
    #[must_use]
    pub const fn union(self, other: EncodingSet) -> EncodingSet {
        EncodingSet {
            bits: self.bits | other.bits,
        }
    }

    /// The value for a `grpc-accept-encoding` header, such as
    /// `gzip,deflate,identity`. It allocates nothing.
    pub const fn to_header_value(self) -> HeaderValue {
        let gzip = self.contains(CompressionEncoding::Gzip);
        let deflate = self.contains(CompressionEncoding::Deflate);
        HeaderValue::from_static(match (gzip, deflate) {
            (true, true) => "gzip,deflate,identity",
            (true, false) => "gzip,identity",
            (false, true) => "deflate,identity",
            (false, false) => "identity",
        })
    }
}

impl FromIterator<CompressionEncoding> for EncodingSet {
    fn from_iter<I: IntoIterator<Item = CompressionEncoding>>(iter: I) -> Self {
        iter.into_iter()
            .fold(EncodingSet::IDENTITY, EncodingSet::with)
    }
}

impl fmt::Display for EncodingSet {
    /// The names, separated by `", "`: `gzip, deflate, identity`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, encoding) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(encoding.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for EncodingSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl CompressionLevel {
    /// Level 1: the fastest that still compresses.
    pub const FASTEST: CompressionLevel = CompressionLevel(1);
    /// Level 6, the zlib default: a good balance.
    pub const DEFAULT: CompressionLevel = CompressionLevel(6);
    /// Level 9: the smallest output, the slowest.
    pub const BEST: CompressionLevel = CompressionLevel(9);

    /// The level `level`, clamped to 0 (store only) through 9.
    pub const fn new(level: u32) -> CompressionLevel {
        CompressionLevel(if level > 9 { 9 } else { level as u8 })
    }

    /// The level, 0 through 9.
    pub const fn get(self) -> u32 {
        self.0 as u32
    }
}

impl Default for CompressionLevel {
    fn default() -> Self {
        CompressionLevel::DEFAULT
    }
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            accept: EncodingSet::ALL,
            send: CompressionEncoding::Identity,
            level: CompressionLevel::DEFAULT,
        }
    }
}

impl CompressionConfig {
    /// The encoding of a received request's messages, from its
    /// `grpc-encoding` header (absent means `identity`). For a server.
    ///
    /// # Errors
    ///
    /// `UNIMPLEMENTED` when the header names an encoding that is not in
    /// [`accept`](Self::accept), with a message naming it and the accepted
    /// ones ([`CodecError::UnsupportedRequestEncoding`]). The server must
    /// send [`accept_encoding`](Self::accept_encoding) in
    /// `grpc-accept-encoding` with that status, so the client can retry
    /// with an encoding the server reads.
    pub fn request_encoding(&self, headers: &HeaderMap) -> Result<CompressionEncoding, Status> {
        self.request_encoding_of(headers.get(GRPC_ENCODING))
    }

    /// [`request_encoding`](Self::request_encoding) from the request's
    /// `grpc-encoding` value, for a caller that found it already.
    ///
    /// # Errors
    ///
    /// As for [`request_encoding`](Self::request_encoding).
    ///
    /// # Examples
    ///
    /// ```
    /// use grpcx_codec::{CompressionConfig, CompressionEncoding};
    /// use http::HeaderValue;
    ///
    /// let config = CompressionConfig::default();
    /// let gzip = HeaderValue::from_static("gzip");
    /// assert_eq!(config.request_encoding_of(Some(&gzip))?, CompressionEncoding::Gzip);
    /// assert_eq!(config.request_encoding_of(None)?, CompressionEncoding::Identity);
    /// # Ok::<(), grpcx_status::Status>(())
    /// ```
    pub fn request_encoding_of(
        &self,
        value: Option<&HeaderValue>,
    ) -> Result<CompressionEncoding, Status> {
        self.received_encoding(value)
            .map_err(|(encoding, supported)| {
                CodecError::UnsupportedRequestEncoding {
                    encoding,
                    supported,
                }
                .into()
            })
    }

    /// The encoding of a received response's messages, from its
    /// `grpc-encoding` header (absent means `identity`). For a client.
    ///
    /// # Errors
    ///
    /// `INTERNAL` when the header names an encoding that is not in
    /// [`accept`](Self::accept), with a message naming it and the accepted
    /// ones ([`CodecError::UnsupportedResponseEncoding`]): gRPC's
    /// compression spec makes this a client-side `INTERNAL`.
    pub fn response_encoding(&self, headers: &HeaderMap) -> Result<CompressionEncoding, Status> {
        self.received_encoding(headers.get(GRPC_ENCODING))
            .map_err(|(encoding, supported)| {
                CodecError::UnsupportedResponseEncoding {
                    encoding,
                    supported,
                }
                .into()
            })
    }

    /// The value to send in `grpc-accept-encoding`: the accepted
    /// encodings. Send it on every request and response, and always with an
    /// `UNIMPLEMENTED` status from [`request_encoding`](Self::request_encoding).
    pub fn accept_encoding(&self) -> HeaderValue {
        self.accept.to_header_value()
    }

    /// The encoding to compress sent messages with, given what the peer
    /// accepts ([`EncodingSet::from_headers`] of its headers): the
    /// configured [`send`](Self::send) encoding when the peer accepts it,
    /// `identity` otherwise (the spec has a server that knows the client
    /// cannot decode an encoding send uncompressed messages).
    pub fn send_encoding_for(&self, peer_accepts: EncodingSet) -> CompressionEncoding {
        if peer_accepts.contains(self.send) {
            self.send
        } else {
            CompressionEncoding::Identity
        }
    }

    fn received_encoding(
        &self,
        value: Option<&HeaderValue>,
    ) -> Result<CompressionEncoding, (String, EncodingSet)> {
        let Some(value) = value else {
            return Ok(CompressionEncoding::Identity);
        };
        let name = value.as_bytes().trim_ascii();
        match CompressionEncoding::from_name(name) {
            Some(encoding) if self.accept.contains(encoding) => Ok(encoding),
            _ => {
                let shown = String::from_utf8_lossy(name).chars().take(64).collect();
                Err((shown, self.accept))
            }
        }
    }
}

/// A gzip member header with no optional fields, no modification time, no
/// extra flags, and "unknown" as the operating system (what Go writes).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// gzip header flags (RFC 1952, 2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// A reusable compressor: the deflate state (a few hundred KiB) is made
/// once and reset for each message.
#[derive(Default)]
pub(crate) struct Compressor {
    state: Option<CompressState>,
}

struct CompressState {
    zlib_header: bool,
    level: CompressionLevel,
    compress: Compress,
}

impl Compressor {
    /// Appends `input` compressed with `encoding` to `dst`. On error `dst`
    /// may hold part of the output; the caller truncates it.
    pub(crate) fn compress(
        &mut self,
        encoding: CompressionEncoding,
        level: CompressionLevel,
        input: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        match encoding {
            CompressionEncoding::Identity => {
                dst.extend_from_slice(input);
                Ok(())
            }
            CompressionEncoding::Gzip => {
                dst.extend_from_slice(&GZIP_HEADER);
                self.deflate(false, level, input, dst)
                    .map_err(|reason| compress_error(encoding, reason))?;
                let mut crc = Crc::new();
                crc.update(input);
                dst.extend_from_slice(&crc.sum().to_le_bytes());
                // ISIZE is the input's length modulo 2^32.
                dst.extend_from_slice(&(input.len() as u32).to_le_bytes());
                Ok(())
            }
            CompressionEncoding::Deflate => self
                .deflate(true, level, input, dst)
                .map_err(|reason| compress_error(encoding, reason)),
        }
    }

    fn deflate(
        &mut self,
        zlib_header: bool,
        level: CompressionLevel,
        input: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), String> {
        let state = match &mut self.state {
            Some(state) if state.zlib_header == zlib_header && state.level == level => {
                state.compress.reset();
                state
            }
            slot => slot.insert(CompressState {
                zlib_header,
                level,
                compress: Compress::new(Compression::new(level.get()), zlib_header),
            }),
        };
        let compress = &mut state.compress;

        // Start with about zlib's bound, so one call usually does it all.
        let n = input.len();
        let mut filled = dst.len();
        dst.resize(filled + n + (n >> 12) + (n >> 14) + 64, 0);
        let mut consumed = 0;
        loop {
            let (before_in, before_out) = (compress.total_in(), compress.total_out());
            let rest = input.get(consumed..).unwrap_or_default();
            let out = dst.get_mut(filled..).unwrap_or_default();
            let status = compress
                .compress(rest, out, FlushCompress::Finish)
                .map_err(|err| err.to_string())?;
            consumed += (compress.total_in() - before_in) as usize;
            filled += (compress.total_out() - before_out) as usize;
            match status {
                flate2::Status::StreamEnd => break,
                flate2::Status::Ok | flate2::Status::BufError => {
                    if filled == dst.len() {
                        let more = (dst.len() / 2).max(64);
                        dst.resize(dst.len() + more, 0);
                    } else if compress.total_in() == before_in && compress.total_out() == before_out
                    {
                        return Err("the compressor made no progress".into());
                    }
                }
            }
        }
        dst.truncate(filled);
        Ok(())
    }
}

/// A reusable decompressor: the inflate state is made once and reset for
/// each message. Output is capped: it never grows past the limit plus one
/// byte, whatever the input claims or expands to.
#[derive(Default)]
pub(crate) struct Decompressor {
    state: Option<(bool, Decompress)>,
}

impl Decompressor {
    /// Appends `input` decompressed with `encoding` to `dst`, which must be
    /// empty, refusing output over `limit` bytes. On error `dst` is left
    /// empty.
    pub(crate) fn decompress(
        &mut self,
        encoding: CompressionEncoding,
        input: &[u8],
        dst: &mut BytesMut,
        limit: usize,
    ) -> Result<(), CodecError> {
        dst.clear();
        let result = match encoding {
            CompressionEncoding::Identity => {
                if input.len() > limit {
                    Err(Failure::TooLarge)
                } else {
                    dst.extend_from_slice(input);
                    Ok(())
                }
            }
            CompressionEncoding::Gzip => self.gunzip(input, dst, limit),
            CompressionEncoding::Deflate => match self.inflate(true, input, dst, limit) {
                Ok(consumed) if consumed < input.len() => {
                    Err(Failure::Corrupt("trailing data after the zlib stream"))
                }
                Ok(_) => Ok(()),
                Err(failure) => Err(failure),
            },
        };
        result.map_err(|failure| {
            dst.clear();
            match failure {
                Failure::TooLarge => CodecError::DecompressedTooLarge { limit },
                Failure::Corrupt(reason) => CodecError::Decompress {
                    encoding,
                    reason: reason.into(),
                },
                Failure::Inflate(reason) => CodecError::Decompress { encoding, reason },
            }
        })
    }

    /// Decompresses one or more gzip members (RFC 1952), checking each
    /// member's CRC-32 and length.
    fn gunzip(&mut self, input: &[u8], dst: &mut BytesMut, limit: usize) -> Result<(), Failure> {
        let mut rest = input;
        loop {
            let header_len = gzip_header_len(rest)?;
            let body = rest.get(header_len..).unwrap_or_default();
            let start = dst.len();
            let consumed = self.inflate(false, body, dst, limit)?;
            let trailer = body
                .get(consumed..)
                .and_then(|after| after.first_chunk::<8>())
                .ok_or(Failure::Corrupt("truncated gzip trailer"))?;
            let [c0, c1, c2, c3, s0, s1, s2, s3] = *trailer;
            let output = dst.get(start..).unwrap_or_default();
            let mut crc = Crc::new();
            crc.update(output);
            if crc.sum() != u32::from_le_bytes([c0, c1, c2, c3]) {
                return Err(Failure::Corrupt("gzip CRC-32 mismatch"));
            }
            if output.len() as u32 != u32::from_le_bytes([s0, s1, s2, s3]) {
                return Err(Failure::Corrupt("gzip length mismatch"));
            }
            rest = body.get(consumed + 8..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Inflates one deflate (or, with `zlib_header`, zlib) stream from the
    /// start of `input`, appending to `dst` while its length stays within
    /// `limit`. Returns how many input bytes the stream took.
    fn inflate(
        &mut self,
        zlib_header: bool,
        input: &[u8],
        dst: &mut BytesMut,
        limit: usize,
    ) -> Result<usize, Failure> {
        let decompress = match &mut self.state {
            Some((zlib, decompress)) => {
                decompress.reset(zlib_header);
                *zlib = zlib_header;
                decompress
            }
            slot => &mut slot.insert((zlib_header, Decompress::new(zlib_header))).1,
        };

        // Room for one byte past the limit tells "exactly at the limit"
        // from "over it" without ever holding more.
        let cap = limit.saturating_add(1);
        let mut filled = dst.len();
        let mut consumed = 0;
        loop {
            if filled == dst.len() {
                if dst.len() >= cap {
                    return Err(Failure::TooLarge);
                }
                // Guess 4x the input at first, then double.
                let grow = filled.max(input.len().saturating_mul(4)).max(4096);
                dst.resize(cap.min(filled.saturating_add(grow)), 0);
            }
            let (before_in, before_out) = (decompress.total_in(), decompress.total_out());
            let rest = input.get(consumed..).unwrap_or_default();
            let out = dst.get_mut(filled..).unwrap_or_default();
            let status = decompress
                .decompress(rest, out, FlushDecompress::None)
                .map_err(|err| Failure::Inflate(err.to_string()))?;
            let read = (decompress.total_in() - before_in) as usize;
            let written = (decompress.total_out() - before_out) as usize;
            consumed += read;
            filled += written;
            if filled > limit {
                return Err(Failure::TooLarge);
            }
            match status {
                flate2::Status::StreamEnd => break,
                flate2::Status::Ok | flate2::Status::BufError => {
                    if read == 0 && written == 0 && filled < dst.len() {
                        return Err(Failure::Corrupt("compressed data ended early"));
                    }
                }
            }
        }
        dst.truncate(filled);
        Ok(consumed)
    }
}

enum Failure {
    TooLarge,
    Corrupt(&'static str),
    Inflate(String),
}

/// The length of the gzip member header at the start of `input`.
fn gzip_header_len(input: &[u8]) -> Result<usize, Failure> {
    const BAD: Failure = Failure::Corrupt("invalid gzip header");
    let Some(&[0x1f, 0x8b, method, flags, _, _, _, _, _, _]) = input.first_chunk::<10>() else {
        return Err(
            if input.len() < 10 && input.starts_with(&GZIP_HEADER[..input.len().min(2)]) {
                Failure::Corrupt("truncated gzip header")
            } else {
                BAD
            },
        );
    };
    if method != 8 || flags & FRESERVED != 0 {
        return Err(BAD);
    }
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let &[x0, x1] = input
            .get(pos..)
            .and_then(|rest| rest.first_chunk::<2>())
            .ok_or(BAD)?;
        pos += 2 + usize::from(u16::from_le_bytes([x0, x1]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = input.get(pos..).ok_or(BAD)?;
            let nul = rest.iter().position(|b| *b == 0).ok_or(BAD)?;
            pos += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        let &[h0, h1] = input
            .get(pos..)
            .and_then(|rest| rest.first_chunk::<2>())
            .ok_or(BAD)?;
        let mut crc = Crc::new();
        crc.update(input.get(..pos).ok_or(BAD)?);
        if crc.sum() as u16 != u16::from_le_bytes([h0, h1]) {
            return Err(Failure::Corrupt("gzip header CRC mismatch"));
        }
        pos += 2;
    }
    if pos > input.len() {
        return Err(BAD);
    }
    Ok(pos)
}

fn compress_error(encoding: CompressionEncoding, reason: String) -> CodecError {
    CodecError::Compress { encoding, reason }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use flate2::GzBuilder;
    use grpcx_status::{Code, Origin};

    use super::*;

    fn compress(encoding: CompressionEncoding, input: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        Compressor::default()
            .compress(encoding, CompressionLevel::DEFAULT, input, &mut out)
            .unwrap();
        out.to_vec()
    }

    fn decompress(
        encoding: CompressionEncoding,
        input: &[u8],
        limit: usize,
    ) -> Result<Vec<u8>, CodecError> {
        let mut out = BytesMut::new();
        Decompressor::default().decompress(encoding, input, &mut out, limit)?;
        Ok(out.to_vec())
    }

    fn sample() -> Vec<u8> {
        (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn names_and_header_values() {
        for (encoding, name) in [
            (CompressionEncoding::Identity, "identity"),
            (CompressionEncoding::Gzip, "gzip"),
            (CompressionEncoding::Deflate, "deflate"),
        ] {
            assert_eq!(encoding.as_str(), name);
            assert_eq!(encoding.to_string(), name);
            assert_eq!(encoding.to_header_value(), name);
            assert_eq!(CompressionEncoding::from_name(name), Some(encoding));
            assert_eq!(
                CompressionEncoding::from_name(name.to_uppercase()),
                Some(encoding)
            );
        }
        assert_eq!(CompressionEncoding::from_name("zstd"), None);
        assert_eq!(CompressionEncoding::from_name(" gzip"), None);
        assert_eq!(CompressionEncoding::from_name(""), None);
        assert!(!CompressionEncoding::Identity.is_compressed());
        assert!(CompressionEncoding::Gzip.is_compressed());
    }

    #[test]
    fn encoding_sets() {
        let gzip = CompressionEncoding::Gzip;
        let deflate = CompressionEncoding::Deflate;
        let identity = CompressionEncoding::Identity;
        assert_eq!(EncodingSet::default(), EncodingSet::IDENTITY);
        assert!(EncodingSet::IDENTITY.contains(identity));
        assert!(!EncodingSet::IDENTITY.contains(gzip));
        assert!(EncodingSet::IDENTITY.without(identity).contains(identity));
        assert_eq!(
            EncodingSet::ALL.without(gzip),
            EncodingSet::IDENTITY.with(deflate)
        );
        assert_eq!(
            EncodingSet::ALL.iter().collect::<Vec<_>>(),
            [gzip, deflate, identity]
        );
        assert_eq!(EncodingSet::ALL.to_header_value(), "gzip,deflate,identity");
        assert_eq!(
            EncodingSet::IDENTITY.with(gzip).to_header_value(),
            "gzip,identity"
        );
        assert_eq!(
            EncodingSet::IDENTITY.with(deflate).to_header_value(),
            "deflate,identity"
        );
        assert_eq!(EncodingSet::IDENTITY.to_header_value(), "identity");
        assert_eq!(EncodingSet::ALL.to_string(), "gzip, deflate, identity");
        assert_eq!(
            format!("{:?}", EncodingSet::ALL),
            "{Gzip, Deflate, Identity}"
        );
        assert_eq!(
            [deflate].into_iter().collect::<EncodingSet>(),
            EncodingSet::IDENTITY.with(deflate)
        );
    }

    #[test]
    fn accept_encoding_parsing_is_tolerant() {
        let gzip = EncodingSet::IDENTITY.with(CompressionEncoding::Gzip);
        for (value, expected) in [
            ("gzip", gzip),
            ("identity,gzip", gzip),
            (" gzip , deflate ", EncodingSet::ALL),
            ("\tgzip,\t", gzip),
            ("br, zstd, snappy", EncodingSet::IDENTITY),
            ("", EncodingSet::IDENTITY),
            (",,,", EncodingSet::IDENTITY),
            ("GZip,DEFLATE", EncodingSet::ALL),
            ("gzip;q=1.0", EncodingSet::IDENTITY),
        ] {
            assert_eq!(EncodingSet::parse(value), expected, "{value:?}");
        }
        assert_eq!(
            EncodingSet::parse([b'g', b'z', b'i', b'p', b',', 0xff]),
            gzip
        );

        let mut headers = HeaderMap::new();
        assert_eq!(EncodingSet::from_headers(&headers), EncodingSet::IDENTITY);
        headers.append(
            GRPC_ACCEPT_ENCODING,
            HeaderValue::from_static("identity, gzip"),
        );
        headers.append(GRPC_ACCEPT_ENCODING, HeaderValue::from_static("deflate"));
        assert_eq!(EncodingSet::from_headers(&headers), EncodingSet::ALL);
    }

    #[test]
    fn received_encoding_on_each_side() {
        let config = CompressionConfig {
            accept: EncodingSet::IDENTITY.with(CompressionEncoding::Gzip),
            ..CompressionConfig::default()
        };
        let mut headers = HeaderMap::new();
        assert_eq!(
            config.request_encoding(&headers).unwrap(),
            CompressionEncoding::Identity
        );
        assert_eq!(
            config.response_encoding(&headers).unwrap(),
            CompressionEncoding::Identity
        );
        for (value, expected) in [
            ("identity", CompressionEncoding::Identity),
            ("gzip", CompressionEncoding::Gzip),
            (" GZIP ", CompressionEncoding::Gzip),
        ] {
            headers.insert(GRPC_ENCODING, HeaderValue::from_static(value));
            assert_eq!(config.request_encoding(&headers).unwrap(), expected);
            assert_eq!(config.response_encoding(&headers).unwrap(), expected);
        }

        // Known but not accepted, and unknown.
        for value in ["deflate", "snappy"] {
            headers.insert(GRPC_ENCODING, HeaderValue::from_static(value));
            let server = config.request_encoding(&headers).unwrap_err();
            assert_eq!(server.code(), Code::Unimplemented);
            assert_eq!(
                server.message(),
                format!("grpc-encoding \"{value}\" is not supported (supported: gzip, identity)")
            );
            assert_eq!(server.origin(), Origin::Protocol);
            let client = config.response_encoding(&headers).unwrap_err();
            assert_eq!(client.code(), Code::Internal);
            assert_eq!(
                client.message(),
                format!(
                    "response grpc-encoding \"{value}\" is not supported (supported: gzip, identity)"
                )
            );
            assert_eq!(client.origin(), Origin::Protocol);
        }

        // A long or non-UTF-8 name is shown shortened and lossily.
        headers.insert(
            GRPC_ENCODING,
            HeaderValue::from_bytes(&[b'x'; 100]).unwrap(),
        );
        let status = config.request_encoding(&headers).unwrap_err();
        assert!(
            status
                .message()
                .contains(&format!("\"{}\"", "x".repeat(64)))
        );
        headers.insert(GRPC_ENCODING, HeaderValue::from_bytes(b"g\xffz").unwrap());
        let status = config.request_encoding(&headers).unwrap_err();
        assert!(status.message().starts_with("grpc-encoding \"g\u{fffd}z\""));
    }

    #[test]
    fn negotiation_of_the_send_encoding() {
        let mut config = CompressionConfig::default();
        assert_eq!(
            config.send_encoding_for(EncodingSet::ALL),
            CompressionEncoding::Identity
        );
        config.send = CompressionEncoding::Gzip;
        assert_eq!(
            config.send_encoding_for(EncodingSet::ALL),
            CompressionEncoding::Gzip
        );
        assert_eq!(
            config.send_encoding_for(EncodingSet::IDENTITY.with(CompressionEncoding::Deflate)),
            CompressionEncoding::Identity
        );
        assert_eq!(config.accept_encoding(), "gzip,deflate,identity");
        config.accept = EncodingSet::IDENTITY;
        assert_eq!(config.accept_encoding(), "identity");
    }

    #[test]
    fn levels() {
        assert_eq!(CompressionLevel::new(0).get(), 0);
        assert_eq!(CompressionLevel::new(9), CompressionLevel::BEST);
        assert_eq!(CompressionLevel::new(u32::MAX), CompressionLevel::BEST);
        assert_eq!(CompressionLevel::FASTEST.get(), 1);
        assert_eq!(CompressionLevel::default(), CompressionLevel::DEFAULT);
    }

    #[test]
    fn gzip_output_is_standard_gzip() {
        let input = sample();
        let compressed = compress(CompressionEncoding::Gzip, &input);
        assert_eq!(compressed.get(..10), Some(&GZIP_HEADER[..]));
        assert!(compressed.len() < input.len() / 4);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn deflate_output_is_zlib() {
        let input = sample();
        let compressed = compress(CompressionEncoding::Deflate, &input);
        // A zlib header: deflate with a 32 KiB window, checksummed.
        assert_eq!(compressed.first(), Some(&0x78));
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&compressed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn reads_what_other_gzip_writers_write() {
        let input = sample();
        // Every optional header field.
        let mut writer = GzBuilder::new()
            .filename("data.bin")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .mtime(1_700_000_000)
            .write(Vec::new(), flate2::Compression::best());
        writer.write_all(&input).unwrap();
        let member = writer.finish().unwrap();
        assert_eq!(
            decompress(CompressionEncoding::Gzip, &member, usize::MAX).unwrap(),
            input
        );

        // Two members in a row decompress to both inputs, as Go's reader does.
        let mut two = member.clone();
        two.extend_from_slice(&compress(CompressionEncoding::Gzip, b"tail"));
        let mut expected = input.clone();
        expected.extend_from_slice(b"tail");
        assert_eq!(
            decompress(CompressionEncoding::Gzip, &two, usize::MAX).unwrap(),
            expected
        );

        // zlib from flate2's writer.
        let mut writer = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        writer.write_all(&input).unwrap();
        let zlib = writer.finish().unwrap();
        assert_eq!(
            decompress(CompressionEncoding::Deflate, &zlib, usize::MAX).unwrap(),
            input
        );
    }

    #[test]
    fn header_crc_is_checked() {
        // FHCRC with a correct CRC-16, then with a wrong one.
        let body = compress(CompressionEncoding::Gzip, b"hello");
        let mut header = GZIP_HEADER.to_vec();
        header[3] = FHCRC;
        let mut crc = Crc::new();
        crc.update(&header);
        let mut good = header.clone();
        good.extend_from_slice(&(crc.sum() as u16).to_le_bytes());
        good.extend_from_slice(&body[10..]);
        assert_eq!(
            decompress(CompressionEncoding::Gzip, &good, 100).unwrap(),
            b"hello"
        );
        let mut bad = header;
        bad.extend_from_slice(&0u16.to_le_bytes());
        bad.extend_from_slice(&body[10..]);
        assert_eq!(
            decompress(CompressionEncoding::Gzip, &bad, 100).unwrap_err(),
            CodecError::Decompress {
                encoding: CompressionEncoding::Gzip,
                reason: "gzip header CRC mismatch".into()
            }
        );
    }

    #[test]
    fn round_trips_reuse_the_state() {
        let mut compressor = Compressor::default();
        let mut decompressor = Decompressor::default();
        for (i, encoding) in [
            CompressionEncoding::Gzip,
            CompressionEncoding::Deflate,
            CompressionEncoding::Gzip,
            CompressionEncoding::Gzip,
            CompressionEncoding::Identity,
        ]
        .into_iter()
        .enumerate()
        {
            let input: Vec<u8> = sample().into_iter().skip(i * 7).collect();
            let level = CompressionLevel::new(i as u32 * 3);
            let mut compressed = BytesMut::new();
            compressor
                .compress(encoding, level, &input, &mut compressed)
                .unwrap();
            let mut out = BytesMut::new();
            decompressor
                .decompress(encoding, &compressed, &mut out, input.len())
                .unwrap();
            assert_eq!(out, input);
            // One byte less than the output is over the limit.
            let err = decompressor
                .decompress(encoding, &compressed, &mut out, input.len() - 1)
                .unwrap_err();
            assert_eq!(
                err,
                CodecError::DecompressedTooLarge {
                    limit: input.len() - 1
                }
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn empty_and_incompressible_inputs() {
        for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Deflate] {
            let empty = compress(encoding, b"");
            assert_eq!(decompress(encoding, &empty, 0).unwrap(), b"");
            // Pseudo-random bytes grow a little; the compressor makes room.
            let mut x = 0x2545_f491_u32;
            let noise: Vec<u8> = (0..100_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let compressed = compress(encoding, &noise);
            assert_eq!(
                decompress(encoding, &compressed, noise.len()).unwrap(),
                noise
            );
        }
    }

    #[test]
    fn corrupt_input_is_refused() {
        let gzip = compress(CompressionEncoding::Gzip, &sample());
        let zlib = compress(CompressionEncoding::Deflate, &sample());
        let cases: Vec<(CompressionEncoding, Vec<u8>, &str)> = vec![
            (CompressionEncoding::Gzip, vec![], "truncated gzip header"),
            (
                CompressionEncoding::Gzip,
                vec![0x1f, 0x8b, 8],
                "truncated gzip header",
            ),
            (
                CompressionEncoding::Gzip,
                b"not gzip at all".to_vec(),
                "invalid gzip header",
            ),
            (
                CompressionEncoding::Gzip,
                {
                    let mut v = gzip.clone();
                    v[2] = 7;
                    v
                },
                "invalid gzip header",
            ),
            (
                CompressionEncoding::Gzip,
                {
                    let mut v = gzip.clone();
                    v[3] = 0x20;
                    v
                },
                "invalid gzip header",
            ),
            (
                CompressionEncoding::Gzip,
                gzip[..gzip.len() - 3].to_vec(),
                "truncated gzip trailer",
            ),
            (
                CompressionEncoding::Gzip,
                gzip[..gzip.len() / 2].to_vec(),
                "compressed data ended early",
            ),
            (
                CompressionEncoding::Gzip,
                {
                    let mut v = gzip.clone();
                    let n = v.len();
                    v[n - 8] ^= 1;
                    v
                },
                "gzip CRC-32 mismatch",
            ),
            (
                CompressionEncoding::Gzip,
                {
                    let mut v = gzip.clone();
                    let n = v.len();
                    v[n - 1] ^= 1;
                    v
                },
                "gzip length mismatch",
            ),
            (
                CompressionEncoding::Gzip,
                {
                    let mut v = gzip.clone();
                    v.push(0);
                    v
                },
                "invalid gzip header",
            ),
            (
                CompressionEncoding::Gzip,
                {
                    let mut v = gzip.clone();
                    v.extend_from_slice(&[0x1f, 0x8b]);
                    v
                },
                "truncated gzip header",
            ),
            (
                CompressionEncoding::Deflate,
                vec![],
                "compressed data ended early",
            ),
            (
                CompressionEncoding::Deflate,
                zlib[..zlib.len() / 2].to_vec(),
                "compressed data ended early",
            ),
            (
                CompressionEncoding::Deflate,
                {
                    let mut v = zlib.clone();
                    v.push(0);
                    v
                },
                "trailing data after the zlib stream",
            ),
        ];
        for (encoding, input, reason) in cases {
            let err = decompress(encoding, &input, usize::MAX).unwrap_err();
            assert_eq!(
                err,
                CodecError::Decompress {
                    encoding,
                    reason: reason.into()
                },
                "{reason}"
            );
        }
        // What the inflater itself refuses, with its own words.
        let err =
            decompress(CompressionEncoding::Deflate, b"\x78\x9c\xff\xff\xff", 100).unwrap_err();
        let CodecError::Decompress { reason, .. } = err else {
            panic!("{err:?}")
        };
        assert!(
            reason.starts_with("deflate decompression error"),
            "{reason}"
        );
    }

    #[test]
    fn identity_decompression_is_a_bounded_copy() {
        assert_eq!(
            decompress(CompressionEncoding::Identity, b"abc", 3).unwrap(),
            b"abc"
        );
        assert_eq!(
            decompress(CompressionEncoding::Identity, b"abc", 2).unwrap_err(),
            CodecError::DecompressedTooLarge { limit: 2 }
        );
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit() {
        let limit = 4 << 20;
        // 100 MiB of zeros, as 100 gzip members of 1 MiB each (about 1 KiB
        // each compressed), and as one zlib stream.
        let member = compress(CompressionEncoding::Gzip, &vec![0; 1 << 20]);
        let gzip_bomb: Vec<u8> = member
            .iter()
            .copied()
            .cycle()
            .take(member.len() * 100)
            .collect();
        let zlib_bomb = {
            let mut out = BytesMut::new();
            Compressor::default()
                .compress(
                    CompressionEncoding::Deflate,
                    CompressionLevel::FASTEST,
                    &vec![0; 100 << 20],
                    &mut out,
                )
                .unwrap();
            out
        };
        for (encoding, bomb) in [
            (CompressionEncoding::Gzip, &gzip_bomb[..]),
            (CompressionEncoding::Deflate, &zlib_bomb[..]),
        ] {
            assert!(bomb.len() < 1 << 20, "{}", bomb.len());
            let mut decompressor = Decompressor::default();
            let mut out = BytesMut::new();
            let err = decompressor
                .decompress(encoding, bomb, &mut out, limit)
                .unwrap_err();
            assert_eq!(err, CodecError::DecompressedTooLarge { limit });
            assert!(out.is_empty());
            // At most limit + 1 bytes were written; the buffer's growth
            // (doubling) reserved at most twice that.
            assert!(out.capacity() <= 2 * (limit + 1), "{}", out.capacity());
        }
    }
}
