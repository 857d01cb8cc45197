//! [`ErrorAdviceLayer`]: applies an [`Advice`] to every call of what it
//! wraps.

use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::{Advice, ErrorAdvice};

/// A tower layer wrapping a server's routes (with
/// [`Server::layer`](grpcx_transport::Server::layer)) or one service (with
/// [`Server::add_layered_service`](grpcx_transport::Server::add_layered_service))
/// in an [`ErrorAdvice`].
///
/// Cloning it shares the [`Advice`] (an `Arc`), as every service it makes
/// does.
#[derive(Clone)]
pub struct ErrorAdviceLayer {
    advice: Arc<Advice>,
}

impl ErrorAdviceLayer {
    /// A layer applying `advice`.
    pub fn new(advice: impl Into<Arc<Advice>>) -> ErrorAdviceLayer {
        ErrorAdviceLayer {
            advice: advice.into(),
        }
    }

    /// The advice the layer applies.
    pub fn advice(&self) -> &Advice {
        &self.advice
    }
}

impl From<Advice> for ErrorAdviceLayer {
    fn from(advice: Advice) -> Self {
        ErrorAdviceLayer::new(advice)
    }
}

impl<S> Layer<S> for ErrorAdviceLayer {
    type Service = ErrorAdvice<S>;

    fn layer(&self, inner: S) -> ErrorAdvice<S> {
        ErrorAdvice::new(inner, self.advice.clone())
    }
}

impl fmt::Debug for ErrorAdviceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorAdviceLayer")
            .field("advice", &self.advice)
            .finish()
    }
}
