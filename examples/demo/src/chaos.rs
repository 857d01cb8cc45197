//! [`ChaosService`]: the demo-only service that misbehaves on purpose.

use std::time::Duration;

use futures_util::stream;
use grpcx::{BoxStream, Request, Response, Status};

use crate::pb::{
    Chaos, PanicRequest, PanicResponse, SleepRequest, SleepResponse, Tick, TicksRequest,
};

/// What the panicking handler says; it must never reach a client.
pub const PANIC_MESSAGE: &str = "the Panic handler panicked on purpose (secret: hunter2)";

/// The longest sleep.
const MAX_SLEEP: Duration = Duration::from_secs(10);

/// The `Chaos` service.
#[derive(Debug, Default)]
pub struct ChaosService;

impl Chaos for ChaosService {
    #[allow(clippy::panic)] // Panicking is this handler's job.
    async fn panic(
        &self,
        _request: Request<PanicRequest>,
    ) -> Result<Response<PanicResponse>, Status> {
        panic!("{PANIC_MESSAGE}")
    }

    async fn sleep(
        &self,
        request: Request<SleepRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let millis = request.get_ref().millis;
        // Past the client's deadline the server drops this future, so the
        // sleep ends there.
        tokio::time::sleep(Duration::from_millis(millis.into()).min(MAX_SLEEP)).await;
        Ok(Response::new(SleepResponse {
            slept_millis: millis,
        }))
    }

    type TicksStream = BoxStream<Tick>;

    async fn ticks(
        &self,
        request: Request<TicksRequest>,
    ) -> Result<Response<Self::TicksStream>, Status> {
        let interval =
            Duration::from_millis(request.get_ref().interval_millis.clamp(1, 1000).into());
        let context = request.context().clone();
        let ticks = stream::unfold(0, move |n| {
            let context = context.clone();
            async move {
                tokio::time::sleep(interval).await;
                // Stop once the client has cancelled.
                context.is_active().then(|| (Ok(Tick { n: n + 1 }), n + 1))
            }
        });
        Ok(Response::new(Box::pin(ticks)))
    }
}
