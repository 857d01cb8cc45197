//! [`HealthService`]: `Check`, `Watch` and `List` over the reporter's
//! statuses.

use std::collections::HashMap;

use futures_util::stream;
use grpcx_status::Status;
use grpcx_transport::{Response, ServerRequest};
use tokio::sync::watch;

use crate::codegen::BoxStream;
use crate::pb::health_check_response::ServingStatus as PbStatus;
use crate::pb::{
    self, HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use crate::reporter::{HealthReporter, Statuses};

/// The `grpc.health.v1.Health` service; made by [`service`](crate::service)
/// together with its [`HealthReporter`].
#[derive(Clone, Debug)]
pub struct HealthService {
    reporter: HealthReporter,
}

impl HealthService {
    pub(crate) fn new(reporter: HealthReporter) -> HealthService {
        HealthService { reporter }
    }
}

fn response(status: PbStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

/// What a watcher of `service` is told: its status, or `SERVICE_UNKNOWN`.
fn watched(statuses: &Statuses, service: &str) -> PbStatus {
    statuses
        .by_service
        .get(service)
        .map_or(PbStatus::ServiceUnknown, |status| status.to_pb())
}

/// One watcher's state between messages.
struct Watcher {
    statuses: watch::Receiver<Statuses>,
    service: String,
    last: Option<PbStatus>,
    ended: bool,
}

impl pb::Health for HealthService {
    async fn check(
        &self,
        request: ServerRequest<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        match self.reporter.status(service) {
            Some(status) => Ok(Response::new(response(status.to_pb()))),
            None => Err(Status::not_found(format!("unknown service {service:?}"))),
        }
    }

    async fn list(
        &self,
        _request: ServerRequest<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let statuses = self
            .reporter
            .snapshot()
            .by_service
            .into_iter()
            .map(|(name, status)| (name, response(status.to_pb())))
            .collect::<HashMap<_, _>>();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    type WatchStream = BoxStream<HealthCheckResponse>;

    async fn watch(
        &self,
        request: ServerRequest<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let watcher = Watcher {
            statuses: self.reporter.subscribe(),
            service: request.into_inner().service,
            last: None,
            ended: false,
        };
        let messages = stream::unfold(watcher, |mut watcher| async move {
            loop {
                if watcher.ended {
                    return None;
                }
                // Copy what is needed out of the channel: its guard must not
                // live across the `.await` below.
                let (status, shut_down) = {
                    let statuses = watcher.statuses.borrow_and_update();
                    (watched(&statuses, &watcher.service), statuses.shut_down)
                };
                if watcher.last != Some(status) {
                    watcher.last = Some(status);
                    return Some((Ok(response(status)), watcher));
                }
                if shut_down {
                    watcher.ended = true;
                    let status = Status::unavailable("the server is shutting down");
                    return Some((Err(status), watcher));
                }
                if watcher.statuses.changed().await.is_err() {
                    // The reporter and the service are gone.
                    return None;
                }
            }
        });
        Ok(Response::new(Box::pin(messages) as Self::WatchStream))
    }
}
