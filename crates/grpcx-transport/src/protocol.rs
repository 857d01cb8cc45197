//! What both sides of the transport share of gRPC's HTTP/2 protocol: the
//! content type, the default message limit, the retry header.

/// The default largest message decoded, on either side: 4 MiB, as in other
/// gRPC implementations.
pub const DEFAULT_MAX_DECODE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The `grpc-previous-rpc-attempts` header (gRFC A6): how many times a
/// retrying layer sent the call before this attempt. The one `grpc-*`
/// header a client layer may set on a request; a handler reads it as
/// [`CallContext::previous_attempts`](crate::CallContext::previous_attempts).
pub const GRPC_PREVIOUS_RPC_ATTEMPTS: http::HeaderName =
    http::HeaderName::from_static("grpc-previous-rpc-attempts");

/// `application/grpc`, `application/grpc+proto`, with optional parameters.
pub(crate) fn is_grpc_content_type(value: &[u8]) -> bool {
    let Some(rest) = value.strip_prefix(b"application/grpc") else {
        return false;
    };
    let rest = rest.strip_prefix(b"+proto").unwrap_or(rest);
    rest.is_empty() || rest.starts_with(b";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        for ok in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc_content_type(ok), "{ok:?}");
        }
        for bad in [
            &b"application/json"[..],
            b"application/grpc+json",
            b"application/grpc-web",
            b"text/plain",
            b"",
        ] {
            assert!(!is_grpc_content_type(bad), "{bad:?}");
        }
    }
}
