//! How transport failures become statuses on the client.

use std::time::Duration;

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Code, Origin, Progress, Status};

/// The status of a call whose deadline passed, made locally.
pub(crate) fn deadline_status(timeout: Option<Duration>) -> Status {
    let message = match timeout {
        Some(timeout) => format!("deadline exceeded after {timeout:?}"),
        None => "deadline exceeded".to_owned(),
    };
    Status::deadline_exceeded(message).with_origin(Origin::Deadline)
}

/// `status`, for a call that never left this client.
pub(crate) fn not_sent(status: Status) -> Status {
    status.with_progress(Progress::NotSent)
}

/// The code gRPC's `PROTOCOL-HTTP2.md` gives a stream reset with `reason`.
pub(crate) fn code_for_reset(reason: h2::Reason) -> Code {
    match reason {
        h2::Reason::REFUSED_STREAM => Code::Unavailable,
        h2::Reason::CANCEL => Code::Cancelled,
        h2::Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
        h2::Reason::INADEQUATE_SECURITY => Code::PermissionDenied,
        // NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR,
        // SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR,
        // COMPRESSION_ERROR, CONNECT_ERROR and unknown codes.
        _ => Code::Internal,
    }
}

/// The status of a response without a gRPC status: an HTTP error (or a
/// 200 that ended at once). The code follows gRPC's
/// `http-grpc-status-mapping.md` (as [`Code::from_http`]); a 431 (request
/// header fields too large, INTERNAL) gets a message naming the limit, as
/// it means the request's metadata is over the server's header list limit
/// (HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`, which h2 enforces before the
/// server's gRPC code sees the call).
pub(crate) fn status_from_http(http: http::StatusCode) -> Status {
    let code = Code::from_http(http.as_u16()).unwrap_or(Code::Unknown);
    let message = if http == http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
        "the request metadata is over the server's header list limit \
         (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE; the server answered HTTP 431): \
         send less metadata, or raise the server's max_header_list_size"
            .to_owned()
    } else {
        format!("the server answered HTTP {http} without a gRPC status")
    };
    Status::new(code, message).with_origin(Origin::Peer)
}

/// The status of a call that failed inside hyper: a reset stream, a lost
/// connection, a GOAWAY, a protocol violation.
///
/// Its [`Progress`] is [`Progress::Refused`] when the server's HTTP/2 layer
/// refused the stream: a `REFUSED_STREAM` reset, or a GOAWAY received from
/// the server (h2 fails a stream with the GOAWAY only when its id is above
/// the GOAWAY's last stream id, or when it was opened after the GOAWAY;
/// the streams at or below it go on, and fail with the connection if it
/// closes under them). It is [`Progress::NotSent`] when the server
/// refused the TLS handshake (a TLS 1.3 server does so after the client
/// has sent its request, which the server then never reads). Otherwise the
/// server may have processed the call.
pub(crate) fn status_from_hyper(err: &hyper::Error) -> Status {
    let h2 = find_h2(err);
    let handshake_failed = super::tls::is_handshake_failure(err);
    let refused = refusal(err).is_some();
    let (code, origin, what) = match h2 {
        // A TLS 1.3 server refuses a client certificate after the client's
        // side of the handshake is done: the alert comes on the first read.
        _ if handshake_failed => (
            Code::Unavailable,
            Origin::Transport,
            "TLS handshake failed".to_owned(),
        ),
        Some(h2) if h2.is_go_away() && h2.is_remote() => (
            Code::Unavailable,
            Origin::Transport,
            format!(
                "the server is closing the connection and refused the stream (GOAWAY {})",
                reason_text(h2.reason())
            ),
        ),
        Some(h2) if h2.is_go_away() => (
            Code::Internal,
            Origin::Protocol,
            format!(
                "this client closed the connection because the server broke HTTP/2 (GOAWAY {})",
                reason_text(h2.reason())
            ),
        ),
        Some(h2) if h2.is_io() => (
            Code::Unavailable,
            Origin::Transport,
            "the connection was lost".to_owned(),
        ),
        Some(h2) if h2.is_reset() && h2.is_remote() => {
            let reason = h2.reason().unwrap_or(h2::Reason::INTERNAL_ERROR);
            (
                code_for_reset(reason),
                Origin::Peer,
                format!(
                    "the server reset the stream ({})",
                    reason_text(Some(reason))
                ),
            )
        }
        Some(h2) => (
            Code::Internal,
            Origin::Protocol,
            format!("HTTP/2 error: {h2}"),
        ),
        None if err.is_canceled() || err.is_closed() => (
            Code::Unavailable,
            Origin::Transport,
            "the connection was closed".to_owned(),
        ),
        None if err.is_incomplete_message() => (
            Code::Unavailable,
            Origin::Transport,
            "the connection was closed before the response was complete".to_owned(),
        ),
        None if err.is_timeout() => (
            Code::Unavailable,
            Origin::Transport,
            "the connection timed out".to_owned(),
        ),
        None => (
            Code::Unavailable,
            Origin::Transport,
            "the connection failed".to_owned(),
        ),
    };
    Status::new(code, format!("{what}: {}", error_chain(err)))
        .with_origin(origin)
        .with_progress(if handshake_failed {
            Progress::NotSent
        } else if refused {
            Progress::Refused
        } else {
            Progress::Processed
        })
        .with_source(err.to_string())
}

/// `error: cause: cause`, without repeating a cause whose text its parent
/// already shows.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How the server's HTTP/2 layer refused a stream, which it then never
/// processed (RFC 9113, section 8.7): a request safe to send again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A GOAWAY: the connection is going away.
    GoAway,
    /// A `REFUSED_STREAM` reset: the connection goes on.
    Reset,
}

/// The refusal `err` reports, if it is one.
pub(crate) fn refusal(err: &hyper::Error) -> Option<Refusal> {
    let h2 = find_h2(err)?;
    if !h2.is_remote() {
        None
    } else if h2.is_go_away() {
        Some(Refusal::GoAway)
    } else if h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM) {
        Some(Refusal::Reset)
    } else {
        None
    }
}

fn find_h2(err: &hyper::Error) -> Option<&h2::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        source = cause.source();
    }
    None
}

fn reason_text(reason: Option<h2::Reason>) -> String {
    match reason {
        Some(reason) => format!("{reason:?}"),
        None => "no reason".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_codes_follow_the_spec() {
        let cases = [
            (h2::Reason::NO_ERROR, Code::Internal),
            (h2::Reason::PROTOCOL_ERROR, Code::Internal),
            (h2::Reason::INTERNAL_ERROR, Code::Internal),
            (h2::Reason::FLOW_CONTROL_ERROR, Code::Internal),
            (h2::Reason::SETTINGS_TIMEOUT, Code::Internal),
            (h2::Reason::STREAM_CLOSED, Code::Internal),
            (h2::Reason::FRAME_SIZE_ERROR, Code::Internal),
            (h2::Reason::REFUSED_STREAM, Code::Unavailable),
            (h2::Reason::CANCEL, Code::Cancelled),
            (h2::Reason::COMPRESSION_ERROR, Code::Internal),
            (h2::Reason::CONNECT_ERROR, Code::Internal),
            (h2::Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
            (h2::Reason::INADEQUATE_SECURITY, Code::PermissionDenied),
            (h2::Reason::HTTP_1_1_REQUIRED, Code::Internal),
        ];
        for (reason, code) in cases {
            assert_eq!(code_for_reset(reason), code, "{reason:?}");
        }
    }

    #[test]
    fn http_431_names_the_header_list_limit() {
        let status = status_from_http(http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(status.code(), Code::Internal);
        assert!(status.message().contains("header list limit"), "{status:?}");
        assert!(status.message().contains("431"), "{status:?}");
        let status = status_from_http(http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status.code(), Code::Unavailable);
    }

    #[test]
    fn deadline_status_is_local() {
        let status = deadline_status(Some(Duration::from_millis(250)));
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(status.origin(), Origin::Deadline);
        assert_eq!(status.message(), "deadline exceeded after 250ms");
    }
}
