//! gRFC A6 retry throttling: a token bucket per channel that stops retries
//! and hedges while too many calls fail.

use std::sync::atomic::{AtomicU32, Ordering};

use grpcx_status::{Code, Pushback};

use super::policy::CallPolicy;
use crate::error::ConfigError;

/// The parameters of a [`RetryThrottle`]: `retryThrottling` in a service
/// config.
///
/// `max_tokens` is a whole number in `(0, 1000]`; `token_ratio` is kept to
/// three decimals (rounded to the nearest thousandth), as gRFC A6 says, and
/// must be at least 0.001 once rounded.
///
/// ```
/// use grpcx_middleware::retry::ThrottleConfig;
///
/// let config = ThrottleConfig::new(10, 0.1)?;
/// assert_eq!(config.max_tokens(), 10);
/// assert_eq!(config.token_ratio(), 0.1);
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThrottleConfig {
    max_milli_tokens: u32,
    milli_token_ratio: u32,
}

/// A channel's retry throttle (gRFC A6): a token bucket shared by every
/// call on the channel, whatever its method.
///
/// The bucket starts full at `max_tokens`. Each failed call that counts
/// costs one token, each successful call adds `token_ratio` (never above
/// `max_tokens`), and retries and hedges are allowed only while more than
/// half the tokens are left. A failure counts when its code is retryable
/// (or non-fatal, for hedging) under the call's policy, or when the server
/// pushed back saying not to retry; other failures, such as
/// `INVALID_ARGUMENT`, and transparent retries, do not touch the bucket.
///
/// The count is one atomic integer of thousandths of a token, so the throttle
/// is lock-free, `Send + Sync`, and meant to be shared in an `Arc`.
///
/// ```
/// use grpcx_middleware::retry::{RetryThrottle, ThrottleConfig};
///
/// let throttle = RetryThrottle::new(ThrottleConfig::new(10, 0.1)?);
/// assert!(throttle.allows_retry());
/// for _ in 0..5 {
///     throttle.record_failure();
/// }
/// // 5 tokens left: not more than half of 10, so no more retries ...
/// assert!(!throttle.allows_retry());
/// // ... until a success brings the count back over the threshold.
/// throttle.record_success();
/// assert_eq!(throttle.tokens(), 5.1);
/// assert!(throttle.allows_retry());
/// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RetryThrottle {
    config: ThrottleConfig,
    milli_tokens: AtomicU32,
}

impl ThrottleConfig {
    /// The largest `max_tokens` gRFC A6 allows.
    pub const MAX_TOKENS_LIMIT: u32 = 1000;

    /// Checks and builds the parameters.
    ///
    /// # Errors
    ///
    /// [`ConfigError::MaxTokensOutOfRange`] when `max_tokens` is 0 or above
    /// 1000; [`ConfigError::TokenRatioOutOfRange`] when `token_ratio` is not
    /// finite or rounds to less than 0.001.
    pub fn new(max_tokens: u32, token_ratio: f64) -> Result<ThrottleConfig, ConfigError> {
        if max_tokens == 0 || max_tokens > Self::MAX_TOKENS_LIMIT {
            return Err(ConfigError::MaxTokensOutOfRange {
                field: "retryThrottling.maxTokens".into(),
                value: f64::from(max_tokens),
            });
        }
        let milli = (token_ratio * 1000.0).round();
        if !(milli.is_finite() && milli >= 1.0) {
            return Err(ConfigError::TokenRatioOutOfRange {
                field: "retryThrottling.tokenRatio".into(),
                value: token_ratio,
            });
        }
        Ok(ThrottleConfig {
            max_milli_tokens: max_tokens * 1000,
            // `as` saturates; any ratio above the maximum fills the bucket
            // in one success anyway.
            milli_token_ratio: milli as u32,
        })
    }

    /// The size of the bucket, and the tokens it starts with.
    pub fn max_tokens(self) -> u32 {
        self.max_milli_tokens / 1000
    }

    /// The tokens a successful call adds, to three decimals.
    pub fn token_ratio(self) -> f64 {
        f64::from(self.milli_token_ratio) / 1000.0
    }
}

impl RetryThrottle {
    /// A full bucket.
    pub fn new(config: ThrottleConfig) -> RetryThrottle {
        RetryThrottle {
            config,
            milli_tokens: AtomicU32::new(config.max_milli_tokens),
        }
    }

    /// The parameters.
    pub fn config(&self) -> ThrottleConfig {
        self.config
    }

    /// The tokens left, to three decimals.
    pub fn tokens(&self) -> f64 {
        f64::from(self.milli_tokens.load(Ordering::Relaxed)) / 1000.0
    }

    /// Whether a retry or a hedge may be sent now: more than
    /// `max_tokens / 2` tokens are left.
    pub fn allows_retry(&self) -> bool {
        let tokens = u64::from(self.milli_tokens.load(Ordering::Relaxed));
        2 * tokens > u64::from(self.config.max_milli_tokens)
    }

    /// Records a call that failed in a way that counts (see the type's
    /// docs): one token less, never below zero.
    pub fn record_failure(&self) {
        self.update(|tokens| tokens.saturating_sub(1000));
    }

    /// Records a successful call: `token_ratio` more tokens, never above
    /// `max_tokens`.
    pub fn record_success(&self) {
        let max = self.config.max_milli_tokens;
        let ratio = self.config.milli_token_ratio;
        self.update(|tokens| tokens.saturating_add(ratio).min(max));
    }

    /// Records a finished call as gRFC A6 counts it: `OK` is a success; a
    /// failure costs a token when `policy` would retry its code (retryable
    /// or non-fatal) or when the server pushed back saying not to retry
    /// ([`Pushback::Stop`]); any other failure, and any failure of a call
    /// without a policy, leaves the bucket alone.
    ///
    /// Returns whether the call counted as a failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_middleware::retry::{CallPolicy, RetryPolicy, RetryThrottle, ThrottleConfig};
    /// use grpcx_status::{Code, Pushback};
    ///
    /// let policy = CallPolicy::Retry(
    ///     RetryPolicy::builder(3)
    ///         .initial_backoff(Duration::from_millis(100))
    ///         .max_backoff(Duration::from_secs(1))
    ///         .backoff_multiplier(2.0)
    ///         .retryable_codes([Code::Unavailable])
    ///         .build()?,
    /// );
    /// let throttle = RetryThrottle::new(ThrottleConfig::new(10, 0.5)?);
    /// assert!(throttle.record(Code::Unavailable, None, Some(&policy)));
    /// assert!(!throttle.record(Code::InvalidArgument, None, Some(&policy)));
    /// assert!(throttle.record(Code::Internal, Some(Pushback::Stop), Some(&policy)));
    /// assert_eq!(throttle.tokens(), 8.0);
    /// assert!(!throttle.record(Code::Ok, None, None));
    /// assert_eq!(throttle.tokens(), 8.5);
    /// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
    /// ```
    pub fn record(
        &self,
        code: Code,
        pushback: Option<Pushback>,
        policy: Option<&CallPolicy>,
    ) -> bool {
        if code.is_ok() {
            self.record_success();
            return false;
        }
        let counts = policy.is_some_and(|policy| {
            policy.is_retryable(code) || matches!(pushback, Some(Pushback::Stop))
        });
        if counts {
            self.record_failure();
        }
        counts
    }

    fn update(&self, f: impl Fn(u32) -> u32) {
        // The count is the only shared state, so relaxed ordering is enough;
        // the closure always returns `Some`, so the update cannot fail.
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tokens| {
                Some(f(tokens))
            });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::retry::{HedgingPolicy, RetryPolicy};

    fn bucket(max_tokens: u32, token_ratio: f64) -> RetryThrottle {
        RetryThrottle::new(ThrottleConfig::new(max_tokens, token_ratio).unwrap())
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<RetryThrottle>();
    }

    #[test]
    fn max_tokens_must_be_in_range() {
        assert_eq!(
            ThrottleConfig::new(0, 0.1).unwrap_err().to_string(),
            "retryThrottling.maxTokens must be in (0, 1000], got 0"
        );
        assert!(matches!(
            ThrottleConfig::new(1001, 0.1),
            Err(ConfigError::MaxTokensOutOfRange { value, .. }) if value == 1001.0
        ));
        assert_eq!(ThrottleConfig::new(1, 0.1).unwrap().max_tokens(), 1);
        assert_eq!(ThrottleConfig::new(1000, 0.1).unwrap().max_tokens(), 1000);
    }

    #[test]
    fn token_ratio_keeps_three_decimals() {
        assert_eq!(
            ThrottleConfig::new(10, 0.0).unwrap_err().to_string(),
            "retryThrottling.tokenRatio must be a finite number of at least 0.001, got 0"
        );
        for bad in [-0.5, 0.0004, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    ThrottleConfig::new(10, bad),
                    Err(ConfigError::TokenRatioOutOfRange { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(ThrottleConfig::new(10, 0.001).unwrap().token_ratio(), 0.001);
        assert_eq!(
            ThrottleConfig::new(10, 0.0009).unwrap().token_ratio(),
            0.001
        );
        assert_eq!(
            ThrottleConfig::new(10, 0.1234).unwrap().token_ratio(),
            0.123
        );
        assert_eq!(
            ThrottleConfig::new(10, 1.0049).unwrap().token_ratio(),
            1.005
        );
        assert_eq!(ThrottleConfig::new(10, 2.5).unwrap().token_ratio(), 2.5);
    }

    #[test]
    fn the_a6_example() {
        // maxTokens 10, tokenRatio 0.1: retries stop at 5 tokens and need
        // more than 5 to resume.
        let throttle = bucket(10, 0.1);
        assert_eq!(throttle.tokens(), 10.0);
        assert!(throttle.allows_retry());
        for expected in [9.0, 8.0, 7.0, 6.0] {
            throttle.record_failure();
            assert_eq!(throttle.tokens(), expected);
            assert!(throttle.allows_retry());
        }
        throttle.record_failure();
        assert_eq!(throttle.tokens(), 5.0);
        assert!(!throttle.allows_retry(), "5 is not more than 10 / 2");
        throttle.record_success();
        assert_eq!(throttle.tokens(), 5.1);
        assert!(throttle.allows_retry());
        throttle.record_failure();
        assert_eq!(throttle.tokens(), 4.1);
        assert!(!throttle.allows_retry());
        // Ten successes are exactly one token: no rounding drift.
        for _ in 0..10 {
            throttle.record_success();
        }
        assert_eq!(throttle.tokens(), 5.1);
        assert!(throttle.allows_retry());
    }

    #[test]
    fn tokens_stay_between_zero_and_max() {
        let throttle = bucket(3, 0.5);
        for _ in 0..10 {
            throttle.record_failure();
        }
        assert_eq!(throttle.tokens(), 0.0);
        assert!(!throttle.allows_retry());
        for _ in 0..100 {
            throttle.record_success();
        }
        assert_eq!(throttle.tokens(), 3.0);
        let generous = bucket(1000, 1e12);
        generous.record_failure();
        generous.record_success();
        assert_eq!(generous.tokens(), 1000.0);
    }

    #[test]
    fn odd_maximum_threshold_is_exact() {
        // max 3: the threshold is 1.5, so 1.5 blocks and 1.6 allows.
        let throttle = bucket(3, 0.1);
        throttle.record_failure();
        assert!(throttle.allows_retry(), "2 > 1.5");
        for _ in 0..5 {
            throttle.record_success();
        }
        assert_eq!(throttle.tokens(), 2.5);
        throttle.record_failure();
        assert_eq!(throttle.tokens(), 1.5);
        assert!(!throttle.allows_retry());
        throttle.record_success();
        assert!(throttle.allows_retry());
        // max 1: a single failure stops retries.
        let single = bucket(1, 0.1);
        assert!(single.allows_retry());
        single.record_failure();
        assert!(!single.allows_retry());
    }

    #[test]
    fn record_counts_only_what_a6_counts() {
        let retry = CallPolicy::Retry(
            RetryPolicy::builder(3)
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_secs(1))
                .backoff_multiplier(2.0)
                .retryable_codes([Code::Unavailable])
                .build()
                .unwrap(),
        );
        let hedging = CallPolicy::Hedging(
            HedgingPolicy::builder(3)
                .non_fatal_codes([Code::Aborted])
                .build()
                .unwrap(),
        );
        let throttle = bucket(100, 1.0);
        let delay = Some(Pushback::Delay(Duration::from_millis(5)));
        let cases = [
            (Code::Unavailable, None, Some(&retry), true),
            (Code::Unavailable, delay, Some(&retry), true),
            (Code::Internal, None, Some(&retry), false),
            (Code::Internal, delay, Some(&retry), false),
            (Code::Internal, Some(Pushback::Stop), Some(&retry), true),
            (Code::Aborted, None, Some(&hedging), true),
            (Code::Unavailable, None, Some(&hedging), false),
            (
                Code::InvalidArgument,
                Some(Pushback::Stop),
                Some(&hedging),
                true,
            ),
            (Code::Unavailable, None, None, false),
            (Code::Unavailable, Some(Pushback::Stop), None, false),
        ];
        let mut expected = 100.0;
        for (code, pushback, policy, counts) in cases {
            assert_eq!(
                throttle.record(code, pushback, policy),
                counts,
                "{code} {pushback:?}"
            );
            if counts {
                expected -= 1.0;
            }
            assert_eq!(throttle.tokens(), expected);
        }
        assert!(!throttle.record(Code::Ok, Some(Pushback::Stop), Some(&retry)));
        assert_eq!(throttle.tokens(), expected + 1.0);
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let throttle = Arc::new(bucket(1000, 0.001));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let throttle = Arc::clone(&throttle);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        throttle.record_failure();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(throttle.tokens(), 600.0);
    }
}
