#!/usr/bin/env python3
"""Checks a server's reflection and health services with grpcio's own clients.

Usage: reflection_check.py --server_host HOST --server_port PORT

Against grpcx's interop server (`cargo xtask interop` runs it):
  * reflection v1alpha through grpcio-reflection's ProtoReflectionDescriptorDatabase
    and a protobuf DescriptorPool: the services, a method's input type and its
    fields, an unknown symbol;
  * reflection v1 (grpcio-reflection 1.85.1 ships only v1alpha stubs; v1's
    messages are v1alpha's, field for field, so the call is made on v1's path
    with the canonical v1alpha message classes), including the proto comments
    in the files and files not sent twice on one call;
  * health through grpcio-health-checking: Check of the server, of a service,
    and of an unknown service (NOT_FOUND).

Prints `PASS <case>` or `FAIL <case>: <why>` per case, then `N passed, M failed`;
exits non-zero when any case failed.
"""

import argparse
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

TIMEOUT = 30
EXPECTED_SERVICES = {
    "grpc.testing.TestService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def v1alpha_services(channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    services = set(db.get_services())
    check(services == EXPECTED_SERVICES, f"services {sorted(services)}")


def v1alpha_input_type(channel):
    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service = pool.FindServiceByName("grpc.testing.TestService")
    method = service.methods_by_name["UnaryCall"]
    check(
        method.input_type.full_name == "grpc.testing.SimpleRequest",
        f"input type {method.input_type.full_name}",
    )
    check("response_size" in method.input_type.fields_by_name, "no response_size field")
    # Its file imports messages.proto and empty.proto: they resolved too.
    empty = pool.FindServiceByName("grpc.testing.TestService").methods_by_name["EmptyCall"]
    check(empty.input_type.full_name == "grpc.testing.Empty", "EmptyCall input")
    health = pool.FindMethodByName("grpc.health.v1.Health.Watch")
    check(health.output_type.full_name == "grpc.health.v1.HealthCheckResponse", "Watch output")


def v1alpha_unknown_symbol(channel):
    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    try:
        pool.FindMessageTypeByName("no.such.Message")
    except KeyError:
        return
    raise AssertionError("an unknown symbol was found")


def v1_call(channel, requests):
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return list(call(iter(requests), timeout=TIMEOUT))


def v1_reflection(channel):
    Request = reflection_pb2.ServerReflectionRequest
    responses = v1_call(
        channel,
        [
            Request(list_services=""),
            Request(file_containing_symbol="grpc.testing.TestService.UnaryCall"),
            Request(file_containing_symbol="no.such.Symbol"),
        ],
    )
    check(len(responses) == 3, f"{len(responses)} responses")
    names = {s.name for s in responses[0].list_services_response.service}
    check(names == EXPECTED_SERVICES, f"v1 services {sorted(names)}")
    files = responses[1].file_descriptor_response.file_descriptor_proto
    pool = DescriptorPool()
    from google.protobuf import descriptor_pb2

    protos = [descriptor_pb2.FileDescriptorProto.FromString(f) for f in files]
    check(protos and protos[0].name == "grpc/testing/test.proto", "v1 file order")
    for proto in reversed(protos):
        pool.Add(proto)
    method = pool.FindMethodByName("grpc.testing.TestService.UnaryCall")
    check(method.input_type.full_name == "grpc.testing.SimpleRequest", "v1 input type")
    error = responses[2]
    check(error.HasField("error_response"), "v1 unknown symbol: no error_response")
    check(error.error_response.error_code == NOT_FOUND, f"v1 code {error.error_response.error_code}")


def v1_comments_and_no_resend(channel):
    from google.protobuf import descriptor_pb2

    Request = reflection_pb2.ServerReflectionRequest
    responses = v1_call(
        channel,
        [
            Request(file_containing_symbol="grpc.health.v1.Health"),
            Request(file_containing_symbol="grpc.testing.SimpleRequest"),
            Request(file_containing_symbol="grpc.testing.TestService"),
        ],
    )
    check(len(responses) == 3, f"{len(responses)} responses")

    def files(response):
        return [
            descriptor_pb2.FileDescriptorProto.FromString(f)
            for f in response.file_descriptor_response.file_descriptor_proto
        ]

    health = files(responses[0])[0]
    comments = {
        tuple(loc.path): loc.leading_comments for loc in health.source_code_info.location
    }
    check(
        comments.get((6, 0)) == " The health of a server's services.\n",
        f"Health's comment {comments.get((6, 0))!r}",
    )
    # The pool takes a file with its comments.
    pool = DescriptorPool()
    pool.Add(health)
    check(pool.FindServiceByName("grpc.health.v1.Health").name == "Health", "Health in a pool")
    # messages.proto went with SimpleRequest: TestService's file comes with
    # empty.proto only.
    check([f.name for f in files(responses[1])] == ["grpc/testing/messages.proto"], "messages")
    names = [f.name for f in files(responses[2])]
    check(names == ["grpc/testing/test.proto", "grpc/testing/empty.proto"], f"resent: {names}")


def health_check(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    Serving = health_pb2.HealthCheckResponse.SERVING
    for service in ["", "grpc.testing.TestService"]:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        check(reply.status == Serving, f"{service!r} is {reply.status}")
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=TIMEOUT)
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.NOT_FOUND, f"unknown service: {err.code()}")
        return
    raise AssertionError("an unknown service was found")


def health_watch(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=TIMEOUT)
    first = next(watch)
    watch.cancel()
    check(
        first.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN,
        f"unknown service watched as {first.status}",
    )


CASES = [
    ("reflection_v1alpha_services", v1alpha_services),
    ("reflection_v1alpha_input_type", v1alpha_input_type),
    ("reflection_v1alpha_unknown_symbol", v1alpha_unknown_symbol),
    ("reflection_v1", v1_reflection),
    ("reflection_v1_comments_and_no_resend", v1_comments_and_no_resend),
    ("health_check", health_check),
    ("health_watch_unknown", health_watch),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_host", default="127.0.0.1")
    parser.add_argument("--server_port", type=int, required=True)
    args = parser.parse_args()
    target = f"{args.server_host}:{args.server_port}"
    passed = failed = 0
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        for name, case in CASES:
            try:
                case(channel)
            except Exception as err:  # noqa: BLE001 - report every failure
                failed += 1
                print(f"FAIL {name}: {type(err).__name__}: {err}", flush=True)
            else:
                passed += 1
                print(f"PASS {name}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
