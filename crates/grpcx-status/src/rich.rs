//! The rich error model: typed `google.rpc` details packed in a [`Status`].
//!
//! A detail is a protobuf message packed as `google.protobuf.Any`: a type URL
//! (`type.googleapis.com/google.rpc.ErrorInfo`) and the message's bytes. The
//! ten standard messages of `google/rpc/error_details.proto` are known to
//! this crate and come back typed as a [`Detail`] variant; every other type
//! comes back as [`Detail::Unknown`] with its type URL and bytes, so a detail
//! this process cannot read is passed on, not lost.
//!
//! Each standard message has small builders, so a handler writes
//!
//! ```
//! use std::time::Duration;
//! use grpcx_status::{ErrorInfo, QuotaFailure, RetryInfo, Status};
//!
//! let status = Status::resource_exhausted("daily quota exceeded")
//!     .with_detail(ErrorInfo::new("QUOTA_EXCEEDED", "users.example.com").with_metadata("limit", "100"))
//!     .with_detail(QuotaFailure::default().violation("user:42", "100 creations a day"))
//!     .with_detail(RetryInfo::after(Duration::from_secs(30)));
//!
//! let retry = status.get_detail::<RetryInfo>().and_then(|r| r.delay());
//! assert_eq!(retry, Some(Duration::from_secs(30)));
//! ```
//!
//! [`Status`]: crate::Status

use std::time::Duration;

use prost::Message;
use prost_types::Any;

pub use crate::pb::{
    BadRequest, DebugInfo, ErrorInfo, Help, LocalizedMessage, PreconditionFailure, QuotaFailure,
    RequestInfo, ResourceInfo, RetryInfo,
};
use crate::pb::{bad_request, help, precondition_failure, quota_failure};

/// The prefix of the type URLs of packed details.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// A protobuf message that can be packed as a detail of a [`Status`].
///
/// Implemented for the ten standard `google.rpc` messages; implement it for
/// an application's own message to read it back with
/// [`Status::get_detail`]:
///
/// ```
/// use grpcx_status::{Detail, DetailMessage, Status};
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Conflict {
///     #[prost(string, tag = "1")]
///     holder: String,
/// }
///
/// impl DetailMessage for Conflict {
///     const TYPE_URL: &'static str = "type.googleapis.com/acme.v1.Conflict";
/// }
///
/// let status = Status::aborted("lock held").with_detail(Detail::pack(&Conflict { holder: "job-7".into() }));
/// assert_eq!(status.get_detail::<Conflict>().unwrap().holder, "job-7");
/// ```
///
/// [`Status`]: crate::Status
/// [`Status::get_detail`]: crate::Status::get_detail
pub trait DetailMessage: Message + Default {
    /// The full type URL, `type.googleapis.com/` followed by the message's
    /// full protobuf name.
    const TYPE_URL: &'static str;

    /// Packs the message as an `Any`.
    fn to_any(&self) -> Any {
        Any {
            type_url: Self::TYPE_URL.to_owned(),
            value: self.encode_to_vec(),
        }
    }
}

/// One detail of a [`Status`], decoded.
///
/// [`Status`]: crate::Status
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Detail {
    /// `google.rpc.ErrorInfo`: the structured cause of the error.
    ErrorInfo(ErrorInfo),
    /// `google.rpc.RetryInfo`: when the client may retry.
    RetryInfo(RetryInfo),
    /// `google.rpc.DebugInfo`: stack entries and debugging text.
    DebugInfo(DebugInfo),
    /// `google.rpc.QuotaFailure`: how a quota check failed.
    QuotaFailure(QuotaFailure),
    /// `google.rpc.PreconditionFailure`: which preconditions failed.
    PreconditionFailure(PreconditionFailure),
    /// `google.rpc.BadRequest`: which request fields are invalid.
    BadRequest(BadRequest),
    /// `google.rpc.RequestInfo`: an id to quote in a bug report.
    RequestInfo(RequestInfo),
    /// `google.rpc.ResourceInfo`: the resource that was accessed.
    ResourceInfo(ResourceInfo),
    /// `google.rpc.Help`: links to documentation.
    Help(Help),
    /// `google.rpc.LocalizedMessage`: a message for the user.
    LocalizedMessage(LocalizedMessage),
    /// A detail of a type this crate does not know, or of a known type
    /// whose bytes do not decode: kept as received.
    Unknown {
        /// The type URL of the packed message.
        type_url: String,
        /// The packed message's bytes.
        value: Vec<u8>,
    },
}

macro_rules! known_details {
    ($($name:ident),* $(,)?) => {
        $(
            impl DetailMessage for $name {
                const TYPE_URL: &'static str = concat!("type.googleapis.com/google.rpc.", stringify!($name));
            }

            impl From<$name> for Detail {
                fn from(detail: $name) -> Self {
                    Detail::$name(detail)
                }
            }
        )*

        impl Detail {
            /// Decodes a packed detail; an unknown type URL, or bytes that
            /// do not decode as the named type, give [`Detail::Unknown`].
            pub fn from_any(any: &Any) -> Detail {
                let decoded = match any.type_url.as_str() {
                    $(
                        <$name as DetailMessage>::TYPE_URL => {
                            $name::decode(any.value.as_slice()).ok().map(Detail::$name)
                        }
                    )*
                    _ => None,
                };
                decoded.unwrap_or_else(|| Detail::Unknown {
                    type_url: any.type_url.clone(),
                    value: any.value.clone(),
                })
            }

            /// Packs the detail as an `Any`.
            pub fn to_any(&self) -> Any {
                match self {
                    $(Detail::$name(d) => d.to_any(),)*
                    Detail::Unknown { type_url, value } => Any {
                        type_url: type_url.clone(),
                        value: value.clone(),
                    },
                }
            }

            /// Packs the detail as an `Any`, consuming it.
            pub fn into_any(self) -> Any {
                match self {
                    Detail::Unknown { type_url, value } => Any { type_url, value },
                    known => known.to_any(),
                }
            }

            /// The type URL of the detail.
            pub fn type_url(&self) -> &str {
                match self {
                    $(Detail::$name(_) => <$name as DetailMessage>::TYPE_URL,)*
                    Detail::Unknown { type_url, .. } => type_url,
                }
            }
        }
    };
}

known_details!(
    ErrorInfo,
    RetryInfo,
    DebugInfo,
    QuotaFailure,
    PreconditionFailure,
    BadRequest,
    RequestInfo,
    ResourceInfo,
    Help,
    LocalizedMessage,
);

impl Detail {
    /// Packs any [`DetailMessage`], including an application's own.
    pub fn pack<T: DetailMessage>(message: &T) -> Detail {
        Detail::from_any(&message.to_any())
    }

    /// The full protobuf name of the detail's type (the type URL after its
    /// last `/`).
    pub fn type_name(&self) -> &str {
        let url = self.type_url();
        url.rsplit_once('/').map_or(url, |(_, name)| name)
    }
}

impl From<Any> for Detail {
    fn from(any: Any) -> Self {
        Detail::from_any(&any)
    }
}

impl From<&Any> for Detail {
    fn from(any: &Any) -> Self {
        Detail::from_any(any)
    }
}

impl ErrorInfo {
    /// An `ErrorInfo` with a reason (an `UPPER_SNAKE_CASE` constant) and the
    /// domain it belongs to.
    pub fn new(reason: impl Into<String>, domain: impl Into<String>) -> Self {
        ErrorInfo {
            reason: reason.into(),
            domain: domain.into(),
            metadata: Default::default(),
        }
    }

    /// Adds a metadata entry (keys are lowerCamelCase by convention).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

impl RetryInfo {
    /// A `RetryInfo` asking the client to wait `delay` before retrying.
    pub fn after(delay: Duration) -> Self {
        RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: delay.subsec_nanos() as i32,
            }),
        }
    }

    /// The delay, when it is present and not negative.
    pub fn delay(&self) -> Option<Duration> {
        let d = self.retry_delay.as_ref()?;
        if d.seconds < 0 || d.nanos < 0 {
            return None;
        }
        Some(Duration::new(d.seconds as u64, 0) + Duration::from_nanos(d.nanos as u64))
    }
}

impl DebugInfo {
    /// A `DebugInfo` with a detail text and stack entries.
    ///
    /// Debug information is for developers: send it only to trusted clients.
    pub fn new<I, S>(detail: impl Into<String>, stack_entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        DebugInfo {
            stack_entries: stack_entries.into_iter().map(Into::into).collect(),
            detail: detail.into(),
        }
    }
}

impl QuotaFailure {
    /// Adds a violation: the subject whose quota failed and how.
    pub fn violation(mut self, subject: impl Into<String>, description: impl Into<String>) -> Self {
        self.violations.push(quota_failure::Violation {
            subject: subject.into(),
            description: description.into(),
            ..Default::default()
        });
        self
    }
}

impl PreconditionFailure {
    /// Adds a violation: its type (`"TOS"`), subject and description.
    pub fn violation(
        mut self,
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.violations.push(precondition_failure::Violation {
            r#type: kind.into(),
            subject: subject.into(),
            description: description.into(),
        });
        self
    }
}

impl BadRequest {
    /// Adds a field violation: the field's path and why it is bad.
    pub fn violation(mut self, field: impl Into<String>, description: impl Into<String>) -> Self {
        self.field_violations.push(bad_request::FieldViolation {
            field: field.into(),
            description: description.into(),
            ..Default::default()
        });
        self
    }

    /// Whether no violation was added.
    pub fn is_empty(&self) -> bool {
        self.field_violations.is_empty()
    }
}

impl RequestInfo {
    /// A `RequestInfo` with the request's id and any serving data.
    pub fn new(request_id: impl Into<String>, serving_data: impl Into<String>) -> Self {
        RequestInfo {
            request_id: request_id.into(),
            serving_data: serving_data.into(),
        }
    }
}

impl ResourceInfo {
    /// A `ResourceInfo` naming the resource's type and name, its owner (may
    /// be empty) and what went wrong.
    pub fn new(
        resource_type: impl Into<String>,
        resource_name: impl Into<String>,
        owner: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        ResourceInfo {
            resource_type: resource_type.into(),
            resource_name: resource_name.into(),
            owner: owner.into(),
            description: description.into(),
        }
    }
}

impl Help {
    /// Adds a link.
    pub fn link(mut self, description: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(help::Link {
            description: description.into(),
            url: url.into(),
        });
        self
    }
}

impl LocalizedMessage {
    /// A message in a BCP 47 locale (`"en-US"`).
    pub fn new(locale: impl Into<String>, message: impl Into<String>) -> Self {
        LocalizedMessage {
            locale: locale.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Detail> {
        vec![
            ErrorInfo::new("REASON", "example.com")
                .with_metadata("userId", "42")
                .into(),
            RetryInfo::after(Duration::new(3, 500_000_000)).into(),
            DebugInfo::new("boom", ["a.rs:1", "b.rs:2"]).into(),
            QuotaFailure::default()
                .violation("user:1", "too many")
                .into(),
            PreconditionFailure::default()
                .violation("TOS", "example.com/tos", "not accepted")
                .into(),
            BadRequest::default()
                .violation("name", "empty")
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
                value: vec![8, 1],
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_through_any() {
        for detail in every_kind() {
            let any = detail.to_any();
            assert_eq!(any.type_url, detail.type_url());
            assert_eq!(Detail::from_any(&any), detail);
            assert_eq!(detail.clone().into_any(), any);
        }
    }

    #[test]
    fn type_urls_use_the_googleapis_prefix() {
        assert_eq!(
            ErrorInfo::TYPE_URL,
            "type.googleapis.com/google.rpc.ErrorInfo"
        );
        assert_eq!(
            LocalizedMessage::TYPE_URL,
            "type.googleapis.com/google.rpc.LocalizedMessage"
        );
        for detail in every_kind() {
            assert!(detail.type_url().starts_with(TYPE_URL_PREFIX));
        }
        assert_eq!(
            Detail::from(ErrorInfo::default()).type_name(),
            "google.rpc.ErrorInfo"
        );
    }

    #[test]
    fn undecodable_known_type_is_kept_as_unknown() {
        let any = Any {
            type_url: ErrorInfo::TYPE_URL.into(),
            // Field 1, length-delimited, claims 100 bytes but has 1.
            value: vec![0x0a, 100, b'x'],
        };
        assert_eq!(
            Detail::from_any(&any),
            Detail::Unknown {
                type_url: ErrorInfo::TYPE_URL.into(),
                value: vec![0x0a, 100, b'x'],
            }
        );
    }

    #[test]
    fn retry_delay_conversions() {
        let info = RetryInfo::after(Duration::from_millis(1500));
        let d = info.retry_delay.unwrap();
        assert_eq!((d.seconds, d.nanos), (1, 500_000_000));
        assert_eq!(info.delay(), Some(Duration::from_millis(1500)));
        let negative = RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: -1,
                nanos: 0,
            }),
        };
        assert_eq!(negative.delay(), None);
        assert_eq!(RetryInfo::default().delay(), None);
        // A delay too large for protobuf's Duration saturates instead of wrapping.
        let huge = RetryInfo::after(Duration::MAX);
        assert_eq!(huge.retry_delay.unwrap().seconds, i64::MAX);
    }
}
