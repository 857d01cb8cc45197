//! [`HealthReporter`]: the statuses, and the handle that sets them.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::pb::health_check_response::ServingStatus as PbStatus;

/// A service's serving status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServingStatus {
    /// The status is not known.
    Unknown,
    /// The service serves calls.
    Serving,
    /// The service does not serve calls.
    NotServing,
}

impl ServingStatus {
    pub(crate) fn to_pb(self) -> PbStatus {
        match self {
            ServingStatus::Unknown => PbStatus::Unknown,
            ServingStatus::Serving => PbStatus::Serving,
            ServingStatus::NotServing => PbStatus::NotServing,
        }
    }
}

/// Every status, as the watch channel holds them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Statuses {
    pub(crate) by_service: BTreeMap<String, ServingStatus>,
    /// Set by [`HealthReporter::shutdown`]: no status changes any more.
    pub(crate) shut_down: bool,
}

/// Sets the statuses a health service reports; cheap to clone, and usable
/// from any thread (no method waits).
///
/// ```
/// use grpcx_health::ServingStatus;
///
/// let (_health, reporter) = grpcx_health::service();
/// reporter.set_serving("shop.v1.Cart");
/// reporter.set_status("shop.v1.Payments", ServingStatus::NotServing);
/// assert_eq!(reporter.status("shop.v1.Payments"), Some(ServingStatus::NotServing));
/// reporter.clear("shop.v1.Payments");
/// assert_eq!(reporter.status("shop.v1.Payments"), None);
/// ```
#[derive(Clone, Debug)]
pub struct HealthReporter {
    statuses: Arc<watch::Sender<Statuses>>,
}

impl HealthReporter {
    pub(crate) fn new() -> HealthReporter {
        let mut statuses = Statuses::default();
        statuses
            .by_service
            .insert(String::new(), ServingStatus::Serving);
        HealthReporter {
            statuses: Arc::new(watch::Sender::new(statuses)),
        }
    }

    /// Sets the status of `service` (`package.Service`, or `""` for the
    /// whole server); watchers of it get the new status if it changed.
    /// Does nothing after [`HealthReporter::shutdown`].
    pub fn set_status(&self, service: impl Into<String>, status: ServingStatus) {
        let service = service.into();
        self.statuses.send_if_modified(|statuses| {
            if statuses.shut_down {
                return false;
            }
            statuses.by_service.insert(service, status) != Some(status)
        });
    }

    /// Sets `service` to `SERVING`.
    pub fn set_serving(&self, service: impl Into<String>) {
        self.set_status(service, ServingStatus::Serving);
    }

    /// Sets `service` to `NOT_SERVING`.
    pub fn set_not_serving(&self, service: impl Into<String>) {
        self.set_status(service, ServingStatus::NotServing);
    }

    /// Forgets `service`: `Check` answers `NOT_FOUND` again and watchers
    /// get `SERVICE_UNKNOWN`. Does nothing after
    /// [`HealthReporter::shutdown`].
    pub fn clear(&self, service: &str) {
        self.statuses.send_if_modified(|statuses| {
            !statuses.shut_down && statuses.by_service.remove(service).is_some()
        });
    }

    /// The status of `service`, if it has one.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.statuses.borrow().by_service.get(service).copied()
    }

    /// Sets every status to `NOT_SERVING` for good (later changes are
    /// ignored); each watcher gets `NOT_SERVING`, then its call ends with
    /// `UNAVAILABLE`. For a graceful shutdown: see
    /// [`HealthReporter::shutdown_hook`].
    pub fn shutdown(&self) {
        self.statuses.send_modify(|statuses| {
            statuses.shut_down = true;
            for status in statuses.by_service.values_mut() {
                *status = ServingStatus::NotServing;
            }
        });
    }

    /// [`HealthReporter::shutdown`] as a hook for `Server::on_shutdown`,
    /// which runs it before the server sends GOAWAY and drains its calls.
    ///
    /// ```
    /// let (health, reporter) = grpcx_health::service();
    /// let server = grpcx_transport::Server::builder()
    ///     .add_service(health)
    ///     .on_shutdown(reporter.shutdown_hook());
    /// # drop(server);
    /// ```
    pub fn shutdown_hook(&self) -> impl FnOnce() + Send + 'static {
        let reporter = self.clone();
        move || reporter.shutdown()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Statuses> {
        self.statuses.subscribe()
    }

    pub(crate) fn snapshot(&self) -> Statuses {
        self.statuses.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_starts_serving_and_services_are_unknown() {
        let reporter = HealthReporter::new();
        assert_eq!(reporter.status(""), Some(ServingStatus::Serving));
        assert_eq!(reporter.status("a.B"), None);
    }

    #[test]
    fn only_changes_notify_watchers() {
        let reporter = HealthReporter::new();
        let mut rx = reporter.subscribe();
        rx.borrow_and_update();
        reporter.set_serving("");
        assert!(!rx.has_changed().unwrap());
        reporter.set_not_serving("");
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        reporter.clear("missing");
        assert!(!rx.has_changed().unwrap());
        reporter.clear("");
        assert!(rx.has_changed().unwrap());
    }

    #[test]
    fn shutdown_is_final() {
        let reporter = HealthReporter::new();
        reporter.set_serving("a.B");
        reporter.shutdown();
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::NotServing));
        assert_eq!(reporter.status(""), Some(ServingStatus::NotServing));
        reporter.set_serving("a.B");
        reporter.clear("a.B");
        reporter.set_serving("c.D");
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::NotServing));
        assert_eq!(reporter.status("c.D"), None);
    }
}
