//! Mapping between gRPC codes and HTTP status codes.
//!
//! Two different tables, used in two different places:
//!
//! - [`Code::to_http`] is the mapping of `google/rpc/code.proto` (and of
//!   Connect and Google's API design guide): the HTTP status a gateway
//!   answers for a gRPC outcome.
//! - [`Code::from_http`] is gRPC's `http-grpc-status-mapping.md`: the code a
//!   client gives a response that carried no `grpc-status` at all (a proxy's
//!   error page, say). It is not the reverse of the first table and must
//!   never be used as one.

use http::StatusCode;

use crate::code::Code;

impl Code {
    /// The HTTP status `google/rpc/code.proto` assigns to the code.
    ///
    /// ```
    /// use grpcx_status::Code;
    /// assert_eq!(Code::NotFound.to_http().as_u16(), 404);
    /// assert_eq!(Code::Cancelled.to_http().as_u16(), 499);
    /// ```
    pub fn to_http(self) -> StatusCode {
        let code = match self {
            Code::Ok => 200,
            Code::Cancelled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::Unauthenticated => 401,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The code of a response whose HTTP status is `status` and that carried
    /// no `grpc-status`, as gRPC's `http-grpc-status-mapping.md` says.
    ///
    /// 1xx statuses are informational and not final: the caller waits for
    /// the final response, so they map to `None`. Every other status maps to
    /// a code; 200 without `grpc-status` is `UNKNOWN`.
    ///
    /// ```
    /// use grpcx_status::Code;
    /// assert_eq!(Code::from_http(503), Some(Code::Unavailable));
    /// assert_eq!(Code::from_http(404), Some(Code::Unimplemented));
    /// assert_eq!(Code::from_http(200), Some(Code::Unknown));
    /// assert_eq!(Code::from_http(100), None);
    /// ```
    pub fn from_http(status: u16) -> Option<Code> {
        Some(match status {
            100..=199 => return None,
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            431 => Code::Internal,
            _ => Code::Unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_to_http_matches_code_proto() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        assert_eq!(expected.len(), Code::ALL.len());
        for (code, http) in expected {
            assert_eq!(code.to_http().as_u16(), http, "{code}");
        }
    }

    #[test]
    fn http_to_code_matches_grpc_mapping() {
        let expected = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (431, Code::Internal),
            (200, Code::Unknown),
            (201, Code::Unknown),
            (301, Code::Unknown),
            (409, Code::Unknown),
            (500, Code::Unknown),
            (999, Code::Unknown),
        ];
        for (http, code) in expected {
            assert_eq!(Code::from_http(http), Some(code), "{http}");
        }
        for informational in [100, 101, 103, 199] {
            assert_eq!(Code::from_http(informational), None);
        }
    }
}
