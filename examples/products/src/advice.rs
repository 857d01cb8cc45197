//! The product service's error advice: the one place that turns the
//! catalog's errors into rich statuses. It is the Spring seed's
//! `@GrpcAdvice` class, whose `@GrpcExceptionHandler` methods map each
//! exception type to a status, in grpcx.

use grpcx::middleware::advice::Advice;
use grpcx::{BadRequest, ErrorInfo, RetryInfo, Status};

use crate::error::{ERROR_DOMAIN, OUTAGE_RETRY_DELAY, ProductError, REASON_PRODUCT_NOT_FOUND};

/// The advice of the product server: every `ProductError` a handler fails
/// with becomes its status here; anything else unmapped (and any panic)
/// is redacted to `INTERNAL` with a correlation id.
pub fn advice() -> Advice {
    Advice::new().on(|err: &ProductError, _failure| match err {
        // The seed's handleResourceNotFoundException: NOT_FOUND with an
        // ErrorInfo carrying the exception's metadata map.
        ProductError::NotFound { metadata, .. } => {
            let mut info = ErrorInfo::new(REASON_PRODUCT_NOT_FOUND, ERROR_DOMAIN);
            info.metadata
                .extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
            Status::not_found(err.to_string()).with_detail(info)
        }
        ProductError::Invalid(violations) => {
            let bad = violations
                .iter()
                .fold(BadRequest::default(), |bad, (field, description)| {
                    bad.violation(field, description)
                });
            Status::invalid_argument(err.to_string()).with_detail(bad)
        }
        // The message is written for clients and leaves the backend's
        // error (hosts, queries) out; that stays in the log.
        ProductError::Unavailable(_) => {
            Status::unavailable(err.to_string()).with_detail(RetryInfo::after(OUTAGE_RETRY_DELAY))
        }
    })
}
