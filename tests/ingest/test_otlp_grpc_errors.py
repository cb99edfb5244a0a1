"""OTLP/gRPC against bad input, overload, size limits and tokens, with raw gRPC calls."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from rca_service.ingest.synthetic import trace_requests

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def one_request(n_spans: int = 8, seed: int = 1) -> bytes:
    return next(trace_requests(1, spans_per_request=n_spans, n_services=3, seed=seed)).SerializeToString()


@pytest.fixture
def grpc_call(otlp_server):
    """(server, call) where call(raw_bytes, **kwargs) sends raw bytes to TraceService/Export."""
    channels = []

    def make(**config):
        server = otlp_server(**config)
        channel = grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", 64 << 20)])
        channels.append(channel)
        stub = channel.unary_unary(TRACE_EXPORT, request_serializer=None,
                                   response_deserializer=ExportTraceServiceResponse.FromString)
        return server, lambda raw, **kw: stub(raw, timeout=10, **kw)

    yield make
    for channel in channels:
        channel.close()


def details(error: grpc.RpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no grpc-status-details-bin trailer")


def test_good_export_then_bad_bytes_is_invalid_argument(grpc_call):
    server, call = grpc_call()
    assert not call(one_request()).HasField("partial_success")
    with pytest.raises(grpc.RpcError) as err:
        call(b"\x0a\xff\xff\xff\xff\x0f")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = details(err.value)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad) and "not a valid protobuf" in bad.field_violations[0].description
    assert not call(one_request(4, seed=2)).HasField("partial_success")
    server.flush()
    assert len(server.sink.spans) == 12


def test_partial_success_over_grpc(grpc_call):
    _, call = grpc_call()
    request = ExportTraceServiceRequest.FromString(one_request(5))
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02"
    response = call(request.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    assert "span id" in response.partial_success.error_message


def test_full_queue_is_unavailable_with_retry_info(grpc_call):
    server, call = grpc_call(queue_size=1, retry_after_seconds=3)
    server.sink.gate.clear()
    codes = []
    for seed in range(4):
        try:
            call(one_request(3, seed))
            codes.append(grpc.StatusCode.OK)
            if seed == 0:
                server.wait_queue_empty()
        except grpc.RpcError as exc:
            codes.append(exc.code())
            assert exc.code() is grpc.StatusCode.UNAVAILABLE
            retry = error_details_pb2.RetryInfo()
            assert details(exc).details[0].Unpack(retry) and retry.retry_delay.seconds == 3
    assert codes[:2] == [grpc.StatusCode.OK] * 2 and grpc.StatusCode.UNAVAILABLE in codes
    server.sink.gate.set()
    server.flush()
    assert len(server.sink.spans) == 3 * codes.count(grpc.StatusCode.OK)
    call(one_request(3, 77))


@pytest.mark.parametrize("compressed", [False, True])
def test_message_over_limit_is_resource_exhausted(grpc_call, compressed):
    server, call = grpc_call(max_body_bytes=64 * 1024)
    big = ExportTraceServiceRequest()
    big.resource_spans.add().resource.attributes.add(key="blob").value.string_value = "x" * (1024 * 1024)
    kwargs = {"compression": grpc.Compression.Gzip} if compressed else {}
    with pytest.raises(grpc.RpcError) as err:
        call(big.SerializeToString(), **kwargs)
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    call(one_request())  # still serving
    server.flush()
    assert len(server.sink.spans) == 8


def test_token_required_on_grpc(grpc_call):
    server_tok, call_tok = grpc_call(token="abc")
    with pytest.raises(grpc.RpcError) as err:
        call_tok(one_request())
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError):
        call_tok(one_request(), metadata=(("authorization", "Bearer nope"),))
    call_tok(one_request(), metadata=(("authorization", "Bearer abc"),))
    server_tok.flush()
    assert len(server_tok.sink.spans) == 8


def test_logs_service_is_served(grpc_call):
    server, _ = grpc_call()
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                                   request_serializer=None, response_deserializer=ExportLogsServiceResponse.FromString)
        assert not stub(b"", timeout=10).HasField("partial_success")
