//! Retry and hedging policies (gRFC A6) and the backoff between attempts.

use std::fmt;
use std::time::Duration;

use grpcx_status::Code;

use crate::error::ConfigError;

/// The client-side cap on `maxAttempts` that gRFC A6 sets by default: a
/// policy asking for more attempts gets this many.
pub const DEFAULT_MAX_ATTEMPTS_LIMIT: u32 = 5;

/// A set of status codes, such as a policy's retryable codes.
///
/// One bit per code, so it is `Copy` and `contains` is a mask test.
///
/// ```
/// use grpcx_middleware::retry::CodeSet;
/// use grpcx_status::Code;
///
/// let codes: CodeSet = [Code::Unavailable, Code::Aborted].into_iter().collect();
/// assert!(codes.contains(Code::Unavailable));
/// assert!(!codes.contains(Code::Internal));
/// assert_eq!(codes.iter().collect::<Vec<_>>(), [Code::Aborted, Code::Unavailable]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CodeSet(u32);

/// A gRFC A6 retry policy: how many attempts, how long to wait between
/// them, and which codes are worth another attempt.
///
/// Build one with [`RetryPolicy::builder`], or parse it from a service
/// config with [`ServiceConfig::from_json`](super::ServiceConfig::from_json).
/// Both validate as gRFC A6 says, so a `RetryPolicy` is always valid.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::retry::RetryPolicy;
/// use grpcx_status::Code;
///
/// let policy = RetryPolicy::builder(4)
///     .initial_backoff(Duration::from_millis(100))
///     .max_backoff(Duration::from_secs(1))
///     .backoff_multiplier(2.0)
///     .retryable_codes([Code::Unavailable])
///     .build()?;
/// assert!(policy.is_retryable(Code::Unavailable));
/// // The second retry waits up to 200ms; this "random" source says 0.5.
/// assert_eq!(policy.backoff(2, || 0.5), Duration::from_millis(100));
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    backoff_multiplier: f64,
    retryable_codes: CodeSet,
}

/// Builds a [`RetryPolicy`]; see [`RetryPolicy::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RetryPolicyBuilder {
    max_attempts: u32,
    max_attempts_limit: u32,
    initial_backoff: Option<Duration>,
    max_backoff: Option<Duration>,
    backoff_multiplier: Option<f64>,
    retryable_codes: CodeSet,
}

/// A gRFC A6 hedging policy: send up to `max_attempts` copies of a call,
/// `hedging_delay` apart, until one succeeds or one fails fatally.
///
/// `hedgingDelay` may be absent (zero) and `nonFatalStatusCodes` absent or
/// empty, as grpc's `service_config.proto` and grpc-java allow; gRFC A6's
/// sample schema calls the codes required, but grpcx accepts what the
/// other implementations accept.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::retry::HedgingPolicy;
/// use grpcx_status::Code;
///
/// let policy = HedgingPolicy::builder(3)
///     .hedging_delay(Duration::from_millis(500))
///     .non_fatal_codes([Code::Unavailable])
///     .build()?;
/// assert_eq!(policy.max_attempts(), 3);
/// assert!(policy.is_non_fatal(Code::Unavailable));
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HedgingPolicy {
    max_attempts: u32,
    hedging_delay: Duration,
    non_fatal_codes: CodeSet,
}

/// What a method config does when a call fails: retry or hedge, never
/// both.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CallPolicy {
    /// Retry a failed call after a backoff.
    Retry(RetryPolicy),
    /// Send copies of the call without waiting for failures.
    Hedging(HedgingPolicy),
}

/// Builds a [`HedgingPolicy`]; see [`HedgingPolicy::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct HedgingPolicyBuilder {
    max_attempts: u32,
    max_attempts_limit: u32,
    hedging_delay: Duration,
    non_fatal_codes: CodeSet,
}

impl CodeSet {
    /// The empty set.
    pub const fn new() -> CodeSet {
        CodeSet(0)
    }

    /// This set with `code` added.
    pub const fn with(self, code: Code) -> CodeSet {
        CodeSet(self.0 | Self::bit(code))
    }

    /// Adds `code`.
    pub fn insert(&mut self, code: Code) {
        self.0 |= Self::bit(code);
    }

    /// Whether `code` is in the set.
    pub const fn contains(self, code: Code) -> bool {
        self.0 & Self::bit(code) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many codes the set holds.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The codes in the set, in numeric order.
    pub fn iter(self) -> impl Iterator<Item = Code> {
        Code::ALL
            .into_iter()
            .filter(move |code| self.contains(*code))
    }

    const fn bit(code: Code) -> u32 {
        // `Code` is closed on 0..=16, so the shift never overflows.
        1 << (code as u32)
    }
}

impl FromIterator<Code> for CodeSet {
    fn from_iter<I: IntoIterator<Item = Code>>(codes: I) -> Self {
        let mut set = CodeSet::new();
        set.extend(codes);
        set
    }
}

impl Extend<Code> for CodeSet {
    fn extend<I: IntoIterator<Item = Code>>(&mut self, codes: I) {
        for code in codes {
            self.insert(code);
        }
    }
}

impl fmt::Debug for CodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl RetryPolicy {
    /// Starts a policy of at most `max_attempts` attempts, the original call
    /// included.
    ///
    /// Every other field is required: [`initial_backoff`], [`max_backoff`],
    /// [`backoff_multiplier`] and [`retryable_codes`].
    ///
    /// [`initial_backoff`]: RetryPolicyBuilder::initial_backoff
    /// [`max_backoff`]: RetryPolicyBuilder::max_backoff
    /// [`backoff_multiplier`]: RetryPolicyBuilder::backoff_multiplier
    /// [`retryable_codes`]: RetryPolicyBuilder::retryable_codes
    pub fn builder(max_attempts: u32) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            max_attempts,
            max_attempts_limit: DEFAULT_MAX_ATTEMPTS_LIMIT,
            initial_backoff: None,
            max_backoff: None,
            backoff_multiplier: None,
            retryable_codes: CodeSet::new(),
        }
    }

    /// The most attempts a call makes, the original included, after the
    /// client's limit (5 unless raised) is applied.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The upper bound of the first retry's delay.
    pub fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The upper bound of any retry's delay.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// How much the bound grows from one retry to the next.
    pub fn backoff_multiplier(&self) -> f64 {
        self.backoff_multiplier
    }

    /// The codes that are retried.
    pub fn retryable_codes(&self) -> CodeSet {
        self.retryable_codes
    }

    /// Whether a call that failed with `code` may be retried.
    pub fn is_retryable(&self, code: Code) -> bool {
        self.retryable_codes.contains(code)
    }

    /// The upper bound of the delay before retry `retry` (1 for the first
    /// retry, that is the second attempt):
    /// `min(initial_backoff * backoff_multiplier^(retry - 1), max_backoff)`.
    ///
    /// `retry` 0 counts as 1. Huge retry numbers and multipliers saturate at
    /// `max_backoff`; nothing overflows or panics.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let max = nanos(self.max_backoff);
        // Positive and finite times a positive power: never NaN, maybe
        // infinite or zero, both of which the comparison handles.
        let grown = nanos(self.initial_backoff) * self.backoff_multiplier.powi(exponent);
        if grown < max {
            from_nanos(grown).min(self.max_backoff)
        } else {
            self.max_backoff
        }
    }

    /// The delay before retry `retry` (1 for the first retry), as gRFC A6
    /// draws it: `random(0, backoff_cap(retry))`.
    ///
    /// `random` returns a number in `[0, 1)`, for instance `rand::random`;
    /// tests pass a constant. A value outside that range is clamped (NaN
    /// counts as 0), so the result is always within
    /// `[0, backoff_cap(retry)]`.
    ///
    /// After a server's pushback the next retry waits the pushed delay, and
    /// the one after starts again from retry 1 (gRFC A6); the caller keeps
    /// that count.
    pub fn backoff(&self, retry: u32, random: impl FnOnce() -> f64) -> Duration {
        let cap = self.backoff_cap(retry);
        let unit = random();
        let unit = if unit > 0.0 { unit.min(1.0) } else { 0.0 };
        from_nanos(nanos(cap) * unit).min(cap)
    }
}

impl CallPolicy {
    /// Whether a failure with `code` may be followed by another attempt:
    /// the retry policy's retryable codes, or the hedging policy's
    /// non-fatal ones. These failures are also the ones retry throttling
    /// counts.
    pub fn is_retryable(&self, code: Code) -> bool {
        match self {
            CallPolicy::Retry(policy) => policy.is_retryable(code),
            CallPolicy::Hedging(policy) => policy.is_non_fatal(code),
        }
    }

    /// The most attempts a call makes under this policy, the original
    /// included.
    pub fn max_attempts(&self) -> u32 {
        match self {
            CallPolicy::Retry(policy) => policy.max_attempts(),
            CallPolicy::Hedging(policy) => policy.max_attempts(),
        }
    }
}

impl RetryPolicyBuilder {
    /// The upper bound of the first retry's delay; required, greater than
    /// zero.
    pub fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = Some(initial_backoff);
        self
    }

    /// The upper bound of any retry's delay; required, greater than zero.
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = Some(max_backoff);
        self
    }

    /// How much the bound grows from one retry to the next; required,
    /// finite and greater than zero.
    pub fn backoff_multiplier(mut self, backoff_multiplier: f64) -> Self {
        self.backoff_multiplier = Some(backoff_multiplier);
        self
    }

    /// The codes that are retried; required, not empty. Replaces any codes
    /// set before.
    pub fn retryable_codes(mut self, codes: impl IntoIterator<Item = Code>) -> Self {
        self.retryable_codes = codes.into_iter().collect();
        self
    }

    /// Raises (or lowers) the client's cap on attempts, 5 by default: a
    /// larger `max_attempts` is silently reduced to it, as gRFC A6 says.
    ///
    /// A limit below 2 means the default, as in grpc-go.
    pub fn max_attempts_limit(mut self, limit: u32) -> Self {
        self.max_attempts_limit = limit;
        self
    }

    /// Checks the fields as gRFC A6 says and builds the policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError::TooFewAttempts`] for fewer than 2 attempts,
    /// [`ConfigError::MissingField`] for an unset field,
    /// [`ConfigError::NotPositive`] for a zero backoff,
    /// [`ConfigError::InvalidMultiplier`] for a multiplier that is not
    /// finite and greater than zero, [`ConfigError::EmptyCodes`] for no
    /// retryable codes.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        let max_attempts = checked_attempts("retryPolicy", self.max_attempts)?;
        let initial_backoff = positive("retryPolicy.initialBackoff", self.initial_backoff)?;
        let max_backoff = positive("retryPolicy.maxBackoff", self.max_backoff)?;
        let backoff_multiplier = match self.backoff_multiplier {
            None => return Err(missing("retryPolicy.backoffMultiplier")),
            Some(m) if m.is_finite() && m > 0.0 => m,
            Some(m) => {
                return Err(ConfigError::InvalidMultiplier {
                    field: "retryPolicy.backoffMultiplier".into(),
                    value: m,
                });
            }
        };
        if self.retryable_codes.is_empty() {
            return Err(ConfigError::EmptyCodes {
                field: "retryPolicy.retryableStatusCodes".into(),
            });
        }
        Ok(RetryPolicy {
            max_attempts: max_attempts.min(limit(self.max_attempts_limit)),
            initial_backoff,
            max_backoff,
            backoff_multiplier,
            retryable_codes: self.retryable_codes,
        })
    }
}

impl HedgingPolicy {
    /// Starts a policy of at most `max_attempts` copies of a call, the
    /// original included. The delay defaults to zero (all copies at once)
    /// and the non-fatal codes to none.
    pub fn builder(max_attempts: u32) -> HedgingPolicyBuilder {
        HedgingPolicyBuilder {
            max_attempts,
            max_attempts_limit: DEFAULT_MAX_ATTEMPTS_LIMIT,
            hedging_delay: Duration::ZERO,
            non_fatal_codes: CodeSet::new(),
        }
    }

    /// The most copies a call sends, the original included, after the
    /// client's limit (5 unless raised) is applied.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The time between one copy and the next.
    pub fn hedging_delay(&self) -> Duration {
        self.hedging_delay
    }

    /// The codes after which the other copies may still succeed.
    pub fn non_fatal_codes(&self) -> CodeSet {
        self.non_fatal_codes
    }

    /// Whether a copy that failed with `code` leaves the others running
    /// (and sends the next one at once).
    pub fn is_non_fatal(&self, code: Code) -> bool {
        self.non_fatal_codes.contains(code)
    }
}

impl HedgingPolicyBuilder {
    /// The time between one copy and the next; zero sends all at once.
    pub fn hedging_delay(mut self, hedging_delay: Duration) -> Self {
        self.hedging_delay = hedging_delay;
        self
    }

    /// The codes after which the other copies may still succeed. Replaces
    /// any codes set before.
    pub fn non_fatal_codes(mut self, codes: impl IntoIterator<Item = Code>) -> Self {
        self.non_fatal_codes = codes.into_iter().collect();
        self
    }

    /// Raises (or lowers) the client's cap on attempts, 5 by default; see
    /// [`RetryPolicyBuilder::max_attempts_limit`].
    pub fn max_attempts_limit(mut self, limit: u32) -> Self {
        self.max_attempts_limit = limit;
        self
    }

    /// Checks the fields as gRFC A6 says and builds the policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError::TooFewAttempts`] for fewer than 2 attempts.
    pub fn build(self) -> Result<HedgingPolicy, ConfigError> {
        let max_attempts = checked_attempts("hedgingPolicy", self.max_attempts)?;
        Ok(HedgingPolicy {
            max_attempts: max_attempts.min(limit(self.max_attempts_limit)),
            hedging_delay: self.hedging_delay,
            non_fatal_codes: self.non_fatal_codes,
        })
    }
}

fn checked_attempts(policy: &str, max_attempts: u32) -> Result<u32, ConfigError> {
    if max_attempts < 2 {
        return Err(ConfigError::TooFewAttempts {
            field: format!("{policy}.maxAttempts"),
            value: i64::from(max_attempts),
        });
    }
    Ok(max_attempts)
}

fn limit(limit: u32) -> u32 {
    if limit < 2 {
        DEFAULT_MAX_ATTEMPTS_LIMIT
    } else {
        limit
    }
}

fn missing(field: &str) -> ConfigError {
    ConfigError::MissingField {
        field: field.into(),
    }
}

fn positive(field: &str, value: Option<Duration>) -> Result<Duration, ConfigError> {
    match value {
        None => Err(missing(field)),
        Some(Duration::ZERO) => Err(ConfigError::NotPositive {
            field: field.into(),
        }),
        Some(value) => Ok(value),
    }
}

fn nanos(duration: Duration) -> f64 {
    duration.as_nanos() as f64
}

/// The duration of `nanos` nanoseconds, rounded down; negative or NaN is
/// zero, too large saturates.
fn from_nanos(nanos: f64) -> Duration {
    // `as` saturates on overflow and maps NaN to zero.
    let nanos = nanos.floor().max(0.0) as u128;
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = (nanos % 1_000_000_000) as u32;
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(initial: Duration, max: Duration, multiplier: f64) -> RetryPolicy {
        RetryPolicy::builder(4)
            .initial_backoff(initial)
            .max_backoff(max)
            .backoff_multiplier(multiplier)
            .retryable_codes([Code::Unavailable])
            .build()
            .unwrap()
    }

    fn a6_example() -> RetryPolicy {
        policy(Duration::from_millis(100), Duration::from_secs(1), 2.0)
    }

    fn error(builder: RetryPolicyBuilder) -> String {
        builder.build().unwrap_err().to_string()
    }

    fn complete(max_attempts: u32) -> RetryPolicyBuilder {
        RetryPolicy::builder(max_attempts)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1))
            .backoff_multiplier(2.0)
            .retryable_codes([Code::Unavailable])
    }

    #[test]
    fn code_set_holds_every_code() {
        let all: CodeSet = Code::ALL.into_iter().collect();
        assert_eq!(all.len(), 17);
        assert!(Code::ALL.into_iter().all(|code| all.contains(code)));
        assert_eq!(all.iter().collect::<Vec<_>>(), Code::ALL);
        let none = CodeSet::new();
        assert!(none.is_empty());
        assert_eq!(format!("{none:?}"), "{}");
        let some = CodeSet::new().with(Code::Unavailable).with(Code::Ok);
        assert_eq!(format!("{some:?}"), "{Ok, Unavailable}");
    }

    #[test]
    fn builder_keeps_the_fields() {
        let policy = a6_example();
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(policy.initial_backoff(), Duration::from_millis(100));
        assert_eq!(policy.max_backoff(), Duration::from_secs(1));
        assert_eq!(policy.backoff_multiplier(), 2.0);
        assert_eq!(
            policy.retryable_codes(),
            CodeSet::new().with(Code::Unavailable)
        );
        assert!(policy.is_retryable(Code::Unavailable));
        assert!(!policy.is_retryable(Code::Internal));
    }

    #[test]
    fn max_attempts_must_be_at_least_two() {
        assert_eq!(
            error(complete(1)),
            "retryPolicy.maxAttempts must be at least 2, got 1"
        );
        assert!(matches!(
            complete(0).build(),
            Err(ConfigError::TooFewAttempts { value: 0, .. })
        ));
        assert_eq!(complete(2).build().unwrap().max_attempts(), 2);
    }

    #[test]
    fn max_attempts_is_capped_at_five_unless_the_limit_is_raised() {
        assert_eq!(complete(5).build().unwrap().max_attempts(), 5);
        assert_eq!(complete(6).build().unwrap().max_attempts(), 5);
        assert_eq!(complete(u32::MAX).build().unwrap().max_attempts(), 5);
        let raised = complete(8).max_attempts_limit(10).build().unwrap();
        assert_eq!(raised.max_attempts(), 8);
        let lowered = complete(4).max_attempts_limit(3).build().unwrap();
        assert_eq!(lowered.max_attempts(), 3);
        // Below 2, the limit means the default, as in grpc-go.
        let nonsense = complete(8).max_attempts_limit(1).build().unwrap();
        assert_eq!(nonsense.max_attempts(), 5);
    }

    #[test]
    fn every_field_is_required() {
        assert_eq!(
            error(RetryPolicy::builder(3)),
            "missing required field retryPolicy.initialBackoff"
        );
        assert_eq!(
            error(RetryPolicy::builder(3).initial_backoff(Duration::from_secs(1))),
            "missing required field retryPolicy.maxBackoff"
        );
        assert_eq!(
            error(
                RetryPolicy::builder(3)
                    .initial_backoff(Duration::from_secs(1))
                    .max_backoff(Duration::from_secs(1))
            ),
            "missing required field retryPolicy.backoffMultiplier"
        );
        assert_eq!(
            error(
                RetryPolicy::builder(3)
                    .initial_backoff(Duration::from_secs(1))
                    .max_backoff(Duration::from_secs(1))
                    .backoff_multiplier(1.0)
            ),
            "retryPolicy.retryableStatusCodes must not be empty"
        );
    }

    #[test]
    fn backoffs_must_be_greater_than_zero() {
        assert_eq!(
            error(complete(3).initial_backoff(Duration::ZERO)),
            "retryPolicy.initialBackoff must be greater than zero"
        );
        assert_eq!(
            error(complete(3).max_backoff(Duration::ZERO)),
            "retryPolicy.maxBackoff must be greater than zero"
        );
        // One nanosecond is enough, and max below initial is allowed.
        let tiny = complete(3)
            .initial_backoff(Duration::from_secs(2))
            .max_backoff(Duration::from_nanos(1))
            .build()
            .unwrap();
        assert_eq!(tiny.backoff_cap(1), Duration::from_nanos(1));
    }

    #[test]
    fn multiplier_must_be_finite_and_greater_than_zero() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(
                matches!(
                    complete(3).backoff_multiplier(bad).build(),
                    Err(ConfigError::InvalidMultiplier { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            error(complete(3).backoff_multiplier(0.0)),
            "retryPolicy.backoffMultiplier must be a finite number greater than zero, got 0"
        );
        assert!(complete(3).backoff_multiplier(0.5).build().is_ok());
    }

    #[test]
    fn retryable_codes_replace_earlier_ones() {
        let policy = complete(3)
            .retryable_codes([Code::Aborted, Code::Aborted, Code::Internal])
            .build()
            .unwrap();
        assert_eq!(
            policy.retryable_codes().iter().collect::<Vec<_>>(),
            [Code::Aborted, Code::Internal]
        );
        assert!(!policy.is_retryable(Code::Unavailable));
    }

    #[test]
    fn backoff_follows_the_a6_formula() {
        let policy = a6_example();
        // Caps: 100ms, 200ms, 400ms, 800ms, then 1s forever.
        let caps: Vec<_> = (1..=7).map(|n| policy.backoff_cap(n)).collect();
        let ms = Duration::from_millis;
        assert_eq!(
            caps,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1000),
                ms(1000),
                ms(1000)
            ]
        );
        assert_eq!(policy.backoff_cap(0), ms(100));
        assert_eq!(policy.backoff(1, || 0.0), Duration::ZERO);
        assert_eq!(policy.backoff(1, || 0.25), ms(25));
        assert_eq!(policy.backoff(3, || 0.5), ms(200));
        assert_eq!(policy.backoff(9, || 0.5), ms(500));
    }

    #[test]
    fn backoff_clamps_a_bad_random_source() {
        let policy = a6_example();
        assert_eq!(policy.backoff(1, || -3.0), Duration::ZERO);
        assert_eq!(policy.backoff(1, || f64::NAN), Duration::ZERO);
        assert_eq!(policy.backoff(1, || 7.0), Duration::from_millis(100));
        assert_eq!(
            policy.backoff(1, || f64::INFINITY),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn backoff_never_overflows() {
        let huge = policy(Duration::from_secs(1), Duration::MAX, 1e300);
        assert_eq!(huge.backoff_cap(u32::MAX), Duration::MAX);
        assert!(huge.backoff(u32::MAX, || 0.999_999) <= Duration::MAX);
        let shrinking = policy(Duration::from_secs(1), Duration::from_secs(5), 1e-300);
        assert_eq!(shrinking.backoff_cap(3), Duration::ZERO);
        assert_eq!(shrinking.backoff(u32::MAX, || 0.5), Duration::ZERO);
        let long = policy(Duration::MAX, Duration::MAX, 1.5);
        assert_eq!(long.backoff_cap(1), Duration::MAX);
    }

    #[test]
    fn hedging_policy_validates_and_caps_attempts() {
        let policy = HedgingPolicy::builder(4).build().unwrap();
        assert_eq!(policy.hedging_delay(), Duration::ZERO);
        assert!(policy.non_fatal_codes().is_empty());
        assert_eq!(
            HedgingPolicy::builder(1).build().unwrap_err().to_string(),
            "hedgingPolicy.maxAttempts must be at least 2, got 1"
        );
        assert_eq!(HedgingPolicy::builder(9).build().unwrap().max_attempts(), 5);
        let raised = HedgingPolicy::builder(9)
            .max_attempts_limit(7)
            .hedging_delay(Duration::from_millis(500))
            .non_fatal_codes([Code::Unavailable, Code::Internal])
            .build()
            .unwrap();
        assert_eq!(raised.max_attempts(), 7);
        assert_eq!(raised.hedging_delay(), Duration::from_millis(500));
        assert!(raised.is_non_fatal(Code::Internal));
        assert!(!raised.is_non_fatal(Code::Aborted));
    }

    #[test]
    fn call_policy_dispatches_to_its_policy() {
        let retry = CallPolicy::Retry(a6_example());
        assert!(retry.is_retryable(Code::Unavailable));
        assert!(!retry.is_retryable(Code::Internal));
        assert_eq!(retry.max_attempts(), 4);
        let hedging = CallPolicy::Hedging(
            HedgingPolicy::builder(3)
                .non_fatal_codes([Code::Internal])
                .build()
                .unwrap(),
        );
        assert!(hedging.is_retryable(Code::Internal));
        assert!(!hedging.is_retryable(Code::Unavailable));
        assert_eq!(hedging.max_attempts(), 3);
    }

    proptest! {
        #[test]
        fn backoff_stays_within_the_a6_bound(
            initial_ns in 1u64..=u64::MAX,
            max_ns in 1u64..=u64::MAX,
            multiplier in prop_oneof![1e-6f64..10.0, 1.0f64..1e300],
            retry in any::<u32>(),
            unit in 0.0f64..1.0,
        ) {
            let policy = policy(
                Duration::from_nanos(initial_ns),
                Duration::from_nanos(max_ns),
                multiplier,
            );
            let cap = policy.backoff_cap(retry);
            let delay = policy.backoff(retry, || unit);
            prop_assert!(delay <= cap);
            prop_assert!(cap <= policy.max_backoff());
            let exponent = f64::from(retry.saturating_sub(1));
            let bound = (initial_ns as f64 * multiplier.powf(exponent)).min(max_ns as f64);
            // The bound in f64 may round; allow a relative error of 1e-12.
            prop_assert!(delay.as_nanos() as f64 <= bound * (1.0 + 1e-12) + 1.0);
        }
    }
}
