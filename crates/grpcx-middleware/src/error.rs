//! The error of building or parsing a retry or circuit breaker
//! configuration.

/// Why a retry policy, a hedging policy, a throttle, a service config or a
/// circuit breaker config was rejected.
///
/// Each variant names the offending field by its service config JSON path:
/// `retryPolicy.maxAttempts` for a policy built in code, and
/// `methodConfig[1].retryPolicy.maxAttempts` for one parsed from JSON, so
/// the message alone says where to look. Breaker fields are named after
/// their builder method, as in `breaker.failure_ratio`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not JSON, or a field has the wrong JSON type.
    #[error("malformed service config json: {source}")]
    Json {
        /// The JSON parser's error, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A required field is absent.
    #[error("missing required field {field}")]
    MissingField {
        /// The field's path.
        field: String,
    },
    /// A number field holds something else (a string that is not a number,
    /// a boolean, an object, or a non-finite value).
    #[error("{field} must be a number, got {value}")]
    NotANumber {
        /// The field's path.
        field: String,
        /// The JSON value found.
        value: String,
    },
    /// A count (`maxAttempts`, `maxTokens`) is not a whole number.
    #[error("{field} must be a whole number, got {value}")]
    NotAWholeNumber {
        /// The field's path.
        field: String,
        /// The value found.
        value: f64,
    },
    /// `maxAttempts` is below 2: a policy that never retries is no policy.
    #[error("{field} must be at least 2, got {value}")]
    TooFewAttempts {
        /// The field's path.
        field: String,
        /// The value found.
        value: i64,
    },
    /// A backoff is zero (gRFC A6 requires it to be greater than zero).
    #[error("{field} must be greater than zero")]
    NotPositive {
        /// The field's path.
        field: String,
    },
    /// The backoff multiplier is zero, negative or not finite.
    #[error("{field} must be a finite number greater than zero, got {value}")]
    InvalidMultiplier {
        /// The field's path.
        field: String,
        /// The value found.
        value: f64,
    },
    /// `retryableStatusCodes` is empty.
    #[error("{field} must not be empty")]
    EmptyCodes {
        /// The field's path.
        field: String,
    },
    /// A status code is neither a code's name nor a number in `0..=16`.
    #[error("{field} holds {value}, which names no status code")]
    UnknownCode {
        /// The field's path.
        field: String,
        /// The JSON value found.
        value: String,
    },
    /// A duration is not in the proto3 JSON form (`"1.5s"`).
    #[error("{field} must be a duration such as \"1.5s\", got {value:?}")]
    MalformedDuration {
        /// The field's path.
        field: String,
        /// The text found.
        value: String,
    },
    /// A duration is negative.
    #[error("{field} must not be negative, got {value:?}")]
    NegativeDuration {
        /// The field's path.
        field: String,
        /// The text found.
        value: String,
    },
    /// A duration exceeds proto3's limit of 315,576,000,000 seconds.
    #[error("{field} is longer than 315576000000s, got {value:?}")]
    DurationOutOfRange {
        /// The field's path.
        field: String,
        /// The text found.
        value: String,
    },
    /// `retryThrottling.maxTokens` is outside `(0, 1000]`.
    #[error("{field} must be in (0, 1000], got {value}")]
    MaxTokensOutOfRange {
        /// The field's path.
        field: String,
        /// The value found.
        value: f64,
    },
    /// `retryThrottling.tokenRatio` is below 0.001 once rounded to three
    /// decimals, or not finite.
    #[error("{field} must be a finite number of at least 0.001, got {value}")]
    TokenRatioOutOfRange {
        /// The field's path.
        field: String,
        /// The value found.
        value: f64,
    },
    /// One method config sets both `retryPolicy` and `hedgingPolicy`.
    #[error("{field} sets both retryPolicy and hedgingPolicy")]
    RetryAndHedging {
        /// The method config's path.
        field: String,
    },
    /// A name has a method but no service.
    #[error("{field} names method {method:?} without a service")]
    MethodWithoutService {
        /// The name's path.
        field: String,
        /// The method named.
        method: String,
    },
    /// Two names in the service config are the same.
    #[error("{field} repeats the name service {service:?} method {method:?}")]
    DuplicateName {
        /// The path of the second occurrence.
        field: String,
        /// The service named (empty for the default entry).
        service: String,
        /// The method named (empty for a whole service).
        method: String,
    },
    /// A breaker's failure ratio is not in `(0, 1]`.
    #[error("{field} must be in (0, 1], got {value}")]
    RatioOutOfRange {
        /// The field's path.
        field: String,
        /// The value found.
        value: f64,
    },
    /// A breaker's rolling window has no buckets, too many, or buckets
    /// shorter than a nanosecond.
    #[error("{field} must be in 1..={max}, got {value}")]
    BucketsOutOfRange {
        /// The field's path.
        field: String,
        /// The value found.
        value: u32,
        /// The largest number of buckets allowed for this window.
        max: u32,
    },
    /// A breaker has neither a failure count nor a failure ratio, so it
    /// could never open.
    #[error("{field} sets neither failure_count nor failure_ratio")]
    NoTrigger {
        /// The config's path.
        field: String,
    },
    /// A breaker's longest open duration is shorter than its first one.
    #[error("{field} must be at least open_for ({min:?}), got {value:?}")]
    MaxOpenBelowOpen {
        /// The field's path.
        field: String,
        /// The value found.
        value: std::time::Duration,
        /// The first open duration.
        min: std::time::Duration,
    },
    /// A breaker needs more half-open successes than it lets trial calls
    /// through, so it could never close.
    #[error("{field} must be at most half_open_calls ({calls}), got {value}")]
    SuccessesAboveCalls {
        /// The field's path.
        field: String,
        /// The value found.
        value: u32,
        /// The number of trial calls.
        calls: u32,
    },
}

impl ConfigError {
    /// The JSON path of the field the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Json { .. } => None,
            ConfigError::MissingField { field }
            | ConfigError::NotANumber { field, .. }
            | ConfigError::NotAWholeNumber { field, .. }
            | ConfigError::TooFewAttempts { field, .. }
            | ConfigError::NotPositive { field }
            | ConfigError::InvalidMultiplier { field, .. }
            | ConfigError::EmptyCodes { field }
            | ConfigError::UnknownCode { field, .. }
            | ConfigError::MalformedDuration { field, .. }
            | ConfigError::NegativeDuration { field, .. }
            | ConfigError::DurationOutOfRange { field, .. }
            | ConfigError::MaxTokensOutOfRange { field, .. }
            | ConfigError::TokenRatioOutOfRange { field, .. }
            | ConfigError::RetryAndHedging { field }
            | ConfigError::MethodWithoutService { field, .. }
            | ConfigError::DuplicateName { field, .. }
            | ConfigError::RatioOutOfRange { field, .. }
            | ConfigError::BucketsOutOfRange { field, .. }
            | ConfigError::NoTrigger { field }
            | ConfigError::MaxOpenBelowOpen { field, .. }
            | ConfigError::SuccessesAboveCalls { field, .. } => Some(field),
        }
    }

    /// Puts `prefix.` in front of the field path, to say which entry of a
    /// service config the error comes from.
    pub(crate) fn within(mut self, prefix: &str) -> ConfigError {
        let field = match &mut self {
            ConfigError::Json { .. } => return self,
            ConfigError::MissingField { field }
            | ConfigError::NotANumber { field, .. }
            | ConfigError::NotAWholeNumber { field, .. }
            | ConfigError::TooFewAttempts { field, .. }
            | ConfigError::NotPositive { field }
            | ConfigError::InvalidMultiplier { field, .. }
            | ConfigError::EmptyCodes { field }
            | ConfigError::UnknownCode { field, .. }
            | ConfigError::MalformedDuration { field, .. }
            | ConfigError::NegativeDuration { field, .. }
            | ConfigError::DurationOutOfRange { field, .. }
            | ConfigError::MaxTokensOutOfRange { field, .. }
            | ConfigError::TokenRatioOutOfRange { field, .. }
            | ConfigError::RetryAndHedging { field }
            | ConfigError::MethodWithoutService { field, .. }
            | ConfigError::DuplicateName { field, .. }
            | ConfigError::RatioOutOfRange { field, .. }
            | ConfigError::BucketsOutOfRange { field, .. }
            | ConfigError::NoTrigger { field }
            | ConfigError::MaxOpenBelowOpen { field, .. }
            | ConfigError::SuccessesAboveCalls { field, .. } => field,
        };
        *field = if field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{field}")
        };
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_prefixes_the_field_path() {
        let error = ConfigError::NotPositive {
            field: "retryPolicy.initialBackoff".into(),
        }
        .within("methodConfig[2]");
        assert_eq!(
            error.field(),
            Some("methodConfig[2].retryPolicy.initialBackoff")
        );
        assert_eq!(
            error.to_string(),
            "methodConfig[2].retryPolicy.initialBackoff must be greater than zero"
        );
    }

    #[test]
    fn json_errors_have_no_field_and_keep_their_source() {
        let source = match serde_json::from_str::<serde_json::Value>("{") {
            Err(source) => source,
            Ok(value) => panic!("parsed {value}"),
        };
        let error = ConfigError::Json { source }.within("methodConfig[0]");
        assert_eq!(error.field(), None);
        assert!(
            error
                .to_string()
                .starts_with("malformed service config json: ")
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
