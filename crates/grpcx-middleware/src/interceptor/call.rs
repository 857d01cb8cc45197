//! [`CallHead`]: the head of a call, as an interceptor sees and changes it.

use std::fmt;
use std::time::Duration;

use grpcx_status::Metadata;
use grpcx_transport::{CallContext, Deadline, GrpcMethod};
use http::{Extensions, Uri};
use tokio::time::Instant;

/// Which side of a call an interceptor runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// In a client stack: the call is about to be sent.
    Client,
    /// In a server's layers: the call has arrived and its handler has not
    /// started.
    Server,
}

/// The head of one call, owned by an [`Interceptor`](super::Interceptor)
/// while it runs: the request's metadata, method, deadline and extensions,
/// and on the server the call's [`CallContext`]. The request body is not
/// here: an interceptor decides from the head alone, before any message
/// is read or sent.
///
/// Metadata is the request's custom metadata as a [`Metadata`], so it is
/// read and written with its checks: lowercase keys, printable ASCII
/// values, binary values under `-bin` keys, and no way to set the header
/// fields gRPC and HTTP/2 own (`grpc-*`, `content-type`, `te`, ...). Those
/// stay in the request untouched.
///
/// ```
/// use grpcx_middleware::interceptor::{CallHead, Side};
///
/// let mut request = http::Request::new(());
/// *request.uri_mut() = http::Uri::from_static("/shop.Cart/Add");
/// request.headers_mut().insert("content-type", "application/grpc".parse()?);
/// request.headers_mut().insert("x-tenant", "acme".parse()?);
/// let (parts, ()) = request.into_parts();
///
/// let mut call = CallHead::from_parts(parts);
/// assert_eq!(call.side(), Side::Client);
/// assert_eq!((call.service(), call.method()), ("shop.Cart", "Add"));
/// assert_eq!(call.metadata().get("x-tenant"), Some("acme"));
/// assert!(call.metadata().get("content-type").is_none(), "not metadata");
/// call.metadata_mut().insert("authorization", "Bearer abc")?;
/// assert!(call.metadata_mut().insert("grpc-status", "0").is_err());
///
/// let parts = call.into_parts();
/// assert_eq!(parts.headers["authorization"], "Bearer abc");
/// assert_eq!(parts.headers["content-type"], "application/grpc");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CallHead {
    /// The request head without its custom metadata.
    parts: http::request::Parts,
    metadata: Metadata,
    /// The server call's context; `None` on the client.
    context: Option<CallContext>,
}

impl CallHead {
    /// The head of the request whose head is `parts`: its custom metadata
    /// taken out of the headers, and its side found from its extensions (a
    /// server puts the call's [`CallContext`] there; a client request has
    /// none).
    pub fn from_parts(mut parts: http::request::Parts) -> CallHead {
        let metadata = Metadata::from_header_map(&parts.headers);
        for name in metadata.keys() {
            parts.headers.remove(name);
        }
        let context = parts.extensions.get::<CallContext>().cloned();
        CallHead {
            parts,
            metadata,
            context,
        }
    }

    /// The request head again, with the metadata back in its headers.
    pub fn into_parts(self) -> http::request::Parts {
        let CallHead {
            mut parts,
            metadata,
            ..
        } = self;
        // The metadata holds no field the rest of the head has, so nothing
        // is replaced.
        parts.headers.extend(metadata.into_headers());
        parts
    }

    /// The side the call is seen from.
    pub fn side(&self) -> Side {
        match self.context {
            Some(_) => Side::Server,
            None => Side::Client,
        }
    }

    /// The method's full path, `/package.Service/Method`: on the client the
    /// typed client's [`GrpcMethod`] when it set one, otherwise (and on the
    /// server) the request's URI path.
    pub fn path(&self) -> &str {
        match self.parts.extensions.get::<GrpcMethod>() {
            Some(method) => method.path(),
            None => self.parts.uri.path(),
        }
    }

    /// The service part of the path, `package.Service` (empty when the
    /// path is not a gRPC method's).
    pub fn service(&self) -> &str {
        self.path()
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .map_or("", |(service, _)| service)
    }

    /// The method part of the path, `Method` (empty when the path is not a
    /// gRPC method's).
    pub fn method(&self) -> &str {
        self.path()
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .map_or("", |(_, method)| method)
    }

    /// The request's URI: on the client a path only, until the channel
    /// fills in the scheme and authority.
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The request's custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The request's custom metadata, to change: what the server's
    /// handler (or the layers after this one) will see.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The call's deadline: on the client the request's [`Deadline`]
    /// extension (which the typed client sets when the call has a deadline
    /// and layers are in use; without it the channel applies its
    /// endpoint's default timeout); on the server the [`CallContext`]'s, from
    /// the client's `grpc-timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.context {
            Some(context) => context.deadline(),
            None => self.parts.extensions.get::<Deadline>().map(|d| d.instant()),
        }
    }

    /// The time left before the deadline (zero once it has passed); `None`
    /// when the call has none.
    pub fn time_remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// On the client, sets the call's deadline (its [`Deadline`]
    /// extension), which the channel sends as `grpc-timeout` and enforces;
    /// returns `true`. On the server the deadline is the client's and
    /// cannot move: nothing changes and it returns `false`.
    pub fn set_deadline(&mut self, deadline: Instant) -> bool {
        if self.context.is_some() {
            return false;
        }
        self.parts.extensions.insert(Deadline(deadline));
        true
    }

    /// The request's extensions: on the client what the typed client and
    /// earlier layers put there; on the server the call's [`CallContext`] and
    /// what earlier layers put there.
    pub fn extensions(&self) -> &Extensions {
        &self.parts.extensions
    }

    /// The request's extensions, to add to: on the server a handler reads
    /// them with `Request::extensions` (an authenticated principal, say).
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.parts.extensions
    }

    /// On the server, the call's [`CallContext`]: its peer, deadline, previous
    /// attempts, and the means to set trailers. `None` on the client.
    pub fn context(&self) -> Option<&CallContext> {
        self.context.as_ref()
    }
}

impl fmt::Debug for CallHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallHead")
            .field("side", &self.side())
            .field("path", &self.path())
            .field("metadata", &self.metadata)
            .field("deadline", &self.deadline())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use grpcx_transport::descriptor::MethodKind;
    use http::uri::PathAndQuery;

    use super::*;

    fn parts(path: &'static str) -> http::request::Parts {
        let mut request = http::Request::new(());
        *request.uri_mut() = Uri::from_static(path);
        let headers = request.headers_mut();
        headers.insert("content-type", "application/grpc".parse().unwrap());
        headers.insert("grpc-timeout", "1S".parse().unwrap());
        headers.insert("te", "trailers".parse().unwrap());
        headers.append("x-tag", "a".parse().unwrap());
        headers.append("x-tag", "b".parse().unwrap());
        headers.insert("trace-bin", "AAEC".parse().unwrap());
        request.into_parts().0
    }

    #[test]
    fn metadata_is_split_out_and_merged_back() {
        let mut call = CallHead::from_parts(parts("/a.B/C"));
        assert_eq!(call.metadata().len(), 3);
        assert_eq!(
            call.metadata().get_all("x-tag").collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            call.metadata().get_bin("trace-bin").unwrap(),
            Some(vec![0, 1, 2])
        );
        assert!(!call.metadata().contains_key("grpc-timeout"));
        call.metadata_mut().remove("x-tag");
        call.metadata_mut()
            .insert_bin("token-bin", [9u8, 9])
            .unwrap();
        call.metadata_mut().insert("x-user", "alice").unwrap();
        assert!(call.metadata_mut().insert("te", "x").is_err());
        assert!(call.metadata_mut().insert("x-bad", "line\nbreak").is_err());
        assert!(call.metadata_mut().insert("x-bin", "ascii").is_err());

        let headers = call.into_parts().headers;
        assert_eq!(headers.get_all("x-tag").iter().count(), 0);
        assert_eq!(headers["x-user"], "alice");
        assert_eq!(headers["token-bin"], "CQk");
        assert_eq!(headers["trace-bin"], "AAEC");
        assert_eq!(headers["grpc-timeout"], "1S");
        assert_eq!(headers["content-type"], "application/grpc");
        assert_eq!(headers["te"], "trailers");
        assert_eq!(headers.len(), 6);
    }

    #[test]
    fn the_method_comes_from_the_grpc_method_extension_or_the_path() {
        let call = CallHead::from_parts(parts("/pkg.Svc/Get"));
        assert_eq!(call.path(), "/pkg.Svc/Get");
        assert_eq!((call.service(), call.method()), ("pkg.Svc", "Get"));
        let mut parts = parts("/ignored");
        parts.extensions.insert(GrpcMethod::new(
            PathAndQuery::from_static("/pkg.Svc/List"),
            MethodKind::ServerStreaming,
        ));
        let call = CallHead::from_parts(parts);
        assert_eq!((call.service(), call.method()), ("pkg.Svc", "List"));
        let call = CallHead::from_parts(self::parts("/nothing"));
        assert_eq!((call.service(), call.method()), ("", ""));
    }

    #[tokio::test(start_paused = true)]
    async fn the_client_deadline_is_an_extension_the_server_one_the_contexts() {
        let mut call = CallHead::from_parts(parts("/a.B/C"));
        assert_eq!(call.deadline(), None);
        let at = Instant::now() + Duration::from_secs(3);
        assert!(call.set_deadline(at));
        assert_eq!(call.deadline(), Some(at));
        assert_eq!(call.time_remaining(), Some(Duration::from_secs(3)));
        assert_eq!(
            call.into_parts().extensions.get::<Deadline>(),
            Some(&Deadline(at))
        );

        let mut parts = parts("/a.B/C");
        parts.extensions.insert(CallContext::detached().clone());
        let mut call = CallHead::from_parts(parts);
        assert_eq!(call.side(), Side::Server);
        assert!(call.context().is_some());
        assert!(
            !call.set_deadline(at),
            "the server's deadline is the client's"
        );
        assert_eq!(call.deadline(), None);
        assert!(call.extensions().get::<Deadline>().is_none());
    }
}
