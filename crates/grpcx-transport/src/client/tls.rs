//! The client's TLS failures, named as such: a handshake the server or
//! this client refused becomes `UNAVAILABLE` "TLS handshake failed: ...".
//!
//! With TLS 1.3 the client finishes its side of the handshake before the
//! server has checked the client's certificate, so a refusal (for
//! instance `certificate_required` from a server that demands mutual TLS)
//! arrives as an alert on the first read, after the connection counted as
//! made. Both the error of the handshake itself ([`HandshakeFailed`]) and
//! such an alert ([`is_handshake_failure`]) are recognised here.

use std::error::Error as StdError;
use std::fmt;

/// The TLS handshake of a connection failed; the source says why.
#[derive(Debug)]
pub(crate) struct HandshakeFailed(pub(crate) std::io::Error);

impl fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TLS handshake failed")
    }
}

impl StdError for HandshakeFailed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// Whether `err`'s source chain holds a failed handshake: a
/// [`HandshakeFailed`], or a fatal alert received from the server that
/// only a handshake sends (a refused or missing certificate, a failed
/// signature, no common version, cipher or ALPN protocol).
pub(crate) fn is_handshake_failure(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(cause) = next {
        if cause.is::<HandshakeFailed>() {
            return true;
        }
        #[cfg(feature = "tls-rustls")]
        if received_handshake_alert(cause) {
            return true;
        }
        next = cause.source();
    }
    false
}

/// Whether `cause` is a fatal handshake alert from the peer: rustls's
/// error itself, or the `InvalidData` I/O error that carries it on reads
/// (where only its text is left, which is rustls's own rendering).
#[cfg(feature = "tls-rustls")]
fn received_handshake_alert(cause: &(dyn StdError + 'static)) -> bool {
    use tokio_rustls::rustls::Error;
    if let Some(Error::AlertReceived(alert)) = cause.downcast_ref::<Error>() {
        return HANDSHAKE_ALERTS.contains(alert);
    }
    let Some(io) = cause.downcast_ref::<std::io::Error>() else {
        return false;
    };
    if io.kind() != std::io::ErrorKind::InvalidData {
        return false;
    }
    if let Some(Error::AlertReceived(alert)) = io.get_ref().and_then(|e| e.downcast_ref::<Error>())
    {
        return HANDSHAKE_ALERTS.contains(alert);
    }
    let text = io.to_string();
    HANDSHAKE_ALERTS
        .iter()
        .any(|alert| text == Error::AlertReceived(*alert).to_string())
}

/// The alerts that only a handshake sends: a refused or missing
/// certificate, a failed signature, no common version, cipher or ALPN
/// protocol.
#[cfg(feature = "tls-rustls")]
const HANDSHAKE_ALERTS: &[tokio_rustls::rustls::AlertDescription] = {
    use tokio_rustls::rustls::AlertDescription as A;
    &[
        A::HandshakeFailure,
        A::BadCertificate,
        A::UnsupportedCertificate,
        A::CertificateRevoked,
        A::CertificateExpired,
        A::CertificateUnknown,
        A::UnknownCA,
        A::AccessDenied,
        A::DecryptError,
        A::ProtocolVersion,
        A::InsufficientSecurity,
        A::CertificateRequired,
        A::NoApplicationProtocol,
        A::UnrecognisedName,
        A::BadCertificateStatusResponse,
        A::UnknownPSKIdentity,
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_failure_is_found_through_io_errors() {
        let failed = HandshakeFailed(std::io::Error::other("boom"));
        assert_eq!(failed.to_string(), "TLS handshake failed");
        assert!(is_handshake_failure(&failed));
        assert!(!is_handshake_failure(&std::io::Error::other("boom")));
    }

    #[cfg(feature = "tls-rustls")]
    #[test]
    fn only_handshake_alerts_count() {
        use tokio_rustls::rustls::{AlertDescription, Error};
        let typed =
            |a| std::io::Error::new(std::io::ErrorKind::InvalidData, Error::AlertReceived(a));
        // What reads give: the alert's text in an I/O error.
        let text = |a| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                Error::AlertReceived(a).to_string(),
            )
        };
        for alert in [typed, text] {
            assert!(is_handshake_failure(&alert(
                AlertDescription::CertificateRequired
            )));
            assert!(is_handshake_failure(&alert(AlertDescription::UnknownCA)));
            assert!(!is_handshake_failure(&alert(AlertDescription::CloseNotify)));
            assert!(!is_handshake_failure(&alert(
                AlertDescription::BadRecordMac
            )));
        }
        assert!(is_handshake_failure(&Error::AlertReceived(
            AlertDescription::DecryptError
        )));
    }
}
