//! Clients for `grpc.testing.TestService` and
//! `grpc.testing.UnimplementedService`, and the client side of every interop
//! test case of gRPC's `doc/interop-test-descriptions.md`.
//!
//! The calls go through the generated [`TestServiceClient`] and
//! [`UnimplementedServiceClient`]. The cases are async functions returning
//! `Result<(), CaseError>`; [`run_case`] runs one by name, and
//! [`ALL_CASES`] lists them in the order `--test_case all` runs them.
//!
//! A case takes an [`Endpoint`] rather than a [`Channel`]: compression is a
//! channel setting in grpcx, so the compression cases open a second channel
//! to the same server with [`Endpoint::send_compression`]. Every case
//! connects its own channels, as gRPC's interop clients do.
//!
//! # What the cases cannot check
//!
//! - **Per-message compression flags.** grpcx decompresses below the API and
//!   does not expose the flag of a received message, nor `grpc-encoding`
//!   (reserved headers are not metadata). So `server_compressed_unary` and
//!   `server_compressed_streaming` check that the calls succeed and the sizes
//!   and contents of the payloads, not the flags the spec asks about.
//! - **Per-message request compression.** Compression is per channel, so in
//!   `client_compressed_streaming` the message with `expect_compressed=false`
//!   is compressed too (as with grpcio, whose interop peer does the same).

use std::fmt;
use std::time::Duration;

use grpcx::client::RequestSender;
use grpcx::codec::CompressionEncoding;
use grpcx::{Channel, Code, Endpoint, Metadata, Origin, Request, Status, Streaming};
use http::uri::PathAndQuery;

use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse, TestServiceClient, UnimplementedServiceClient,
};
use crate::server::{ECHO_INITIAL, ECHO_TRAILING};

/// Every test case, in the order `--test_case all` runs them.
pub const ALL_CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
];

/// Runs the test case `name` against the server `endpoint` points at.
///
/// `endpoint` should not set [`Endpoint::send_compression`]: every case
/// chooses its channels' compression itself.
///
/// # Errors
///
/// The assertion of the test description that did not hold, a call that
/// failed unexpectedly, a connection that could not be made, or an unknown
/// case name.
pub async fn run_case(name: &str, endpoint: &Endpoint) -> Result<(), CaseError> {
    match name {
        "empty_unary" => empty_unary(endpoint).await,
        "large_unary" => large_unary(endpoint).await,
        "client_compressed_unary" => client_compressed_unary(endpoint).await,
        "server_compressed_unary" => server_compressed_unary(endpoint).await,
        "client_streaming" => client_streaming(endpoint).await,
        "client_compressed_streaming" => client_compressed_streaming(endpoint).await,
        "server_streaming" => server_streaming(endpoint).await,
        "server_compressed_streaming" => server_compressed_streaming(endpoint).await,
        "ping_pong" => ping_pong(endpoint).await,
        "empty_stream" => empty_stream(endpoint).await,
        "cancel_after_begin" => cancel_after_begin(endpoint).await,
        "cancel_after_first_response" => cancel_after_first_response(endpoint).await,
        "timeout_on_sleeping_server" => timeout_on_sleeping_server(endpoint).await,
        "custom_metadata" => custom_metadata(endpoint).await,
        "status_code_and_message" => status_code_and_message(endpoint).await,
        "special_status_message" => special_status_message(endpoint).await,
        "unimplemented_method" => unimplemented_method(endpoint).await,
        "unimplemented_service" => unimplemented_service(endpoint).await,
        _ => Err(CaseError::new(format!("unknown test case {name:?}"))),
    }
}

/// Why a test case failed: the assertion that did not hold, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseError {
    message: String,
}

impl CaseError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> CaseError {
        CaseError {
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CaseError {}

// ---------------------------------------------------------------------------
// The test cases.
// ---------------------------------------------------------------------------

// Sizes and values from the test descriptions.
const LARGE_REQUEST_SIZE: usize = 271_828;
const LARGE_RESPONSE_SIZE: usize = 314_159;
const STREAM_REQUEST_SIZES: [usize; 4] = [27_182, 8, 1_828, 45_904];
const STREAM_RESPONSE_SIZES: [usize; 4] = [31_415, 9, 2_653, 58_979];
const INITIAL_METADATA_VALUE: &str = "test_initial_metadata_value";
const TRAILING_METADATA_VALUE: [u8; 3] = [0xab, 0xab, 0xab];
const STATUS_MESSAGE: &str = "test status message";
const SPECIAL_STATUS_MESSAGE: &str =
    "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and non-BMP \u{1F608}\t\n";

/// `empty_unary`: EmptyCall with an empty request succeeds.
///
/// # Errors
///
/// See [`run_case`].
pub async fn empty_unary(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let response = rpc("EmptyCall", client.empty_call(Empty {}).await)?;
    ensure(*response.get_ref() == Empty {}, || {
        format!(
            "EmptyCall answered {:?}, expected Empty",
            response.get_ref()
        )
    })
}

/// `large_unary`: a 271828-byte request gets a 314159-byte response.
///
/// # Errors
///
/// See [`run_case`].
pub async fn large_unary(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let response = rpc("UnaryCall", client.unary_call(large_request()).await)?;
    check_payload(
        response.get_ref().payload.as_ref(),
        LARGE_RESPONSE_SIZE,
        "UnaryCall response",
    )
}

/// `client_compressed_unary`: the uncompressed feature probe with
/// `expect_compressed=true` fails with INVALID_ARGUMENT, then a compressed
/// and an uncompressed call succeed.
///
/// # Errors
///
/// See [`run_case`].
pub async fn client_compressed_unary(endpoint: &Endpoint) -> Result<(), CaseError> {
    let plain = TestServiceClient::new(connect(endpoint).await?);
    let gzip = TestServiceClient::new(connect_compressed(endpoint).await?);

    let probe = SimpleRequest {
        expect_compressed: Some(BoolValue { value: true }),
        ..large_request()
    };
    expect_status(
        "feature probe (uncompressed, expect_compressed=true)",
        plain.unary_call(probe.clone()).await,
        Code::InvalidArgument,
        None,
    )?;

    let response = rpc(
        "compressed UnaryCall (expect_compressed=true)",
        gzip.unary_call(probe).await,
    )?;
    check_payload(
        response.get_ref().payload.as_ref(),
        LARGE_RESPONSE_SIZE,
        "compressed call's response",
    )?;

    let uncompressed = SimpleRequest {
        expect_compressed: Some(BoolValue { value: false }),
        ..large_request()
    };
    let response = rpc(
        "uncompressed UnaryCall (expect_compressed=false)",
        plain.unary_call(uncompressed).await,
    )?;
    check_payload(
        response.get_ref().payload.as_ref(),
        LARGE_RESPONSE_SIZE,
        "uncompressed call's response",
    )
}

/// `server_compressed_unary`: calls with `response_compressed` true and
/// false succeed with the right payload. The compressed flag of the
/// responses is not visible through grpcx's API and is not checked.
///
/// # Errors
///
/// See [`run_case`].
pub async fn server_compressed_unary(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    for compressed in [true, false] {
        let what = format!("UnaryCall with response_compressed={compressed}");
        let request = SimpleRequest {
            response_compressed: Some(BoolValue { value: compressed }),
            ..large_request()
        };
        let response = rpc(&what, client.unary_call(request).await)?;
        check_payload(
            response.get_ref().payload.as_ref(),
            LARGE_RESPONSE_SIZE,
            &format!("{what}: response"),
        )?;
    }
    Ok(())
}

/// `client_streaming`: four requests, then half-close; the server counts
/// 74922 payload bytes.
///
/// # Errors
///
/// See [`run_case`].
pub async fn client_streaming(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let requests = STREAM_REQUEST_SIZES.map(|size| StreamingInputCallRequest {
        payload: Some(zeros(size)),
        ..Default::default()
    });
    let response = rpc(
        "StreamingInputCall",
        client.streaming_input_call(requests).await,
    )?;
    check_aggregated_size(response.get_ref(), 74_922)
}

/// `client_compressed_streaming`: the uncompressed feature probe fails with
/// INVALID_ARGUMENT, then a compressed call of two messages succeeds.
///
/// grpcx compresses per channel, so the second message
/// (`expect_compressed=false`) is compressed as well.
///
/// # Errors
///
/// See [`run_case`].
pub async fn client_compressed_streaming(endpoint: &Endpoint) -> Result<(), CaseError> {
    let plain = TestServiceClient::new(connect(endpoint).await?);
    let gzip = TestServiceClient::new(connect_compressed(endpoint).await?);
    let request = |size: usize, expect_compressed: bool| StreamingInputCallRequest {
        payload: Some(zeros(size)),
        expect_compressed: Some(BoolValue {
            value: expect_compressed,
        }),
    };

    expect_status(
        "feature probe (uncompressed, expect_compressed=true)",
        plain.streaming_input_call([request(27_182, true)]).await,
        Code::InvalidArgument,
        None,
    )?;

    let requests = [request(27_182, true), request(45_904, false)];
    let response = rpc(
        "compressed StreamingInputCall",
        gzip.streaming_input_call(requests).await,
    )?;
    check_aggregated_size(response.get_ref(), 73_086)
}

/// `server_streaming`: one request asks for four responses of given sizes.
///
/// # Errors
///
/// See [`run_case`].
pub async fn server_streaming(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let request = StreamingOutputCallRequest {
        response_parameters: STREAM_RESPONSE_SIZES
            .iter()
            .map(|&size| response_parameters(size, None))
            .collect(),
        ..Default::default()
    };
    let response = rpc(
        "StreamingOutputCall",
        client.streaming_output_call(request).await,
    )?;
    let responses = rpc(
        "StreamingOutputCall's response stream",
        collect(response.into_inner()).await,
    )?;
    check_sizes(&responses, &STREAM_RESPONSE_SIZES)
}

/// `server_compressed_streaming`: one request asks for a compressed and an
/// uncompressed response. The compressed flags are not visible through
/// grpcx's API and are not checked; sizes and contents are.
///
/// # Errors
///
/// See [`run_case`].
pub async fn server_compressed_streaming(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let request = StreamingOutputCallRequest {
        response_parameters: vec![
            response_parameters(31_415, Some(true)),
            response_parameters(92_653, Some(false)),
        ],
        ..Default::default()
    };
    let response = rpc(
        "StreamingOutputCall",
        client.streaming_output_call(request).await,
    )?;
    let responses = rpc(
        "StreamingOutputCall's response stream",
        collect(response.into_inner()).await,
    )?;
    check_sizes(&responses, &[31_415, 92_653])
}

/// `ping_pong`: four request/response rounds on one FullDuplexCall, then
/// half-close; the call ends OK with no further response.
///
/// # Errors
///
/// See [`run_case`].
pub async fn ping_pong(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let (sender, mut responses) = client.full_duplex_call();
    let ping = |request_size: usize, response_size: usize| StreamingOutputCallRequest {
        response_parameters: vec![response_parameters(response_size, None)],
        payload: Some(zeros(request_size)),
        ..Default::default()
    };
    let rounds = STREAM_REQUEST_SIZES.into_iter().zip(STREAM_RESPONSE_SIZES);
    for (index, (request_size, response_size)) in rounds.enumerate() {
        send(&sender, ping(request_size, response_size), "FullDuplexCall").await?;
        let what = format!("response #{index}");
        let Some(response) = rpc(&what, responses.message().await)? else {
            return Err(CaseError::new(format!(
                "the response stream ended before {what}"
            )));
        };
        check_payload(response.payload.as_ref(), response_size, &what)?;
    }
    drop(sender); // Half-close.
    let extra = rpc(
        "FullDuplexCall after the half-close",
        collect(responses).await,
    )?;
    ensure(extra.is_empty(), || {
        format!("got {} responses after the 4th, expected none", extra.len())
    })
}

/// `empty_stream`: a FullDuplexCall that half-closes at once ends OK with no
/// response.
///
/// # Errors
///
/// See [`run_case`].
pub async fn empty_stream(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let (sender, responses) = client.full_duplex_call();
    drop(sender); // Half-close at once.
    let responses = rpc("FullDuplexCall's response stream", collect(responses).await)?;
    ensure(responses.is_empty(), || {
        format!("got {} responses, expected exactly zero", responses.len())
    })
}

/// `cancel_after_begin`: a StreamingInputCall is cancelled once its headers
/// are sent, before any message; the call ends with CANCELLED.
///
/// # Errors
///
/// See [`run_case`].
pub async fn cancel_after_begin(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    // The generated client-streaming method waits for the response; a
    // call cancelled before its first message needs the sender and the
    // response stream of the channel's bidirectional call.
    let (_sender, mut responses) = client.get_ref().bidi_streaming(
        PathAndQuery::from_static("/grpc.testing.TestService/StreamingInputCall"),
        Request::new(()),
        grpcx::codec::ProstCodec::<StreamingInputCallRequest, StreamingInputCallResponse>::default(
        ),
    );
    // One poll starts the call: the request headers go out on the
    // connected channel, and the call waits for the server.
    if let Some(early) = futures_util::FutureExt::now_or_never(responses.message()) {
        return Err(CaseError::new(format!(
            "StreamingInputCall ended before it was cancelled: {}",
            match early {
                Ok(Some(_)) => "a response".to_owned(),
                Ok(None) => "OK".to_owned(),
                Err(status) => format!("{status:#}"),
            }
        )));
    }
    responses.cancel();
    expect_cancelled(responses.message().await, "StreamingInputCall")?;
    channel_still_works(&client, "cancelled StreamingInputCall").await
}

/// `cancel_after_first_response`: a FullDuplexCall is cancelled after its
/// first response; the call ends with CANCELLED.
///
/// # Errors
///
/// See [`run_case`].
pub async fn cancel_after_first_response(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let (sender, mut responses) = client.full_duplex_call();
    send(
        &sender,
        StreamingOutputCallRequest {
            response_parameters: vec![response_parameters(31_415, None)],
            payload: Some(zeros(27_182)),
            ..Default::default()
        },
        "FullDuplexCall",
    )
    .await?;
    let Some(first) = rpc("first response", responses.message().await)? else {
        return Err(CaseError::new(
            "the response stream ended before the first response",
        ));
    };
    check_payload(first.payload.as_ref(), 31_415, "first response")?;
    responses.cancel();
    expect_cancelled(responses.message().await, "FullDuplexCall")?;
    drop(sender);
    channel_still_works(&client, "cancelled FullDuplexCall").await
}

/// Checks that a cancelled call reports CANCELLED, made by this client.
fn expect_cancelled<T>(result: Result<Option<T>, Status>, call: &str) -> Result<(), CaseError> {
    match result {
        Err(status) if status.code() == Code::Cancelled && status.origin() == Origin::Cancelled => {
            Ok(())
        }
        Err(status) => Err(CaseError::new(format!(
            "{call}: expected CANCELLED after cancelling, got {status:#}"
        ))),
        Ok(_) => Err(CaseError::new(format!(
            "{call}: expected CANCELLED after cancelling, got a message or OK"
        ))),
    }
}

/// `timeout_on_sleeping_server`: a FullDuplexCall with a 1 ms timeout whose
/// request asks for no response ends with DEADLINE_EXCEEDED.
///
/// # Errors
///
/// See [`run_case`].
pub async fn timeout_on_sleeping_server(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    let request = Request::new(()).with_timeout(Duration::from_millis(1));
    let (sender, responses) = client.full_duplex_call_with(request);
    // The deadline may pass before or after the request is sent; either
    // way the call must end with it.
    let _ = sender
        .send(StreamingOutputCallRequest {
            payload: Some(zeros(27_182)),
            ..Default::default()
        })
        .await;
    let result = collect(responses).await;
    drop(sender);
    let status = match result {
        Ok(responses) => {
            return Err(CaseError::new(format!(
                "FullDuplexCall ended OK with {} responses, expected DEADLINE_EXCEEDED",
                responses.len()
            )));
        }
        Err(status) => status,
    };
    ensure(status.code() == Code::DeadlineExceeded, || {
        format!("FullDuplexCall ended with {status:#}, expected DEADLINE_EXCEEDED")
    })
}

/// `custom_metadata`: the echo metadata comes back in the initial and
/// trailing metadata of a UnaryCall and of a FullDuplexCall.
///
/// # Errors
///
/// See [`run_case`].
pub async fn custom_metadata(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);

    let request = with_echo_metadata(large_request())?;
    let response = rpc("UnaryCall", client.unary_call(request).await)?;
    check_payload(
        response.get_ref().payload.as_ref(),
        LARGE_RESPONSE_SIZE,
        "UnaryCall response",
    )?;
    check_echo(response.metadata(), response.trailers(), "UnaryCall")?;

    let request = StreamingOutputCallRequest {
        response_parameters: vec![response_parameters(LARGE_RESPONSE_SIZE, None)],
        payload: Some(zeros(LARGE_REQUEST_SIZE)),
        ..Default::default()
    };
    let (sender, mut stream) = client.full_duplex_call_with(with_echo_metadata(())?);
    send(&sender, request, "FullDuplexCall").await?;
    drop(sender);
    let responses = rpc(
        "FullDuplexCall's response stream",
        collect_from(&mut stream).await,
    )?;
    check_sizes(&responses, &[LARGE_RESPONSE_SIZE])?;
    let Some(trailers) = stream.trailers() else {
        return Err(CaseError::new(
            "FullDuplexCall: no trailing metadata after the end of the stream",
        ));
    };
    check_echo(stream.initial_metadata(), trailers, "FullDuplexCall")
}

/// `status_code_and_message`: the status a UnaryCall and a FullDuplexCall
/// ask for comes back with its code and message.
///
/// # Errors
///
/// See [`run_case`].
pub async fn status_code_and_message(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    echo_status_unary(&client, STATUS_MESSAGE).await?;

    let request = StreamingOutputCallRequest {
        response_status: Some(echo_status(STATUS_MESSAGE)),
        ..Default::default()
    };
    let (sender, responses) = client.full_duplex_call();
    send(&sender, request, "FullDuplexCall").await?;
    drop(sender);
    let result = collect(responses).await;
    expect_status(
        "FullDuplexCall",
        result,
        Code::Unknown,
        Some(STATUS_MESSAGE),
    )?;
    Ok(())
}

/// `special_status_message`: a status message with whitespace, BMP and
/// non-BMP characters comes back unchanged.
///
/// # Errors
///
/// See [`run_case`].
pub async fn special_status_message(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    echo_status_unary(&client, SPECIAL_STATUS_MESSAGE).await
}

/// `unimplemented_method`: `TestService/UnimplementedCall` ends with
/// UNIMPLEMENTED.
///
/// # Errors
///
/// See [`run_case`].
pub async fn unimplemented_method(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = TestServiceClient::new(connect(endpoint).await?);
    expect_status(
        "TestService/UnimplementedCall",
        client.unimplemented_call(Empty {}).await,
        Code::Unimplemented,
        None,
    )?;
    Ok(())
}

/// `unimplemented_service`: `UnimplementedService/UnimplementedCall` ends
/// with UNIMPLEMENTED.
///
/// # Errors
///
/// See [`run_case`].
pub async fn unimplemented_service(endpoint: &Endpoint) -> Result<(), CaseError> {
    let client = UnimplementedServiceClient::new(connect(endpoint).await?);
    expect_status(
        "UnimplementedService/UnimplementedCall",
        client.unimplemented_call(Empty {}).await,
        Code::Unimplemented,
        None,
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// A connected channel that does not compress requests.
async fn connect(endpoint: &Endpoint) -> Result<Channel, CaseError> {
    connect_with(endpoint, CompressionEncoding::Identity).await
}

/// A connected channel that gzips every request message.
async fn connect_compressed(endpoint: &Endpoint) -> Result<Channel, CaseError> {
    connect_with(endpoint, CompressionEncoding::Gzip).await
}

async fn connect_with(
    endpoint: &Endpoint,
    encoding: CompressionEncoding,
) -> Result<Channel, CaseError> {
    endpoint
        .clone()
        .send_compression(encoding)
        .connect()
        .await
        .map_err(|err| CaseError::new(error_chain(&err)))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), CaseError> {
    if condition {
        Ok(())
    } else {
        Err(CaseError::new(message()))
    }
}

/// The result of a call that must succeed.
fn rpc<T>(what: &str, result: Result<T, Status>) -> Result<T, CaseError> {
    result.map_err(|status| CaseError::new(format!("{what} failed: {status:#}")))
}

/// Checks that a call failed with a status the server sent, with `code`
/// (and `message`, if given); returns that status.
fn expect_status<T>(
    what: &str,
    result: Result<T, Status>,
    code: Code,
    message: Option<&str>,
) -> Result<Status, CaseError> {
    let status = match result {
        Ok(_) => {
            return Err(CaseError::new(format!(
                "{what} succeeded, expected status {code}"
            )));
        }
        Err(status) => status,
    };
    ensure(status.code() == code, || {
        format!("{what} ended with {status:#}, expected {code}")
    })?;
    // A status grpcx made up locally with the same code (say UNIMPLEMENTED
    // for a response without a message) must not pass for the server's.
    ensure(status.origin() == Origin::Peer, || {
        format!("{what} ended with {status:#}, made locally; expected {code} from the server")
    })?;
    if let Some(message) = message {
        ensure(status.message() == message, || {
            format!(
                "{what}: status message is {:?}, expected {message:?}",
                status.message()
            )
        })?;
    }
    Ok(status)
}

async fn echo_status_unary(client: &TestServiceClient, message: &str) -> Result<(), CaseError> {
    let request = SimpleRequest {
        response_status: Some(echo_status(message)),
        ..Default::default()
    };
    expect_status(
        "UnaryCall",
        client.unary_call(request).await,
        Code::Unknown,
        Some(message),
    )?;
    Ok(())
}

fn echo_status(message: &str) -> EchoStatus {
    EchoStatus {
        code: Code::Unknown.as_i32(),
        message: message.to_owned(),
    }
}

fn zeros(size: usize) -> Payload {
    Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; size],
    }
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_type: PayloadType::Compressable as i32,
        response_size: LARGE_RESPONSE_SIZE as i32,
        payload: Some(zeros(LARGE_REQUEST_SIZE)),
        ..Default::default()
    }
}

fn response_parameters(size: usize, compressed: Option<bool>) -> ResponseParameters {
    ResponseParameters {
        size: i32::try_from(size).unwrap_or(i32::MAX),
        interval_us: 0,
        compressed: compressed.map(|value| BoolValue { value }),
    }
}

/// The payload is `size` zero bytes of type COMPRESSABLE.
fn check_payload(payload: Option<&Payload>, size: usize, what: &str) -> Result<(), CaseError> {
    let Some(payload) = payload else {
        return Err(CaseError::new(format!("{what} has no payload")));
    };
    ensure(payload.r#type == PayloadType::Compressable as i32, || {
        format!(
            "{what} payload type is {}, expected COMPRESSABLE (0)",
            payload.r#type
        )
    })?;
    ensure(payload.body.len() == size, || {
        format!(
            "{what} payload body is {} bytes, expected {size}",
            payload.body.len()
        )
    })?;
    ensure(payload.body.iter().all(|&b| b == 0), || {
        format!("{what} payload body is not all zeros")
    })
}

fn check_sizes(
    responses: &[StreamingOutputCallResponse],
    sizes: &[usize],
) -> Result<(), CaseError> {
    ensure(responses.len() == sizes.len(), || {
        let got: Vec<usize> = responses
            .iter()
            .map(|r| r.payload.as_ref().map_or(0, |p| p.body.len()))
            .collect();
        format!(
            "got {} responses (payload sizes {got:?}), expected exactly {} (sizes {sizes:?})",
            responses.len(),
            sizes.len()
        )
    })?;
    for (index, (response, &size)) in responses.iter().zip(sizes).enumerate() {
        check_payload(
            response.payload.as_ref(),
            size,
            &format!("response #{index}"),
        )?;
    }
    Ok(())
}

fn check_aggregated_size(
    response: &StreamingInputCallResponse,
    expected: i32,
) -> Result<(), CaseError> {
    ensure(response.aggregated_payload_size == expected, || {
        format!(
            "aggregated_payload_size is {}, expected {expected}",
            response.aggregated_payload_size
        )
    })
}

fn with_echo_metadata<T>(message: T) -> Result<Request<T>, CaseError> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata
        .insert(ECHO_INITIAL, INITIAL_METADATA_VALUE)
        .and_then(|()| metadata.insert_bin(ECHO_TRAILING, TRAILING_METADATA_VALUE))
        .map_err(|err| CaseError::new(format!("could not set the echo metadata: {err}")))?;
    Ok(request)
}

fn check_echo(initial: &Metadata, trailing: &Metadata, what: &str) -> Result<(), CaseError> {
    let values: Vec<&str> = initial.get_all(ECHO_INITIAL).collect();
    ensure(values == [INITIAL_METADATA_VALUE], || {
        format!(
            "{what}: initial metadata {ECHO_INITIAL} is {values:?}, \
             expected [{INITIAL_METADATA_VALUE:?}]"
        )
    })?;
    let values: Vec<Result<Vec<u8>, _>> = trailing.get_all_bin(ECHO_TRAILING).collect();
    ensure(
        values.len() == 1 && values[0].as_deref() == Ok(&TRAILING_METADATA_VALUE[..]),
        || {
            format!(
                "{what}: trailing metadata {ECHO_TRAILING} is {values:?}, \
                 expected [{TRAILING_METADATA_VALUE:?}]"
            )
        },
    )
}

/// Every message of a response stream, or the status it failed with.
async fn collect<T>(mut stream: Streaming<T>) -> Result<Vec<T>, Status> {
    collect_from(&mut stream).await
}

async fn collect_from<T>(stream: &mut Streaming<T>) -> Result<Vec<T>, Status> {
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await? {
        messages.push(message);
    }
    Ok(messages)
}

/// Sends `message` on the request stream of the call `what`.
async fn send<T>(sender: &RequestSender<T>, message: T, what: &str) -> Result<(), CaseError> {
    sender
        .send(message)
        .await
        .map_err(|_| CaseError::new(format!("{what} ended before its request was sent")))
}

/// After a cancellation: a new call on the same channel still succeeds.
async fn channel_still_works(client: &TestServiceClient, after: &str) -> Result<(), CaseError> {
    rpc(
        &format!("EmptyCall on the same channel after the {after}"),
        client.empty_call(Empty {}).await,
    )?;
    Ok(())
}
