"""Shared pieces of the grpcio interop peer (interop_server.py, interop_client.py).

Importing this module makes the generated ``grpc.testing`` stubs importable and
re-exports them together with the constants of the interop test descriptions
and the helpers that let grpcio observe per-message compression (inflate()).

The protos live in package ``grpc.testing``, so protoc emits modules named
``grpc/testing/*_pb2.py`` whose imports read ``from grpc.testing import ...``.
That name collides with the installed ``grpc`` package (grpcio), which is a
regular package and therefore hides any other ``grpc/`` directory on sys.path.
Rather than rewriting the generated code, we append ``gen/grpc`` to
``grpc.__path__`` so that ``grpc.testing`` resolves to ``gen/grpc/testing``
(grpcio itself ships no ``grpc.testing``; that is the separate grpcio-testing
distribution, which is not installed).
"""

from __future__ import annotations

import logging
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

HERE = Path(__file__).resolve().parent
GEN_DIR = HERE / "gen"
_SETUP_HINT = "run tests/interop/setup_venv.sh and use the python it prints"

try:
    import grpc
except ImportError:  # pragma: no cover - environment problem
    sys.exit(f"grpcio is not importable from {sys.executable}: {_SETUP_HINT}")

_GEN_GRPC = GEN_DIR / "grpc"
if not (_GEN_GRPC / "testing" / "test_pb2_grpc.py").is_file():
    sys.exit(f"generated stubs are missing under {GEN_DIR}: {_SETUP_HINT}")
if str(_GEN_GRPC) not in grpc.__path__:
    grpc.__path__.append(str(_GEN_GRPC))

from grpc.testing import empty_pb2, messages_pb2, test_pb2, test_pb2_grpc  # noqa: E402

__all__ = [
    "INITIAL_METADATA_KEY",
    "MAX_MESSAGE_SIZE",
    "RAW_MESSAGES_OPTION",
    "Received",
    "TEST_SERVICE",
    "TRAILING_METADATA_KEY",
    "empty_pb2",
    "grpc",
    "inflate",
    "inflating_deserializer",
    "messages_pb2",
    "setup_logging",
    "status_from_code",
    "test_pb2_grpc",
]

# Fully-qualified service name: "grpc.testing.TestService".
TEST_SERVICE: str = test_pb2.DESCRIPTOR.services_by_name["TestService"].full_name

# Echo Metadata feature: the server echoes these request headers back.
INITIAL_METADATA_KEY = "x-grpc-test-echo-initial"
TRAILING_METADATA_KEY = "x-grpc-test-echo-trailing-bin"

_STATUS_BY_CODE: dict[int, grpc.StatusCode] = {
    status.value[0]: status for status in grpc.StatusCode
}


# grpcio hides whether a message arrived compressed: grpc core inflates it
# before Python sees it and drops the message's compressed flag. With this
# channel/server option core leaves compressed messages as they were on the
# wire, so a custom deserializer can tell (see inflate()) and inflate them itself.
RAW_MESSAGES_OPTION = ("grpc.per_message_decompression", 0)

# grpc's default receive limit; also caps what inflate() will produce.
MAX_MESSAGE_SIZE = 4 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"


def _decompress(data: bytes, wbits: int) -> bytes:
    """Inflate one complete zlib/gzip stream of at most MAX_MESSAGE_SIZE bytes."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, MAX_MESSAGE_SIZE + 1)
    if len(out) > MAX_MESSAGE_SIZE:
        raise ValueError(f"decompressed message exceeds {MAX_MESSAGE_SIZE} bytes")
    if not inflater.eof:
        raise zlib.error("truncated compressed message")
    return out


def inflate(data: bytes) -> tuple[bytes, bool]:
    """Undo gRPC message compression on bytes received with RAW_MESSAGES_OPTION.

    Returns (serialized protobuf, whether the message was compressed). grpc core
    supports identity, gzip and deflate (zlib format); which one a message used
    is recognised from its first bytes:
    * gzip starts with 1f 8b, which no serialized protobuf can (0x1f is a tag
      with wire type 7, which does not exist);
    * zlib starts with a 2-byte header that is a multiple of 31 and ends with
      an Adler-32 checksum of the contents, so a protobuf that happens to begin
      like one is still not mistaken for it once the stream fails to inflate.
    """
    if data[:2] == _GZIP_MAGIC:
        return _decompress(data, 16 + zlib.MAX_WBITS), True
    if len(data) >= 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 \
            and ((data[0] << 8) | data[1]) % 31 == 0:
        try:
            return _decompress(data, zlib.MAX_WBITS), True
        except zlib.error:
            pass  # not a zlib stream after all: a plain message
    return data, False


M = TypeVar("M")


@dataclass(frozen=True)
class Received(Generic[M]):
    """A message and whether it arrived compressed."""

    message: M
    compressed: bool


def inflating_deserializer(message_type: Any) -> Callable[[bytes], Received[Any]]:
    """Deserializer for calls on a RAW_MESSAGES_OPTION channel or server: parses
    `message_type` and records whether the message was compressed."""

    def deserialize(data: bytes) -> Received[Any]:
        serialized, compressed = inflate(data)
        return Received(message_type.FromString(serialized), compressed)

    return deserialize


def status_from_code(code: int) -> grpc.StatusCode:
    """Map a numeric gRPC status code to grpc.StatusCode (UNKNOWN if out of range)."""
    return _STATUS_BY_CODE.get(code, grpc.StatusCode.UNKNOWN)


def setup_logging(verbose: bool, name: str) -> logging.Logger:
    """Log to stderr (stdout is reserved for the machine-readable lines)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s {name} %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    return logging.getLogger(name)
