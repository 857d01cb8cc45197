//! The `grpc-timeout` header: `1 to 8 digits` followed by a unit
//! (`H`ours, `M`inutes, `S`econds, `m`illiseconds, `u` microseconds,
//! `n`anoseconds), as gRPC's `PROTOCOL-HTTP2.md` specifies.

use std::time::Duration;

use http::HeaderValue;

/// The `grpc-timeout` header name.
pub const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The largest value the 8 digits can hold.
const MAX_VALUE: u64 = 99_999_999;

/// Why a `grpc-timeout` value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The value is not 1 to 8 ASCII digits followed by one of `HMSmun`.
    #[error(
        "malformed grpc-timeout {value:?}: expected 1 to 8 digits and a unit of H, M, S, m, u or n"
    )]
    Malformed {
        /// The value as received (lossily decoded).
        value: String,
    },
}

/// Parses a `grpc-timeout` value.
///
/// # Errors
///
/// [`TimeoutError::Malformed`] for anything but 1 to 8 digits and a unit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grpcx_transport::timeout::parse_timeout;
///
/// assert_eq!(parse_timeout(b"100m"), Ok(Duration::from_millis(100)));
/// assert_eq!(parse_timeout(b"2H"), Ok(Duration::from_secs(7200)));
/// assert!(parse_timeout(b"123456789S").is_err());
/// ```
pub fn parse_timeout(value: &[u8]) -> Result<Duration, TimeoutError> {
    let malformed = || TimeoutError::Malformed {
        value: String::from_utf8_lossy(value).into_owned(),
    };
    let (unit, digits) = value.split_last().ok_or_else(malformed)?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    let n = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(malformed()),
    })
}

/// Formats a timeout for `grpc-timeout`, in the finest unit whose value
/// fits in 8 digits, rounding up so the server never sees a shorter
/// deadline than the client's. Durations beyond `99999999H` are capped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grpcx_transport::timeout::format_timeout;
///
/// assert_eq!(format_timeout(Duration::from_millis(250)), "250000u");
/// assert_eq!(format_timeout(Duration::from_secs(30)), "30000000u");
/// assert_eq!(format_timeout(Duration::from_secs(3600)), "3600000m");
/// ```
pub fn format_timeout(timeout: Duration) -> HeaderValue {
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (size, unit) in units {
        let value = nanos.div_ceil(size);
        if value <= u128::from(MAX_VALUE) {
            return header(value, unit);
        }
    }
    header(u128::from(MAX_VALUE), 'H')
}

fn header(value: u128, unit: char) -> HeaderValue {
    let text = format!("{value}{unit}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("99999999H"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses() {
        let cases: [(&[u8], Duration); 8] = [
            (b"1H", Duration::from_secs(3600)),
            (b"2M", Duration::from_secs(120)),
            (b"3S", Duration::from_secs(3)),
            (b"4m", Duration::from_millis(4)),
            (b"5u", Duration::from_micros(5)),
            (b"6n", Duration::from_nanos(6)),
            (b"0S", Duration::ZERO),
            (b"99999999H", Duration::from_secs(99_999_999 * 3600)),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_timeout(value), Ok(expected), "{value:?}");
        }
    }

    #[test]
    fn malformed_values_are_refused() {
        for value in [
            &b""[..],
            b"S",
            b"10",
            b"123456789S",
            b"-1S",
            b"1.5S",
            b"1s",
            b"1 S",
            b"1h",
            b"\xffS",
            b"1SS",
        ] {
            let err = parse_timeout(value).unwrap_err();
            assert!(
                err.to_string().starts_with("malformed grpc-timeout"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn formatting_picks_the_finest_unit_and_rounds_up() {
        assert_eq!(format_timeout(Duration::ZERO), "0n");
        assert_eq!(
            format_timeout(Duration::from_nanos(99_999_999)),
            "99999999n"
        );
        assert_eq!(format_timeout(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(format_timeout(Duration::from_secs(100_000)), "100000S");
        assert_eq!(format_timeout(Duration::MAX), "99999999H");
        for d in [
            Duration::from_nanos(1),
            Duration::from_micros(1234),
            Duration::from_millis(98_765),
            Duration::from_secs(86_400 * 365),
        ] {
            let formatted = format_timeout(d);
            assert!(formatted.len() <= 9);
            let back = parse_timeout(formatted.as_bytes()).unwrap();
            assert!(back >= d, "{d:?} -> {formatted:?} -> {back:?}");
        }
    }
}
