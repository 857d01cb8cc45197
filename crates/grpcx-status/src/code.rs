//! The seventeen gRPC status codes.

use std::fmt;
use std::str::FromStr;

/// A gRPC status code, as defined by gRPC's `doc/statuscodes.md` and
/// `google/rpc/code.proto`.
///
/// The set is closed by the specification, so the enum is exhaustive and
/// `match` needs no wildcard arm. A number outside `0..=16` received from a
/// peer becomes [`Code::Unknown`], as the specification requires.
///
/// # Examples
///
/// ```
/// use grpcx_status::Code;
///
/// assert_eq!(Code::NotFound as i32, 5);
/// assert_eq!(Code::from_i32(5), Code::NotFound);
/// assert_eq!(Code::from_i32(42), Code::Unknown);
/// assert_eq!(Code::NotFound.to_string(), "NOT_FOUND");
/// assert_eq!("not_found".parse::<Code>(), Ok(Code::NotFound));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(i32)]
pub enum Code {
    /// Not an error; returned on success.
    #[default]
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error, or an error from another error space.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity that a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted (a quota, a size limit, memory).
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported.
    Unimplemented = 12,
    /// An invariant of the underlying system is broken.
    Internal = 13,
    /// The service is currently unavailable; retrying may help.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request lacks valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code for a number; anything outside `0..=16` is [`Code::Unknown`].
    pub const fn from_i32(value: i32) -> Code {
        if value >= 0 && value <= 16 {
            Code::ALL[value as usize]
        } else {
            Code::Unknown
        }
    }

    /// The code's number on the wire.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical name, in `UPPER_SNAKE_CASE` (`"DEADLINE_EXCEEDED"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// A one-line description of what the code means, for humans.
    pub const fn description(self) -> &'static str {
        match self {
            Code::Ok => "the operation completed successfully",
            Code::Cancelled => "the operation was cancelled",
            Code::Unknown => "unknown error",
            Code::InvalidArgument => "the client specified an invalid argument",
            Code::DeadlineExceeded => "the deadline expired before the operation could complete",
            Code::NotFound => "a requested entity was not found",
            Code::AlreadyExists => "the entity the client tried to create already exists",
            Code::PermissionDenied => "the caller may not perform this operation",
            Code::ResourceExhausted => "a resource has been exhausted",
            Code::FailedPrecondition => "the system is not in a state required for the operation",
            Code::Aborted => "the operation was aborted",
            Code::OutOfRange => "the operation was attempted past the valid range",
            Code::Unimplemented => "the operation is not implemented or not supported",
            Code::Internal => "internal error",
            Code::Unavailable => "the service is currently unavailable",
            Code::DataLoss => "unrecoverable data loss or corruption",
            Code::Unauthenticated => "the request lacks valid authentication credentials",
        }
    }

    /// Whether this is [`Code::Ok`].
    pub const fn is_ok(self) -> bool {
        matches!(self, Code::Ok)
    }

    /// Parses the decimal value of a `grpc-status` header.
    ///
    /// The specification writes the code as a decimal number without leading
    /// zeros; a value that is not such a number, or is out of range, gives
    /// [`Code::Unknown`], as a peer's unknown status must.
    pub fn from_header_bytes(value: &[u8]) -> Code {
        // At most two digits can name a valid code; anything longer is out of range.
        match value {
            [d @ b'0'..=b'9'] => Code::from_i32((d - b'0') as i32),
            [b'1', d @ b'0'..=b'9'] => Code::from_i32(10 + (d - b'0') as i32),
            _ => Code::Unknown,
        }
    }

    /// The decimal value written in a `grpc-status` header (`"0"` to `"16"`).
    pub const fn header_value(self) -> &'static str {
        const VALUES: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        VALUES[self as usize]
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<i32> for Code {
    fn from(value: i32) -> Self {
        Code::from_i32(value)
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> Self {
        code as i32
    }
}

/// The error of parsing a [`Code`] from a name that names no code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown gRPC status code name {name:?}")]
pub struct ParseCodeError {
    name: String,
}

impl FromStr for Code {
    type Err = ParseCodeError;

    /// Parses a canonical name, ignoring ASCII case (`"NOT_FOUND"`,
    /// `"not_found"`), or a decimal number in `0..=16`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.parse::<u8>() {
            if n <= 16 {
                return Ok(Code::from_i32(n as i32));
            }
        }
        Code::ALL
            .into_iter()
            .find(|code| code.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseCodeError { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_match_the_spec() {
        let expected = [
            (0, "OK"),
            (1, "CANCELLED"),
            (2, "UNKNOWN"),
            (3, "INVALID_ARGUMENT"),
            (4, "DEADLINE_EXCEEDED"),
            (5, "NOT_FOUND"),
            (6, "ALREADY_EXISTS"),
            (7, "PERMISSION_DENIED"),
            (8, "RESOURCE_EXHAUSTED"),
            (9, "FAILED_PRECONDITION"),
            (10, "ABORTED"),
            (11, "OUT_OF_RANGE"),
            (12, "UNIMPLEMENTED"),
            (13, "INTERNAL"),
            (14, "UNAVAILABLE"),
            (15, "DATA_LOSS"),
            (16, "UNAUTHENTICATED"),
        ];
        for (number, name) in expected {
            let code = Code::from_i32(number);
            assert_eq!(code.as_i32(), number);
            assert_eq!(code.to_string(), name);
            assert_eq!(name.parse::<Code>(), Ok(code));
            assert_eq!(name.to_ascii_lowercase().parse::<Code>(), Ok(code));
            assert_eq!(number.to_string().parse::<Code>(), Ok(code));
            assert_eq!(code.header_value(), number.to_string());
            assert_eq!(Code::from_header_bytes(number.to_string().as_bytes()), code);
            assert!(!code.description().is_empty());
        }
    }

    #[test]
    fn out_of_range_numbers_are_unknown() {
        for n in [-1, 17, 100, i32::MIN, i32::MAX] {
            assert_eq!(Code::from_i32(n), Code::Unknown);
            assert_eq!(Code::from(n), Code::Unknown);
        }
    }

    #[test]
    fn malformed_grpc_status_values_are_unknown() {
        for v in [
            &b""[..],
            b"17",
            b"007",
            b"-1",
            b"1 ",
            b"x",
            b"123",
            b"99",
            b"\xff",
        ] {
            assert_eq!(Code::from_header_bytes(v), Code::Unknown, "{v:?}");
        }
        assert_eq!(Code::from_header_bytes(b"0"), Code::Ok);
        assert_eq!(Code::from_header_bytes(b"16"), Code::Unauthenticated);
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = "NOT_A_CODE".parse::<Code>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown gRPC status code name \"NOT_A_CODE\""
        );
        assert!("17".parse::<Code>().is_err());
    }
}
