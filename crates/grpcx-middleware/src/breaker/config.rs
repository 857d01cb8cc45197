//! The settings of a circuit breaker, validated once by a builder.

use std::time::Duration;

use grpcx_status::Code;

use crate::error::ConfigError;
use crate::retry::CodeSet;

/// The codes that count as failures unless [`failure_codes`] says otherwise.
///
/// `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`, `INTERNAL`,
/// `UNKNOWN` and `DATA_LOSS`: the codes that say the server or the path to
/// it is unwell. Client-fault codes (`INVALID_ARGUMENT`, `NOT_FOUND`,
/// `ALREADY_EXISTS`, `PERMISSION_DENIED`, `UNAUTHENTICATED`,
/// `FAILED_PRECONDITION`, `OUT_OF_RANGE`) are left out: a healthy server
/// answers them to a bad request, and one misbehaving caller must not cut
/// every caller off. `CANCELLED`, `ABORTED` and `UNIMPLEMENTED` are left out
/// too: the caller gave up, a transaction lost a race, or the method does
/// not exist, none of which more waiting would fix.
///
/// [`failure_codes`]: BreakerConfigBuilder::failure_codes
pub const DEFAULT_FAILURE_CODES: CodeSet = CodeSet::new()
    .with(Code::Unavailable)
    .with(Code::DeadlineExceeded)
    .with(Code::ResourceExhausted)
    .with(Code::Internal)
    .with(Code::Unknown)
    .with(Code::DataLoss);

/// The most buckets a rolling window may have.
pub const MAX_BUCKETS: u32 = 1000;

/// When a [`Breaker`](super::Breaker) opens, for how long, and how it
/// closes again.
///
/// Built with [`BreakerConfig::builder`], which checks every rule, so a
/// `BreakerConfig` is always usable. [`BreakerConfig::default`] is the
/// builder's defaults.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::breaker::BreakerConfig;
/// use grpcx_status::Code;
///
/// let config = BreakerConfig::builder()
///     .window(Duration::from_secs(30), 30)
///     .failure_ratio(0.5, 20)
///     .failure_count(100)
///     .open_for(Duration::from_secs(1))
///     .max_open_for(Duration::from_secs(60))
///     .half_open_calls(3)
///     .half_open_successes(2)
///     .build()?;
/// assert_eq!(config.bucket_width(), Duration::from_secs(1));
/// assert!(config.is_failure(Code::Unavailable));
/// assert!(!config.is_failure(Code::InvalidArgument));
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    window: Duration,
    buckets: u32,
    failure_count: Option<u32>,
    failure_ratio: Option<(f64, u32)>,
    open_for: Duration,
    max_open_for: Duration,
    half_open_calls: u32,
    half_open_successes: u32,
    failure_codes: CodeSet,
}

/// Builds a [`BreakerConfig`]; see [`BreakerConfig::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct BreakerConfigBuilder {
    window: Duration,
    buckets: u32,
    failure_count: Option<u32>,
    failure_ratio: Option<(f64, u32)>,
    open_for: Duration,
    max_open_for: Option<Duration>,
    half_open_calls: u32,
    half_open_successes: u32,
    failure_codes: CodeSet,
}

impl BreakerConfig {
    /// Starts a config with the defaults: a 10s window of 10 buckets;
    /// open at a failure ratio of 0.5 once the window holds 20 calls, with
    /// no failure count; open for 5s, not growing; one half-open trial
    /// call, which must succeed; [`DEFAULT_FAILURE_CODES`].
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            window: Duration::from_secs(10),
            buckets: 10,
            failure_count: None,
            failure_ratio: Some((0.5, 20)),
            open_for: Duration::from_secs(5),
            max_open_for: None,
            half_open_calls: 1,
            half_open_successes: 1,
            failure_codes: DEFAULT_FAILURE_CODES,
        }
    }

    /// The rolling window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// How many buckets the window is split into.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// The length of one bucket: the window's length over the buckets,
    /// rounded down to the nanosecond.
    pub fn bucket_width(&self) -> Duration {
        self.window / self.buckets
    }

    /// How many failures within the window open the breaker, if a count
    /// opens it.
    pub fn failure_count(&self) -> Option<u32> {
        self.failure_count
    }

    /// The failure ratio that opens the breaker, and how many calls the
    /// window must hold before the ratio is looked at, if a ratio opens it.
    pub fn failure_ratio(&self) -> Option<(f64, u32)> {
        self.failure_ratio
    }

    /// How long the breaker stays open the first time.
    pub fn open_for(&self) -> Duration {
        self.open_for
    }

    /// The longest the breaker stays open, however often it re-opens.
    pub fn max_open_for(&self) -> Duration {
        self.max_open_for
    }

    /// How many trial calls a half-open breaker lets through at once.
    pub fn half_open_calls(&self) -> u32 {
        self.half_open_calls
    }

    /// How many trial calls must succeed for a half-open breaker to close.
    pub fn half_open_successes(&self) -> u32 {
        self.half_open_successes
    }

    /// The codes that count as failures.
    pub fn failure_codes(&self) -> CodeSet {
        self.failure_codes
    }

    /// Whether a call ending with `code` counts as a failure. `OK` never
    /// does, whatever the set holds.
    pub fn is_failure(&self, code: Code) -> bool {
        code != Code::Ok && self.failure_codes.contains(code)
    }

    /// How long the breaker stays open after its `opens`-th consecutive
    /// opening (1 for the first): `open_for`, doubled on each re-open from
    /// half-open, never above `max_open_for`.
    pub fn open_duration(&self, opens: u32) -> Duration {
        let doublings = opens.saturating_sub(1).min(63);
        let grown = self
            .open_for
            .checked_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX);
        grown.min(self.max_open_for)
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            window: Duration::from_secs(10),
            buckets: 10,
            failure_count: None,
            failure_ratio: Some((0.5, 20)),
            open_for: Duration::from_secs(5),
            max_open_for: Duration::from_secs(5),
            half_open_calls: 1,
            half_open_successes: 1,
            failure_codes: DEFAULT_FAILURE_CODES,
        }
    }
}

impl BreakerConfigBuilder {
    /// The rolling window: its length, split into `buckets` buckets of
    /// equal length. Failures leave the window a bucket at a time, so more
    /// buckets forget more smoothly.
    pub fn window(mut self, window: Duration, buckets: u32) -> Self {
        self.window = window;
        self.buckets = buckets;
        self
    }

    /// Opens the breaker when the window holds `failures` failures, however
    /// many calls succeeded.
    pub fn failure_count(mut self, failures: u32) -> Self {
        self.failure_count = Some(failures);
        self
    }

    /// Opens the breaker when failures are at least `ratio` (in `(0, 1]`) of
    /// the window's calls, once it holds at least `minimum_calls` calls.
    pub fn failure_ratio(mut self, ratio: f64, minimum_calls: u32) -> Self {
        self.failure_ratio = Some((ratio, minimum_calls));
        self
    }

    /// Drops the failure ratio (on by default), so that only
    /// [`failure_count`](Self::failure_count) opens the breaker.
    pub fn without_failure_ratio(mut self) -> Self {
        self.failure_ratio = None;
        self
    }

    /// How long the breaker stays open before letting trial calls through.
    pub fn open_for(mut self, open_for: Duration) -> Self {
        self.open_for = open_for;
        self
    }

    /// Lets the open duration double each time a half-open breaker
    /// re-opens, up to `max_open_for`. Unset, it is `open_for`: no growth.
    pub fn max_open_for(mut self, max_open_for: Duration) -> Self {
        self.max_open_for = Some(max_open_for);
        self
    }

    /// How many trial calls a half-open breaker lets through at once.
    pub fn half_open_calls(mut self, calls: u32) -> Self {
        self.half_open_calls = calls;
        self
    }

    /// How many trial calls must succeed for a half-open breaker to close.
    pub fn half_open_successes(mut self, successes: u32) -> Self {
        self.half_open_successes = successes;
        self
    }

    /// The codes that count as failures, replacing
    /// [`DEFAULT_FAILURE_CODES`]. `OK` never counts, even if listed.
    pub fn failure_codes(mut self, codes: impl IntoIterator<Item = Code>) -> Self {
        self.failure_codes = codes.into_iter().collect();
        self
    }

    /// Checks the settings and builds the config.
    ///
    /// # Errors
    ///
    /// - [`ConfigError::NotPositive`] when the window, `open_for`,
    ///   `failure_count`, the minimum calls of `failure_ratio`,
    ///   `half_open_calls` or `half_open_successes` is zero;
    /// - [`ConfigError::BucketsOutOfRange`] when there are no buckets, more
    ///   than [`MAX_BUCKETS`], or more than the window has nanoseconds;
    /// - [`ConfigError::RatioOutOfRange`] when the ratio is not in `(0, 1]`;
    /// - [`ConfigError::NoTrigger`] when neither a count nor a ratio is set;
    /// - [`ConfigError::MaxOpenBelowOpen`] when `max_open_for` is below
    ///   `open_for`;
    /// - [`ConfigError::SuccessesAboveCalls`] when `half_open_successes`
    ///   exceeds `half_open_calls`;
    /// - [`ConfigError::EmptyCodes`] when no code other than `OK` counts.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let field = |name: &str| format!("breaker.{name}");
        if self.window.is_zero() {
            return Err(ConfigError::NotPositive {
                field: field("window"),
            });
        }
        let max_buckets = u32::try_from(self.window.as_nanos())
            .unwrap_or(u32::MAX)
            .min(MAX_BUCKETS);
        if self.buckets == 0 || self.buckets > max_buckets {
            return Err(ConfigError::BucketsOutOfRange {
                field: field("window.buckets"),
                value: self.buckets,
                max: max_buckets,
            });
        }
        if self.failure_count == Some(0) {
            return Err(ConfigError::NotPositive {
                field: field("failure_count"),
            });
        }
        if let Some((ratio, minimum_calls)) = self.failure_ratio {
            if !(ratio > 0.0 && ratio <= 1.0) {
                return Err(ConfigError::RatioOutOfRange {
                    field: field("failure_ratio"),
                    value: ratio,
                });
            }
            if minimum_calls == 0 {
                return Err(ConfigError::NotPositive {
                    field: field("failure_ratio.minimum_calls"),
                });
            }
        }
        if self.failure_count.is_none() && self.failure_ratio.is_none() {
            return Err(ConfigError::NoTrigger {
                field: "breaker".to_owned(),
            });
        }
        if self.open_for.is_zero() {
            return Err(ConfigError::NotPositive {
                field: field("open_for"),
            });
        }
        let max_open_for = self.max_open_for.unwrap_or(self.open_for);
        if max_open_for < self.open_for {
            return Err(ConfigError::MaxOpenBelowOpen {
                field: field("max_open_for"),
                value: max_open_for,
                min: self.open_for,
            });
        }
        if self.half_open_calls == 0 {
            return Err(ConfigError::NotPositive {
                field: field("half_open_calls"),
            });
        }
        if self.half_open_successes == 0 {
            return Err(ConfigError::NotPositive {
                field: field("half_open_successes"),
            });
        }
        if self.half_open_successes > self.half_open_calls {
            return Err(ConfigError::SuccessesAboveCalls {
                field: field("half_open_successes"),
                value: self.half_open_successes,
                calls: self.half_open_calls,
            });
        }
        let mut failure_codes = CodeSet::new();
        failure_codes.extend(self.failure_codes.iter().filter(|code| *code != Code::Ok));
        if failure_codes.is_empty() {
            return Err(ConfigError::EmptyCodes {
                field: field("failure_codes"),
            });
        }
        Ok(BreakerConfig {
            window: self.window,
            buckets: self.buckets,
            failure_count: self.failure_count,
            failure_ratio: self.failure_ratio,
            open_for: self.open_for,
            max_open_for,
            half_open_calls: self.half_open_calls,
            half_open_successes: self.half_open_successes,
            failure_codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(builder: BreakerConfigBuilder) -> String {
        match builder.build() {
            Err(error) => error.to_string(),
            Ok(config) => panic!("built {config:?}"),
        }
    }

    #[test]
    fn defaults_build_and_match_default() {
        let config = BreakerConfig::builder().build().unwrap();
        assert_eq!(config, BreakerConfig::default());
        assert_eq!(config.bucket_width(), Duration::from_secs(1));
        assert_eq!(config.failure_ratio(), Some((0.5, 20)));
        assert_eq!(config.failure_count(), None);
        assert_eq!(config.max_open_for(), config.open_for());
    }

    #[test]
    fn default_codes_leave_out_client_faults_and_ok() {
        let config = BreakerConfig::default();
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Internal,
            Code::Unknown,
            Code::DataLoss,
        ] {
            assert!(config.is_failure(code), "{code:?}");
        }
        for code in [
            Code::Ok,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::OutOfRange,
            Code::Cancelled,
            Code::Aborted,
            Code::Unimplemented,
        ] {
            assert!(!config.is_failure(code), "{code:?}");
        }
        assert_eq!(DEFAULT_FAILURE_CODES.len(), 6);
    }

    #[test]
    fn ok_never_counts_even_when_listed() {
        let config = BreakerConfig::builder()
            .failure_codes([Code::Ok, Code::Aborted])
            .build()
            .unwrap();
        assert!(!config.is_failure(Code::Ok));
        assert!(config.is_failure(Code::Aborted));
        assert_eq!(config.failure_codes().len(), 1);
        assert_eq!(
            message(BreakerConfig::builder().failure_codes([Code::Ok])),
            "breaker.failure_codes must not be empty"
        );
        assert_eq!(
            message(BreakerConfig::builder().failure_codes([])),
            "breaker.failure_codes must not be empty"
        );
    }

    #[test]
    fn window_rules() {
        assert_eq!(
            message(BreakerConfig::builder().window(Duration::ZERO, 10)),
            "breaker.window must be greater than zero"
        );
        assert_eq!(
            message(BreakerConfig::builder().window(Duration::from_secs(1), 0)),
            "breaker.window.buckets must be in 1..=1000, got 0"
        );
        assert_eq!(
            message(BreakerConfig::builder().window(Duration::from_secs(1), 1001)),
            "breaker.window.buckets must be in 1..=1000, got 1001"
        );
        assert_eq!(
            message(BreakerConfig::builder().window(Duration::from_nanos(5), 6)),
            "breaker.window.buckets must be in 1..=5, got 6"
        );
        let config = BreakerConfig::builder()
            .window(Duration::from_nanos(5), 5)
            .build()
            .unwrap();
        assert_eq!(config.bucket_width(), Duration::from_nanos(1));
    }

    #[test]
    fn trigger_rules() {
        assert_eq!(
            message(BreakerConfig::builder().failure_count(0)),
            "breaker.failure_count must be greater than zero"
        );
        for ratio in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                message(BreakerConfig::builder().failure_ratio(ratio, 10)),
                format!("breaker.failure_ratio must be in (0, 1], got {ratio}")
            );
        }
        assert_eq!(
            message(BreakerConfig::builder().failure_ratio(0.5, 0)),
            "breaker.failure_ratio.minimum_calls must be greater than zero"
        );
        assert_eq!(
            message(BreakerConfig::builder().without_failure_ratio()),
            "breaker sets neither failure_count nor failure_ratio"
        );
        let config = BreakerConfig::builder()
            .without_failure_ratio()
            .failure_count(5)
            .failure_ratio(1.0, 1)
            .build()
            .unwrap();
        assert_eq!(config.failure_ratio(), Some((1.0, 1)));
        assert_eq!(config.failure_count(), Some(5));
    }

    #[test]
    fn open_rules_and_growth() {
        assert_eq!(
            message(BreakerConfig::builder().open_for(Duration::ZERO)),
            "breaker.open_for must be greater than zero"
        );
        assert_eq!(
            message(
                BreakerConfig::builder()
                    .open_for(Duration::from_secs(2))
                    .max_open_for(Duration::from_secs(1))
            ),
            "breaker.max_open_for must be at least open_for (2s), got 1s"
        );
        let config = BreakerConfig::builder()
            .open_for(Duration::from_secs(1))
            .max_open_for(Duration::from_secs(5))
            .build()
            .unwrap();
        let secs: Vec<u64> = (1..=5)
            .map(|opens| config.open_duration(opens).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 5, 5]);
        assert_eq!(config.open_duration(0), Duration::from_secs(1));
        assert_eq!(config.open_duration(u32::MAX), Duration::from_secs(5));
        let fixed = BreakerConfig::default();
        assert_eq!(fixed.open_duration(7), Duration::from_secs(5));
    }

    #[test]
    fn half_open_rules() {
        assert_eq!(
            message(BreakerConfig::builder().half_open_calls(0)),
            "breaker.half_open_calls must be greater than zero"
        );
        assert_eq!(
            message(BreakerConfig::builder().half_open_successes(0)),
            "breaker.half_open_successes must be greater than zero"
        );
        assert_eq!(
            message(
                BreakerConfig::builder()
                    .half_open_calls(2)
                    .half_open_successes(3)
            ),
            "breaker.half_open_successes must be at most half_open_calls (2), got 3"
        );
    }

    #[test]
    fn errors_name_their_field() {
        let error = BreakerConfig::builder()
            .half_open_calls(0)
            .build()
            .unwrap_err();
        assert_eq!(error.field(), Some("breaker.half_open_calls"));
    }
}
