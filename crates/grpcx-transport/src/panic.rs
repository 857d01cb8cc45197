//! Containing panics of handlers and response streams.

use std::any::Any;

/// The text of a panic's payload, for the server's log.
pub(crate) fn describe_panic(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a non-string panic payload"
    }
}
