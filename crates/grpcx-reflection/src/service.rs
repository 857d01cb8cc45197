//! The two services, `grpc.reflection.v1.ServerReflection` and its
//! v1alpha twin, over one [`Index`].

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use futures_util::stream;
use grpcx_status::Status;
use grpcx_transport::{Response, ServerRequest, Streaming};
use prost::Message;

use crate::codegen::BoxStream;
use crate::index::Index;
use crate::pb::{v1, v1alpha};

/// A reflection service answering from an index; the same type serves
/// both API versions (see [`Reflection::v1`](crate::Reflection::v1) and
/// [`Reflection::v1alpha`](crate::Reflection::v1alpha)).
#[derive(Clone, Debug)]
pub struct ReflectionService {
    /// Set once: at once by [`Builder::build`](crate::Builder::build), or
    /// when the server starts for [`ServerExt`](crate::ServerExt).
    index: Arc<OnceLock<Arc<Index>>>,
}

impl ReflectionService {
    pub(crate) fn new(index: Arc<OnceLock<Arc<Index>>>) -> ReflectionService {
        ReflectionService { index }
    }

    /// The index, once set (always, once the server serves).
    fn index(&self) -> Result<Arc<Index>, Status> {
        self.index.get().cloned().ok_or_else(|| {
            Status::unavailable("reflection is not ready: the server has not started")
        })
    }
}

/// Answers each request of `requests` in order, converting to and from
/// v1's messages with `to_v1` and `from_v1`. The files sent on the call
/// are not sent again (see `Index::answer`).
fn answers<Req, Resp>(
    index: Arc<Index>,
    requests: Streaming<Req>,
    to_v1: fn(Req) -> Result<v1::ServerReflectionRequest, Status>,
    from_v1: fn(v1::ServerReflectionResponse) -> Result<Resp, Status>,
) -> BoxStream<Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    let state = (index, requests, HashSet::new(), false);
    Box::pin(stream::unfold(
        state,
        move |(index, mut requests, mut sent, ended)| async move {
            if ended {
                return None;
            }
            let answer = match requests.message().await {
                Ok(Some(request)) => to_v1(request)
                    .map(|request| index.answer(request, &mut sent))
                    .and_then(from_v1),
                Ok(None) => return None,
                Err(status) => Err(status),
            };
            let ended = answer.is_err();
            Some((answer, (index, requests, sent, ended)))
        },
    ))
}

/// v1alpha's messages are v1's, field for field: convert through the
/// encoding.
fn transcode<From: Message, To: Message + Default>(message: &From) -> Result<To, Status> {
    To::decode(message.encode_to_vec().as_slice())
        .map_err(|_| Status::internal("reflection message conversion failed"))
}

impl v1::ServerReflection for ReflectionService {
    type ServerReflectionInfoStream = BoxStream<v1::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: ServerRequest<Streaming<v1::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        Ok(Response::new(answers(
            self.index()?,
            request.into_inner(),
            Ok,
            Ok,
        )))
    }
}

impl v1alpha::ServerReflection for ReflectionService {
    type ServerReflectionInfoStream = BoxStream<v1alpha::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: ServerRequest<Streaming<v1alpha::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        Ok(Response::new(answers(
            self.index()?,
            request.into_inner(),
            |request| transcode(&request),
            |response| transcode(&response),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1alpha_messages_are_v1_messages() {
        let request = v1alpha::ServerReflectionRequest {
            host: "h".to_owned(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "a.B".to_owned(),
                ),
            ),
        };
        let v1: v1::ServerReflectionRequest = transcode(&request).unwrap();
        assert_eq!(v1.host, "h");
        assert_eq!(
            v1.message_request,
            Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "a.B".to_owned()
                )
            )
        );
        let back: v1alpha::ServerReflectionRequest = transcode(&v1).unwrap();
        assert_eq!(back, request);
    }
}
