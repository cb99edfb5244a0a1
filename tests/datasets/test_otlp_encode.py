"""Records → OTLP protobuf → the service's own decoder gives the same records back."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from rca_service.datasets.otlp_encode import encode_batch, encode_logs, encode_metrics, encode_spans, id_bytes
from rca_service.ingest.decode import OtlpDecoder
from rca_service.ingest.signals import LOGS, METRICS, TRACES
from rca_service.records import ChangeEvent, MetricPoint, MetricType, RecordBatch, Span, SpanKind, StatusCode
from rca_service.simulator import SimConfig, Simulation


def _roundtrip(signal, request):
    body = request.SerializeToString()
    return OtlpDecoder().decode_body(signal, body, "protobuf")


@pytest.fixture(scope="module")
def sim_batch():
    sim = Simulation(SimConfig(n_services=10, seed=4, start_time=1_700_000_000))
    sim.inject("deploy", next(s for s in sim.services if sim.topology.services[s].tier == "mid"), at=0)
    return sim.tick()


def test_spans_roundtrip(sim_batch):
    spans = sim_batch.spans
    result = _roundtrip(TRACES, encode_spans(spans))
    assert result.rejected == 0
    got = {(s.trace_id, s.span_id): s for s in result.batch.spans}
    assert len(got) == len(spans)
    for s in spans:
        d = got[(s.trace_id, s.span_id)]
        assert (d.service, d.name, d.kind, d.status, d.parent_span_id) == (s.service, s.name, s.kind, s.status, s.parent_span_id)
        assert d.start == pytest.approx(s.start, abs=1e-6) and d.end == pytest.approx(s.end, abs=1e-6)
        if s.kind == SpanKind.CLIENT:
            assert d.peer_service == s.peer_service
    # one ResourceSpans per resource (service + version here)
    req = encode_spans(spans)
    assert len(req.resource_spans) == len({(s.service, s.resource.get("service.version")) for s in spans})


def test_metrics_roundtrip_keeps_types(sim_batch):
    points = sim_batch.metrics + [
        MetricPoint(service="svc-x", name="requests_total", time=1_700_000_000.0, value=42.0, type=MetricType.SUM,
                    is_monotonic=True, attributes={"route": "/a"}),
        MetricPoint(service="svc-x", name="latency", time=1_700_000_000.0, value=0.2, type=MetricType.SUMMARY,
                    count=10, sum=2.0, quantiles={0.5: 0.1, 0.99: 0.9}),
    ]
    result = _roundtrip(METRICS, encode_metrics(points))
    assert len(result.batch.metrics) == len(points)
    got = {(m.service, m.name, m.time): m for m in result.batch.metrics}
    for p in sim_batch.metrics[:20]:
        assert got[(p.service, p.name, p.time)].value == pytest.approx(p.value)
    total = got[("svc-x", "requests_total", 1_700_000_000.0)]
    assert total.type == MetricType.SUM and total.is_monotonic and total.attributes.get("route") == "/a"
    summary = got[("svc-x", "latency", 1_700_000_000.0)]
    assert summary.count == 10 and summary.quantiles[0.99] == pytest.approx(0.9)


def test_logs_and_changes_roundtrip(sim_batch):
    assert sim_batch.changes and sim_batch.changes[0].kind == "deploy"
    extra = ChangeEvent(service="svc-y", time=1_700_000_030.0, kind="config", description="flag flipped")
    result = _roundtrip(LOGS, encode_logs(sim_batch.logs, sim_batch.changes + [extra]))
    assert len(result.batch.logs) == len(sim_batch.logs) + 1  # the extra change travels as a marked log
    kinds = {(c.service, c.kind) for c in result.batch.changes}
    assert ("svc-y", "config") in kinds
    assert (sim_batch.changes[0].service, "deploy") in kinds
    sev = {(lg.body, lg.severity) for lg in result.batch.logs}
    assert {(lg.body, lg.severity) for lg in sim_batch.logs} <= sev


def test_odd_ids_become_valid_and_stable():
    spans = [
        Span(trace_id="abc123", span_id="s-1", parent_span_id=None, service="a", name="x",
             kind=SpanKind.SERVER, start=1.0, end=2.0),
        Span(trace_id="abc123", span_id="s-2", parent_span_id="s-1", service="b", name="y",
             kind=SpanKind.SERVER, start=1.1, end=1.5, status=StatusCode.ERROR, status_message="boom"),
    ]
    req = ExportTraceServiceRequest.FromString(encode_spans(spans).SerializeToString())
    decoded = [sp for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    assert all(len(sp.trace_id) == 16 and len(sp.span_id) == 8 for sp in decoded)
    assert decoded[1].parent_span_id == decoded[0].span_id
    assert id_bytes("abc123", 16) == bytes(13) + bytes.fromhex("abc123")
    assert id_bytes("s-1", 8) == id_bytes("s-1", 8) != id_bytes("s-2", 8)


def test_encode_batch_splits_large_batches(sim_batch):
    batch = RecordBatch(spans=sim_batch.spans, metrics=sim_batch.metrics, logs=sim_batch.logs, changes=sim_batch.changes)
    parts = list(encode_batch(batch, max_items=50))
    n_spans = sum(len(ss.spans) for sig, r in parts if sig == "traces" for rs in r.resource_spans for ss in rs.scope_spans)
    assert n_spans == len(batch.spans)
    assert sum(1 for sig, _ in parts if sig == "traces") == -(-len(batch.spans) // 50)
