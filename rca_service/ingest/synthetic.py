"""Synthetic OTLP trace requests shaped like real instrumented traffic (benchmarks, tests).

Each trace is a call tree across services: a SERVER span per service visit, and a CLIENT
span per outgoing call carrying the attributes HTTP/gRPC/database instrumentations set
(`server.address`, `http.*`, `rpc.*`, `db.*`, `url.full`, `user_agent.original`, ...).
Service names are generated (`svc-00` ...), never taken from a dataset.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

_ROUTES = ("/api/items/{id}", "/api/cart", "/api/checkout", "/api/users/{id}", "/healthz", "/api/search")


def _kv(key: str, value: str | float | bool) -> KeyValue:
    any_value = AnyValue()
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    else:
        any_value.string_value = value
    return KeyValue(key=key, value=any_value)


def _resource_attributes(service: str, instance: int) -> list[KeyValue]:
    return [
        _kv("service.name", service),
        _kv("service.version", "1.4.2"),
        _kv("service.instance.id", f"{service}-{instance:04x}"),
        _kv("host.name", f"node-{instance % 7}"),
        _kv("k8s.namespace.name", "default"),
        _kv("k8s.pod.name", f"{service}-7d9f8b6c5-{instance:05x}"),
        _kv("telemetry.sdk.language", "python"),
        _kv("telemetry.sdk.name", "opentelemetry"),
        _kv("telemetry.sdk.version", "1.45.0"),
    ]


def trace_requests(
    n_requests: int,
    spans_per_request: int = 512,
    n_services: int = 20,
    seed: int = 7,
    start_ns: int = 1_700_000_000_000_000_000,
) -> Iterator[ExportTraceServiceRequest]:
    """Yield `n_requests` requests of exactly `spans_per_request` spans each.

    Spans are grouped by service (one ResourceSpans per service present), as an SDK or a
    Collector's batch processor sends them. About 2% of server spans have status ERROR.
    """
    rng = random.Random(seed)
    services = [f"svc-{i:02d}" for i in range(n_services)]
    now = start_ns
    for _ in range(n_requests):
        by_service: dict[str, list[trace_pb2.Span]] = {}
        made = 0
        while made < spans_per_request:
            trace_id = rng.randbytes(16)
            caller = rng.choice(services)
            root_id = rng.randbytes(8)
            t0 = now
            now += rng.randint(50_000, 500_000)
            duration = rng.randint(2_000_000, 80_000_000)
            route = rng.choice(_ROUTES)
            by_service.setdefault(caller, []).append(_server_span(trace_id, root_id, b"", route, t0, duration, rng))
            made += 1
            parent = root_id
            for _hop in range(rng.randint(1, 4)):
                if made + 2 > spans_per_request:
                    break
                callee = rng.choice(services)
                client_id = rng.randbytes(8)
                server_id = rng.randbytes(8)
                t1 = t0 + rng.randint(100_000, 1_000_000)
                d1 = max(1_000_000, duration // 2)
                by_service[caller].append(_client_span(trace_id, client_id, parent, callee, route, t1, d1, rng))
                by_service.setdefault(callee, []).append(
                    _server_span(trace_id, server_id, client_id, route, t1 + 200_000, d1 - 400_000, rng)
                )
                made += 2
                caller, parent, t0, duration = callee, server_id, t1, d1
        request = ExportTraceServiceRequest()
        for instance, (service, spans) in enumerate(by_service.items()):
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.extend(_resource_attributes(service, instance))
            scope = resource_spans.scope_spans.add()
            scope.scope.name = "opentelemetry.instrumentation.asgi"
            scope.scope.version = "0.66b2"
            scope.spans.extend(spans)
        yield request


def _server_span(trace_id: bytes, span_id: bytes, parent: bytes, route: str, start: int, duration: int,
                 rng: random.Random) -> trace_pb2.Span:
    error = rng.random() < 0.02
    span = trace_pb2.Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=f"GET {route}",
        kind=trace_pb2.Span.SPAN_KIND_SERVER, start_time_unix_nano=start, end_time_unix_nano=start + duration,
    )
    span.attributes.extend([
        _kv("http.request.method", "GET"),
        _kv("http.route", route),
        _kv("http.response.status_code", 500 if error else 200),
        _kv("url.scheme", "http"),
        _kv("url.path", route.replace("{id}", str(rng.randint(1, 10_000)))),
        _kv("network.protocol.version", "1.1"),
        _kv("user_agent.original", "python-httpx/0.28.1"),
        _kv("client.address", f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}"),
    ])
    if error:
        span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        span.status.message = "upstream returned 500"
    return span


def _client_span(trace_id: bytes, span_id: bytes, parent: bytes, callee: str, route: str, start: int,
                 duration: int, rng: random.Random) -> trace_pb2.Span:
    span = trace_pb2.Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=f"GET {route}",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT, start_time_unix_nano=start, end_time_unix_nano=start + duration,
    )
    span.attributes.extend([
        _kv("http.request.method", "GET"),
        _kv("server.address", callee),
        _kv("server.port", 8080),
        _kv("url.full", f"http://{callee}:8080{route.replace('{id}', str(rng.randint(1, 10_000)))}"),
        _kv("http.response.status_code", 200),
        _kv("network.protocol.version", "1.1"),
    ])
    return span
