#!/usr/bin/env python3
"""grpcio interop server: grpc.testing.TestService as described by gRPC's
doc/interop-test-descriptions.md ("Server" section).

Usage:
    python interop_server.py --port N [--host 127.0.0.1]
        [--skip_compression_check] [--verbose]

Once serving it prints exactly one line to stdout, ``listening on HOST:PORT``
(with the real port when ``--port 0`` was given; the port is whatever follows
the last colon), flushes, and then serves until SIGTERM or SIGINT. Logs go to
stderr.

Server features: EmptyCall, UnaryCall, StreamingOutputCall, StreamingInputCall,
FullDuplexCall, HalfDuplexCall, CompressedRequest, CompressedResponse, Echo
Status, Echo Metadata, Observe ResponseParameters.interval_us. UnimplementedCall
returns UNIMPLEMENTED, and grpc.testing.UnimplementedService is not registered,
so every call to it is UNIMPLEMENTED. Not implemented: CacheableUnaryCall
(UNIMPLEMENTED) and the auth echoes (fill_username/fill_oauth_scope are ignored).

CompressedRequest: a request with ``expect_compressed=true`` whose message did
not arrive compressed fails with INVALID_ARGUMENT. grpcio normally hides that
(core inflates messages and drops the flag), so the server turns core's
per-message decompression off and inflates messages itself (see
interop_common.inflate). ``expect_compressed=false`` is not enforced: a
compressed message is accepted either way. With ``--skip_compression_check`` the
server instead behaves like grpc's own Python interop server
(src/python/grpcio_tests/tests/interop/service.py) and ignores
expect_compressed altogether.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from typing import Any

from interop_common import (
    INITIAL_METADATA_KEY,
    RAW_MESSAGES_OPTION,
    TEST_SERVICE,
    TRAILING_METADATA_KEY,
    Received,
    empty_pb2,
    grpc,
    inflating_deserializer,
    messages_pb2,
    setup_logging,
    status_from_code,
)

_log = logging.getLogger("interop_server")

_US_PER_SECOND = 1_000_000


# --------------------------------------------------------------------------
# Helpers shared by the handlers.
# --------------------------------------------------------------------------


def _zero_payload(size: int, context: grpc.ServicerContext) -> messages_pb2.Payload:
    """A COMPRESSABLE payload of `size` zero bytes."""
    if size < 0:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"negative payload size {size}")
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def _check_response_type(response_type: int, context: grpc.ServicerContext) -> None:
    """Only COMPRESSABLE exists; anything else is INVALID_ARGUMENT per the spec."""
    if response_type != messages_pb2.COMPRESSABLE:
        context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"unsupported response_type {response_type}"
        )


def _echo_metadata(context: grpc.ServicerContext) -> bool:
    """Echo Metadata feature. Returns True if initial metadata was sent.

    Must run after any set_compression(): grpcio conveys the compression choice
    in the initial metadata.
    """
    initial: list[tuple[str, str | bytes]] = []
    trailing: list[tuple[str, str | bytes]] = []
    for key, value in context.invocation_metadata():
        if key == INITIAL_METADATA_KEY:
            initial.append((key, value))
        elif key == TRAILING_METADATA_KEY:
            trailing.append((key, value))
    if trailing:
        context.set_trailing_metadata(tuple(trailing))
    if initial:
        context.send_initial_metadata(tuple(initial))
        return True
    return False


def _maybe_echo_status(request: Any, context: grpc.ServicerContext) -> None:
    """Echo Status feature: end the call with the requested status, if any.

    Called before the request's responses are produced, so a request carrying a
    non-OK response_status gets no responses of its own and nothing after it
    is processed. A code of 0 (OK) is ignored.
    """
    if not request.HasField("response_status"):
        return
    echo = request.response_status
    if echo.code == 0:
        return
    status = status_from_code(echo.code)
    if status.value[0] != echo.code:
        _log.warning("status code %d is not a gRPC code; sending UNKNOWN", echo.code)
    context.abort(status, echo.message)


class _StreamResponder:
    """Builds StreamingOutputCallResponses for ResponseParameters, honouring
    ``interval_us`` and, as far as grpcio allows, ``compressed``.

    grpcio fixes a call's compression algorithm in its initial metadata and can
    only turn compression *off* for single messages afterwards
    (disable_next_message_compression). So gzip is enabled for the call when a
    response asking for compression is known before headers go out, and every
    message whose parameters do not ask for compression is sent with the
    compressed flag cleared. A response asking for compression once the headers
    are already out (possible only in FullDuplexCall) is sent uncompressed,
    with a warning.
    """

    def __init__(self, context: grpc.ServicerContext, *, gzip: bool) -> None:
        self._context = context
        self._gzip = gzip
        self._headers_sent = False
        if gzip:
            context.set_compression(grpc.Compression.Gzip)

    def echo_metadata(self) -> None:
        if _echo_metadata(self._context):
            self._headers_sent = True

    def response(
        self, params: messages_pb2.ResponseParameters
    ) -> messages_pb2.StreamingOutputCallResponse:
        """Sleep for interval_us, then return the response to yield next."""
        wants_gzip = params.compressed.value
        if wants_gzip and not self._gzip:
            if self._headers_sent:
                _log.warning("compressed response requested after headers were sent; "
                             "sending it uncompressed")
            else:
                self._context.set_compression(grpc.Compression.Gzip)
                self._gzip = True
        if params.interval_us > 0:
            time.sleep(params.interval_us / _US_PER_SECOND)
        payload = _zero_payload(params.size, self._context)
        if self._gzip and not wants_gzip:
            # Applies to the message the caller yields next.
            self._context.disable_next_message_compression()
        self._headers_sent = True
        return messages_pb2.StreamingOutputCallResponse(payload=payload)


# --------------------------------------------------------------------------
# The service.
# --------------------------------------------------------------------------


class TestService:
    """grpc.testing.TestService per the interop test descriptions.

    Handlers receive Received[...] wrappers rather than bare messages (see
    generic_handler()), which is why this does not derive from the generated
    TestServiceServicer; register it with generic_handler().
    """

    def __init__(self, *, verify_compression: bool) -> None:
        self._verify_compression = verify_compression

    def _check_expect_compressed(
        self, request: Any, compressed: bool, context: grpc.ServicerContext
    ) -> None:
        """CompressedRequest feature (only expect_compressed=true is enforced)."""
        if not (request.HasField("expect_compressed") and request.expect_compressed.value):
            return
        if not self._verify_compression:
            _log.debug("expect_compressed=true accepted unverified (--skip_compression_check)")
            return
        if not compressed:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "expect_compressed is set but the request message was not compressed",
            )

    def EmptyCall(
        self, received: Received[empty_pb2.Empty], context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        _echo_metadata(context)
        return empty_pb2.Empty()

    def UnaryCall(
        self, received: Received[messages_pb2.SimpleRequest], context: grpc.ServicerContext
    ) -> messages_pb2.SimpleResponse:
        request = received.message
        # CompressedResponse: decide before any initial metadata is sent.
        if request.HasField("response_compressed"):
            context.set_compression(
                grpc.Compression.Gzip
                if request.response_compressed.value
                else grpc.Compression.NoCompression
            )
        _echo_metadata(context)
        _check_response_type(request.response_type, context)
        self._check_expect_compressed(request, received.compressed, context)
        _maybe_echo_status(request, context)
        return messages_pb2.SimpleResponse(
            payload=_zero_payload(request.response_size, context)
        )

    def StreamingOutputCall(
        self,
        received: Received[messages_pb2.StreamingOutputCallRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[messages_pb2.StreamingOutputCallResponse]:
        request = received.message
        responder = _StreamResponder(
            context, gzip=any(p.compressed.value for p in request.response_parameters)
        )
        responder.echo_metadata()
        _check_response_type(request.response_type, context)
        _maybe_echo_status(request, context)
        for params in request.response_parameters:
            yield responder.response(params)

    def StreamingInputCall(
        self,
        request_iterator: Iterable[Received[messages_pb2.StreamingInputCallRequest]],
        context: grpc.ServicerContext,
    ) -> messages_pb2.StreamingInputCallResponse:
        _echo_metadata(context)
        total = 0
        for received in request_iterator:
            self._check_expect_compressed(received.message, received.compressed, context)
            total += len(received.message.payload.body)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(
        self,
        request_iterator: Iterable[Received[messages_pb2.StreamingOutputCallRequest]],
        context: grpc.ServicerContext,
    ) -> Iterator[messages_pb2.StreamingOutputCallResponse]:
        # Echoed initial metadata goes out at once (as grpc's own servers do),
        # not when the first request arrives.
        responder = _StreamResponder(context, gzip=False)
        responder.echo_metadata()
        for received in request_iterator:
            request = received.message
            _check_response_type(request.response_type, context)
            _maybe_echo_status(request, context)
            for params in request.response_parameters:
                yield responder.response(params)

    def HalfDuplexCall(
        self,
        request_iterator: Iterable[Received[messages_pb2.StreamingOutputCallRequest]],
        context: grpc.ServicerContext,
    ) -> Iterator[messages_pb2.StreamingOutputCallResponse]:
        # Half duplex: read every request until the client half-closes, then
        # answer them in order.
        requests = [received.message for received in request_iterator]
        responder = _StreamResponder(
            context,
            gzip=any(p.compressed.value for r in requests for p in r.response_parameters),
        )
        responder.echo_metadata()
        for request in requests:
            _check_response_type(request.response_type, context)
            _maybe_echo_status(request, context)
            for params in request.response_parameters:
                yield responder.response(params)

    def UnimplementedCall(
        self, received: Received[empty_pb2.Empty], context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{TEST_SERVICE}/UnimplementedCall is not implemented",
        )


def generic_handler(service: TestService) -> grpc.GenericRpcHandler:
    """grpc.testing.TestService's methods. Their request deserializers
    (interop_common.inflating_deserializer) hand each handler Received[...]
    requests that say whether the message arrived compressed.

    CacheableUnaryCall is left out, so grpcio answers it with UNIMPLEMENTED.
    """
    empty, msgs = empty_pb2, messages_pb2

    def unary_unary(behaviour: Callable[..., Any], request: Any, response: Any):
        return grpc.unary_unary_rpc_method_handler(
            behaviour, inflating_deserializer(request), response.SerializeToString)

    def unary_stream(behaviour: Callable[..., Any], request: Any, response: Any):
        return grpc.unary_stream_rpc_method_handler(
            behaviour, inflating_deserializer(request), response.SerializeToString)

    def stream_unary(behaviour: Callable[..., Any], request: Any, response: Any):
        return grpc.stream_unary_rpc_method_handler(
            behaviour, inflating_deserializer(request), response.SerializeToString)

    def stream_stream(behaviour: Callable[..., Any], request: Any, response: Any):
        return grpc.stream_stream_rpc_method_handler(
            behaviour, inflating_deserializer(request), response.SerializeToString)

    return grpc.method_handlers_generic_handler(TEST_SERVICE, {
        "EmptyCall": unary_unary(service.EmptyCall, empty.Empty, empty.Empty),
        "UnaryCall": unary_unary(service.UnaryCall, msgs.SimpleRequest, msgs.SimpleResponse),
        "StreamingOutputCall": unary_stream(service.StreamingOutputCall,
                                            msgs.StreamingOutputCallRequest,
                                            msgs.StreamingOutputCallResponse),
        "StreamingInputCall": stream_unary(service.StreamingInputCall,
                                           msgs.StreamingInputCallRequest,
                                           msgs.StreamingInputCallResponse),
        "FullDuplexCall": stream_stream(service.FullDuplexCall,
                                        msgs.StreamingOutputCallRequest,
                                        msgs.StreamingOutputCallResponse),
        "HalfDuplexCall": stream_stream(service.HalfDuplexCall,
                                        msgs.StreamingOutputCallRequest,
                                        msgs.StreamingOutputCallResponse),
        "UnimplementedCall": unary_unary(service.UnimplementedCall, empty.Empty, empty.Empty),
    })


# --------------------------------------------------------------------------
# Entry point.
# --------------------------------------------------------------------------


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="port to listen on; 0 picks one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--use_tls", type=_parse_bool, nargs="?", const=True, default=False,
        help="not supported: this peer only speaks plaintext",
    )
    parser.add_argument(
        "--skip_compression_check", action="store_true",
        help="accept expect_compressed=true without checking the message was compressed "
             "(what grpc's own Python interop server does)",
    )
    parser.add_argument("--max_workers", type=int, default=32,
                        help="handler threads; each open streaming call holds one")
    parser.add_argument("--verbose", action="store_true", help="debug logging to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    setup_logging(args.verbose, "interop_server")
    if args.use_tls:
        _log.error("--use_tls is not supported: this peer only speaks plaintext")
        return 2

    # so_reuseport off: a port clash must fail loudly instead of two servers
    # silently sharing the port.
    options: list[tuple[str, Any]] = [("grpc.so_reuseport", 0)]
    verify_compression = not args.skip_compression_check
    if verify_compression:
        options.append(RAW_MESSAGES_OPTION)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.max_workers), options=options
    )
    server.add_generic_rpc_handlers(
        (generic_handler(TestService(verify_compression=verify_compression)),)
    )

    bind_host = f"[{args.host}]" if ":" in args.host else args.host
    try:
        port = server.add_insecure_port(f"{bind_host}:{args.port}")
    except RuntimeError as err:  # grpcio raises on bind failure
        _log.error("cannot listen on %s:%d: %s", args.host, args.port, err)
        return 1
    if port == 0:  # older grpcio signalled failure this way
        _log.error("cannot listen on %s:%d", args.host, args.port)
        return 1

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        _log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    server.start()
    print(f"listening on {args.host}:{port}", flush=True)
    _log.info("serving %s on %s:%d (plaintext, request compression %s)", TEST_SERVICE,
              args.host, port, "verified" if verify_compression else "not verified")
    while not stop.wait(timeout=1.0):
        pass
    server.stop(grace=1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
