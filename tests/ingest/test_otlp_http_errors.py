"""OTLP/HTTP against bad input and overload: right status, a useful message, nothing lost."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from rca_service.ingest.synthetic import trace_requests

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def one_request(n_spans: int = 8, seed: int = 1) -> bytes:
    return next(trace_requests(1, spans_per_request=n_spans, n_services=3, seed=seed)).SerializeToString()


def status_of(response: httpx.Response) -> status_pb2.Status:
    if response.headers["content-type"].startswith("application/json"):
        doc = response.json()
        return status_pb2.Status(code=doc.get("code", 0), message=doc.get("message", ""))
    return status_pb2.Status.FromString(response.content)


def assert_still_works(server, client: httpx.Client, spans_before: int, seed: int = 99) -> None:
    """Earlier data is still in the sink and a new valid request goes through."""
    assert len(server.sink.spans) == spans_before
    r = client.post(f"{server.http_url}/v1/traces", content=one_request(4, seed), headers=PB)
    assert r.status_code == 200
    server.flush()
    assert len(server.sink.spans) == spans_before + 4


@pytest.fixture
def running(otlp_server):
    server = otlp_server(max_body_bytes=256 * 1024)
    with httpx.Client(timeout=10) as client:
        r = client.post(f"{server.http_url}/v1/traces", content=one_request(), headers=PB)
        assert r.status_code == 200
        assert ExportTraceServiceResponse.FromString(r.content).HasField("partial_success") is False
        server.flush()
        assert len(server.sink.spans) == 8
        yield server, client


def test_malformed_protobuf_is_400_with_a_status_saying_why(running):
    server, client = running
    r = client.post(f"{server.http_url}/v1/traces", content=b"\x0a\xff\xff\xff\xff\x0f", headers=PB)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(r.content)
    assert status.code == 3 and "not a valid protobuf ExportTraceServiceRequest" in status.message
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail) and detail.field_violations[0].field == "body"
    assert_still_works(server, client, 8)


def test_malformed_json_is_400_with_a_json_status(running):
    server, client = running
    r = client.post(f"{server.http_url}/v1/traces", content=b'{"resourceSpans": [', headers=JS)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert "not valid JSON" in r.json()["message"]
    r = client.post(f"{server.http_url}/v1/traces", content=b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', headers=JS)
    assert r.status_code == 400 and "not a hex string" in r.json()["message"]
    r = client.post(f"{server.http_url}/v1/traces", content=b'{"resourceSpans": 7}', headers=JS)
    assert r.status_code == 400 and "ExportTraceServiceRequest" in r.json()["message"]
    assert_still_works(server, client, 8)


def test_body_over_the_limit_is_413_declared_or_chunked(running):
    server, client = running
    big = b"\x00" * (300 * 1024)
    r = client.post(f"{server.http_url}/v1/traces", content=big, headers=PB)
    assert r.status_code == 413
    assert "limit" in status_of(r).message

    def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(40):
            yield b"\x00" * 16 * 1024

    r = client.post(f"{server.http_url}/v1/traces", content=chunks(), headers=PB)
    assert r.status_code == 413
    assert_still_works(server, client, 8)


def test_gzip_bomb_is_413_and_stopped_while_inflating(running):
    server, client = running
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 256 * 1024  # small on the wire: only inflating reveals it
    r = client.post(f"{server.http_url}/v1/traces", content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert "after decompression" in status_of(r).message
    assert_still_works(server, client, 8)


def test_unknown_content_type_is_415_and_unknown_encoding_400(running):
    server, client = running
    r = client.post(f"{server.http_url}/v1/traces", content=one_request(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/x-protobuf" in r.text
    r = client.post(f"{server.http_url}/v1/traces", content=one_request(), headers={**PB, "Content-Encoding": "br"})
    assert r.status_code == 400 and "unsupported Content-Encoding" in status_of(r).message
    r = client.get(f"{server.http_url}/v1/traces")
    assert r.status_code == 405
    assert_still_works(server, client, 8)


def test_gzip_and_deflate_bodies_and_gzip_responses(running):
    server, client = running
    body = one_request(6, seed=5)
    r = client.post(f"{server.http_url}/v1/traces", content=gzip.compress(body),
                    headers={**PB, "Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip"
    r = client.post(f"{server.http_url}/v1/traces", content=zlib.compress(body), headers={**PB, "Content-Encoding": "deflate"})
    assert r.status_code == 200
    raw = zlib.compressobj(wbits=-15)
    r = client.post(f"{server.http_url}/v1/traces", content=raw.compress(body) + raw.flush(),
                    headers={**PB, "Content-Encoding": "deflate", "Accept-Encoding": "identity"})
    assert r.status_code == 200 and "content-encoding" not in r.headers
    server.flush()
    assert len(server.sink.spans) == 8 + 3 * 6


def test_full_queue_is_429_with_retry_after_and_loses_nothing(otlp_server):
    server = otlp_server(queue_size=1, retry_after_seconds=2)
    server.sink.gate.clear()  # the worker blocks inside the sink
    statuses = []
    with httpx.Client(timeout=10) as client:
        for seed in range(4):
            r = client.post(f"{server.http_url}/v1/traces", content=one_request(5, seed), headers=PB)
            statuses.append(r.status_code)
            if seed == 0:
                server.wait_queue_empty()  # the worker holds batch 1 in the sink; the queue has room for one
            if r.status_code == 429:
                assert r.headers["retry-after"] == "2"
                status = status_of(r)
                assert status.code == 8 and "full" in status.message
                retry = error_details_pb2.RetryInfo()
                assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 2
        # one batch in the sink (blocked), one queued; the rest refused
        assert statuses[:2] == [200, 200] and 429 in statuses[2:]
        server.sink.gate.set()
        server.flush()
        assert len(server.sink.spans) == 5 * statuses.count(200)
        r = client.post(f"{server.http_url}/v1/traces", content=one_request(5, 50), headers=PB)
        assert r.status_code == 200
    stats = server.pipeline.stats()
    assert stats["refused_batches"] >= 1 and stats["requests"]["http.traces.429"] == statuses.count(429)


def test_stopped_pipeline_is_503(otlp_server):
    server = otlp_server()
    server.pipeline.stop()
    r = httpx.post(f"{server.http_url}/v1/logs", content=b"", headers=JS)
    assert r.status_code == 503 and "retry-after" in r.headers


def test_bearer_token_is_required_when_set(otlp_server):
    server = otlp_server(token="t0ken")
    url = f"{server.http_url}/v1/traces"
    assert httpx.post(url, content=one_request(), headers=PB).status_code == 401
    assert httpx.post(url, content=one_request(), headers={**PB, "Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(url, content=one_request(), headers={**PB, "Authorization": "Bearer t0ken"}).status_code == 200
    server.flush()
    assert len(server.sink.spans) == 8


def test_partial_success_reports_rejected_spans(running):
    server, client = running
    request = ExportTraceServiceRequest.FromString(one_request(6, seed=3))
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b""
    spans[1].end_time_unix_nano = spans[1].start_time_unix_nano - 1
    r = client.post(f"{server.http_url}/v1/traces", content=request.SerializeToString(), headers=PB)
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 2
    assert "trace id" in partial.error_message and "ending before they start" in partial.error_message
    server.flush()
    assert len(server.sink.spans) == 8 + 4
    assert server.pipeline.stats()["rejected_spans"] == 2


def test_empty_request_succeeds(running):
    server, client = running
    assert client.post(f"{server.http_url}/v1/metrics", content=b"", headers=PB).status_code == 200
    r = client.post(f"{server.http_url}/v1/logs", content=b"{}", headers=JS)
    assert r.status_code == 200 and r.json() == {}


def test_json_with_hex_ids_and_string_int64(running):
    server, client = running
    doc = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
            "scopeSpans": [{"scope": {"name": "x"}, "spans": [{
                "traceId": "5B8EFFF798038103D269B633813FC60C",
                "spanId": "eee19b7ec3c1b174",
                "parentSpanId": "eee19b7ec3c1b173",
                "name": "call",
                "kind": 3,
                "startTimeUnixNano": "1544712660000000000",
                "endTimeUnixNano": 1544712661000000000,
                "attributes": [{"key": "peer.service", "value": {"stringValue": "db-svc"}},
                               {"key": "retries", "value": {"intValue": "3"}}],
                "status": {"code": 2, "message": "boom"},
                "someFutureField": {"x": 1},
            }]}],
        }],
    }
    r = client.post(f"{server.http_url}/v1/traces", content=json.dumps(doc).encode(), headers=JS)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    server.flush()
    span = server.sink.spans[-1]
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174" and span.parent_span_id == "eee19b7ec3c1b173"
    assert span.service == "json-svc" and span.peer_service == "db-svc"
    assert span.start == pytest.approx(1544712660.0) and span.end == pytest.approx(1544712661.0)
    assert span.status.name == "ERROR" and span.status_message == "boom"

    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = ""  # missing span id
    r = client.post(f"{server.http_url}/v1/traces", content=json.dumps(doc).encode(), headers=JS)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1 and "span id" in partial["errorMessage"]


def test_bodies_over_the_inline_size_are_decoded_on_a_thread(otlp_server):
    server = otlp_server(inline_decode_bytes=0, decode_threads=1)
    with httpx.Client(timeout=10) as client:
        for seed in range(3):
            assert client.post(f"{server.http_url}/v1/traces", content=one_request(7, seed), headers=PB).status_code == 200
        r = client.post(f"{server.http_url}/v1/traces", content=b"\x0a\xff\xff\xff\xff\x0f", headers=PB)
        assert r.status_code == 400  # errors raised on the thread come back the same way
    server.flush()
    assert len(server.sink.spans) == 21
