//! The four kinds of call, as methods of [`Channel`]: shorthands for
//! [`Grpc`] over the channel itself.

use futures_core::Stream;
use grpcx_codec::Codec;
use grpcx_status::Status;
use http::uri::PathAndQuery;

use super::channel::Channel;
use super::grpc::{ClientConfig, Grpc, RequestSender};
use crate::request::{Request, Response};
use crate::streaming::Streaming;

impl Channel {
    /// The encoding settings of the channel's endpoint, for a [`Grpc`] (or
    /// a generated client) over layers that hide the channel.
    pub fn config(&self) -> ClientConfig {
        let endpoint = self.endpoint();
        ClientConfig {
            max_decode_message_size: endpoint.max_decode_message_size,
            max_encode_message_size: endpoint.max_encode_message_size,
            compression: endpoint.compression,
            timeout: endpoint.timeout,
        }
    }

    fn grpc(&self) -> Grpc<Channel> {
        Grpc::new(self.clone())
    }

    /// Makes a unary call: one request, one response (see
    /// [`Grpc::unary`]).
    ///
    /// # Errors
    ///
    /// The status the server sent, or one made locally: `DEADLINE_EXCEEDED`
    /// when the deadline passed, `UNAVAILABLE` when no connection could be
    /// made or it was lost, `RESOURCE_EXHAUSTED` for a message over a size
    /// limit, `INTERNAL` for a protocol violation, `UNIMPLEMENTED` when the
    /// server sent no message or more than one.
    pub async fn unary<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        self.grpc().unary(path, request, codec).await
    }

    /// Makes a server-streaming call: one request, a stream of responses.
    ///
    /// # Errors
    ///
    /// As for [`Channel::unary`], for the response head; the stream reports
    /// what happens later.
    pub async fn server_streaming<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        self.grpc().server_streaming(path, request, codec).await
    }

    /// Makes a client-streaming call: a stream of requests, one response.
    ///
    /// # Errors
    ///
    /// As for [`Channel::unary`].
    pub async fn client_streaming<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        self.grpc().client_streaming(path, request, codec).await
    }

    /// Makes a bidirectional-streaming call: requests and responses flow
    /// independently.
    ///
    /// # Errors
    ///
    /// As for [`Channel::unary`], for the response head; the stream reports
    /// what happens later.
    pub async fn bidi_streaming_from_stream<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        self.grpc()
            .bidi_streaming_from_stream(path, request, codec)
            .await
    }

    /// Starts a bidirectional-streaming call and returns at once: a
    /// sender for the requests and the stream of responses (see
    /// [`Grpc::bidi_streaming`]).
    ///
    /// ```no_run
    /// # use grpcx_transport::{Channel, Request};
    /// # use grpcx_codec::ProstCodec;
    /// # async fn chat(channel: Channel) -> Result<(), grpcx_status::Status> {
    /// let (requests, mut responses) = channel.bidi_streaming(
    ///     http::uri::PathAndQuery::from_static("/chat.Chat/Talk"),
    ///     Request::new(()),
    ///     ProstCodec::<String, String>::default(),
    /// );
    /// requests.send("hello".to_owned()).await.ok();
    /// while let Some(reply) = responses.message().await? {
    ///     println!("{reply}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn bidi_streaming<C>(
        &self,
        path: PathAndQuery,
        request: Request<()>,
        codec: C,
    ) -> (RequestSender<C::Encode>, Streaming<C::Decode>)
    where
        C: Codec + Send + 'static,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        self.grpc().bidi_streaming(path, request, codec)
    }
}
