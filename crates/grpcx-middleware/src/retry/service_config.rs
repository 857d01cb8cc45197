//! gRPC's service config JSON: the per-method retry, hedging, timeout and
//! wait-for-ready settings, and the channel's retry throttling.

use std::collections::HashMap;
use std::time::Duration;

use grpcx_status::Code;
use serde::Deserialize;
use serde_json::Value;

use super::policy::{CallPolicy, DEFAULT_MAX_ATTEMPTS_LIMIT, HedgingPolicy, RetryPolicy};
use super::throttle::{RetryThrottle, ThrottleConfig};
use crate::error::ConfigError;

/// A parsed service config: the `methodConfig` entries and the
/// `retryThrottling` of gRPC's service config JSON (grpc/grpc
/// `doc/service_config.md`, gRFC A6).
///
/// Fields this crate does not use (`loadBalancingConfig`,
/// `healthCheckConfig`, `maxRequestMessageBytes`, ...) are ignored, so a
/// config written for grpc-go, grpc-java or grpc-core parses unchanged.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::retry::ServiceConfig;
///
/// let config = ServiceConfig::from_json(r#"{
///   "methodConfig": [
///     { "name": [{}], "timeout": "30s" },
///     { "name": [{ "service": "shop.Cart" }], "waitForReady": true },
///     { "name": [{ "service": "shop.Cart", "method": "Get" }], "timeout": "0.5s" }
///   ]
/// }"#)?;
/// let get = config.method_config("shop.Cart", "Get").unwrap();
/// assert_eq!(get.timeout(), Some(Duration::from_millis(500)));
/// let put = config.method_config("shop.Cart", "Put").unwrap();
/// assert_eq!(put.wait_for_ready(), Some(true));
/// let other = config.method_config("shop.Users", "Get").unwrap();
/// assert_eq!(other.timeout(), Some(Duration::from_secs(30)));
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceConfig {
    methods: Vec<MethodConfig>,
    /// Service name to the index of its default entry and its methods' entries.
    services: HashMap<String, ServiceEntries>,
    default: Option<usize>,
    throttling: Option<ThrottleConfig>,
}

/// How [`ServiceConfig::from_json_with`] parses.
///
/// ```
/// use grpcx_middleware::retry::{ParseOptions, ServiceConfig};
///
/// let json = r#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 8}}]}"#;
/// let options = ParseOptions::default().max_attempts_limit(10);
/// let config = ServiceConfig::from_json_with(json, options)?;
/// let hedging = config.method_config("a.B", "C").unwrap().hedging_policy().unwrap();
/// assert_eq!(hedging.max_attempts(), 8);
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    max_attempts_limit: u32,
}

/// The settings of one `methodConfig` entry, for the methods it names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodConfig {
    names: Vec<MethodName>,
    timeout: Option<Duration>,
    wait_for_ready: Option<bool>,
    policy: Option<CallPolicy>,
}

/// One `name` of a method config: a method, a whole service (no method), or
/// every method (empty service, the default entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MethodName {
    service: String,
    method: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct ServiceEntries {
    service_default: Option<usize>,
    methods: HashMap<String, usize>,
}

impl ServiceConfig {
    /// Parses a service config, capping `maxAttempts` at 5 as gRFC A6 says.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Json`] for text that is not a JSON object or has a
    /// field of the wrong type; otherwise the [`ConfigError`] of the first
    /// invalid field, named by its path (`methodConfig[1].retryPolicy.maxBackoff`):
    /// a policy or throttle gRFC A6 rejects, a malformed or negative
    /// duration, an unknown status code, a method config with both a retry
    /// and a hedging policy, a method without a service, or a name that
    /// appears twice.
    pub fn from_json(json: &str) -> Result<ServiceConfig, ConfigError> {
        ServiceConfig::from_json_with(json, ParseOptions::default())
    }

    /// Parses a service config with `options`, for instance a raised cap on
    /// attempts.
    ///
    /// # Errors
    ///
    /// As [`ServiceConfig::from_json`].
    pub fn from_json_with(json: &str, options: ParseOptions) -> Result<ServiceConfig, ConfigError> {
        let raw: RawServiceConfig =
            serde_json::from_str(json).map_err(|source| ConfigError::Json { source })?;
        let mut config = ServiceConfig::default();
        for (index, raw) in raw
            .method_config
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let prefix = format!("methodConfig[{index}]");
            let method = raw
                .into_method_config(options)
                .map_err(|error| error.within(&prefix))?;
            config.insert(method, &prefix)?;
        }
        if let Some(raw) = raw.retry_throttling {
            config.throttling = Some(raw.into_config()?);
        }
        Ok(config)
    }

    /// The settings for a call to `service`/`method`, found as gRPC finds
    /// them: the entry naming that exact method, else the one naming the
    /// whole service, else the default entry (empty service), else none.
    ///
    /// `service` includes the proto package (`"shop.Cart"`).
    pub fn method_config(&self, service: &str, method: &str) -> Option<&MethodConfig> {
        self.methods.get(self.method_index(service, method)?)
    }

    /// Where [`method_config`](ServiceConfig::method_config)'s answer is in
    /// [`method_configs`](ServiceConfig::method_configs): what a call keeps
    /// to find its settings again without borrowing the config.
    pub(crate) fn method_index(&self, service: &str, method: &str) -> Option<usize> {
        let entries = self.services.get(service);
        entries
            .and_then(|entries| entries.methods.get(method).copied())
            .or_else(|| entries.and_then(|entries| entries.service_default))
            .or(self.default)
    }

    /// Every method config, in the order of the JSON (entries with an
    /// empty `name` list are left out, as gRPC skips them).
    pub fn method_configs(&self) -> &[MethodConfig] {
        &self.methods
    }

    /// The `retryThrottling` parameters, if the config sets them.
    pub fn retry_throttling(&self) -> Option<ThrottleConfig> {
        self.throttling
    }

    /// A new, full throttle with the config's `retryThrottling`, to share
    /// among the channel's calls; `None` when the config does not throttle.
    pub fn retry_throttle(&self) -> Option<RetryThrottle> {
        self.throttling.map(RetryThrottle::new)
    }

    fn insert(&mut self, method: MethodConfig, prefix: &str) -> Result<(), ConfigError> {
        if method.names.is_empty() {
            return Ok(());
        }
        let index = self.methods.len();
        for (i, name) in method.names.iter().enumerate() {
            let slot = if name.service.is_empty() {
                &mut self.default
            } else {
                let entries = self.services.entry(name.service.clone()).or_default();
                if name.method.is_empty() {
                    &mut entries.service_default
                } else if entries.methods.contains_key(&name.method) {
                    return Err(duplicate(prefix, i, name));
                } else {
                    entries.methods.insert(name.method.clone(), index);
                    continue;
                }
            };
            if slot.is_some() {
                return Err(duplicate(prefix, i, name));
            }
            *slot = Some(index);
        }
        self.methods.push(method);
        Ok(())
    }
}

impl ParseOptions {
    /// Sets the client's cap on `maxAttempts` (5 by default, as gRFC A6
    /// says): larger values in the config are reduced to it. A limit below
    /// 2 means the default, as in grpc-go.
    #[must_use]
    pub fn max_attempts_limit(mut self, limit: u32) -> Self {
        self.max_attempts_limit = limit;
        self
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_attempts_limit: DEFAULT_MAX_ATTEMPTS_LIMIT,
        }
    }
}

impl MethodConfig {
    /// The names this entry applies to.
    pub fn names(&self) -> &[MethodName] {
        &self.names
    }

    /// The default timeout of a call, if set; the call's deadline is the
    /// earlier of this and the one the application sets.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether a call waits for a ready connection by default, if set.
    pub fn wait_for_ready(&self) -> Option<bool> {
        self.wait_for_ready
    }

    /// The retry or hedging policy, if either is set.
    pub fn policy(&self) -> Option<&CallPolicy> {
        self.policy.as_ref()
    }

    /// The retry policy, if this entry retries.
    pub fn retry_policy(&self) -> Option<&RetryPolicy> {
        match &self.policy {
            Some(CallPolicy::Retry(policy)) => Some(policy),
            _ => None,
        }
    }

    /// The hedging policy, if this entry hedges.
    pub fn hedging_policy(&self) -> Option<&HedgingPolicy> {
        match &self.policy {
            Some(CallPolicy::Hedging(policy)) => Some(policy),
            _ => None,
        }
    }
}

impl MethodName {
    /// The service, with its proto package; empty for the default entry.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The method; empty when the name covers a whole service.
    pub fn method(&self) -> &str {
        &self.method
    }
}

fn duplicate(prefix: &str, i: usize, name: &MethodName) -> ConfigError {
    ConfigError::DuplicateName {
        field: format!("{prefix}.name[{i}]"),
        service: name.service.clone(),
        method: name.method.clone(),
    }
}

// The JSON shapes. Values whose errors should name their field (numbers,
// durations, codes) are read loosely here and checked below.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawServiceConfig {
    method_config: Option<Vec<RawMethodConfig>>,
    retry_throttling: Option<RawThrottling>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMethodConfig {
    name: Option<Vec<RawName>>,
    wait_for_ready: Option<bool>,
    timeout: Option<Value>,
    retry_policy: Option<RawRetryPolicy>,
    hedging_policy: Option<RawHedgingPolicy>,
}

#[derive(Deserialize)]
struct RawName {
    service: Option<String>,
    method: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRetryPolicy {
    max_attempts: Option<Value>,
    initial_backoff: Option<Value>,
    max_backoff: Option<Value>,
    backoff_multiplier: Option<Value>,
    retryable_status_codes: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHedgingPolicy {
    max_attempts: Option<Value>,
    hedging_delay: Option<Value>,
    non_fatal_status_codes: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawThrottling {
    max_tokens: Option<Value>,
    token_ratio: Option<Value>,
}

impl RawMethodConfig {
    fn into_method_config(self, options: ParseOptions) -> Result<MethodConfig, ConfigError> {
        let mut names = Vec::new();
        for (i, raw) in self.name.unwrap_or_default().into_iter().enumerate() {
            let service = raw.service.unwrap_or_default();
            let method = raw.method.unwrap_or_default();
            if service.is_empty() && !method.is_empty() {
                return Err(ConfigError::MethodWithoutService {
                    field: format!("name[{i}]"),
                    method,
                });
            }
            names.push(MethodName { service, method });
        }
        let timeout = match &self.timeout {
            Some(value) => Some(duration("timeout", value)?),
            None => None,
        };
        let policy = match (self.retry_policy, self.hedging_policy) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::RetryAndHedging {
                    field: String::new(),
                });
            }
            (Some(retry), None) => Some(CallPolicy::Retry(retry.into_policy(options)?)),
            (None, Some(hedging)) => Some(CallPolicy::Hedging(hedging.into_policy(options)?)),
            (None, None) => None,
        };
        Ok(MethodConfig {
            names,
            timeout,
            wait_for_ready: self.wait_for_ready,
            policy,
        })
    }
}

impl RawRetryPolicy {
    fn into_policy(self, options: ParseOptions) -> Result<RetryPolicy, ConfigError> {
        let max_attempts = required("retryPolicy.maxAttempts", self.max_attempts.as_ref())?;
        let mut builder = RetryPolicy::builder(attempts("retryPolicy.maxAttempts", max_attempts)?)
            .max_attempts_limit(options.max_attempts_limit);
        // Missing fields are left unset for the builder to report, in its
        // order.
        if let Some(value) = &self.initial_backoff {
            builder = builder.initial_backoff(duration("retryPolicy.initialBackoff", value)?);
        }
        if let Some(value) = &self.max_backoff {
            builder = builder.max_backoff(duration("retryPolicy.maxBackoff", value)?);
        }
        if let Some(value) = &self.backoff_multiplier {
            builder = builder.backoff_multiplier(number("retryPolicy.backoffMultiplier", value)?);
        }
        if let Some(values) = &self.retryable_status_codes {
            builder = builder.retryable_codes(codes("retryPolicy.retryableStatusCodes", values)?);
        }
        builder.build()
    }
}

impl RawHedgingPolicy {
    fn into_policy(self, options: ParseOptions) -> Result<HedgingPolicy, ConfigError> {
        let max_attempts = required("hedgingPolicy.maxAttempts", self.max_attempts.as_ref())?;
        let mut builder =
            HedgingPolicy::builder(attempts("hedgingPolicy.maxAttempts", max_attempts)?)
                .max_attempts_limit(options.max_attempts_limit);
        if let Some(value) = &self.hedging_delay {
            builder = builder.hedging_delay(duration("hedgingPolicy.hedgingDelay", value)?);
        }
        if let Some(values) = &self.non_fatal_status_codes {
            builder = builder.non_fatal_codes(codes("hedgingPolicy.nonFatalStatusCodes", values)?);
        }
        builder.build()
    }
}

impl RawThrottling {
    fn into_config(self) -> Result<ThrottleConfig, ConfigError> {
        const MAX_TOKENS: &str = "retryThrottling.maxTokens";
        const TOKEN_RATIO: &str = "retryThrottling.tokenRatio";
        let max_tokens = number(MAX_TOKENS, required(MAX_TOKENS, self.max_tokens.as_ref())?)?;
        let token_ratio = number(
            TOKEN_RATIO,
            required(TOKEN_RATIO, self.token_ratio.as_ref())?,
        )?;
        if !(max_tokens > 0.0 && max_tokens <= f64::from(ThrottleConfig::MAX_TOKENS_LIMIT)) {
            return Err(ConfigError::MaxTokensOutOfRange {
                field: MAX_TOKENS.into(),
                value: max_tokens,
            });
        }
        if max_tokens.fract() != 0.0 {
            return Err(ConfigError::NotAWholeNumber {
                field: MAX_TOKENS.into(),
                value: max_tokens,
            });
        }
        // In (0, 1000] and whole, so the conversion is exact.
        ThrottleConfig::new(max_tokens as u32, token_ratio)
    }
}

fn required<'a>(field: &str, value: Option<&'a Value>) -> Result<&'a Value, ConfigError> {
    value.ok_or_else(|| ConfigError::MissingField {
        field: field.into(),
    })
}

/// A JSON number, or a string holding one (proto3 JSON allows both).
fn number(field: &str, value: &Value) -> Result<f64, ConfigError> {
    let parsed = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(number) if number.is_finite() => Ok(number),
        _ => Err(ConfigError::NotANumber {
            field: field.into(),
            value: value.to_string(),
        }),
    }
}

/// A whole number of attempts, at least 2; values past `u32::MAX` saturate
/// (the client's cap reduces them anyway).
fn attempts(field: &str, value: &Value) -> Result<u32, ConfigError> {
    let number = number(field, value)?;
    if number.fract() != 0.0 {
        return Err(ConfigError::NotAWholeNumber {
            field: field.into(),
            value: number,
        });
    }
    if number < 2.0 {
        return Err(ConfigError::TooFewAttempts {
            field: field.into(),
            // Whole and finite; `as` saturates the absurdly negative.
            value: number as i64,
        });
    }
    // `as` saturates.
    Ok(number as u32)
}

/// Status codes by name, in any case (`"UNAVAILABLE"`, `"unavailable"`), or
/// by number (`14`).
fn codes(field: &str, values: &[Value]) -> Result<Vec<Code>, ConfigError> {
    values.iter().map(|value| code(field, value)).collect()
}

fn code(field: &str, value: &Value) -> Result<Code, ConfigError> {
    let code = match value {
        Value::String(name) => name.parse::<Code>().ok(),
        Value::Number(number) => number
            .as_u64()
            .filter(|n| *n <= 16)
            .map(|n| Code::from_i32(n as i32)),
        _ => None,
    };
    code.ok_or_else(|| ConfigError::UnknownCode {
        field: field.into(),
        value: value.to_string(),
    })
}

/// The largest seconds value of a `google.protobuf.Duration`.
const MAX_DURATION_SECS: u64 = 315_576_000_000;

/// A `google.protobuf.Duration` in proto3 JSON form: decimal seconds with
/// up to nine fractional digits and an `s` suffix (`"1s"`, `"0.1s"`,
/// `".1s"`, `"1.5s"`). Negative durations are rejected.
fn duration(field: &str, value: &Value) -> Result<Duration, ConfigError> {
    let Value::String(text) = value else {
        return Err(ConfigError::MalformedDuration {
            field: field.into(),
            value: value.to_string(),
        });
    };
    let malformed = || ConfigError::MalformedDuration {
        field: field.into(),
        value: text.clone(),
    };
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let number = unsigned.strip_suffix('s').ok_or_else(malformed)?;
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty())
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 9
    {
        return Err(malformed());
    }
    if negative {
        return Err(ConfigError::NegativeDuration {
            field: field.into(),
            value: text.clone(),
        });
    }
    let out_of_range = || ConfigError::DurationOutOfRange {
        field: field.into(),
        value: text.clone(),
    };
    let secs = match whole.trim_start_matches('0') {
        "" => 0,
        // Digits only, so a failure is an overflow.
        whole => whole.parse::<u64>().map_err(|_| out_of_range())?,
    };
    if secs > MAX_DURATION_SECS {
        return Err(out_of_range());
    }
    // At most nine digits, padded to nine: below 10^9, so no overflow.
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |nanos, digit| nanos * 10 + u32::from(digit - b'0'));
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::CodeSet;

    fn parse(json: &str) -> ServiceConfig {
        ServiceConfig::from_json(json).unwrap()
    }

    fn error(json: &str) -> ConfigError {
        ServiceConfig::from_json(json).unwrap_err()
    }

    fn message(json: &str) -> String {
        error(json).to_string()
    }

    fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
        duration("timeout", &Value::String(text.into()))
    }

    fn retry_entry(policy: &str) -> String {
        format!(
            r#"{{"methodConfig": [{{"name": [{{"service": "s"}}], "retryPolicy": {policy}}}]}}"#
        )
    }

    const VALID_RETRY: &str = r#"{"maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}"#;

    /// A config as a grpc-go or grpc-java user writes it, with fields this
    /// crate ignores.
    const REALISTIC: &str = r#"{
      "loadBalancingConfig": [{ "round_robin": {} }],
      "methodConfig": [
        {
          "name": [{ "service": "" }],
          "timeout": "10s",
          "waitForReady": false
        },
        {
          "name": [
            { "service": "helloworld.Greeter", "method": "SayHello" },
            { "service": "helloworld.Greeter", "method": "SayHelloAgain" }
          ],
          "waitForReady": true,
          "timeout": "1.5s",
          "maxRequestMessageBytes": 4194304,
          "retryPolicy": {
            "maxAttempts": 4,
            "initialBackoff": ".1s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE", "resource_exhausted", 10]
          }
        },
        {
          "name": [{ "service": "routeguide.RouteGuide" }],
          "hedgingPolicy": {
            "maxAttempts": 4,
            "hedgingDelay": "0.5s",
            "nonFatalStatusCodes": ["UNAVAILABLE", "INTERNAL", "ABORTED"]
          }
        },
        {
          "name": [{ "service": "routeguide.RouteGuide", "method": "RecordRoute", "extra": 1 }],
          "timeout": "0s"
        },
        {
          "name": [],
          "timeout": "99s"
        }
      ],
      "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 },
      "healthCheckConfig": { "serviceName": "" }
    }"#;

    #[test]
    fn parses_a_realistic_multi_entry_config() {
        let config = parse(REALISTIC);
        assert_eq!(
            config.method_configs().len(),
            4,
            "the nameless entry is skipped"
        );

        let hello = config
            .method_config("helloworld.Greeter", "SayHello")
            .unwrap();
        assert_eq!(hello.names().len(), 2);
        assert_eq!(hello.names()[1].service(), "helloworld.Greeter");
        assert_eq!(hello.names()[1].method(), "SayHelloAgain");
        assert_eq!(hello.timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(hello.wait_for_ready(), Some(true));
        let retry = hello.retry_policy().unwrap();
        assert_eq!(retry.max_attempts(), 4);
        assert_eq!(retry.initial_backoff(), Duration::from_millis(100));
        assert_eq!(retry.max_backoff(), Duration::from_secs(1));
        assert_eq!(retry.backoff_multiplier(), 2.0);
        assert_eq!(
            retry.retryable_codes(),
            CodeSet::new()
                .with(Code::Unavailable)
                .with(Code::ResourceExhausted)
                .with(Code::Aborted)
        );
        assert!(hello.hedging_policy().is_none());
        assert_eq!(
            config.method_config("helloworld.Greeter", "SayHelloAgain"),
            Some(hello)
        );

        // Another Greeter method has no service entry: the default applies.
        let other = config
            .method_config("helloworld.Greeter", "SayGoodbye")
            .unwrap();
        assert_eq!(other.timeout(), Some(Duration::from_secs(10)));
        assert_eq!(other.wait_for_ready(), Some(false));
        assert!(other.policy().is_none());

        let route = config
            .method_config("routeguide.RouteGuide", "GetFeature")
            .unwrap();
        let hedging = route.hedging_policy().unwrap();
        assert_eq!(hedging.max_attempts(), 4);
        assert_eq!(hedging.hedging_delay(), Duration::from_millis(500));
        assert!(hedging.is_non_fatal(Code::Internal));
        assert!(route.retry_policy().is_none());
        assert_eq!(route.timeout(), None);

        let record = config
            .method_config("routeguide.RouteGuide", "RecordRoute")
            .unwrap();
        assert_eq!(record.timeout(), Some(Duration::ZERO));
        assert!(record.policy().is_none(), "the exact entry wins whole");

        let throttling = config.retry_throttling().unwrap();
        assert_eq!(throttling.max_tokens(), 10);
        assert_eq!(throttling.token_ratio(), 0.1);
        let throttle = config.retry_throttle().unwrap();
        assert_eq!(throttle.tokens(), 10.0);
    }

    #[test]
    fn lookup_prefers_method_then_service_then_default() {
        let json = r#"{"methodConfig": [
            {"name": [{"service": "a.S", "method": "M"}], "timeout": "1s"},
            {"name": [{"service": "a.S"}], "timeout": "2s"},
            {"name": [{}], "timeout": "3s"}
        ]}"#;
        let config = parse(json);
        let timeout = |service, method| {
            config
                .method_config(service, method)
                .and_then(MethodConfig::timeout)
                .map(|t| t.as_secs())
        };
        assert_eq!(timeout("a.S", "M"), Some(1));
        assert_eq!(timeout("a.S", "N"), Some(2));
        assert_eq!(timeout("a.T", "M"), Some(3));
        assert_eq!(timeout("a.s", "M"), Some(3), "names are case-sensitive");

        let without_default = parse(r#"{"methodConfig": [{"name": [{"service": "a.S"}]}]}"#);
        assert!(without_default.method_config("a.S", "M").is_some());
        assert!(without_default.method_config("b.S", "M").is_none());
        assert!(parse("{}").method_config("a.S", "M").is_none());
    }

    #[test]
    fn empty_and_null_names_are_the_same() {
        for name in [
            r#"{}"#,
            r#"{"service": ""}"#,
            r#"{"service": null, "method": null}"#,
            r#"{"service": "", "method": ""}"#,
        ] {
            let config = parse(&format!(r#"{{"methodConfig": [{{"name": [{name}]}}]}}"#));
            assert!(config.method_config("x.Y", "Z").is_some(), "{name}");
        }
        let config = parse(r#"{"methodConfig": [{"name": [{"service": "x.Y", "method": null}]}]}"#);
        assert!(config.method_config("x.Y", "Z").is_some());
    }

    #[test]
    fn a_method_needs_a_service() {
        let json =
            r#"{"methodConfig": [{"name": [{"service": "a.S"}]}, {"name": [{"method": "M"}]}]}"#;
        assert_eq!(
            message(json),
            r#"methodConfig[1].name[0] names method "M" without a service"#
        );
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let cases = [
            (
                r#"[{"name": [{"service": "a.S", "method": "M"}]}, {"name": [{"service": "a.S", "method": "M"}]}]"#,
                r#"methodConfig[1].name[0] repeats the name service "a.S" method "M""#,
            ),
            (
                r#"[{"name": [{"service": "a.S"}, {"service": "a.S", "method": ""}]}]"#,
                r#"methodConfig[0].name[1] repeats the name service "a.S" method """#,
            ),
            (
                r#"[{"name": [{}]}, {"name": [{"service": ""}]}]"#,
                r#"methodConfig[1].name[0] repeats the name service "" method """#,
            ),
        ];
        for (entries, expected) in cases {
            let json = format!(r#"{{"methodConfig": {entries}}}"#);
            assert_eq!(message(&json), expected);
        }
        assert!(matches!(
            error(r#"{"methodConfig": [{"name": [{}, {}]}]}"#),
            ConfigError::DuplicateName { .. }
        ));
    }

    #[test]
    fn retry_and_hedging_are_mutually_exclusive() {
        let json = format!(
            r#"{{"methodConfig": [{{"name": [{{}}], "retryPolicy": {VALID_RETRY},
                "hedgingPolicy": {{"maxAttempts": 2}}}}]}}"#
        );
        assert_eq!(
            message(&json),
            "methodConfig[0] sets both retryPolicy and hedgingPolicy"
        );
    }

    #[test]
    fn retry_policy_rules_name_their_field() {
        let cases = [
            (
                r#"{"initialBackoff": "1s"}"#,
                "missing required field methodConfig[0].retryPolicy.maxAttempts",
            ),
            (
                r#"{"maxAttempts": 1}"#,
                "methodConfig[0].retryPolicy.maxAttempts must be at least 2, got 1",
            ),
            (
                r#"{"maxAttempts": -7}"#,
                "methodConfig[0].retryPolicy.maxAttempts must be at least 2, got -7",
            ),
            (
                r#"{"maxAttempts": 2.5}"#,
                "methodConfig[0].retryPolicy.maxAttempts must be a whole number, got 2.5",
            ),
            (
                r#"{"maxAttempts": "three"}"#,
                r#"methodConfig[0].retryPolicy.maxAttempts must be a number, got "three""#,
            ),
            (
                r#"{"maxAttempts": 3}"#,
                "missing required field methodConfig[0].retryPolicy.initialBackoff",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "0s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": [14]}"#,
                "methodConfig[0].retryPolicy.initialBackoff must be greater than zero",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "0.000s", "backoffMultiplier": 2, "retryableStatusCodes": [14]}"#,
                "methodConfig[0].retryPolicy.maxBackoff must be greater than zero",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "-1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": [14]}"#,
                r#"methodConfig[0].retryPolicy.initialBackoff must not be negative, got "-1s""#,
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "retryableStatusCodes": [14]}"#,
                "missing required field methodConfig[0].retryPolicy.backoffMultiplier",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 0, "retryableStatusCodes": [14]}"#,
                "methodConfig[0].retryPolicy.backoffMultiplier must be a finite number greater than zero, got 0",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": -1, "retryableStatusCodes": [14]}"#,
                "methodConfig[0].retryPolicy.backoffMultiplier must be a finite number greater than zero, got -1",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2}"#,
                "methodConfig[0].retryPolicy.retryableStatusCodes must not be empty",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": []}"#,
                "methodConfig[0].retryPolicy.retryableStatusCodes must not be empty",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE", "NOPE"]}"#,
                r#"methodConfig[0].retryPolicy.retryableStatusCodes holds "NOPE", which names no status code"#,
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": [17]}"#,
                "methodConfig[0].retryPolicy.retryableStatusCodes holds 17, which names no status code",
            ),
            (
                r#"{"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": [true]}"#,
                "methodConfig[0].retryPolicy.retryableStatusCodes holds true, which names no status code",
            ),
        ];
        for (policy, expected) in cases {
            let json = format!(
                r#"{{"methodConfig": [{{"name": [{{"service": "s"}}], "retryPolicy": {policy}}}]}}"#
            );
            assert_eq!(message(&json), expected, "{policy}");
        }
    }

    #[test]
    fn retry_policy_accepts_every_code_spelling_and_string_numbers() {
        let json = retry_entry(
            r#"{"maxAttempts": "3", "initialBackoff": "1s", "maxBackoff": "2s",
                "backoffMultiplier": "1.5",
                "retryableStatusCodes": ["UNAVAILABLE", "unavailable", "Aborted", 4, "13"]}"#,
        );
        let config = parse(&json);
        let policy = config
            .method_config("s", "m")
            .unwrap()
            .retry_policy()
            .unwrap();
        assert_eq!(policy.max_attempts(), 3);
        assert_eq!(policy.backoff_multiplier(), 1.5);
        assert_eq!(
            policy.retryable_codes().iter().collect::<Vec<_>>(),
            [
                Code::DeadlineExceeded,
                Code::Aborted,
                Code::Internal,
                Code::Unavailable
            ]
        );
    }

    #[test]
    fn max_attempts_is_capped_unless_the_limit_is_raised() {
        let json = retry_entry(
            r#"{"maxAttempts": 100, "initialBackoff": "1s", "maxBackoff": "1s",
                "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}"#,
        );
        let capped = parse(&json);
        let policy = |config: &ServiceConfig| {
            config
                .method_config("s", "m")
                .and_then(MethodConfig::retry_policy)
                .map(RetryPolicy::max_attempts)
        };
        assert_eq!(policy(&capped), Some(5));
        let raised =
            ServiceConfig::from_json_with(&json, ParseOptions::default().max_attempts_limit(10))
                .unwrap();
        assert_eq!(policy(&raised), Some(10));
        let huge = retry_entry(
            r#"{"maxAttempts": 1e30, "initialBackoff": "1s", "maxBackoff": "1s",
                "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}"#,
        );
        assert_eq!(policy(&parse(&huge)), Some(5));
    }

    #[test]
    fn hedging_policy_rules() {
        let entry = |policy: &str| {
            format!(r#"{{"methodConfig": [{{"name": [{{}}], "hedgingPolicy": {policy}}}]}}"#)
        };
        let minimal = parse(&entry(r#"{"maxAttempts": 3}"#));
        let hedging = minimal
            .method_config("a", "b")
            .unwrap()
            .hedging_policy()
            .unwrap();
        assert_eq!(hedging.hedging_delay(), Duration::ZERO);
        assert!(hedging.non_fatal_codes().is_empty());
        assert_eq!(
            message(&entry(r#"{"hedgingDelay": "1s"}"#)),
            "missing required field methodConfig[0].hedgingPolicy.maxAttempts"
        );
        assert_eq!(
            message(&entry(r#"{"maxAttempts": 1}"#)),
            "methodConfig[0].hedgingPolicy.maxAttempts must be at least 2, got 1"
        );
        assert_eq!(
            message(&entry(r#"{"maxAttempts": 2, "hedgingDelay": "-0.5s"}"#)),
            r#"methodConfig[0].hedgingPolicy.hedgingDelay must not be negative, got "-0.5s""#
        );
        assert_eq!(
            message(&entry(
                r#"{"maxAttempts": 2, "nonFatalStatusCodes": ["nope"]}"#
            )),
            r#"methodConfig[0].hedgingPolicy.nonFatalStatusCodes holds "nope", which names no status code"#
        );
        let zero_delay = parse(&entry(r#"{"maxAttempts": 4, "hedgingDelay": "0s"}"#));
        let hedging = zero_delay
            .method_config("a", "b")
            .unwrap()
            .hedging_policy()
            .unwrap();
        assert_eq!(hedging.hedging_delay(), Duration::ZERO);
    }

    #[test]
    fn throttling_rules() {
        let throttling = |body: &str| format!(r#"{{"retryThrottling": {body}}}"#);
        let cases = [
            (
                r#"{"tokenRatio": 0.1}"#,
                "missing required field retryThrottling.maxTokens",
            ),
            (
                r#"{"maxTokens": 10}"#,
                "missing required field retryThrottling.tokenRatio",
            ),
            (
                r#"{"maxTokens": 0, "tokenRatio": 0.1}"#,
                "retryThrottling.maxTokens must be in (0, 1000], got 0",
            ),
            (
                r#"{"maxTokens": 1001, "tokenRatio": 0.1}"#,
                "retryThrottling.maxTokens must be in (0, 1000], got 1001",
            ),
            (
                r#"{"maxTokens": -5, "tokenRatio": 0.1}"#,
                "retryThrottling.maxTokens must be in (0, 1000], got -5",
            ),
            (
                r#"{"maxTokens": 10.5, "tokenRatio": 0.1}"#,
                "retryThrottling.maxTokens must be a whole number, got 10.5",
            ),
            (
                r#"{"maxTokens": 10, "tokenRatio": 0}"#,
                "retryThrottling.tokenRatio must be a finite number of at least 0.001, got 0",
            ),
            (
                r#"{"maxTokens": 10, "tokenRatio": -0.1}"#,
                "retryThrottling.tokenRatio must be a finite number of at least 0.001, got -0.1",
            ),
            (
                r#"{"maxTokens": 10, "tokenRatio": null}"#,
                "missing required field retryThrottling.tokenRatio",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(message(&throttling(body)), expected, "{body}");
        }
        let config = parse(&throttling(r#"{"maxTokens": 1000, "tokenRatio": 0.0456}"#));
        let throttle = config.retry_throttling().unwrap();
        assert_eq!(throttle.max_tokens(), 1000);
        assert_eq!(throttle.token_ratio(), 0.046);
        assert!(parse("{}").retry_throttle().is_none());
    }

    #[test]
    fn malformed_json_is_a_json_error() {
        for json in [
            "",
            "{",
            "[]",
            r#"{"methodConfig": {}}"#,
            r#"{"methodConfig": [{"waitForReady": "yes"}]}"#,
            r#"{"methodConfig": [{"name": [{"service": 5}]}]}"#,
            r#"{"methodConfig": [{"retryPolicy": [], "name": []}]}"#,
        ] {
            let error = error(json);
            assert!(matches!(error, ConfigError::Json { .. }), "{json}: {error}");
            assert!(
                error
                    .to_string()
                    .starts_with("malformed service config json: ")
            );
        }
        assert!(message(r#"{"methodConfig": [{"timeout": 5}]}"#).contains("timeout"));
    }

    #[test]
    fn null_sections_are_absent() {
        let config = parse(
            r#"{"methodConfig": null, "retryThrottling": null, "loadBalancingPolicy": "round_robin"}"#,
        );
        assert_eq!(config, ServiceConfig::default());
        let config = parse(
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": null, "hedgingPolicy": null, "timeout": null}]}"#,
        );
        let method = config.method_config("a", "b").unwrap();
        assert!(method.policy().is_none());
        assert!(method.timeout().is_none());
    }

    #[test]
    fn invalid_entries_without_names_are_still_rejected() {
        let json = r#"{"methodConfig": [{"name": [], "retryPolicy": {"maxAttempts": 1}}]}"#;
        assert!(matches!(error(json), ConfigError::TooFewAttempts { .. }));
    }

    #[test]
    fn durations_in_proto3_json_form() {
        let ok = [
            ("0s", Duration::ZERO),
            ("0.000s", Duration::ZERO),
            ("1s", Duration::from_secs(1)),
            ("10s", Duration::from_secs(10)),
            ("0.1s", Duration::from_millis(100)),
            (".1s", Duration::from_millis(100)),
            ("1.s", Duration::from_secs(1)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("00012.250s", Duration::from_millis(12_250)),
            ("315576000000s", Duration::from_secs(315_576_000_000)),
            (
                "315576000000.999999999s",
                Duration::new(315_576_000_000, 999_999_999),
            ),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_duration(text).unwrap(), expected, "{text}");
        }
        let malformed = [
            "",
            "s",
            ".s",
            "1",
            "1m",
            "1.5",
            "1ms",
            "1.5S",
            " 1s",
            "1s ",
            "+1s",
            "1.2.3s",
            "1e3s",
            "0x10s",
            "1,5s",
            "1.0000000001s",
            "--1s",
            "-s",
            "-",
            "1 s",
            "١s",
        ];
        for text in malformed {
            assert!(
                matches!(
                    parse_duration(text),
                    Err(ConfigError::MalformedDuration { .. })
                ),
                "{text:?}"
            );
        }
        for text in ["-1s", "-0.5s", "-.1s", "-0s"] {
            assert!(
                matches!(
                    parse_duration(text),
                    Err(ConfigError::NegativeDuration { .. })
                ),
                "{text:?}"
            );
        }
        for text in ["315576000001s", "99999999999999999999999999s"] {
            assert!(
                matches!(
                    parse_duration(text),
                    Err(ConfigError::DurationOutOfRange { .. })
                ),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_duration("1m").unwrap_err().to_string(),
            r#"timeout must be a duration such as "1.5s", got "1m""#
        );
        assert_eq!(
            duration("timeout", &Value::from(1.5))
                .unwrap_err()
                .to_string(),
            r#"timeout must be a duration such as "1.5s", got "1.5""#
        );
        assert_eq!(
            parse_duration("315576000001s").unwrap_err().to_string(),
            r#"timeout is longer than 315576000000s, got "315576000001s""#
        );
    }

    #[test]
    fn timeout_errors_name_the_entry() {
        let json =
            r#"{"methodConfig": [{"name": [{}]}, {"name": [{"service": "a"}], "timeout": "-3s"}]}"#;
        assert_eq!(
            message(json),
            r#"methodConfig[1].timeout must not be negative, got "-3s""#
        );
    }
}
