//! The JSON error body of Google's API design guide (AIP-193), both ways.
//!
//! An HTTP/JSON API (a gateway in front of gRPC, a REST endpoint) answers
//! a failed call with this body, and the HTTP status of the code:
//!
//! ```json
//! {
//!   "error": {
//!     "code": 404,
//!     "message": "user 42 not found",
//!     "status": "NOT_FOUND",
//!     "details": [
//!       {
//!         "@type": "type.googleapis.com/google.rpc.ErrorInfo",
//!         "reason": "USER_NOT_FOUND",
//!         "domain": "users.example.com",
//!         "metadata": { "userId": "42" }
//!       }
//!     ]
//!   }
//! }
//! ```
//!
//! [`Status::to_json`] writes it and [`Status::from_json`] reads it back.
//!
//! # Writing
//!
//! - `code` is the HTTP status `google/rpc/code.proto` assigns to the code
//!   ([`Code::to_http`]); `status` is the code's name; `message` is always
//!   present, even when empty.
//! - `details` is left out when the status has none (as Google's APIs do).
//! - Each detail is a `google.protobuf.Any` in the proto3 JSON mapping: its
//!   `@type`, then the message's fields with lowerCamelCase names. Fields
//!   holding their default value (an empty string or list, a zero number,
//!   an absent message) are left out; `int64` values are JSON strings
//!   (`"quotaValue": "100"`); a `google.protobuf.Duration` is a string of
//!   seconds with 0, 3, 6 or 9 fractional digits and the suffix `s`
//!   (`"30s"`, `"1.500s"`); maps are objects, with their keys sorted.
//! - A [`Detail::Unknown`] (a type this crate does not know, or bytes that
//!   do not decode as the type they name) is written as
//!   `{"@type": "<type URL>", "value": "<base64 of the bytes>"}`, with the
//!   standard base64 alphabet and padding. The proto3 JSON mapping cannot
//!   write the fields of a message whose schema it does not have, so this
//!   form keeps the bytes instead, and [`Status::from_json`] reads them
//!   back.
//! - A `Duration` outside the proto3 range (±315,576,000,000 seconds), or
//!   whose seconds and nanoseconds disagree in sign, is written normalized
//!   and clamped to that range.
//! - The status's metadata, origin and source are not part of the body and
//!   are not written.
//!
//! # Reading
//!
//! - The code is `status` when it names a code (in any ASCII case, or as
//!   its number, as proto3 JSON allows for enums). Otherwise, and only
//!   then, it is read from the HTTP `code` with gRPC's table for responses
//!   without `grpc-status` ([`Code::from_http`]): that table is not the
//!   reverse of [`Code::to_http`] (404 gives `UNIMPLEMENTED`, not
//!   `NOT_FOUND`), but it is the one gRPC defines for an HTTP status alone.
//!   With neither, the code is `UNKNOWN`.
//! - A detail of one of the ten `google.rpc` types is read with the proto3
//!   JSON mapping: lowerCamelCase or original snake_case field names (both
//!   at once is an error), `int64` as a string or a number, `Duration` as
//!   a string, `null` meaning the default value. Fields the message does
//!   not have are ignored, so a newer server's additions do not break an
//!   older client. A field of the wrong JSON type, an integer out of range,
//!   a malformed duration: each is a [`JsonError`] naming the field.
//! - A detail of exactly `{"@type", "value": "<base64>"}` (the form written
//!   for [`Detail::Unknown`]) is decoded to its bytes, then typed as
//!   [`Detail::from_any`] would. Standard and URL-safe base64, with or
//!   without padding, are accepted.
//! - A detail of another type, in any other shape (its own fields in the
//!   proto3 JSON mapping, say), becomes `Detail::Unknown` with its type URL
//!   and **no bytes**: without its schema its JSON cannot be turned into
//!   protobuf bytes, and putting JSON text where protobuf bytes belong
//!   would mislead whoever decodes them. The detail stays in the list, in
//!   its place, so its type is still seen; to read its fields, parse the
//!   body with `serde_json` and pass the value to [`Status::from_json_value`],
//!   keeping the value for yourself.
//! - Known types are recognized by their exact type URL
//!   (`type.googleapis.com/google.rpc.ErrorInfo`), as [`Detail::from_any`]
//!   does.
//! - Fields of the `error` object other than the four above (Google's
//!   legacy `errors` list, say) are ignored. The status's origin is
//!   [`Origin::Peer`], since a JSON error body is something received.
//!
//! Nothing in reading panics, whatever the input.
//!
//! One known ambiguity: proto3 JSON writes a packed well-known type with a
//! special mapping (`google.protobuf.StringValue`, `Duration`, ...) as
//! `{"@type", "value": <its JSON>}`, the shape of the base64 form above.
//! Such a detail's value is read as base64 when it happens to be valid
//! base64. The `google.rpc` error model never packs these types.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use prost_types::Any;
use serde_json::{Map, Value};

use crate::b64;
use crate::code::Code;
use crate::pb::{bad_request, help, precondition_failure, quota_failure};
use crate::rich::{
    BadRequest, DebugInfo, Detail, DetailMessage, ErrorInfo, Help, LocalizedMessage,
    PreconditionFailure, QuotaFailure, RequestInfo, ResourceInfo, RetryInfo,
};
use crate::status::{Origin, Status};

/// Why a JSON error body could not be read.
///
/// Every variant that concerns one field names it by its path in the body,
/// as in `error.details[0].retryDelay`, using the key the body used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not JSON; the source says where and why.
    #[error("invalid JSON")]
    Syntax(#[source] serde_json::Error),
    /// The body is not a JSON object with an `error` member.
    #[error("the body has no \"error\" object")]
    MissingError,
    /// A field has the wrong JSON type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// The path of the field.
        field: String,
        /// What it must be, as in "a string" or "an array".
        expected: &'static str,
    },
    /// A required field is missing (the `@type` of a detail).
    #[error("{field} is missing")]
    MissingField {
        /// The path of the field.
        field: String,
    },
    /// A field appears under both its lowerCamelCase and its original
    /// name.
    #[error("{field} is given twice, as {json_name:?} and as {proto_name:?}")]
    DuplicateField {
        /// The path of the message holding the field.
        field: String,
        /// The lowerCamelCase name.
        json_name: &'static str,
        /// The original (snake_case) name.
        proto_name: &'static str,
    },
    /// An integer field holds something else, or an integer out of range.
    #[error("{field} is not a valid {kind}: {value}")]
    InvalidInteger {
        /// The path of the field.
        field: String,
        /// The integer type (`"int64"`, `"int32"`).
        kind: &'static str,
        /// The value as given, in JSON.
        value: String,
    },
    /// A `google.protobuf.Duration` field is not a string such as `"1.5s"`,
    /// or is out of range.
    #[error(
        "{field} is not a valid duration: {value:?} (expected seconds with at most 9 \
         fractional digits and the suffix \"s\", within ±315576000000s)"
    )]
    InvalidDuration {
        /// The path of the field.
        field: String,
        /// The string as given.
        value: String,
    },
    /// The base64 `value` of a detail of a known type is not base64.
    #[error("{field} is not valid base64")]
    InvalidBase64 {
        /// The path of the field.
        field: String,
    },
}

impl From<JsonError> for Status {
    /// `INTERNAL`, as for any response that cannot be read, with the error
    /// as the message and kept as the source.
    fn from(err: JsonError) -> Self {
        Status::internal(format!("cannot read the JSON error body: {err}")).with_source(err)
    }
}

impl Status {
    /// The status as the JSON error body of Google's API design guide,
    /// `{"error": {"code", "message", "status", "details"}}`.
    ///
    /// See the [module documentation](crate::json) for the exact form.
    ///
    /// # Examples
    ///
    /// ```
    /// use grpcx_status::{ErrorInfo, Status};
    ///
    /// let status = Status::not_found("user 42 not found")
    ///     .with_detail(ErrorInfo::new("USER_NOT_FOUND", "users.example.com").with_metadata("userId", "42"));
    ///
    /// let body: serde_json::Value = serde_json::from_str(&status.to_json()).unwrap();
    /// assert_eq!(body, serde_json::json!({
    ///     "error": {
    ///         "code": 404,
    ///         "message": "user 42 not found",
    ///         "status": "NOT_FOUND",
    ///         "details": [{
    ///             "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    ///             "reason": "USER_NOT_FOUND",
    ///             "domain": "users.example.com",
    ///             "metadata": { "userId": "42" }
    ///         }]
    ///     }
    /// }));
    /// ```
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// The status as the JSON error body, as a [`serde_json::Value`] (to
    /// embed it or print it pretty); see [`Status::to_json`].
    pub fn to_json_value(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code().to_http().as_u16().into());
        error.insert("message".into(), self.message().into());
        error.insert("status".into(), self.code().as_str().into());
        let details = self.details();
        if !details.is_empty() {
            let details = details.iter().map(detail_to_json).collect();
            error.insert("details".into(), Value::Array(details));
        }
        let mut body = Map::new();
        body.insert("error".into(), Value::Object(error));
        Value::Object(body)
    }

    /// Reads a status from a JSON error body of Google's API design guide.
    ///
    /// The code comes from `status`, or when it names no code from the HTTP
    /// `code` by [`Code::from_http`], or is `UNKNOWN`. Details of the
    /// `google.rpc` types come back typed; other details come back as
    /// [`Detail::Unknown`], with their bytes when they were written in the
    /// base64 form [`Status::to_json`] uses and without them otherwise. See
    /// the [module documentation](crate::json) for every rule. The status's
    /// origin is [`Origin::Peer`].
    ///
    /// # Errors
    ///
    /// [`JsonError::Syntax`] when the text is not JSON; otherwise as
    /// [`Status::from_json_value`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_status::{Code, RetryInfo, Status};
    ///
    /// let body = r#"{"error": {
    ///     "code": 503,
    ///     "message": "try again later",
    ///     "status": "UNAVAILABLE",
    ///     "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s"}]
    /// }}"#;
    /// let status = Status::from_json(body)?;
    /// assert_eq!(status.code(), Code::Unavailable);
    /// assert_eq!(status.message(), "try again later");
    /// let delay = status.get_detail::<RetryInfo>().and_then(|r| r.delay());
    /// assert_eq!(delay, Some(Duration::from_millis(1500)));
    ///
    /// // Without "status", the HTTP code decides, by gRPC's table.
    /// let status = Status::from_json(r#"{"error": {"code": 429, "message": "slow down"}}"#)?;
    /// assert_eq!(status.code(), Code::Unavailable);
    ///
    /// assert!(Status::from_json(r#"{"error": {"message": 42}}"#).is_err());
    /// # Ok::<(), grpcx_status::json::JsonError>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Status, JsonError> {
        let value: Value = serde_json::from_str(json).map_err(JsonError::Syntax)?;
        Status::from_json_value(&value)
    }

    /// Reads a status from a JSON error body already parsed as a
    /// [`serde_json::Value`]; see [`Status::from_json`].
    ///
    /// # Errors
    ///
    /// - [`JsonError::MissingError`] when the value is not an object with an
    ///   `error` member.
    /// - [`JsonError::WrongType`], [`JsonError::InvalidInteger`],
    ///   [`JsonError::InvalidDuration`], [`JsonError::InvalidBase64`],
    ///   [`JsonError::DuplicateField`] and [`JsonError::MissingField`] when
    ///   a field of the error, or of a detail of a known type, is malformed.
    pub fn from_json_value(value: &Value) -> Result<Status, JsonError> {
        let error = match value.as_object().and_then(|body| body.get("error")) {
            None | Some(Value::Null) => return Err(JsonError::MissingError),
            Some(error) => error,
        };
        let root = Path::Root;
        let error = Obj::new(error, &root)?;

        let named = match error.field("status", "status")? {
            None => None,
            Some((key, value)) => code_from_name(value, &root.key(key))?,
        };
        let http = match error.field("code", "code")? {
            None => None,
            Some((key, value)) => Some(integer(value, &root.key(key), "int32", i32_range())?),
        };
        let code = named
            .or_else(|| {
                http.and_then(|c| u16::try_from(c).ok())
                    .and_then(Code::from_http)
            })
            .unwrap_or(Code::Unknown);

        let message = error.string("message", "message")?;
        let details = error.messages("details", "details", detail_from_json)?;
        Ok(Status::new(code, message)
            .with_details(details)
            .with_origin(Origin::Peer))
    }
}

/// The largest number of seconds in a `google.protobuf.Duration`.
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;
const NANOS_PER_SECOND: i128 = 1_000_000_000;

// ---------------------------------------------------------------------------
// Writing.

fn detail_to_json(detail: &Detail) -> Value {
    let mut out = Out::new(detail.type_url());
    match detail {
        Detail::ErrorInfo(m) => {
            out.string("reason", &m.reason);
            out.string("domain", &m.domain);
            out.map("metadata", &m.metadata);
        }
        Detail::RetryInfo(m) => {
            if let Some(delay) = &m.retry_delay {
                out.insert("retryDelay", duration_to_json(delay).into());
            }
        }
        Detail::DebugInfo(m) => {
            out.strings("stackEntries", &m.stack_entries);
            out.string("detail", &m.detail);
        }
        Detail::QuotaFailure(m) => {
            out.messages("violations", &m.violations, quota_violation_to_json);
        }
        Detail::PreconditionFailure(m) => {
            out.messages("violations", &m.violations, precondition_violation_to_json);
        }
        Detail::BadRequest(m) => {
            out.messages(
                "fieldViolations",
                &m.field_violations,
                field_violation_to_json,
            );
        }
        Detail::RequestInfo(m) => {
            out.string("requestId", &m.request_id);
            out.string("servingData", &m.serving_data);
        }
        Detail::ResourceInfo(m) => {
            out.string("resourceType", &m.resource_type);
            out.string("resourceName", &m.resource_name);
            out.string("owner", &m.owner);
            out.string("description", &m.description);
        }
        Detail::Help(m) => out.messages("links", &m.links, link_to_json),
        Detail::LocalizedMessage(m) => localized_message_fields(&mut out, m),
        Detail::Unknown { value, .. } => {
            out.insert("value", b64::json_encode(value).into());
        }
    }
    Value::Object(out.0)
}

fn quota_violation_to_json(v: &quota_failure::Violation) -> Value {
    let mut out = Out::default();
    out.string("subject", &v.subject);
    out.string("description", &v.description);
    out.string("apiService", &v.api_service);
    out.string("quotaMetric", &v.quota_metric);
    out.string("quotaId", &v.quota_id);
    out.map("quotaDimensions", &v.quota_dimensions);
    if v.quota_value != 0 {
        out.insert("quotaValue", v.quota_value.to_string().into());
    }
    // An `optional` field has presence: written whenever it is set, even to 0.
    if let Some(future) = v.future_quota_value {
        out.insert("futureQuotaValue", future.to_string().into());
    }
    Value::Object(out.0)
}

fn precondition_violation_to_json(v: &precondition_failure::Violation) -> Value {
    let mut out = Out::default();
    out.string("type", &v.r#type);
    out.string("subject", &v.subject);
    out.string("description", &v.description);
    Value::Object(out.0)
}

fn field_violation_to_json(v: &bad_request::FieldViolation) -> Value {
    let mut out = Out::default();
    out.string("field", &v.field);
    out.string("description", &v.description);
    out.string("reason", &v.reason);
    if let Some(localized) = &v.localized_message {
        let mut inner = Out::default();
        localized_message_fields(&mut inner, localized);
        out.insert("localizedMessage", Value::Object(inner.0));
    }
    Value::Object(out.0)
}

fn link_to_json(link: &help::Link) -> Value {
    let mut out = Out::default();
    out.string("description", &link.description);
    out.string("url", &link.url);
    Value::Object(out.0)
}

fn localized_message_fields(out: &mut Out, m: &LocalizedMessage) {
    out.string("locale", &m.locale);
    out.string("message", &m.message);
}

/// A `google.protobuf.Duration` in the proto3 JSON mapping: normalized,
/// clamped to the proto3 range, with 0, 3, 6 or 9 fractional digits.
fn duration_to_json(d: &prost_types::Duration) -> String {
    let max = i128::from(MAX_DURATION_SECONDS) * NANOS_PER_SECOND + (NANOS_PER_SECOND - 1);
    let total = (i128::from(d.seconds) * NANOS_PER_SECOND + i128::from(d.nanos)).clamp(-max, max);
    let sign = if total < 0 { "-" } else { "" };
    let total = total.unsigned_abs();
    let seconds = total / NANOS_PER_SECOND.unsigned_abs();
    let nanos = total % NANOS_PER_SECOND.unsigned_abs();
    if nanos == 0 {
        format!("{sign}{seconds}s")
    } else if nanos % 1_000_000 == 0 {
        format!("{sign}{seconds}.{:03}s", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{sign}{seconds}.{:06}s", nanos / 1_000)
    } else {
        format!("{sign}{seconds}.{nanos:09}s")
    }
}

/// A JSON object being written, leaving out default values.
#[derive(Default)]
struct Out(Map<String, Value>);

impl Out {
    fn new(type_url: &str) -> Out {
        let mut out = Out::default();
        out.insert("@type", type_url.into());
        out
    }

    fn insert(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_owned(), value);
    }

    fn string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.insert(name, value.into());
        }
    }

    fn strings(&mut self, name: &str, values: &[String]) {
        if !values.is_empty() {
            self.insert(name, values.iter().map(String::as_str).collect());
        }
    }

    fn map(&mut self, name: &str, map: &HashMap<String, String>) {
        if !map.is_empty() {
            // Sorted, so the output does not depend on the hash map's order.
            let sorted: BTreeMap<_, _> = map.iter().collect();
            let object = sorted
                .into_iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            self.insert(name, Value::Object(object));
        }
    }

    fn messages<T>(&mut self, name: &str, items: &[T], write: fn(&T) -> Value) {
        if !items.is_empty() {
            self.insert(name, items.iter().map(write).collect());
        }
    }
}

// ---------------------------------------------------------------------------
// Reading.

/// Where a value sits in the body, for error messages; built on the stack
/// and only formatted when an error is reported.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// The `error` object.
    Root,
    /// A member of an object.
    Key(&'a Path<'a>, &'a str),
    /// An element of an array.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("error"),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn wrong_type(path: &Path<'_>, expected: &'static str) -> JsonError {
    JsonError::WrongType {
        field: path.to_string(),
        expected,
    }
}

/// A JSON object being read, with its path.
struct Obj<'v, 'p> {
    map: &'v Map<String, Value>,
    path: &'p Path<'p>,
}

impl<'v, 'p> Obj<'v, 'p> {
    fn new(value: &'v Value, path: &'p Path<'p>) -> Result<Self, JsonError> {
        match value {
            Value::Object(map) => Ok(Obj { map, path }),
            _ => Err(wrong_type(path, "an object")),
        }
    }

    /// The field under its lowerCamelCase or its original name, with the
    /// key used; `None` when absent or `null`.
    fn field(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
    ) -> Result<Option<(&'v str, &'v Value)>, JsonError> {
        let by_json = self.map.get_key_value(json_name);
        let by_proto = if proto_name == json_name {
            None
        } else {
            self.map.get_key_value(proto_name)
        };
        let found = match (by_json, by_proto) {
            (Some(_), Some(_)) => {
                return Err(JsonError::DuplicateField {
                    field: self.path.to_string(),
                    json_name,
                    proto_name,
                });
            }
            (found @ Some(_), None) | (None, found @ Some(_)) => found,
            (None, None) => None,
        };
        Ok(found
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| (key.as_str(), value)))
    }

    fn string(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
    ) -> Result<String, JsonError> {
        match self.field(json_name, proto_name)? {
            None => Ok(String::new()),
            Some((_, Value::String(s))) => Ok(s.clone()),
            Some((key, _)) => Err(wrong_type(&self.path.key(key), "a string")),
        }
    }

    fn strings(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
    ) -> Result<Vec<String>, JsonError> {
        self.messages(json_name, proto_name, |value, path| match value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(wrong_type(path, "a string")),
        })
    }

    fn map(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
    ) -> Result<HashMap<String, String>, JsonError> {
        let Some((key, value)) = self.field(json_name, proto_name)? else {
            return Ok(HashMap::new());
        };
        let path = self.path.key(key);
        let Value::Object(map) = value else {
            return Err(wrong_type(&path, "an object of strings"));
        };
        map.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(wrong_type(&path.key(k), "a string")),
            })
            .collect()
    }

    fn int64(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
    ) -> Result<Option<i64>, JsonError> {
        match self.field(json_name, proto_name)? {
            None => Ok(None),
            Some((key, value)) => {
                integer(value, &self.path.key(key), "int64", i64::MIN..=i64::MAX).map(Some)
            }
        }
    }

    fn duration(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
    ) -> Result<Option<prost_types::Duration>, JsonError> {
        let Some((key, value)) = self.field(json_name, proto_name)? else {
            return Ok(None);
        };
        let path = self.path.key(key);
        let Value::String(text) = value else {
            return Err(wrong_type(&path, "a duration string such as \"1.5s\""));
        };
        parse_duration(text)
            .map(Some)
            .ok_or_else(|| JsonError::InvalidDuration {
                field: path.to_string(),
                value: text.clone(),
            })
    }

    fn message<T>(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
        read: fn(&Obj<'_, '_>) -> Result<T, JsonError>,
    ) -> Result<Option<T>, JsonError> {
        let Some((key, value)) = self.field(json_name, proto_name)? else {
            return Ok(None);
        };
        let path = self.path.key(key);
        read(&Obj::new(value, &path)?).map(Some)
    }

    fn messages<T>(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
        read: impl Fn(&Value, &Path<'_>) -> Result<T, JsonError>,
    ) -> Result<Vec<T>, JsonError> {
        let Some((key, value)) = self.field(json_name, proto_name)? else {
            return Ok(Vec::new());
        };
        let path = self.path.key(key);
        let Value::Array(items) = value else {
            return Err(wrong_type(&path, "an array"));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| read(item, &Path::Index(&path, index)))
            .collect()
    }
}

/// Reads a repeated message field's element as an object.
fn object<T>(
    read: fn(&Obj<'_, '_>) -> Result<T, JsonError>,
) -> impl Fn(&Value, &Path<'_>) -> Result<T, JsonError> {
    move |value, path| read(&Obj::new(value, path)?)
}

fn i32_range() -> std::ops::RangeInclusive<i64> {
    i64::from(i32::MIN)..=i64::from(i32::MAX)
}

/// An integer in the proto3 JSON mapping: a number or a string, within
/// `range`; an integral number written with a fraction or an exponent
/// (`1e2`) is accepted, as protobuf's parsers do.
fn integer(
    value: &Value,
    path: &Path<'_>,
    kind: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, JsonError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(integral_f64)),
        Value::String(s) => s
            .parse::<i64>()
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(integral_f64)),
        _ => return Err(wrong_type(path, "an integer (a number or a string)")),
    };
    parsed
        .filter(|n| range.contains(n))
        .ok_or_else(|| JsonError::InvalidInteger {
            field: path.to_string(),
            kind,
            value: value.to_string(),
        })
}

fn integral_f64(f: f64) -> Option<i64> {
    // -2^63 and 2^63 are exact as f64; every integral f64 in between
    // converts exactly.
    let limit = -(i64::MIN as f64);
    (f.is_finite() && f.fract() == 0.0 && f >= -limit && f < limit).then_some(f as i64)
}

/// The `status` member: `Some` when it names a code, `None` when it names
/// none (the HTTP code decides then).
fn code_from_name(value: &Value, path: &Path<'_>) -> Result<Option<Code>, JsonError> {
    match value {
        Value::String(name) => Ok(name.parse::<Code>().ok()),
        Value::Number(_) => {
            let number = integer(value, path, "int32", i32_range())?;
            Ok(i32::try_from(number)
                .ok()
                .filter(|n| (0..=16).contains(n))
                .map(Code::from_i32))
        }
        _ => Err(wrong_type(path, "a code name (a string)")),
    }
}

/// Parses `[+-]digits[.digits]s`, with at most 9 fractional digits, within
/// the proto3 range.
fn parse_duration(text: &str) -> Option<prost_types::Duration> {
    let body = text.strip_suffix('s')?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body.strip_prefix('+').unwrap_or(body)),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty())
        || !all_digits(whole)
        || !all_digits(fraction)
        || fraction.len() > 9
        || whole.len() > 18
    {
        return None;
    }
    let seconds: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let nanos: i32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    if seconds > MAX_DURATION_SECONDS {
        return None;
    }
    let sign = if negative { -1 } else { 1 };
    Some(prost_types::Duration {
        seconds: sign * seconds,
        nanos: sign as i32 * nanos,
    })
}

fn is_known_type(type_url: &str) -> bool {
    [
        ErrorInfo::TYPE_URL,
        RetryInfo::TYPE_URL,
        DebugInfo::TYPE_URL,
        QuotaFailure::TYPE_URL,
        PreconditionFailure::TYPE_URL,
        BadRequest::TYPE_URL,
        RequestInfo::TYPE_URL,
        ResourceInfo::TYPE_URL,
        Help::TYPE_URL,
        LocalizedMessage::TYPE_URL,
    ]
    .contains(&type_url)
}

fn detail_from_json(value: &Value, path: &Path<'_>) -> Result<Detail, JsonError> {
    let obj = Obj::new(value, path)?;
    let type_url = match obj.map.get("@type") {
        Some(Value::String(type_url)) => type_url,
        Some(_) => return Err(wrong_type(&path.key("@type"), "a string")),
        None => {
            return Err(JsonError::MissingField {
                field: path.key("@type").to_string(),
            });
        }
    };

    // The base64 form, exactly {"@type", "value": "..."}. None of the known
    // messages has a field named `value`, so the shape is unambiguous for
    // them.
    let packed = match (obj.map.len(), obj.map.get("value")) {
        (2, Some(Value::String(text))) => Some(text),
        _ => None,
    };
    let known = is_known_type(type_url);
    if let Some(text) = packed {
        match b64::json_decode(text) {
            Some(bytes) => {
                return Ok(Detail::from_any(&Any {
                    type_url: type_url.clone(),
                    value: bytes,
                }));
            }
            None if known => {
                return Err(JsonError::InvalidBase64 {
                    field: path.key("value").to_string(),
                });
            }
            // Another type's own JSON that merely has a `value` field.
            None => {}
        }
    }

    let detail = match type_url.as_str() {
        ErrorInfo::TYPE_URL => Detail::ErrorInfo(ErrorInfo {
            reason: obj.string("reason", "reason")?,
            domain: obj.string("domain", "domain")?,
            metadata: obj.map("metadata", "metadata")?,
        }),
        RetryInfo::TYPE_URL => Detail::RetryInfo(RetryInfo {
            retry_delay: obj.duration("retryDelay", "retry_delay")?,
        }),
        DebugInfo::TYPE_URL => Detail::DebugInfo(DebugInfo {
            stack_entries: obj.strings("stackEntries", "stack_entries")?,
            detail: obj.string("detail", "detail")?,
        }),
        QuotaFailure::TYPE_URL => Detail::QuotaFailure(QuotaFailure {
            violations: obj.messages("violations", "violations", object(quota_violation))?,
        }),
        PreconditionFailure::TYPE_URL => Detail::PreconditionFailure(PreconditionFailure {
            violations: obj.messages("violations", "violations", object(precondition_violation))?,
        }),
        BadRequest::TYPE_URL => Detail::BadRequest(BadRequest {
            field_violations: obj.messages(
                "fieldViolations",
                "field_violations",
                object(field_violation),
            )?,
        }),
        RequestInfo::TYPE_URL => Detail::RequestInfo(RequestInfo {
            request_id: obj.string("requestId", "request_id")?,
            serving_data: obj.string("servingData", "serving_data")?,
        }),
        ResourceInfo::TYPE_URL => Detail::ResourceInfo(ResourceInfo {
            resource_type: obj.string("resourceType", "resource_type")?,
            resource_name: obj.string("resourceName", "resource_name")?,
            owner: obj.string("owner", "owner")?,
            description: obj.string("description", "description")?,
        }),
        Help::TYPE_URL => Detail::Help(Help {
            links: obj.messages("links", "links", object(link))?,
        }),
        LocalizedMessage::TYPE_URL => Detail::LocalizedMessage(localized_message(&obj)?),
        // A type without a schema here: kept, in its place, without bytes
        // (see the module documentation).
        _ => Detail::Unknown {
            type_url: type_url.clone(),
            value: Vec::new(),
        },
    };
    Ok(detail)
}

fn quota_violation(obj: &Obj<'_, '_>) -> Result<quota_failure::Violation, JsonError> {
    Ok(quota_failure::Violation {
        subject: obj.string("subject", "subject")?,
        description: obj.string("description", "description")?,
        api_service: obj.string("apiService", "api_service")?,
        quota_metric: obj.string("quotaMetric", "quota_metric")?,
        quota_id: obj.string("quotaId", "quota_id")?,
        quota_dimensions: obj.map("quotaDimensions", "quota_dimensions")?,
        quota_value: obj.int64("quotaValue", "quota_value")?.unwrap_or_default(),
        future_quota_value: obj.int64("futureQuotaValue", "future_quota_value")?,
    })
}

fn precondition_violation(obj: &Obj<'_, '_>) -> Result<precondition_failure::Violation, JsonError> {
    Ok(precondition_failure::Violation {
        r#type: obj.string("type", "type")?,
        subject: obj.string("subject", "subject")?,
        description: obj.string("description", "description")?,
    })
}

fn field_violation(obj: &Obj<'_, '_>) -> Result<bad_request::FieldViolation, JsonError> {
    Ok(bad_request::FieldViolation {
        field: obj.string("field", "field")?,
        description: obj.string("description", "description")?,
        reason: obj.string("reason", "reason")?,
        localized_message: obj.message(
            "localizedMessage",
            "localized_message",
            localized_message,
        )?,
    })
}

fn link(obj: &Obj<'_, '_>) -> Result<help::Link, JsonError> {
    Ok(help::Link {
        description: obj.string("description", "description")?,
        url: obj.string("url", "url")?,
    })
}

fn localized_message(obj: &Obj<'_, '_>) -> Result<LocalizedMessage, JsonError> {
    Ok(LocalizedMessage {
        locale: obj.string("locale", "locale")?,
        message: obj.string("message", "message")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::time::Duration;

    /// The special_status_message string of gRPC's interop tests.
    const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

    fn round_trip(status: &Status) -> Status {
        let json = status.to_json();
        match Status::from_json(&json) {
            Ok(back) => back,
            Err(err) => panic!("{json} does not read back: {err}"),
        }
    }

    fn assert_round_trips(status: &Status) {
        let back = round_trip(status);
        assert_eq!(back.code(), status.code());
        assert_eq!(back.message(), status.message());
        assert_eq!(back.details(), status.details());
        assert_eq!(back.origin(), Origin::Peer);
    }

    fn detail_json(detail: impl Into<Detail>) -> Value {
        detail_to_json(&detail.into())
    }

    fn parse_detail(detail: Value) -> Result<Vec<Detail>, JsonError> {
        Status::from_json_value(&json!({"error": {"details": [detail]}})).map(|s| s.details())
    }

    fn duration(seconds: i64, nanos: i32) -> prost_types::Duration {
        prost_types::Duration { seconds, nanos }
    }

    fn every_kind() -> Vec<Detail> {
        let mut quota = quota_failure::Violation {
            subject: "project:7".into(),
            description: "too many writes".into(),
            api_service: "storage.googleapis.com".into(),
            quota_metric: "storage.googleapis.com/writes".into(),
            quota_id: "WritesPerMinute".into(),
            quota_value: i64::MAX,
            future_quota_value: Some(0),
            ..Default::default()
        };
        quota.quota_dimensions.insert("region".into(), "eu".into());
        let mut field = bad_request::FieldViolation {
            field: "user.email".into(),
            description: "not an address".into(),
            reason: "INVALID_EMAIL".into(),
            localized_message: Some(LocalizedMessage::new("de", "Keine Adresse")),
        };
        let empty_localized = bad_request::FieldViolation {
            localized_message: Some(LocalizedMessage::default()),
            ..Default::default()
        };
        field.description.push_str(SPECIAL);
        vec![
            ErrorInfo::new("USER_NOT_FOUND", "users.example.com")
                .with_metadata("userId", "42")
                .with_metadata("zone", "ü")
                .into(),
            ErrorInfo::default().into(),
            RetryInfo::after(Duration::new(3, 500_000_000)).into(),
            RetryInfo {
                retry_delay: Some(duration(-1, -1)),
            }
            .into(),
            RetryInfo {
                retry_delay: Some(duration(0, 0)),
            }
            .into(),
            RetryInfo::default().into(),
            DebugInfo::new("boom", ["a.rs:1", "b.rs:2"]).into(),
            QuotaFailure {
                violations: vec![quota, Default::default()],
            }
            .into(),
            PreconditionFailure::default()
                .violation("TOS", "example.com/tos", "not accepted")
                .into(),
            BadRequest {
                field_violations: vec![field, empty_localized],
            }
            .violation("age", "negative")
            .into(),
            RequestInfo::new("req-1", "shard 3").into(),
            ResourceInfo::new("user", "users/42", "", "missing").into(),
            Help::default()
                .link("docs", "https://example.com/docs")
                .into(),
            LocalizedMessage::new("fr-CH", "Veuillez réessayer").into(),
            Detail::Unknown {
                type_url: "type.googleapis.com/acme.Custom".into(),
                value: vec![8, 1, 0xff],
            },
            Detail::Unknown {
                type_url: "type.googleapis.com/acme.Empty".into(),
                value: Vec::new(),
            },
            // A known type whose bytes do not decode.
            Detail::Unknown {
                type_url: ErrorInfo::TYPE_URL.into(),
                value: vec![0x0a, 100, b'x'],
            },
        ]
    }

    #[test]
    fn not_found_with_error_info_is_the_aip_193_body() {
        let status = Status::not_found("user 42 not found").with_detail(
            ErrorInfo::new("USER_NOT_FOUND", "users.example.com")
                .with_metadata("userId", "42")
                .with_metadata("tenant", "acme"),
        );
        let expected = json!({
            "error": {
                "code": 404,
                "message": "user 42 not found",
                "status": "NOT_FOUND",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "USER_NOT_FOUND",
                    "domain": "users.example.com",
                    "metadata": {"tenant": "acme", "userId": "42"}
                }]
            }
        });
        assert_eq!(status.to_json_value(), expected);
        let text: Value = serde_json::from_str(&status.to_json()).unwrap();
        assert_eq!(text, expected);
    }

    #[test]
    fn no_details_leaves_details_out_and_message_in() {
        assert_eq!(
            Status::unavailable("").to_json_value(),
            json!({"error": {"code": 503, "message": "", "status": "UNAVAILABLE"}})
        );
        assert_eq!(
            Status::ok().to_json_value(),
            json!({"error": {"code": 200, "message": "", "status": "OK"}})
        );
    }

    #[test]
    fn every_code_uses_its_http_status_and_name() {
        for code in Code::ALL {
            let body = Status::new(code, "m").to_json_value();
            assert_eq!(body["error"]["code"], code.to_http().as_u16());
            assert_eq!(body["error"]["status"], code.as_str());
            assert_eq!(round_trip(&Status::new(code, "m")).code(), code);
        }
    }

    #[test]
    fn every_detail_kind_round_trips() {
        for detail in every_kind() {
            let status = Status::invalid_argument(SPECIAL).with_detail(detail.clone());
            assert_round_trips(&status);
        }
        let all = Status::resource_exhausted("all").with_details(every_kind());
        assert_round_trips(&all);
        assert_eq!(round_trip(&all).details().len(), every_kind().len());
    }

    #[test]
    fn details_use_lower_camel_case_and_leave_defaults_out() {
        let mut violation = quota_failure::Violation {
            subject: "s".into(),
            api_service: "svc".into(),
            quota_metric: "m".into(),
            quota_id: "id".into(),
            quota_value: 100,
            future_quota_value: Some(0),
            ..Default::default()
        };
        violation.quota_dimensions.insert("b".into(), "2".into());
        violation.quota_dimensions.insert("a".into(), "1".into());
        assert_eq!(
            detail_json(QuotaFailure {
                violations: vec![violation, Default::default()]
            }),
            json!({
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "subject": "s",
                    "apiService": "svc",
                    "quotaMetric": "m",
                    "quotaId": "id",
                    "quotaDimensions": {"a": "1", "b": "2"},
                    "quotaValue": "100",
                    "futureQuotaValue": "0"
                }, {}]
            })
        );
        assert_eq!(
            detail_json(BadRequest {
                field_violations: vec![bad_request::FieldViolation {
                    field: "f".into(),
                    localized_message: Some(LocalizedMessage::new("en", "bad")),
                    ..Default::default()
                }]
            }),
            json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{
                    "field": "f",
                    "localizedMessage": {"locale": "en", "message": "bad"}
                }]
            })
        );
        assert_eq!(
            detail_json(RetryInfo::after(Duration::from_secs(30))),
            json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"})
        );
        assert_eq!(
            detail_json(DebugInfo::new("", ["x"])),
            json!({"@type": "type.googleapis.com/google.rpc.DebugInfo", "stackEntries": ["x"]})
        );
        assert_eq!(
            detail_json(RequestInfo::new("r", "d")),
            json!({
                "@type": "type.googleapis.com/google.rpc.RequestInfo",
                "requestId": "r",
                "servingData": "d"
            })
        );
        assert_eq!(
            detail_json(ResourceInfo::new("t", "n", "o", "")),
            json!({
                "@type": "type.googleapis.com/google.rpc.ResourceInfo",
                "resourceType": "t",
                "resourceName": "n",
                "owner": "o"
            })
        );
        assert_eq!(
            detail_json(PreconditionFailure::default().violation("TOS", "s", "")),
            json!({
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [{"type": "TOS", "subject": "s"}]
            })
        );
        assert_eq!(
            detail_json(ErrorInfo::default()),
            json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo"})
        );
    }

    #[test]
    fn int64_is_a_string_and_reads_as_string_or_number() {
        let json = detail_json(QuotaFailure {
            violations: vec![quota_failure::Violation {
                quota_value: i64::MIN,
                ..Default::default()
            }],
        });
        assert_eq!(json["violations"][0]["quotaValue"], "-9223372036854775808");

        for (given, expected) in [
            (json!("100"), 100),
            (json!(100), 100),
            (json!("-7"), -7),
            (json!(1e2), 100),
            (json!("1e2"), 100),
            (json!(9_223_372_036_854_775_807_i64), i64::MAX),
            (json!("9223372036854775807"), i64::MAX),
        ] {
            let details = parse_detail(json!({
                "@type": QuotaFailure::TYPE_URL,
                "violations": [{"quotaValue": given, "futureQuotaValue": given}]
            }))
            .unwrap();
            let Detail::QuotaFailure(q) = &details[0] else {
                panic!("{details:?}");
            };
            assert_eq!(q.violations[0].quota_value, expected, "{given}");
            assert_eq!(q.violations[0].future_quota_value, Some(expected));
        }
        for bad in [
            json!("9223372036854775808"),
            json!(9_223_372_036_854_775_808_u64),
            json!(1.5),
            json!("12abc"),
            json!(""),
        ] {
            let err = parse_detail(json!({
                "@type": QuotaFailure::TYPE_URL,
                "violations": [{"quotaValue": bad}]
            }))
            .unwrap_err();
            assert!(
                matches!(&err, JsonError::InvalidInteger { field, kind: "int64", .. }
                    if field == "error.details[0].violations[0].quotaValue"),
                "{err}"
            );
        }
    }

    #[test]
    fn durations_use_0_3_6_or_9_fractional_digits() {
        for (seconds, nanos, text) in [
            (0, 0, "0s"),
            (30, 0, "30s"),
            (1, 500_000_000, "1.500s"),
            (0, 1, "0.000000001s"),
            (0, 1_000, "0.000001s"),
            (0, 10_000, "0.000010s"),
            (2, 123_456_789, "2.123456789s"),
            (-1, -500_000_000, "-1.500s"),
            (0, -1_000_000, "-0.001s"),
            (315_576_000_000, 999_999_999, "315576000000.999999999s"),
            (-315_576_000_000, -999_999_999, "-315576000000.999999999s"),
        ] {
            let d = duration(seconds, nanos);
            assert_eq!(duration_to_json(&d), text);
            assert_eq!(parse_duration(text), Some(d), "{text}");
        }
        // Unnormalized or out-of-range values are normalized and clamped.
        assert_eq!(duration_to_json(&duration(1, -500_000_000)), "0.500s");
        assert_eq!(duration_to_json(&duration(0, 1_500_000_000)), "1.500s");
        assert_eq!(
            duration_to_json(&duration(i64::MAX, i32::MAX)),
            "315576000000.999999999s"
        );
        assert_eq!(
            duration_to_json(&duration(i64::MIN, i32::MIN)),
            "-315576000000.999999999s"
        );
    }

    #[test]
    fn duration_parsing_accepts_proto3_forms_only() {
        for (text, seconds, nanos) in [
            ("1s", 1, 0),
            ("1.5s", 1, 500_000_000),
            ("+2.25s", 2, 250_000_000),
            (".5s", 0, 500_000_000),
            ("3.s", 3, 0),
            ("-0s", 0, 0),
            ("007s", 7, 0),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(duration(seconds, nanos)),
                "{text}"
            );
        }
        for text in [
            "",
            "s",
            "1",
            "1S",
            ".s",
            "-s",
            "1.0000000001s",
            "315576000001s",
            "99999999999999999999s",
            "1 s",
            " 1s",
            "--1s",
            "+-1s",
            "1.-5s",
            "1e3s",
            "٣s",
            "1.5ms",
        ] {
            assert_eq!(parse_duration(text), None, "{text:?}");
        }
        let err =
            parse_detail(json!({"@type": RetryInfo::TYPE_URL, "retryDelay": "soon"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error.details[0].retryDelay is not a valid duration: \"soon\" (expected seconds \
             with at most 9 fractional digits and the suffix \"s\", within ±315576000000s)"
        );
        let err = parse_detail(json!({
            "@type": RetryInfo::TYPE_URL,
            "retryDelay": {"seconds": 1}
        }))
        .unwrap_err();
        assert!(matches!(err, JsonError::WrongType { .. }), "{err}");
    }

    #[test]
    fn snake_case_names_are_accepted() {
        let body = json!({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": BadRequest::TYPE_URL, "field_violations": [{
                "field": "name", "description": "empty",
                "localized_message": {"locale": "en", "message": "Name is empty"}
            }]},
            {"@type": RetryInfo::TYPE_URL, "retry_delay": "0.250s"},
            {"@type": DebugInfo::TYPE_URL, "stack_entries": ["a"], "detail": "d"},
            {"@type": RequestInfo::TYPE_URL, "request_id": "r", "serving_data": "s"},
            {"@type": ResourceInfo::TYPE_URL, "resource_type": "t", "resource_name": "n"},
            {"@type": QuotaFailure::TYPE_URL, "violations": [{
                "api_service": "svc", "quota_metric": "m", "quota_id": "q",
                "quota_dimensions": {"k": "v"}, "quota_value": 5, "future_quota_value": "6"
            }]}
        ]}});
        let status = Status::from_json_value(&body).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);

        let mut quota = quota_failure::Violation {
            api_service: "svc".into(),
            quota_metric: "m".into(),
            quota_id: "q".into(),
            quota_value: 5,
            future_quota_value: Some(6),
            ..Default::default()
        };
        quota.quota_dimensions.insert("k".into(), "v".into());
        let expected: Vec<Detail> = vec![
            BadRequest {
                field_violations: vec![bad_request::FieldViolation {
                    field: "name".into(),
                    description: "empty".into(),
                    reason: String::new(),
                    localized_message: Some(LocalizedMessage::new("en", "Name is empty")),
                }],
            }
            .into(),
            RetryInfo::after(Duration::from_millis(250)).into(),
            DebugInfo::new("d", ["a"]).into(),
            RequestInfo::new("r", "s").into(),
            ResourceInfo::new("t", "n", "", "").into(),
            QuotaFailure {
                violations: vec![quota],
            }
            .into(),
        ];
        assert_eq!(status.details(), expected);
    }

    #[test]
    fn both_names_for_one_field_are_an_error() {
        let err = parse_detail(json!({
            "@type": RequestInfo::TYPE_URL,
            "requestId": "a",
            "request_id": "b"
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "error.details[0] is given twice, as \"requestId\" and as \"request_id\""
        );
    }

    #[test]
    fn nulls_are_defaults_and_unknown_fields_are_ignored() {
        let details = parse_detail(json!({
            "@type": ErrorInfo::TYPE_URL,
            "reason": "R",
            "domain": null,
            "metadata": null,
            "addedInAFutureVersion": {"x": [1, 2]}
        }))
        .unwrap();
        assert_eq!(details, [Detail::ErrorInfo(ErrorInfo::new("R", ""))]);

        let status = Status::from_json(
            r#"{"error": {"code": 404, "message": null, "status": "NOT_FOUND", "details": null,
                "errors": [{"reason": "notFound"}]}, "extra": 1}"#,
        )
        .unwrap();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "");
        assert!(status.details().is_empty());
    }

    #[test]
    fn status_decides_the_code_and_http_code_is_only_a_fallback() {
        let code_of = |error: Value| {
            Status::from_json_value(&json!({ "error": error }))
                .unwrap()
                .code()
        };
        // The name wins, even over a contradicting HTTP code.
        assert_eq!(
            code_of(json!({"code": 500, "status": "NOT_FOUND"})),
            Code::NotFound
        );
        assert_eq!(code_of(json!({"status": "not_found"})), Code::NotFound);
        assert_eq!(code_of(json!({"status": 5})), Code::NotFound);
        // Without a usable name, gRPC's HTTP table: 404 is UNIMPLEMENTED.
        assert_eq!(code_of(json!({"code": 404})), Code::Unimplemented);
        assert_eq!(code_of(json!({"code": "503"})), Code::Unavailable);
        assert_eq!(code_of(json!({"code": 400})), Code::Internal);
        assert_eq!(code_of(json!({"code": 401})), Code::Unauthenticated);
        assert_eq!(
            code_of(json!({"code": 429, "status": "SLOW_DOWN"})),
            Code::Unavailable
        );
        assert_eq!(
            code_of(json!({"code": 403, "status": 42})),
            Code::PermissionDenied
        );
        assert_eq!(code_of(json!({"code": 409, "status": null})), Code::Unknown);
        // Nothing usable: UNKNOWN.
        assert_eq!(code_of(json!({"code": 100})), Code::Unknown);
        assert_eq!(code_of(json!({"code": -1})), Code::Unknown);
        assert_eq!(code_of(json!({"code": 70000})), Code::Unknown);
        assert_eq!(code_of(json!({})), Code::Unknown);
        assert_eq!(code_of(json!({"status": "BOGUS"})), Code::Unknown);
    }

    #[test]
    fn unknown_types_keep_their_bytes_or_their_place() {
        let unknown = Detail::Unknown {
            type_url: "type.googleapis.com/acme.Custom".into(),
            value: vec![0xfb, 0xff],
        };
        assert_eq!(
            detail_json(unknown.clone()),
            json!({"@type": "type.googleapis.com/acme.Custom", "value": "+/8="})
        );
        // Standard or URL-safe, padded or not.
        for value in ["+/8=", "+/8", "-_8=", "-_8"] {
            assert_eq!(
                parse_detail(json!({"@type": "type.googleapis.com/acme.Custom", "value": value}))
                    .unwrap(),
                vec![unknown.clone()]
            );
        }
        // Base64 of a known type's bytes comes back typed.
        let info = ErrorInfo::new("R", "d");
        let b64 = b64::json_encode(info.to_any().value);
        assert_eq!(
            parse_detail(json!({"@type": ErrorInfo::TYPE_URL, "value": b64})).unwrap(),
            [Detail::ErrorInfo(info)]
        );

        // Another type in its own JSON form: kept in place, without bytes.
        let body = json!({"error": {"status": "INVALID_ARGUMENT", "details": [
            {"@type": "type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure",
             "errors": [{"message": "bad"}], "requestId": "x"},
            {"@type": ErrorInfo::TYPE_URL, "reason": "R"},
            {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.5s"},
            {"@type": "type.googleapis.com/acme.Value", "value": 3}
        ]}});
        let details = Status::from_json_value(&body).unwrap().details();
        assert_eq!(
            details,
            [
                Detail::Unknown {
                    type_url:
                        "type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure"
                            .into(),
                    value: Vec::new(),
                },
                Detail::ErrorInfo(ErrorInfo::new("R", "")),
                Detail::Unknown {
                    type_url: "type.googleapis.com/google.protobuf.Duration".into(),
                    value: Vec::new(),
                },
                Detail::Unknown {
                    type_url: "type.googleapis.com/acme.Value".into(),
                    value: Vec::new(),
                },
            ]
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[(&str, &str)] = &[
            ("", "invalid JSON"),
            ("{", "invalid JSON"),
            ("{\"error\": {}} trailing", "invalid JSON"),
            ("[]", "the body has no \"error\" object"),
            ("42", "the body has no \"error\" object"),
            ("{}", "the body has no \"error\" object"),
            (r#"{"error": null}"#, "the body has no \"error\" object"),
            (r#"{"error": "boom"}"#, "error must be an object"),
            (
                r#"{"error": {"message": 1}}"#,
                "error.message must be a string",
            ),
            (
                r#"{"error": {"code": "x"}}"#,
                "error.code is not a valid int32: \"x\"",
            ),
            (
                r#"{"error": {"code": 4294967296}}"#,
                "error.code is not a valid int32: 4294967296",
            ),
            (
                r#"{"error": {"code": true}}"#,
                "error.code must be an integer (a number or a string)",
            ),
            (
                r#"{"error": {"status": ["NOT_FOUND"]}}"#,
                "error.status must be a code name (a string)",
            ),
            (
                r#"{"error": {"status": 1.5}}"#,
                "error.status is not a valid int32: 1.5",
            ),
            (
                r#"{"error": {"details": {}}}"#,
                "error.details must be an array",
            ),
            (
                r#"{"error": {"details": [1]}}"#,
                "error.details[0] must be an object",
            ),
            (
                r#"{"error": {"details": [{}]}}"#,
                "error.details[0].@type is missing",
            ),
            (
                r#"{"error": {"details": [{"@type": 7}]}}"#,
                "error.details[0].@type must be a string",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": 1}]}}"#,
                "error.details[0].reason must be a string",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "metadata": {"a": 1}}]}}"#,
                "error.details[0].metadata.a must be a string",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "metadata": []}]}}"#,
                "error.details[0].metadata must be an object of strings",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "value": "not base64!"}]}}"#,
                "error.details[0].value is not valid base64",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.DebugInfo", "stackEntries": ["a", null]}]}}"#,
                "error.details[0].stackEntries[1] must be a string",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.DebugInfo", "stack_entries": "a"}]}}"#,
                "error.details[0].stack_entries must be an array",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": 3}]}]}}"#,
                "error.details[0].links[0].url must be a string",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"localizedMessage": "hi"}]}]}}"#,
                "error.details[0].fieldViolations[0].localizedMessage must be an object",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"localized_message": {"locale": false}}]}]}}"#,
                "error.details[0].fieldViolations[0].localized_message.locale must be a string",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.PreconditionFailure", "violations": [[]]}]}}"#,
                "error.details[0].violations[0] must be an object",
            ),
            (
                r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaDimensions": {"k": null}}]}]}}"#,
                "error.details[0].violations[0].quotaDimensions.k must be a string",
            ),
        ];
        for (input, message) in cases {
            match Status::from_json(input) {
                Ok(status) => panic!("{input} was accepted as {status:?}"),
                Err(err) => assert!(
                    err.to_string().starts_with(message),
                    "{input}: {err} does not start with {message}"
                ),
            }
        }
    }

    #[test]
    fn a_json_error_becomes_an_internal_status_with_its_source() {
        let err = Status::from_json("{}").unwrap_err();
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(
            status.message(),
            "cannot read the JSON error body: the body has no \"error\" object"
        );
        assert!(std::error::Error::source(&status).is_some());
    }

    #[test]
    fn syntax_errors_keep_their_source() {
        let err = Status::from_json("{").unwrap_err();
        assert!(matches!(err, JsonError::Syntax(_)));
        assert!(std::error::Error::source(&err).is_some());
    }

    fn code_strategy() -> impl Strategy<Value = Code> {
        proptest::sample::select(Code::ALL.to_vec())
    }

    fn duration_strategy() -> impl Strategy<Value = prost_types::Duration> {
        (
            any::<bool>(),
            0..=MAX_DURATION_SECONDS,
            0..1_000_000_000_i32,
        )
            .prop_map(|(negative, seconds, nanos)| {
                let sign = if negative { -1 } else { 1 };
                duration(sign * seconds, sign as i32 * nanos)
            })
    }

    fn string_map() -> impl Strategy<Value = HashMap<String, String>> {
        proptest::collection::hash_map(any::<String>(), any::<String>(), 0..4)
    }

    fn detail_strategy() -> impl Strategy<Value = Detail> {
        prop_oneof![
            (any::<String>(), any::<String>(), string_map()).prop_map(
                |(reason, domain, metadata)| {
                    Detail::ErrorInfo(ErrorInfo {
                        reason,
                        domain,
                        metadata,
                    })
                }
            ),
            proptest::option::of(duration_strategy())
                .prop_map(|retry_delay| Detail::RetryInfo(RetryInfo { retry_delay })),
            proptest::collection::vec(
                (
                    any::<String>(),
                    string_map(),
                    any::<i64>(),
                    proptest::option::of(any::<i64>())
                ),
                0..3
            )
            .prop_map(|violations| {
                Detail::QuotaFailure(QuotaFailure {
                    violations: violations
                        .into_iter()
                        .map(
                            |(subject, quota_dimensions, quota_value, future_quota_value)| {
                                quota_failure::Violation {
                                    subject,
                                    quota_dimensions,
                                    quota_value,
                                    future_quota_value,
                                    ..Default::default()
                                }
                            },
                        )
                        .collect(),
                })
            }),
            (
                any::<String>(),
                proptest::option::of((any::<String>(), any::<String>()))
            )
                .prop_map(|(field, localized)| {
                    Detail::BadRequest(BadRequest {
                        field_violations: vec![bad_request::FieldViolation {
                            field,
                            localized_message: localized
                                .map(|(locale, message)| LocalizedMessage { locale, message }),
                            ..Default::default()
                        }],
                    })
                }),
            (
                any::<String>(),
                proptest::collection::vec(any::<u8>(), 0..32)
            )
                .prop_map(|(type_url, value)| Detail::Unknown { type_url, value }),
        ]
    }

    /// Arbitrary JSON, biased towards the names and shapes the reader
    /// looks at, to look for panics.
    fn json_strategy() -> impl Strategy<Value = Value> {
        let names = proptest::sample::select(vec![
            "@type",
            "value",
            "code",
            "status",
            "message",
            "details",
            "reason",
            "metadata",
            "retryDelay",
            "retry_delay",
            "violations",
            "quotaValue",
            "futureQuotaValue",
            "quotaDimensions",
            "fieldViolations",
            "localizedMessage",
            "links",
            "stackEntries",
            "x",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            proptest::sample::select(vec![
                "1.5s",
                "-0.000000001s",
                "315576000001s",
                "NOT_FOUND",
                "+/8=",
                "9223372036854775808",
                "1e400",
                "type.googleapis.com/google.rpc.ErrorInfo",
                "type.googleapis.com/google.rpc.RetryInfo",
                "type.googleapis.com/google.rpc.QuotaFailure",
                "type.googleapis.com/google.rpc.BadRequest",
                "type.googleapis.com/google.rpc.Help",
                "type.googleapis.com/google.rpc.DebugInfo",
                "type.googleapis.com/acme.X",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((names.clone(), inner), 0..6).prop_map(|members| {
                    Value::Object(
                        members
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_round_trips(
            code in code_strategy(),
            message in any::<String>(),
            details in proptest::collection::vec(detail_strategy(), 0..4),
        ) {
            let status = Status::new(code, message).with_details(details);
            let back = Status::from_json(&status.to_json());
            prop_assert!(back.is_ok(), "{:?}", back);
            let back = back.unwrap();
            prop_assert_eq!(back.code(), status.code());
            prop_assert_eq!(back.message(), status.message());
            prop_assert_eq!(back.details(), status.details());
        }

        #[test]
        fn reading_never_panics(error in json_strategy(), detail in json_strategy()) {
            let _ = Status::from_json_value(&json!({"error": error}));
            let _ = Status::from_json_value(&json!({"error": {"details": [detail]}}));
            let _ = Status::from_json_value(&error);
        }

        #[test]
        fn reading_text_never_panics(text in any::<String>()) {
            let _ = Status::from_json(&text);
        }
    }
}
