//! What sending a request again takes: a copy of its head and body, made
//! before hyper consumes the request.
//!
//! The channel keeps one for each call whose body can be replayed, to send
//! the call once more when the server's HTTP/2 layer refuses its stream
//! (gRFC A6's transparent retry); the retry layer keeps one for its
//! attempts.

use http::header::{HeaderName, HeaderValue};
use http::{Extensions, HeaderMap, Method, Uri, Version};
use smallvec::SmallVec;

use crate::body::Body;

/// A copy of a request's headers, for sending it again.
///
/// Up to three fields, the most a typed client's call without metadata
/// has when it leaves [`Grpc`](super::Grpc), are held inline: copying a
/// `HeaderMap` allocates twice or more, a cost every call would pay for
/// the rare one sent again.
///
/// # Examples
///
/// ```
/// use grpcx_transport::client::HeadersCopy;
/// use http::{HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-type", HeaderValue::from_static("application/grpc"));
/// headers.append("x-tag", HeaderValue::from_static("a"));
/// headers.append("x-tag", HeaderValue::from_static("b"));
///
/// let copy = HeadersCopy::of(&headers);
/// assert_eq!(copy.to_map(), headers);
/// ```
#[derive(Clone, Debug)]
pub struct HeadersCopy(Fields);

#[derive(Clone, Debug)]
enum Fields {
    Few(SmallVec<[(HeaderName, HeaderValue); 3]>),
    Map(HeaderMap),
}

impl HeadersCopy {
    /// A copy of `headers`.
    pub fn of(headers: &HeaderMap) -> HeadersCopy {
        HeadersCopy(if headers.len() <= 3 {
            Fields::Few(
                headers
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
            )
        } else {
            Fields::Map(headers.clone())
        })
    }

    /// The headers as a map again, every value in its order.
    pub fn to_map(&self) -> HeaderMap {
        match &self.0 {
            Fields::Few(fields) => {
                // One spare place: the channel adds `grpc-timeout`.
                let mut map = HeaderMap::with_capacity(fields.len() + 1);
                for (name, value) in fields {
                    map.append(name.clone(), value.clone());
                }
                map
            }
            Fields::Map(map) => map.clone(),
        }
    }
}

/// A request, kept to be sent again.
pub(crate) struct Resend {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeadersCopy,
    /// Taken from the request rather than copied (a copy allocates): no
    /// one below the channel reads them.
    extensions: Extensions,
    body: Body,
}

impl Resend {
    /// A copy of `request`, which is left without its extensions (they go
    /// with the copy); `None`, and the request untouched, when its body is
    /// a stream, which cannot be read twice.
    ///
    /// Boxed: the copy rides in the call's future, which is moved whole
    /// several times before it runs; inline, those moves cost more
    /// (callgrind: about 250 instructions a call) than the allocation.
    pub(crate) fn of(request: &mut http::Request<Body>) -> Option<Box<Resend>> {
        let body = request.body().try_clone()?;
        Some(Box::new(Resend {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: HeadersCopy::of(request.headers()),
            extensions: std::mem::take(request.extensions_mut()),
            body,
        }))
    }

    /// The request as it was copied.
    pub(crate) fn into_request(self) -> http::Request<Body> {
        let mut request = http::Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.to_map();
        *request.extensions_mut() = self.extensions;
        request
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_copy_gives_the_same_headers_few_or_many() {
        let few = headers(&[
            ("content-type", "application/grpc"),
            ("x-a", "1"),
            ("x-a", "2"),
        ]);
        let copy = HeadersCopy::of(&few);
        assert!(matches!(copy.0, Fields::Few(_)));
        assert_eq!(copy.to_map(), few);

        let many = headers(&[
            ("content-type", "application/grpc"),
            ("grpc-accept-encoding", "gzip"),
            ("x-a", "1"),
            ("x-b", "2"),
        ]);
        let copy = HeadersCopy::of(&many);
        assert!(matches!(copy.0, Fields::Map(_)));
        assert_eq!(copy.to_map(), many);
    }

    #[test]
    fn a_request_with_a_replayable_body_is_copied_whole() {
        #[derive(Clone, Debug, PartialEq)]
        struct Tag(u8);

        let mut request = http::Request::new(Body::from(Bytes::from_static(b"\0\0\0\0\x01x")));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from_static("/a.B/C");
        request
            .headers_mut()
            .insert("x-a", HeaderValue::from_static("1"));
        request.extensions_mut().insert(Tag(7));

        let copy = Resend::of(&mut request).unwrap().into_request();
        assert_eq!(copy.method(), Method::POST);
        assert_eq!(copy.uri(), "/a.B/C");
        assert_eq!(copy.version(), request.version());
        assert_eq!(copy.headers(), request.headers());
        assert_eq!(copy.extensions().get::<Tag>(), Some(&Tag(7)));
        assert_eq!(
            copy.body().as_bytes(),
            Some(&Bytes::from_static(b"\0\0\0\0\x01x"))
        );
    }

    #[test]
    fn a_streaming_body_is_not_copied() {
        let frames = futures_util::stream::iter([Ok::<_, grpcx_status::Status>(
            http_body::Frame::data(Bytes::from_static(b"x")),
        )]);
        let body = Body::new(http_body_util::StreamBody::new(frames));
        let mut request = http::Request::new(body);
        request.extensions_mut().insert(7u8);
        assert!(Resend::of(&mut request).is_none());
        assert_eq!(request.extensions().get::<u8>(), Some(&7));
    }
}
