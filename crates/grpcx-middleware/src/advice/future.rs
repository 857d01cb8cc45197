//! [`ResponseFuture`]: the future of an [`ErrorAdvice`](super::ErrorAdvice)
//! call.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use grpcx_status::Status;
use grpcx_transport::server::ResponseBody;
use grpcx_transport::{BoxError, status_from_layer_error};

use super::handlers::{Advice, panic_status};
use super::service::Call;

/// The future of an [`ErrorAdvice`](super::ErrorAdvice) call: the inner
/// service's future, polled under `catch_unwind`; its response's body gets
/// the advice for its final status.
///
/// It fails only with a `Status` the advice has already applied to: the
/// inner service's error, or a panic of the inner future.
#[pin_project::pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    state: State<F>,
}

#[pin_project::pin_project(project = StateProj)]
enum State<F> {
    /// The inner service's future runs.
    Running {
        #[pin]
        future: F,
        advice: Arc<Advice>,
        call: Call,
    },
    /// The call failed before there was a future (the inner `call`
    /// panicked).
    Failed(Option<Status>),
    /// The future has completed.
    Done,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(future: F, advice: Arc<Advice>, call: Call) -> ResponseFuture<F> {
        ResponseFuture {
            state: State::Running {
                future,
                advice,
                call,
            },
        }
    }

    pub(super) fn failed(status: Status) -> ResponseFuture<F> {
        ResponseFuture {
            state: State::Failed(Some(status)),
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<ResponseBody>, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = match this.state.as_mut().project() {
            StateProj::Done => return Poll::Pending,
            StateProj::Failed(status) => match status.take() {
                Some(status) => Err(status),
                None => return Poll::Pending,
            },
            StateProj::Running {
                future,
                advice,
                call,
            } => {
                // After a panic the future is dropped, never polled again,
                // so unwind safety is not a concern.
                let polled = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
                match polled {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => {
                        // The only cost on the path of a call: one boxed
                        // closure, run once with the final status. Messages
                        // pass untouched.
                        let advice = advice.clone();
                        let call = std::mem::take(call);
                        Ok(response.map(|body| {
                            body.map_status(move |status| advice.advise(status, &call.info()))
                        }))
                    }
                    Ok(Poll::Ready(Err(err))) => {
                        Err(advice.advise(status_from_layer_error(err.into()), &call.info()))
                    }
                    Err(panic) => Err(advice.advise(panic_status(&*panic), &call.info())),
                }
            }
        };
        this.state.set(State::Done);
        Poll::Ready(result)
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}
