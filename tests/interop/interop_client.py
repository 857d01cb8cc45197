#!/usr/bin/env python3
"""grpcio interop client: the test cases of gRPC's doc/interop-test-descriptions.md.

Usage:
    python interop_client.py --server_port N --test_case NAME
        [--server_host 127.0.0.1] [--server_host_override AUTHORITY]
        [--timeout 30] [--lenient_compression_probe] [--verbose]
        [--use_tls=false]

NAME is one of the cases in TEST_CASES below, or ``all`` to run every case in
that order. stdout gets one line per case, ``PASS <case>`` or
``FAIL <case>: <reason>``, then a summary ``N passed, N failed``; the exit
status is 0 only if every case passed. Logs go to stderr.

Every RPC carries a deadline of --timeout seconds (default 30) unless the case
prescribes its own, so a case can never hang.

Compression (see README.md):
* server_compressed_unary/server_compressed_streaming check each response
  message's compressed flag, which grpcio normally hides: they use a channel
  with core's per-message decompression off and inflate the messages themselves
  (interop_common.inflate).
* grpcio compresses whole calls and cannot clear the compressed flag of a
  single request message, so in client_compressed_streaming the second message
  (expect_compressed=false) is gzip-compressed like the first.
* The uncompressed feature probe of client_compressed_unary/streaming must be
  rejected with INVALID_ARGUMENT, as the spec asserts. --lenient_compression_probe
  accepts a successful probe instead (with a warning), for servers that cannot
  inspect request compression (e.g. interop_server.py --skip_compression_check,
  or grpc's own Python interop server).
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
    test_pb2_grpc,
)

_log = logging.getLogger("interop_client")

# Sizes from the test descriptions.
_LARGE_REQUEST_SIZE = 271828
_LARGE_RESPONSE_SIZE = 314159
_STREAM_REQUEST_SIZES = (27182, 8, 1828, 45904)  # sum 74922
_STREAM_RESPONSE_SIZES = (31415, 9, 2653, 58979)

_INITIAL_METADATA_VALUE = "test_initial_metadata_value"
_TRAILING_METADATA_VALUE = b"\xab\xab\xab"
_STATUS_CODE = 2  # UNKNOWN
_STATUS_MESSAGE = "test status message"
_SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"


class InteropFailure(Exception):
    """A client assertion of the test descriptions did not hold."""


@dataclass
class CaseContext:
    """What a test case runs against."""

    target: str
    options: list[tuple[str, Any]]
    channel: grpc.Channel
    stub: test_pb2_grpc.TestServiceStub
    timeout: float
    lenient_compression_probe: bool

    @contextmanager
    def raw_channel(self) -> Iterator[grpc.Channel]:
        """A second channel on which compressed responses reach the
        deserializer as sent (see interop_common.RAW_MESSAGES_OPTION)."""
        with grpc.insecure_channel(self.target,
                                   options=[*self.options, RAW_MESSAGES_OPTION]) as channel:
            yield channel


# --------------------------------------------------------------------------
# Assertion helpers.
# --------------------------------------------------------------------------


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise InteropFailure(message)


def _zeros(size: int) -> messages_pb2.Payload:
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def _check_payload(payload: messages_pb2.Payload, size: int, what: str = "response") -> None:
    """Payload body is `size` zero bytes (the spec lets clients check contents)."""
    _expect(payload.type == messages_pb2.COMPRESSABLE,
            f"{what} payload type is {payload.type}, expected COMPRESSABLE")
    _expect(len(payload.body) == size,
            f"{what} payload body is {len(payload.body)} bytes, expected {size}")
    _expect(payload.body.count(0) == size, f"{what} payload body is not all zeros")


def _check_sizes(responses: Sequence[Any], sizes: Sequence[int]) -> None:
    _expect(len(responses) == len(sizes),
            f"got {len(responses)} responses, expected exactly {len(sizes)}")
    for index, (response, size) in enumerate(zip(responses, sizes, strict=True)):
        _check_payload(response.payload, size, f"response #{index}")


def _check_compressed(received: Received[Any], expected: bool, what: str) -> None:
    """The message's compressed flag is as the request asked (raw_channel() only)."""
    _expect(received.compressed == expected,
            f"{what} was sent {'compressed' if received.compressed else 'uncompressed'}, "
            f"expected {'compressed' if expected else 'uncompressed'}")


def _expect_rpc_error(
    action: Callable[[], object], code: grpc.StatusCode, details: str | None = None
) -> None:
    """Run `action`, which must fail with `code` (and `details`, if given)."""
    try:
        action()
    except grpc.RpcError as err:
        _expect(err.code() == code,
                f"call ended with {err.code()} ({err.details()!r}), expected {code}")
        if details is not None:
            _expect(err.details() == details,
                    f"status message is {err.details()!r}, expected {details!r}")
        return
    raise InteropFailure(f"call succeeded, expected status {code}")


def _compression_probe(ctx: CaseContext, action: Callable[[], object]) -> None:
    """The CompressedRequest feature probe: an uncompressed message with
    expect_compressed=true must be rejected with INVALID_ARGUMENT."""
    try:
        action()
    except grpc.RpcError as err:
        _expect(err.code() == grpc.StatusCode.INVALID_ARGUMENT,
                f"feature probe ended with {err.code()} ({err.details()!r}), "
                "expected INVALID_ARGUMENT")
        return
    if ctx.lenient_compression_probe:
        _log.warning("feature probe succeeded: the server does not verify request "
                     "compression; continuing (--lenient_compression_probe)")
        return
    raise InteropFailure("feature probe (uncompressed, expect_compressed=true) succeeded; "
                         "expected INVALID_ARGUMENT")


class _RequestQueue:
    """Request iterator for streaming calls, fed while the call runs.

    grpcio consumes it on its own thread; close() half-closes the stream.
    Always close() it, or that thread stays blocked.
    """

    _HALF_CLOSE = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._HALF_CLOSE:
            self._queue.put(item)  # stay closed for any further next()
            raise StopIteration
        return item

    def send(self, request: Any) -> None:
        self._queue.put(request)

    def close(self) -> None:
        self._queue.put(self._HALF_CLOSE)


def _next_response(responses: Iterator[Any], what: str) -> Any:
    try:
        return next(responses)
    except StopIteration:
        raise InteropFailure(f"stream ended before {what}") from None


# --------------------------------------------------------------------------
# The test cases.
# --------------------------------------------------------------------------


def _large_unary_request(**fields: Any) -> messages_pb2.SimpleRequest:
    return messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_size=_LARGE_RESPONSE_SIZE,
        payload=_zeros(_LARGE_REQUEST_SIZE),
        **fields,
    )


def empty_unary(ctx: CaseContext) -> None:
    response = ctx.stub.EmptyCall(empty_pb2.Empty(), timeout=ctx.timeout)
    _expect(isinstance(response, empty_pb2.Empty), f"unexpected response {response!r}")


def large_unary(ctx: CaseContext) -> None:
    response = ctx.stub.UnaryCall(_large_unary_request(), timeout=ctx.timeout)
    _check_payload(response.payload, _LARGE_RESPONSE_SIZE)


def client_compressed_unary(ctx: CaseContext) -> None:
    expect_true = messages_pb2.BoolValue(value=True)
    expect_false = messages_pb2.BoolValue(value=False)
    # 1. Feature probe: uncompressed but claims to be compressed.
    _compression_probe(ctx, lambda: ctx.stub.UnaryCall(
        _large_unary_request(expect_compressed=expect_true), timeout=ctx.timeout))
    # 2. Compressed, expect_compressed=true.
    response = ctx.stub.UnaryCall(_large_unary_request(expect_compressed=expect_true),
                                  compression=grpc.Compression.Gzip, timeout=ctx.timeout)
    _check_payload(response.payload, _LARGE_RESPONSE_SIZE, "compressed call's response")
    # 3. Uncompressed, expect_compressed=false.
    response = ctx.stub.UnaryCall(_large_unary_request(expect_compressed=expect_false),
                                  timeout=ctx.timeout)
    _check_payload(response.payload, _LARGE_RESPONSE_SIZE, "uncompressed call's response")


def server_compressed_unary(ctx: CaseContext) -> None:
    with ctx.raw_channel() as channel:
        unary_call = channel.unary_unary(
            f"/{TEST_SERVICE}/UnaryCall",
            request_serializer=messages_pb2.SimpleRequest.SerializeToString,
            response_deserializer=inflating_deserializer(messages_pb2.SimpleResponse))
        for compressed in (True, False):
            what = f"response_compressed={compressed} response"
            request = _large_unary_request(
                response_compressed=messages_pb2.BoolValue(value=compressed))
            received = unary_call(request, timeout=ctx.timeout)
            _check_compressed(received, compressed, what)
            _check_payload(received.message.payload, _LARGE_RESPONSE_SIZE, what)


def client_streaming(ctx: CaseContext) -> None:
    requests = (messages_pb2.StreamingInputCallRequest(payload=_zeros(size))
                for size in _STREAM_REQUEST_SIZES)
    response = ctx.stub.StreamingInputCall(requests, timeout=ctx.timeout)
    _expect(response.aggregated_payload_size == 74922,
            f"aggregated_payload_size is {response.aggregated_payload_size}, expected 74922")


def client_compressed_streaming(ctx: CaseContext) -> None:
    def request(size: int, expect_compressed: bool) -> messages_pb2.StreamingInputCallRequest:
        return messages_pb2.StreamingInputCallRequest(
            payload=_zeros(size),
            expect_compressed=messages_pb2.BoolValue(value=expect_compressed))

    # 1. Feature probe: one uncompressed message claiming to be compressed.
    _compression_probe(ctx, lambda: ctx.stub.StreamingInputCall(
        iter([request(27182, True)]), timeout=ctx.timeout))
    # 2. A compressed message, then one with expect_compressed=false. grpcio
    # compresses per call, not per message, so the second is compressed too.
    response = ctx.stub.StreamingInputCall(
        iter([request(27182, True), request(45904, False)]),
        compression=grpc.Compression.Gzip, timeout=ctx.timeout)
    _expect(response.aggregated_payload_size == 73086,
            f"aggregated_payload_size is {response.aggregated_payload_size}, expected 73086")


def server_streaming(ctx: CaseContext) -> None:
    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=size)
                             for size in _STREAM_RESPONSE_SIZES])
    responses = list(ctx.stub.StreamingOutputCall(request, timeout=ctx.timeout))
    _check_sizes(responses, _STREAM_RESPONSE_SIZES)


def server_compressed_streaming(ctx: CaseContext) -> None:
    expected = ((31415, True), (92653, False))
    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[
            messages_pb2.ResponseParameters(
                size=size, compressed=messages_pb2.BoolValue(value=compressed))
            for size, compressed in expected
        ])
    with ctx.raw_channel() as channel:
        streaming_output_call = channel.unary_stream(
            f"/{TEST_SERVICE}/StreamingOutputCall",
            request_serializer=messages_pb2.StreamingOutputCallRequest.SerializeToString,
            response_deserializer=inflating_deserializer(messages_pb2.StreamingOutputCallResponse))
        received = list(streaming_output_call(request, timeout=ctx.timeout))
    _check_sizes([r.message for r in received], [size for size, _ in expected])
    for index, (message, (_, compressed)) in enumerate(zip(received, expected, strict=True)):
        _check_compressed(message, compressed, f"response #{index}")


def ping_pong(ctx: CaseContext) -> None:
    requests = _RequestQueue()
    call = ctx.stub.FullDuplexCall(requests, timeout=ctx.timeout)
    try:
        for index, (response_size, request_size) in enumerate(
                zip(_STREAM_RESPONSE_SIZES, _STREAM_REQUEST_SIZES, strict=True)):
            requests.send(messages_pb2.StreamingOutputCallRequest(
                response_type=messages_pb2.COMPRESSABLE,
                response_parameters=[messages_pb2.ResponseParameters(size=response_size)],
                payload=_zeros(request_size)))
            response = _next_response(call, f"response #{index}")
            _check_payload(response.payload, response_size, f"response #{index}")
        requests.close()
        extra = list(call)
        _expect(not extra, f"got {len(extra)} responses after the 4th, expected none")
    finally:
        requests.close()
    _expect(call.code() == grpc.StatusCode.OK, f"call ended with {call.code()}")


def empty_stream(ctx: CaseContext) -> None:
    call = ctx.stub.FullDuplexCall(iter(()), timeout=ctx.timeout)
    responses = list(call)
    _expect(not responses, f"got {len(responses)} responses, expected exactly zero")
    _expect(call.code() == grpc.StatusCode.OK, f"call ended with {call.code()}")


def cancel_after_begin(ctx: CaseContext) -> None:
    requests = _RequestQueue()
    try:
        future = ctx.stub.StreamingInputCall.future(requests, timeout=ctx.timeout)
        future.cancel()
        _expect(future.code() == grpc.StatusCode.CANCELLED,
                f"call ended with {future.code()}, expected CANCELLED")
    finally:
        requests.close()


def cancel_after_first_response(ctx: CaseContext) -> None:
    requests = _RequestQueue()
    call = ctx.stub.FullDuplexCall(requests, timeout=ctx.timeout)
    try:
        requests.send(messages_pb2.StreamingOutputCallRequest(
            response_type=messages_pb2.COMPRESSABLE,
            response_parameters=[messages_pb2.ResponseParameters(size=31415)],
            payload=_zeros(27182)))
        response = _next_response(call, "the first response")
        _check_payload(response.payload, 31415, "first response")
        call.cancel()
        _expect(call.code() == grpc.StatusCode.CANCELLED,
                f"call ended with {call.code()}, expected CANCELLED")
    finally:
        requests.close()


def timeout_on_sleeping_server(ctx: CaseContext) -> None:
    requests = _RequestQueue()
    call = ctx.stub.FullDuplexCall(requests, timeout=0.001)  # 1 ms, per the spec
    try:
        requests.send(messages_pb2.StreamingOutputCallRequest(
            response_type=messages_pb2.COMPRESSABLE, payload=_zeros(27182)))
        # No response_parameters: the server sends nothing and waits for more.
        _expect_rpc_error(lambda: list(call), grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        requests.close()


def custom_metadata(ctx: CaseContext) -> None:
    metadata = (
        (INITIAL_METADATA_KEY, _INITIAL_METADATA_VALUE),
        (TRAILING_METADATA_KEY, _TRAILING_METADATA_VALUE),
    )

    def check_echo(call: grpc.Call, which: str) -> None:
        initial = [v for k, v in call.initial_metadata() or () if k == INITIAL_METADATA_KEY]
        _expect(initial == [_INITIAL_METADATA_VALUE],
                f"{which}: initial metadata {INITIAL_METADATA_KEY} is {initial!r}, "
                f"expected [{_INITIAL_METADATA_VALUE!r}]")
        trailing = [v for k, v in call.trailing_metadata() or () if k == TRAILING_METADATA_KEY]
        _expect(trailing == [_TRAILING_METADATA_VALUE],
                f"{which}: trailing metadata {TRAILING_METADATA_KEY} is {trailing!r}, "
                f"expected [{_TRAILING_METADATA_VALUE!r}]")

    # 1. UnaryCall.
    response, call = ctx.stub.UnaryCall.with_call(
        _large_unary_request(), metadata=metadata, timeout=ctx.timeout)
    _check_payload(response.payload, _LARGE_RESPONSE_SIZE, "UnaryCall response")
    check_echo(call, "UnaryCall")

    # 2. FullDuplexCall: one request, then half-close.
    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=_LARGE_RESPONSE_SIZE)],
        payload=_zeros(_LARGE_REQUEST_SIZE))
    stream = ctx.stub.FullDuplexCall(iter([request]), metadata=metadata, timeout=ctx.timeout)
    _check_sizes(list(stream), (_LARGE_RESPONSE_SIZE,))
    check_echo(stream, "FullDuplexCall")


def _check_status_echo(ctx: CaseContext, message: str, *, streaming: bool) -> None:
    echo = messages_pb2.EchoStatus(code=_STATUS_CODE, message=message)
    status = grpc.StatusCode.UNKNOWN  # == _STATUS_CODE
    # UnaryCall.
    _expect_rpc_error(
        lambda: ctx.stub.UnaryCall(messages_pb2.SimpleRequest(response_status=echo),
                                   timeout=ctx.timeout),
        status, message)
    if streaming:
        # FullDuplexCall: one request, then half-close.
        request = messages_pb2.StreamingOutputCallRequest(response_status=echo)
        _expect_rpc_error(
            lambda: list(ctx.stub.FullDuplexCall(iter([request]), timeout=ctx.timeout)),
            status, message)


def status_code_and_message(ctx: CaseContext) -> None:
    _check_status_echo(ctx, _STATUS_MESSAGE, streaming=True)


def special_status_message(ctx: CaseContext) -> None:
    _check_status_echo(ctx, _SPECIAL_STATUS_MESSAGE, streaming=False)


def unimplemented_method(ctx: CaseContext) -> None:
    _expect_rpc_error(lambda: ctx.stub.UnimplementedCall(empty_pb2.Empty(), timeout=ctx.timeout),
                      grpc.StatusCode.UNIMPLEMENTED)


def unimplemented_service(ctx: CaseContext) -> None:
    stub = test_pb2_grpc.UnimplementedServiceStub(ctx.channel)
    _expect_rpc_error(lambda: stub.UnimplementedCall(empty_pb2.Empty(), timeout=ctx.timeout),
                      grpc.StatusCode.UNIMPLEMENTED)


TestCase = Callable[[CaseContext], None]

# In the order `all` runs them.
TEST_CASES: dict[str, TestCase] = {case.__name__: case for case in (
    empty_unary,
    large_unary,
    client_compressed_unary,
    server_compressed_unary,
    client_streaming,
    client_compressed_streaming,
    server_streaming,
    server_compressed_streaming,
    ping_pong,
    empty_stream,
    cancel_after_begin,
    cancel_after_first_response,
    timeout_on_sleeping_server,
    custom_metadata,
    status_code_and_message,
    special_status_message,
    unimplemented_method,
    unimplemented_service,
)}


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
    parser.add_argument("--server_host", default="127.0.0.1",
                        help="server address (default 127.0.0.1)")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--server_host_override", default=None,
                        help="value for the :authority header (default: host:port)")
    parser.add_argument("--test_case", required=True, choices=[*TEST_CASES, "all"],
                        metavar="NAME", help="a test case name, or 'all'")
    parser.add_argument("--use_tls", type=_parse_bool, nargs="?", const=True, default=False,
                        help="not supported: this peer only speaks plaintext")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="deadline in seconds for each RPC (default 30)")
    parser.add_argument("--lenient_compression_probe", action="store_true",
                        help="let the client_compressed_* feature probe succeed instead of "
                             "requiring INVALID_ARGUMENT (for servers that cannot see "
                             "request compression)")
    parser.add_argument("--verbose", action="store_true", help="debug logging to stderr")
    return parser.parse_args(argv)


def _run_case(name: str, case: TestCase, args: argparse.Namespace, target: str,
              options: list[tuple[str, Any]]) -> bool:
    """Run one case on a fresh channel; print PASS/FAIL; return whether it passed."""
    with grpc.insecure_channel(target, options=options) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=args.timeout)
        except grpc.FutureTimeoutError:
            print(f"FAIL {name}: could not connect to {target} within {args.timeout}s",
                  flush=True)
            return False
        ctx = CaseContext(target=target, options=options, channel=channel,
                          stub=test_pb2_grpc.TestServiceStub(channel),
                          timeout=args.timeout,
                          lenient_compression_probe=args.lenient_compression_probe)
        try:
            case(ctx)
        except InteropFailure as failure:
            reason = str(failure)
        except grpc.RpcError as err:
            reason = f"unexpected RPC failure {err.code()}: {err.details()!r}"
        except Exception as err:  # noqa: BLE001 - report any bug as a failed case
            _log.exception("%s raised", name)
            reason = f"{type(err).__name__}: {err}"
        else:
            print(f"PASS {name}", flush=True)
            return True
    print(f"FAIL {name}: {reason}", flush=True)
    return False


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    setup_logging(args.verbose, "interop_client")
    if args.use_tls:
        _log.error("--use_tls is not supported: this peer only speaks plaintext")
        return 2

    host = f"[{args.server_host}]" if ":" in args.server_host else args.server_host
    target = f"{host}:{args.server_port}"
    options: list[tuple[str, Any]] = []
    if args.server_host_override:
        options.append(("grpc.default_authority", args.server_host_override))

    names = list(TEST_CASES) if args.test_case == "all" else [args.test_case]
    passed = sum(_run_case(name, TEST_CASES[name], args, target, options) for name in names)
    failed = len(names) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
