"""Step closing by data time, retention, future records, and save/load."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rca_service.errors import ConfigError, InputError
from rca_service.records import ChangeEvent, LogRecord, MetricPoint, MetricType, SpanKind
from rca_service.store import frames
from rca_service.store.config import StoreConfig
from rca_service.store.persistence import STATE_FILE, STEPS_DIR
from rca_service.store.telemetry import TelemetryStore

from .conftest import T0, span


def test_steps_close_on_the_watermark_for_replayed_old_data(store):
    assert store.latest_closed_step() is None
    store.consume_spans([span("a", T0 + 1, 0.1)])
    assert store.latest_closed_step() is None  # the watermark is still inside the first step
    store.consume_spans([span("a", T0 + 60 + 31, 0.1)])  # past step 0's end + grace (30 s)
    assert store.latest_closed_step() == T0
    store.close_until(T0 + 120)
    assert store.latest_closed_step() == T0 + 60
    # late records still land in their (closed, packed) step
    store.consume_spans([span("a", T0 + 2, 2.0)])
    f = store.frame("a", T0, T0 + 60)
    assert f.column(frames.SPAN_REQUEST_RATE)[0] == pytest.approx(2 / 60)
    assert f.column(frames.SPAN_LATENCY_P99)[0] == pytest.approx(2.0, rel=0.02)
    assert f.column(frames.SPAN_LATENCY_P50)[0] == pytest.approx(0.1, rel=0.02)


def test_advance_closes_the_last_step_of_an_idle_replay():
    store = TelemetryStore(StoreConfig(step=60, idle_close_seconds=0.01))
    store.consume_spans([span("a", T0 + 1, 0.1)])
    time.sleep(0.02)
    assert store.advance(time.time()) == T0


def test_advance_follows_the_wall_clock_for_live_data():
    store = TelemetryStore(StoreConfig(step=60))
    now = time.time()
    store.consume_spans([span("a", now - 200, 0.1), span("a", now - 1, 0.1)])
    latest = store.advance(now)
    assert latest == store._table.align(now - 30) - 60


def test_retention_drops_old_steps_and_old_records():
    store = TelemetryStore(StoreConfig(step=60, retention_seconds=600))
    store.consume_logs([LogRecord("gone", T0, "short-lived service says hi", resource={"service.version": "1"})])
    for k in range(30):  # 30 minutes of data, one span and one log a minute
        store.consume_spans([span("a", T0 + 60 * k, 0.1)])
        store.consume_logs([LogRecord("a", T0 + 60 * k, f"tick {k}")])
    st = store.stats()
    assert st["steps"] <= 11
    assert store.frame("a", 0, T0 + 3600).times[0] >= T0 + 60 * 29 - 600
    # a service with nothing left in retention is forgotten entirely
    assert store.services() == ["a"] and "gone" not in store._logs.miners
    assert store.resource_attributes("gone") == {} and store.log_templates("gone") == []
    before = st["dropped"]
    store.consume_spans([span("a", T0, 0.1)])  # far behind the watermark: dropped, counted
    assert store.stats()["dropped"] == before + 1


def test_records_far_in_the_future_are_dropped():
    store = TelemetryStore(StoreConfig(step=60))
    store.consume_spans([span("a", time.time() + 10 * 86400, 0.1)])
    assert store.watermark is None and store.stats()["dropped"] == 1


def test_memory_stays_flat_over_a_long_run():
    store = TelemetryStore(StoreConfig(step=60, retention_seconds=3600, span_index_size=2000, pending_size=1000))
    sizes = []
    for k in range(240):  # four hours, 50 spans a minute
        store.consume_spans([span(f"s{i % 5}", T0 + 60 * k + i, 0.01, SpanKind.CLIENT, parent=f"p{k}-{i}", peer="db")
                             for i in range(50)])
        if k in (120, 239):
            s = store.stats()
            sizes.append((s["steps"], s["span_index"], s["pending_children"], s["pending_clients"]))
    assert sizes[0][0] == sizes[1][0] <= 61
    assert all(v <= 2000 for v in sizes[1][1:])


def test_derived_and_ingested_changes(store):
    store.consume_spans([span("a", T0 + 1, 0.1, resource={"service.version": "1.0"})])
    store.consume_spans([span("a", T0 + 70, 0.1, resource={"service.version": "1.1"})])
    store.consume_spans([span("a", T0 + 80, 0.1, resource={"service.version": "1.0"})])  # canary: no flap
    store.consume_changes([ChangeEvent("b", T0 + 90, "config", "feature flag on")])
    ch = store.changes()
    assert [(c.service, c.kind) for c in ch] == [("a", "deploy"), ("b", "config")]
    assert ch[0].time == T0 + 70 and "1.0 -> 1.1" in ch[0].description
    assert store.changes("a", T0, T0 + 60) == []
    assert store.frame("a", T0, T0 + 120).column(frames.CHANGE_COUNT).tolist() == [0, 1]
    # ingest derived the same deploy from the same resource: announced once only
    store.consume_changes([ChangeEvent("a", T0 + 70, "deploy", "service.version changed to 1.1",
                                       {"source": "resource", "key": "service.version", "value": "1.1"})])
    assert len(store.changes("a")) == 1
    # ...and the other way round: ingest first, the store's own derivation stays quiet
    store.consume_changes([ChangeEvent("a", T0 + 100, "deploy", "service.version changed to 2.0",
                                       {"source": "resource", "key": "service.version", "value": "2.0"})])
    store.consume_spans([span("a", T0 + 100, 0.1, resource={"service.version": "2.0"})])
    assert [c.description for c in store.changes("a")][-1] == "service.version changed to 2.0"
    assert len(store.changes("a")) == 2


def test_resource_attributes_of_a_service(store, tmp_path):
    res = {"service.name": "db", "k8s.namespace.name": "shop", "k8s.deployment.name": "db"}
    store.consume_metrics([MetricPoint("db", "cpu", T0 + 1, 0.5, resource=res)])
    store.consume_logs([LogRecord("db", T0 + 2, "ready", resource={**res, "service.version": "2"})])
    assert store.resource_attributes("db")["k8s.namespace.name"] == "shop"
    assert store.resource_attributes("db")["service.version"] == "2"
    assert store.resource_attributes("nobody") == {}
    store.save(tmp_path)
    assert TelemetryStore.load(tmp_path, StoreConfig(step=60)).resource_attributes("db") == store.resource_attributes("db")


def test_span_samples_errors_first_then_slowest(store):
    spans = [span("a", T0 + i, 0.01 * (i + 1), error=(i in (3, 5)), name=f"op{i}") for i in range(40)]
    store.consume_spans(spans)
    samples = store.span_samples("a", T0, T0 + 60, limit=5)
    assert [s.is_error for s in samples] == [True, True, False, False, False]
    assert [s.name for s in samples] == ["op5", "op3", "op39", "op38", "op37"]
    assert samples[0].trace_id == "t"


def test_save_and_load_round_trip(tmp_path):
    store = TelemetryStore(StoreConfig(step=60))
    spans = []
    for i in range(20):
        c = span("a", T0 + i, 0.2, SpanKind.CLIENT, peer="b", error=i < 2)
        spans += [c, span("b", T0 + i, 0.1, parent=c.span_id)]
    store.consume_spans(spans + [span("a", T0 + 5, 0.01, SpanKind.CLIENT, peer="postgres")])
    store.consume_metrics([MetricPoint("b", "c.total", T0 + 10 * k, 10.0 * k, MetricType.SUM, is_monotonic=True)
                           for k in range(8)])
    store.consume_logs([LogRecord("b", T0 + k, f"served item {k}", severity=17 if k == 3 else 9) for k in range(10)])
    store.close_until(T0 + 120)
    store.save(tmp_path)
    assert (tmp_path / STATE_FILE).exists()
    assert all(b.packed for b in store._table.steps[int(T0)].services.values())  # saving kept closed steps small

    again = TelemetryStore.load(tmp_path, StoreConfig(step=60))
    for svc in ("a", "b"):
        f1, f2 = store.frame(svc, T0, T0 + 180), again.frame(svc, T0, T0 + 180)
        assert f1.signals == f2.signals
        assert np.array_equal(f1.values, f2.values, equal_nan=True)
    g1, g2 = store.topology(), again.topology()
    assert sorted(g1.edges(data=True)) == sorted(g2.edges(data=True))
    assert g2.nodes["postgres"]["virtual"] is True
    assert [vars(t) for t in store.log_templates()] == [vars(t) for t in again.log_templates()]
    assert again.latest_closed_step() == store.latest_closed_step()
    # drain3 state survived: a known line maps to the known template, a new one is new
    again.consume_logs([LogRecord("b", T0 + 130, "served item 77"), LogRecord("b", T0 + 131, "cache miss")])
    assert len(again.log_templates("b")) == 2
    # counter state survived: the next point gives a rate, not a first sighting
    again.consume_metrics([MetricPoint("b", "c.total", T0 + 80, 80.0, MetricType.SUM, is_monotonic=True)])
    assert again.frame("b", T0 + 60, T0 + 120).column("metric.c_total")[0] == pytest.approx(1.0)


def test_steps_saved_before_call_gaps_or_request_ends_were_kept_still_load():
    from rca_service.store.persistence import step_from_json
    old = {"start": T0, "closed": True, "services": {}, "changes": [], "edges": [["a", "b", 4, 1, 0.8]]}
    assert step_from_json(old).edges == {("a", "b"): [4, 1, 0.8, 0.0, 0, 0]}
    old["edges"] = [["a", "b", 4, 1, 0.8, 0.2, 3]]
    assert step_from_json(old).edges == {("a", "b"): [4, 1, 0.8, 0.2, 3, 0]}


def test_periodic_saves_rewrite_only_changed_hours(tmp_path):
    store = TelemetryStore(StoreConfig(step=60))
    for k in range(180):  # three hours, one span a minute
        store.consume_spans([span("a", T0 + 60 * k, 0.1)])
    store.save(tmp_path)
    chunks = sorted((tmp_path / STEPS_DIR).iterdir())
    assert len(chunks) == 4  # T0 lies 27 minutes into an hour
    mtimes = {p.name: p.stat().st_mtime_ns for p in chunks}
    store.consume_spans([span("a", T0 + 60 * 180, 0.1)])  # only the newest hour changes
    store.save(tmp_path)
    changed = [p.name for p in sorted((tmp_path / STEPS_DIR).iterdir()) if mtimes.get(p.name) != p.stat().st_mtime_ns]
    assert changed == [max(mtimes, key=lambda n: int(n.split(".")[0]))]
    again = TelemetryStore.load(tmp_path, StoreConfig(step=60))
    assert again.frame("a", T0, T0 + 4 * 3600).column(frames.SPAN_REQUEST_RATE).sum() == pytest.approx(181 / 60)


def test_load_refuses_another_step_and_a_broken_file(tmp_path):
    store = TelemetryStore(StoreConfig(step=60))
    store.consume_spans([span("a", T0 + 1, 0.1)])
    store.save(tmp_path)
    with pytest.raises(InputError):
        TelemetryStore.load(tmp_path, StoreConfig(step=30))
    (tmp_path / STATE_FILE).write_bytes(b"not gzip")
    with pytest.raises(ConfigError):
        TelemetryStore.load(tmp_path, StoreConfig(step=60))
    assert TelemetryStore.load(tmp_path / "empty", StoreConfig(step=60)).services() == []
