//! Custom metadata: the application's own header fields of a call.

use std::fmt;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::b64;

/// Custom metadata of a call: ASCII entries and binary (`-bin`) entries,
/// several values per key.
///
/// Keys are lowercase and use only `0-9 a-z _ . -`; a key ending in `-bin`
/// holds bytes, which travel base64-encoded, and every other key holds
/// printable ASCII (0x20 to 0x7E). Keys that belong to HTTP/2 or to gRPC
/// itself (`grpc-*`, `content-type`, `te`, `host`, connection headers) are
/// refused with [`MetadataError::ReservedKey`], so an application cannot
/// forge a status or break framing.
///
/// The map is a thin layer over [`http::HeaderMap`]: values are stored in
/// wire form, so sending metadata costs no conversion.
///
/// # Examples
///
/// ```
/// use grpcx_status::Metadata;
///
/// let mut md = Metadata::new();
/// md.insert("x-request-id", "abc-123")?;
/// md.append("x-tag", "a")?;
/// md.append("x-tag", "b")?;
/// md.insert_bin("trace-bin", [0u8, 1, 2, 255])?;
///
/// assert_eq!(md.get("x-request-id"), Some("abc-123"));
/// assert_eq!(md.get_all("x-tag").collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(md.get_bin("trace-bin")?, Some(vec![0, 1, 2, 255]));
/// assert!(md.insert("grpc-status", "0").is_err());
/// # Ok::<(), grpcx_status::MetadataError>(())
/// ```
#[derive(Clone, Default)]
pub struct Metadata {
    headers: HeaderMap,
    /// Whether `headers` are received header fields taken as they came,
    /// reserved ones included: every read skips those. Removing them one
    /// by one cost a hashed removal each on every call, for fields almost
    /// nobody reads; [`Metadata::into_headers`] removes them when the map
    /// leaves.
    received: bool,
}

/// Why a metadata key or value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The key is empty or has a character outside `0-9 a-z _ . -`.
    #[error("invalid metadata key {key:?}: keys are non-empty and use only 0-9 a-z _ . -")]
    InvalidKey {
        /// The refused key.
        key: String,
    },
    /// The key belongs to HTTP/2 or gRPC and cannot be set by an application.
    #[error("metadata key {key:?} is reserved for HTTP/2 or gRPC")]
    ReservedKey {
        /// The refused key.
        key: String,
    },
    /// An ASCII value has a byte outside printable ASCII (0x20 to 0x7E).
    #[error("invalid value for metadata key {key:?}: ASCII values use only bytes 0x20 to 0x7E")]
    InvalidValue {
        /// The key the value was meant for.
        key: String,
    },
    /// A binary value was given for an ASCII key, or the other way round.
    #[error("metadata key {key:?} {}", if *.binary { "ends in -bin and takes binary values" } else { "does not end in -bin and takes ASCII values" })]
    WrongKind {
        /// The key.
        key: String,
        /// Whether the key is a binary (`-bin`) key.
        binary: bool,
    },
    /// A received binary value is not valid base64.
    #[error("value of binary metadata key {key:?} is not valid base64")]
    InvalidBase64 {
        /// The key whose value could not be decoded.
        key: String,
    },
}

/// One value of a [`Metadata`] entry, as it travels on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MetadataValue<'a> {
    key: &'a str,
    binary: bool,
    value: &'a HeaderValue,
}

impl<'a> MetadataValue<'a> {
    /// Whether the value belongs to a binary (`-bin`) key.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// The value as text, for an ASCII key whose value is printable ASCII.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.binary {
            return None;
        }
        self.value.to_str().ok()
    }

    /// The bytes on the wire (base64 text for a binary key).
    pub fn as_wire_bytes(&self) -> &'a [u8] {
        self.value.as_bytes()
    }

    /// The value's bytes: base64-decoded for a binary key, as is otherwise.
    ///
    /// # Errors
    ///
    /// [`MetadataError::InvalidBase64`] when a binary value is not base64.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MetadataError> {
        if self.binary {
            decode_bin(self.value.as_bytes()).ok_or_else(|| MetadataError::InvalidBase64 {
                key: self.key.to_owned(),
            })
        } else {
            Ok(self.value.as_bytes().to_vec())
        }
    }
}

impl fmt::Debug for MetadataValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.value.as_bytes()), f)
    }
}

impl Metadata {
    /// An empty map; allocates nothing until the first insert.
    pub fn new() -> Self {
        Metadata {
            headers: HeaderMap::new(),
            received: false,
        }
    }

    /// The number of values (not keys) in the map.
    pub fn len(&self) -> usize {
        if self.received {
            self.entries().count()
        } else {
            self.headers.len()
        }
    }

    /// Whether the map holds no value.
    pub fn is_empty(&self) -> bool {
        self.entries().next().is_none()
    }

    /// The entries, reserved fields of a received map skipped.
    fn entries(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        let received = self.received;
        self.headers
            .iter()
            .filter(move |(name, _)| !received || !is_reserved(name.as_str()))
    }

    /// Whether `key` can be in the map: not a reserved field of a received
    /// map. Lookups ignore case, as header names do, so this does too.
    fn visible(&self, key: &str) -> bool {
        !self.received || !is_reserved_any_case(key)
    }

    /// The values of `key` (in any case), in order; none for a reserved
    /// field of a received map.
    ///
    /// A `HeaderMap` lookup by `&str` parses the key into a header name and
    /// hashes it, some 500 instructions for a typical custom key; in a map
    /// of a few keys, which is what a call carries, comparing the stored
    /// names costs a fraction of that. Larger maps are looked up by hash.
    fn values<'a>(&'a self, key: &str) -> Values<'a> {
        if self.headers.keys_len() > SCAN_KEYS {
            return if self.visible(key) {
                Values::Hashed(self.headers.get_all(key).iter())
            } else {
                Values::None
            };
        }
        let found = self
            .headers
            .keys()
            .find(|name| name.as_str().eq_ignore_ascii_case(key));
        match found {
            // A stored name is lowercase: the plain check is exact.
            Some(name) if !self.received || !is_reserved(name.as_str()) => Values::Scan {
                entries: self.headers.iter(),
                name,
            },
            _ => Values::None,
        }
    }

    /// Sets the ASCII value of `key`, replacing every value it had.
    ///
    /// # Errors
    ///
    /// The key is invalid or reserved, ends in `-bin`, or the value is not
    /// printable ASCII.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (name, value) = ascii_entry(key, value)?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Adds an ASCII value to `key`, keeping the values it had.
    ///
    /// # Errors
    ///
    /// As for [`Metadata::insert`].
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (name, value) = ascii_entry(key, value)?;
        self.headers.append(name, value);
        Ok(())
    }

    /// Sets the binary value of `key` (which must end in `-bin`), replacing
    /// every value it had.
    ///
    /// # Errors
    ///
    /// The key is invalid or reserved, or does not end in `-bin`.
    pub fn insert_bin(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MetadataError> {
        let (name, value) = binary_entry(key, value.as_ref())?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Adds a binary value to `key` (which must end in `-bin`).
    ///
    /// # Errors
    ///
    /// As for [`Metadata::insert_bin`].
    pub fn append_bin(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MetadataError> {
        let (name, value) = binary_entry(key, value.as_ref())?;
        self.headers.append(name, value);
        Ok(())
    }

    /// The first ASCII value of `key`.
    ///
    /// `None` when the key is absent, is a binary key, or its value holds
    /// bytes outside printable ASCII (read those with [`Metadata::iter`]).
    pub fn get(&self, key: &str) -> Option<&str> {
        if is_binary_key(key) {
            return None;
        }
        self.values(key).next()?.to_str().ok()
    }

    /// Every ASCII value of `key`, in the order they were added or received.
    pub fn get_all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + 'a {
        let values = if is_binary_key(key) {
            Values::None
        } else {
            self.values(key)
        };
        values.filter_map(|v| v.to_str().ok())
    }

    /// The first binary value of `key` (a `-bin` key), decoded.
    ///
    /// # Errors
    ///
    /// [`MetadataError::InvalidBase64`] when the peer sent a value that is not
    /// base64 (padded or not).
    pub fn get_bin(&self, key: &str) -> Result<Option<Vec<u8>>, MetadataError> {
        self.get_all_bin(key).next().transpose()
    }

    /// Every binary value of `key`, decoded; values a peer joined with `,`
    /// in one header field come out one by one.
    pub fn get_all_bin<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = Result<Vec<u8>, MetadataError>> + 'a {
        let values = if is_binary_key(key) {
            self.values(key)
        } else {
            Values::None
        };
        values
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(move |part| {
                decode_bin(part).ok_or_else(|| MetadataError::InvalidBase64 {
                    key: key.to_owned(),
                })
            })
    }

    /// Whether `key` has at least one value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.values(key).next().is_some()
    }

    /// Removes every value of `key`; returns whether there was any.
    pub fn remove(&mut self, key: &str) -> bool {
        if !self.visible(key) {
            return false;
        }
        let mut removed = false;
        while self.headers.remove(key).is_some() {
            removed = true;
        }
        removed
    }

    /// Every entry: each value with its key, keys in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MetadataValue<'_>)> {
        self.entries().map(|(name, value)| {
            let key = name.as_str();
            (
                key,
                MetadataValue {
                    key,
                    binary: is_binary_key(key),
                    value,
                },
            )
        })
    }

    /// Moves every entry of `other` into this map, keeping values of both.
    pub fn extend(&mut self, other: Metadata) {
        let mut last = None;
        for (name, value) in other.headers {
            if let Some(name) = name {
                last = (!other.received || !is_reserved(name.as_str())).then_some(name);
            }
            if let Some(name) = &last {
                self.headers.append(name.clone(), value);
            }
        }
    }

    /// The distinct keys, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.headers
            .keys()
            .map(HeaderName::as_str)
            // Stored names are lowercase: no need for `visible`'s
            // case-folding.
            .filter(|key| !self.received || !is_reserved(key))
    }

    /// Takes the custom metadata out of received header fields: reserved
    /// fields (`grpc-*`, `content-type`, `te`, pseudo-headers, connection
    /// headers) are left out, everything else is kept as received.
    ///
    /// Nothing is removed or copied: the reserved fields stay in the map,
    /// out of sight of every read, until [`into_headers`](Self::into_headers)
    /// removes them.
    pub fn from_headers(headers: HeaderMap) -> Metadata {
        Metadata {
            headers,
            received: true,
        }
    }

    /// The same as [`Metadata::from_headers`], copying from a borrowed map.
    pub fn from_header_map(headers: &HeaderMap) -> Metadata {
        let mut kept = HeaderMap::new();
        for (name, value) in headers {
            if !is_reserved(name.as_str()) {
                kept.append(name.clone(), value.clone());
            }
        }
        Metadata {
            headers: kept,
            received: false,
        }
    }

    /// The entries as HTTP header fields, ready to send.
    pub fn into_headers(self) -> HeaderMap {
        let mut headers = self.headers;
        if !self.received {
            return headers;
        }
        // A reserved field is removed by its static name when it is one of
        // those nearly every call carries: neither parsed from a string
        // nor copied out of the map.
        while let Some(found) = headers.keys().find(|name| is_reserved(name.as_str())) {
            match COMMON_RESERVED.iter().find(|name| *name == found) {
                Some(name) => headers.remove(name),
                None => {
                    let name = found.clone();
                    headers.remove(&name)
                }
            };
        }
        headers
    }

    /// Appends every entry to `headers` (for example a response's trailers).
    pub fn append_to(&self, headers: &mut HeaderMap) {
        for (name, value) in self.entries() {
            headers.append(name.clone(), value.clone());
        }
    }
}

impl PartialEq for Metadata {
    /// The same keys with the same values, in the same order per key.
    fn eq(&self, other: &Metadata) -> bool {
        self.len() == other.len()
            && self
                .keys()
                .all(|key| self.headers.get_all(key) == other.headers.get_all(key))
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Whether `key` names a binary entry (ends in `-bin`).
pub(crate) fn is_binary_key(key: &str) -> bool {
    key.len() > 4 && key.as_bytes()[key.len() - 4..].eq_ignore_ascii_case(b"-bin")
}

/// Header fields an application may not set: HTTP/2 connection-specific
/// fields, the fields gRPC's framing depends on, and every `grpc-*` field.
/// The reserved fields nearly every request or response carries.
static COMMON_RESERVED: [HeaderName; 9] = [
    HeaderName::from_static("content-type"),
    HeaderName::from_static("content-length"),
    HeaderName::from_static("te"),
    HeaderName::from_static("grpc-status"),
    HeaderName::from_static("grpc-message"),
    HeaderName::from_static("grpc-status-details-bin"),
    HeaderName::from_static("grpc-encoding"),
    HeaderName::from_static("grpc-accept-encoding"),
    HeaderName::from_static("grpc-timeout"),
];

/// Maps of at most this many keys are searched by comparing names (see
/// `Metadata::values`).
const SCAN_KEYS: usize = 16;

/// The values of one key of a [`Metadata`].
enum Values<'a> {
    /// Every entry of a small map, those of `name` kept.
    Scan {
        entries: http::header::Iter<'a, HeaderValue>,
        name: &'a HeaderName,
    },
    /// Found by hash in a larger map.
    Hashed(http::header::ValueIter<'a, HeaderValue>),
    /// None.
    None,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a HeaderValue;

    fn next(&mut self) -> Option<&'a HeaderValue> {
        match self {
            Values::Scan { entries, name } => entries
                .find(|(entry, _)| *entry == *name)
                .map(|(_, value)| value),
            Values::Hashed(values) => values.next(),
            Values::None => None,
        }
    }
}

/// [`is_reserved`] for a key in any case.
fn is_reserved_any_case(key: &str) -> bool {
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        is_reserved(&key.to_ascii_lowercase())
    } else {
        is_reserved(key)
    }
}

fn is_reserved(key: &str) -> bool {
    key.starts_with(':')
        || key.starts_with("grpc-")
        || matches!(
            key,
            "content-type"
                | "content-length"
                | "te"
                | "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
        )
}

fn validate_key(key: &str) -> Result<HeaderName, MetadataError> {
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'.' | b'-'));
    if !valid {
        return Err(MetadataError::InvalidKey {
            key: key.to_owned(),
        });
    }
    if is_reserved(key) {
        return Err(MetadataError::ReservedKey {
            key: key.to_owned(),
        });
    }
    HeaderName::from_bytes(key.as_bytes()).map_err(|_| MetadataError::InvalidKey {
        key: key.to_owned(),
    })
}

fn ascii_entry(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), MetadataError> {
    let name = validate_key(key)?;
    if is_binary_key(key) {
        return Err(MetadataError::WrongKind {
            key: key.to_owned(),
            binary: true,
        });
    }
    let invalid = || MetadataError::InvalidValue {
        key: key.to_owned(),
    };
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(invalid());
    }
    let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
    Ok((name, value))
}

fn binary_entry(key: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), MetadataError> {
    let name = validate_key(key)?;
    if !is_binary_key(key) {
        return Err(MetadataError::WrongKind {
            key: key.to_owned(),
            binary: false,
        });
    }
    let encoded = b64::grpc_encode(value);
    // Base64 output is always a valid header value.
    let value = HeaderValue::from_str(&encoded).map_err(|_| MetadataError::InvalidValue {
        key: key.to_owned(),
    })?;
    Ok((name, value))
}

/// Decodes one base64 value, padded or not, ignoring surrounding spaces.
pub(crate) fn decode_bin(value: &[u8]) -> Option<Vec<u8>> {
    b64::grpc_decode(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_binary_entries_round_trip() {
        let mut md = Metadata::new();
        md.insert("x-user", "alice").unwrap();
        md.append("x-user", "bob").unwrap();
        md.insert_bin("blob-bin", b"\x00\xffhello").unwrap();
        assert_eq!(md.len(), 3);
        assert_eq!(md.get("x-user"), Some("alice"));
        assert_eq!(md.get_all("x-user").collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(md.get_bin("blob-bin").unwrap().unwrap(), b"\x00\xffhello");
        // Binary values travel unpadded.
        assert_eq!(
            md.clone()
                .into_headers()
                .get("blob-bin")
                .unwrap()
                .as_bytes(),
            b"AP9oZWxsbw"
        );
        // Each accessor only answers for its own kind.
        assert_eq!(md.get("blob-bin"), None);
        assert_eq!(md.get_bin("x-user").unwrap(), None);
        md.insert("x-user", "carol").unwrap();
        assert_eq!(md.get_all("x-user").collect::<Vec<_>>(), ["carol"]);
        assert!(md.remove("x-user"));
        assert!(!md.remove("x-user"));
        assert_eq!(md.len(), 1);
    }

    #[test]
    fn keys_are_validated() {
        let mut md = Metadata::new();
        for key in ["", "Upper", "sp ace", "colon:", "ü", "a/b"] {
            assert_eq!(
                md.insert(key, "v"),
                Err(MetadataError::InvalidKey { key: key.into() }),
                "{key:?}"
            );
        }
        for key in [
            "grpc-status",
            "grpc-message",
            "grpc-timeout",
            "content-type",
            "te",
            "connection",
            "host",
        ] {
            assert_eq!(
                md.insert(key, "v"),
                Err(MetadataError::ReservedKey { key: key.into() })
            );
        }
        assert_eq!(
            md.insert_bin("grpc-status-details-bin", b"x"),
            Err(MetadataError::ReservedKey {
                key: "grpc-status-details-bin".into()
            })
        );
        assert!(matches!(
            md.insert("x-bin", "v"),
            Err(MetadataError::WrongKind { binary: true, .. })
        ));
        assert!(matches!(
            md.insert_bin("x-data", b"v"),
            Err(MetadataError::WrongKind { binary: false, .. })
        ));
        assert!(md.insert("a.b_c-1", "v").is_ok());
        let err = md.insert("Upper", "v").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid metadata key \"Upper\": keys are non-empty and use only 0-9 a-z _ . -"
        );
    }

    #[test]
    fn ascii_values_are_printable_ascii() {
        let mut md = Metadata::new();
        for value in ["tab\there", "new\nline", "caf\u{e9}", "\u{7f}"] {
            assert!(
                matches!(
                    md.insert("k", value),
                    Err(MetadataError::InvalidValue { .. })
                ),
                "{value:?}"
            );
        }
        assert!(md.insert("k", " ~ all printable !").is_ok());
        assert!(md.insert("k", "").is_ok());
    }

    #[test]
    fn received_binary_values_accept_padding_and_commas() {
        let mut headers = HeaderMap::new();
        headers.append("a-bin", HeaderValue::from_static("AAE=,AgM"));
        headers.append("a-bin", HeaderValue::from_static("BAU="));
        headers.append("bad-bin", HeaderValue::from_static("!!!"));
        let md = Metadata::from_headers(headers);
        let values: Vec<_> = md.get_all_bin("a-bin").map(Result::unwrap).collect();
        assert_eq!(values, [vec![0, 1], vec![2, 3], vec![4, 5]]);
        assert_eq!(
            md.get_bin("bad-bin"),
            Err(MetadataError::InvalidBase64 {
                key: "bad-bin".into()
            })
        );
    }

    #[test]
    fn from_headers_drops_reserved_fields() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static("0"));
        headers.insert("grpc-message", HeaderValue::from_static("x"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.append("x-keep", HeaderValue::from_static("1"));
        headers.append("x-keep", HeaderValue::from_static("2"));
        // A value outside printable ASCII from a peer is kept, not an error.
        headers.insert("x-wide", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        let borrowed = Metadata::from_header_map(&headers);
        let md = Metadata::from_headers(headers);
        assert_eq!(md, borrowed);
        assert_eq!(md.len(), 3);
        assert_eq!(md.get_all("x-keep").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(md.get("x-wide"), None);
        let (_, wide) = md.iter().find(|(k, _)| *k == "x-wide").unwrap();
        assert_eq!(wide.as_wire_bytes(), "café".as_bytes());
    }

    #[test]
    fn from_headers_keeps_the_fields_from_header_map_copies() {
        let field = |name: &'static str, value: &'static str| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        };
        let cases = [
            // Nothing reserved.
            vec![field("x-a", "1"), field("x-a", "2"), field("x-b", "3")],
            // Nothing but reserved fields.
            vec![
                field("content-type", "application/grpc"),
                field("grpc-encoding", "gzip"),
            ],
            // Fewer kept than reserved, repeated values in order.
            vec![
                field("content-type", "application/grpc"),
                field("x-a", "1"),
                field("te", "trailers"),
                field("grpc-timeout", "1S"),
                field("x-a", "2"),
                field("grpc-accept-encoding", "gzip"),
                field("user-agent", "grpcx"),
            ],
            // More kept than reserved.
            vec![
                field("x-a", "1"),
                field("grpc-custom", "x"),
                field("x-b", "2"),
                field("x-a", "3"),
                field("x-c", "4"),
            ],
        ];
        for fields in cases {
            let mut headers = HeaderMap::new();
            for (name, value) in fields {
                headers.append(name, value);
            }
            let expected = Metadata::from_header_map(&headers);
            let md = Metadata::from_headers(headers);
            assert_eq!(md, expected);
            assert!(md.iter().all(|(key, _)| !is_reserved(key)));
            let values: Vec<_> = md.get_all("x-a").collect();
            let expected_values: Vec<_> = expected.get_all("x-a").collect();
            assert_eq!(values, expected_values);
        }
    }

    #[test]
    fn lookups_ignore_case_and_agree_in_small_and_large_maps() {
        // Up to SCAN_KEYS keys a lookup compares names, above it hashes:
        // the answers are the same either way.
        for extra in [0, SCAN_KEYS + 4] {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static("application/grpc"));
            headers.append("x-a", HeaderValue::from_static("1"));
            headers.insert("te", HeaderValue::from_static("trailers"));
            headers.append("x-a", HeaderValue::from_static("2"));
            headers.insert("trace-bin", HeaderValue::from_static("AAE,Ag"));
            for i in 0..extra {
                let name = HeaderName::try_from(format!("x-pad-{i}")).unwrap();
                headers.insert(name, HeaderValue::from_static("p"));
            }
            let md = Metadata::from_headers(headers);
            let large = extra > 0;

            assert_eq!(md.get("x-a"), Some("1"), "large: {large}");
            assert_eq!(md.get("X-A"), Some("1"), "large: {large}");
            assert_eq!(md.get_all("x-A").collect::<Vec<_>>(), ["1", "2"]);
            assert_eq!(md.get("x-b"), None);
            assert_eq!(md.get_all("x-b").count(), 0);
            assert_eq!(md.get("x a"), None);
            assert!(md.contains_key("X-a"));
            assert!(!md.contains_key("x-b"));
            assert_eq!(
                md.get_all_bin("Trace-Bin").collect::<Result<Vec<_>, _>>(),
                Ok(vec![vec![0, 1], vec![2]])
            );
            // A reserved field stays hidden whatever the case of the key.
            for key in ["content-type", "Content-Type", "TE", "Te"] {
                assert_eq!(md.get(key), None, "{key}, large: {large}");
                assert_eq!(md.get_all(key).count(), 0, "{key}, large: {large}");
                assert!(!md.contains_key(key), "{key}, large: {large}");
            }
            if large {
                assert_eq!(md.get("X-PAD-3"), Some("p"));
            }
        }
    }

    #[test]
    fn a_received_map_hides_its_reserved_fields_from_every_read() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.insert("grpc-timeout", HeaderValue::from_static("1S"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.insert("grpc-custom-bin", HeaderValue::from_static("AAE"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        let mut md = Metadata::from_headers(headers);

        assert_eq!(md.len(), 2);
        assert!(!md.is_empty());
        assert_eq!(md.keys().collect::<Vec<_>>(), ["x-a"]);
        assert_eq!(md.get("content-type"), None);
        assert_eq!(md.get_all("grpc-timeout").count(), 0);
        assert_eq!(md.get_bin("grpc-custom-bin"), Ok(None));
        assert!(!md.contains_key("te"));
        assert!(!md.remove("te"));
        assert_eq!(format!("{md:?}"), r#"{"x-a": "1", "x-a": "2"}"#);

        let mut sent = HeaderMap::new();
        md.append_to(&mut sent);
        assert_eq!(sent.len(), 2);

        let mut more = Metadata::new();
        more.insert("x-b", "3").unwrap();
        more.extend(md.clone());
        assert_eq!(more.len(), 3);
        assert!(!more.contains_key("content-type"));

        md.insert("x-b", "3").unwrap();
        let mut same = Metadata::new();
        same.append("x-a", "1").unwrap();
        same.append("x-a", "2").unwrap();
        same.insert("x-b", "3").unwrap();
        assert_eq!(md, same);
        assert_eq!(same, md);

        let headers = md.into_headers();
        assert_eq!(headers.len(), 3);
        assert!(headers.keys().all(|name| !is_reserved(name.as_str())));

        // Nothing but reserved fields: an empty map.
        let mut only = HeaderMap::new();
        only.insert("grpc-status", HeaderValue::from_static("0"));
        let md = Metadata::from_headers(only);
        assert!(md.is_empty());
        assert_eq!(md, Metadata::new());
        assert!(md.into_headers().is_empty());
    }

    #[test]
    fn extend_keeps_all_values() {
        let mut a = Metadata::new();
        a.insert("k", "1").unwrap();
        let mut b = Metadata::new();
        b.append("k", "2").unwrap();
        b.append("k", "3").unwrap();
        b.insert_bin("k-bin", [7]).unwrap();
        a.extend(b);
        assert_eq!(a.get_all("k").collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(a.get_bin("k-bin").unwrap(), Some(vec![7]));
    }
}
