//! The fail-fast `Status` of an open breaker.

use grpcx_status::{ErrorInfo, Progress, RetryInfo, Status};

use super::state::Open;

/// The `ErrorInfo` reason of a call failed by an open breaker.
pub const CIRCUIT_OPEN: &str = "CIRCUIT_OPEN";

/// The `ErrorInfo` domain of errors grpcx makes itself.
pub const DOMAIN: &str = "grpcx";

impl Open {
    /// The `Status` to fail a refused call with: `UNAVAILABLE`, naming the
    /// breaker `name` (the channel or method it guards).
    ///
    /// It carries an `ErrorInfo` with reason [`CIRCUIT_OPEN`], domain
    /// `grpcx` and metadata `breaker` (the name) and `retryAfterMs`; a
    /// `RetryInfo` with the open time left; and [`Progress::NotSent`], since
    /// the call never left the client. `UNAVAILABLE` is the code gRPC uses
    /// for "try again later, perhaps elsewhere", so callers and retry
    /// policies already treat it right, and the `ErrorInfo` tells the
    /// breaker's refusal apart from a server's.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use grpcx_middleware::breaker::{Breaker, BreakerConfig};
    /// use grpcx_status::{Code, ErrorInfo, Progress, RetryInfo};
    ///
    /// let breaker = Breaker::new(BreakerConfig::builder()
    ///     .without_failure_ratio()
    ///     .failure_count(1)
    ///     .open_for(Duration::from_secs(2))
    ///     .build()?);
    /// let now = Instant::now();
    /// breaker.try_acquire(now).unwrap().record(Code::Unavailable, now);
    ///
    /// let status = breaker.try_acquire(now).unwrap_err().to_status("shop.Cart");
    /// assert_eq!(status.code(), Code::Unavailable);
    /// assert_eq!(status.message(), "circuit breaker shop.Cart is open");
    /// assert_eq!(status.progress(), Progress::NotSent);
    /// let info = status.get_detail::<ErrorInfo>().unwrap();
    /// assert_eq!((info.reason.as_str(), info.domain.as_str()), ("CIRCUIT_OPEN", "grpcx"));
    /// assert_eq!(info.metadata["retryAfterMs"], "2000");
    /// let retry = status.get_detail::<RetryInfo>().unwrap();
    /// assert_eq!(retry.delay(), Some(Duration::from_secs(2)));
    /// # Ok::<(), grpcx_middleware::retry::ConfigError>(())
    /// ```
    pub fn to_status(&self, name: &str) -> Status {
        let message = if self.half_open {
            format!("circuit breaker {name} is half-open and its trial calls are out")
        } else {
            format!("circuit breaker {name} is open")
        };
        let retry_after_ms = self.retry_after.as_millis().to_string();
        Status::unavailable(message)
            .with_detail(
                ErrorInfo::new(CIRCUIT_OPEN, DOMAIN)
                    .with_metadata("breaker", name)
                    .with_metadata("retryAfterMs", retry_after_ms),
            )
            .with_detail(RetryInfo::after(self.retry_after))
            .with_progress(Progress::NotSent)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use grpcx_status::Code;

    use super::*;

    #[test]
    fn half_open_refusal_says_so() {
        let open = Open {
            retry_after: Duration::ZERO,
            half_open: true,
        };
        let status = open.to_status("users");
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.message(),
            "circuit breaker users is half-open and its trial calls are out"
        );
        let info = status.get_detail::<ErrorInfo>().unwrap();
        assert_eq!(info.metadata["retryAfterMs"], "0");
        assert_eq!(info.metadata["breaker"], "users");
        assert_eq!(
            status.get_detail::<RetryInfo>().unwrap().delay(),
            Some(Duration::ZERO)
        );
        assert!(status.progress().is_unprocessed());
    }

    #[test]
    fn retry_after_is_rounded_down_to_milliseconds() {
        let open = Open {
            retry_after: Duration::from_micros(1500),
            half_open: false,
        };
        let status = open.to_status("a");
        let info = status.get_detail::<ErrorInfo>().unwrap();
        assert_eq!(info.metadata["retryAfterMs"], "1");
        assert_eq!(
            status.get_detail::<RetryInfo>().unwrap().delay(),
            Some(Duration::from_micros(1500))
        );
    }
}
