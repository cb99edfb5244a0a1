"""Window values from hand-made spans, metrics and logs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rca_service.errors import ConfigError
from rca_service.records import LogRecord, MetricPoint, MetricType, SpanKind
from rca_service.store import frames
from rca_service.store.config import StoreConfig
from rca_service.store.metrics import normalise_name

from .conftest import T0, span


def test_span_rates_errors_and_quantiles(store):
    durations = [0.01 * (i + 1) for i in range(100)]  # 10 ms .. 1 s
    spans = [span("api", T0 + i * 0.5, d, error=(i % 10 == 0)) for i, d in enumerate(durations)]
    # client calls of api: 4 of them, one failed
    spans += [span("api", T0 + 1 + i, 0.001, SpanKind.CLIENT, error=(i == 0), peer="db") for i in range(4)]
    store.consume_spans(spans)
    f = store.frame("api", T0, T0 + 60)
    assert f.times.tolist() == [int(T0)]
    assert f.column(frames.SPAN_REQUEST_RATE)[0] == pytest.approx(100 / 60)
    assert f.column(frames.SPAN_ERROR_RATE)[0] == pytest.approx(0.1)
    exact = np.quantile(durations, [0.5, 0.9, 0.99], method="inverted_cdf")
    got = [f.column(s)[0] for s in (frames.SPAN_LATENCY_P50, frames.SPAN_LATENCY_P90, frames.SPAN_LATENCY_P99)]
    assert got == pytest.approx(exact.tolist(), rel=0.03)
    assert f.column(frames.SPAN_CLIENT_ERROR_RATE)[0] == pytest.approx(0.25)


def test_missing_steps_are_nan_and_counts_zero_filled(store):
    store.consume_spans([span("api", T0 + 1, 0.1), span("api", T0 + 121, 0.1)])
    f = store.frame("api", T0, T0 + 180)
    assert f.times.tolist() == [int(T0), int(T0 + 60), int(T0 + 120)]
    lat = f.column(frames.SPAN_LATENCY_P50)
    assert not math.isnan(lat[0]) and math.isnan(lat[1]) and not math.isnan(lat[2])
    # no service sent spans in the middle step: a collection gap, not zero traffic
    assert math.isnan(f.column(frames.SPAN_REQUEST_RATE)[1])
    # once another service's spans show tracing was alive, the empty step means zero requests
    store.consume_spans([span("other", T0 + 61, 0.1)])
    f = store.frame("api", T0, T0 + 180)
    assert f.column(frames.SPAN_REQUEST_RATE)[1] == 0.0
    # the service has no logs at all: log signals stay NaN
    assert np.isnan(f.column(frames.LOG_COUNT)).all()
    # an unknown signal reads NaN, an unknown service gives NaN rows
    assert np.isnan(f.column("metric.nope")).all()
    assert np.isnan(store.frame("ghost", T0, T0 + 180).values).all()


def test_entry_spans_stand_in_when_a_service_has_no_server_spans(store):
    # kinds unspecified (as in datasets without span kinds): root of b, then b -> c, c internal child
    root = span("b", T0 + 1, 0.5, SpanKind.UNSPECIFIED, error=True)
    child = span("c", T0 + 1.1, 0.2, SpanKind.UNSPECIFIED, parent=root.span_id)
    inner = span("c", T0 + 1.2, 0.05, SpanKind.INTERNAL, parent=child.span_id)
    # an orphan whose parent never arrives counts as an entry span once its step closes
    orphan = span("c", T0 + 2, 0.3, SpanKind.UNSPECIFIED, parent="ffffffffffffffff")
    store.consume_spans([inner, child, orphan])
    store.consume_spans([root])
    store.close_until(T0 + 60)
    fb, fc = store.frame("b", T0, T0 + 60), store.frame("c", T0, T0 + 60)
    assert fb.column(frames.SPAN_REQUEST_RATE)[0] == pytest.approx(1 / 60)
    assert fb.column(frames.SPAN_ERROR_RATE)[0] == 1.0
    assert fc.column(frames.SPAN_REQUEST_RATE)[0] == pytest.approx(2 / 60)  # child + orphan, not inner
    assert fc.column(frames.SPAN_LATENCY_P99)[0] == pytest.approx(0.3, rel=0.03)
    assert fc.meta["latency_source"] == "entry"


def test_gauges_counters_and_histograms():
    from rca_service.store.telemetry import TelemetryStore

    store = TelemetryStore(StoreConfig(step=60))
    pts = [MetricPoint("db", "CpuUsageRate(%)", T0 + 10 * k, float(k)) for k in range(6)]  # mean 2.5
    # cumulative counter: +60 per 10 s = 6/s, with a reset in the second step
    pts += [MetricPoint("db", "requests.total", T0 + 10 * k, 60.0 * k, MetricType.SUM, is_monotonic=True) for k in range(6)]
    pts += [MetricPoint("db", "requests.total", T0 + 60 + 10 * k, 60.0 * (k + 1), MetricType.SUM, is_monotonic=True)
            for k in range(6)]
    # cumulative histogram: step 1 adds 10 observations summing to 5 s -> mean 0.5
    pts += [MetricPoint("db", "rpc.duration", T0 + 60 + 10 * k, 0.0, MetricType.HISTOGRAM, count=10.0 * k, sum=5.0 * k)
            for k in range(1, 3)]
    store.consume_metrics(pts)
    f = store.frame("db", T0, T0 + 120)
    assert f.column("metric.cpu_usage_rate").tolist()[0] == pytest.approx(2.5)
    rates = f.column("metric.requests_total")
    assert rates[0] == pytest.approx(6.0)
    assert rates[1] == pytest.approx(6.0)  # the reset is read as a restart from zero, not a drop
    assert f.column("metric.rpc_duration")[1] == pytest.approx(0.5)
    assert math.isnan(f.column("metric.rpc_duration")[0])


def test_metric_attributes_fold_in_only_when_needed(store):
    pts = [MetricPoint("db", "disk.io", T0 + 1, 1.0, attributes={"device": "sda", "pod": "db-1"}),
           MetricPoint("db", "disk.io", T0 + 2, 3.0, attributes={"device": "sdb", "pod": "db-1"}),
           MetricPoint("db", "mem", T0 + 3, 7.0, attributes={"pod": "db-1", "area": "heap"})]
    store.consume_metrics(pts)
    f = store.frame("db", T0, T0 + 60)
    assert "metric.disk_io{device=sda}" in f.signals and "metric.disk_io{device=sdb}" in f.signals
    assert f.column("metric.disk_io{device=sdb}")[0] == 3.0
    assert f.column("metric.mem")[0] == 7.0  # one series: no attributes in its name


def test_log_counts_by_severity(store):
    logs = [LogRecord("api", T0 + i, f"request {i} done", severity=9) for i in range(5)]
    logs += [LogRecord("api", T0 + 10, "db timeout after 30s", severity=17),
             LogRecord("api", T0 + 11, "db timeout after 31s", severity_text="ERROR"),
             LogRecord("api", T0 + 12, "slow query", severity=13)]
    store.consume_logs(logs)
    f = store.frame("api", T0, T0 + 60)
    assert f.column(frames.LOG_COUNT)[0] == 8
    assert f.column(frames.LOG_COUNT_ERROR)[0] == 2
    assert f.column(frames.LOG_COUNT_WARN)[0] == 1
    assert f.column(frames.LOG_NEW_TEMPLATES)[0] == 8  # every record's template is new in this step
    store.consume_logs([LogRecord("api", T0 + 61, "request 99 done", severity=9)])
    f = store.frame("api", T0, T0 + 120)
    assert f.column(frames.LOG_NEW_TEMPLATES).tolist() == [8, 0]
    assert f.column(frames.CHANGE_COUNT).tolist() == [0, 0]


def test_signal_names_match_the_contract(store):
    store.consume_spans([span("api", T0 + 1, 0.1)])
    f = store.frame("api", T0, T0 + 60)
    for s in (frames.SPAN_REQUEST_RATE, frames.SPAN_ERROR_RATE, frames.SPAN_LATENCY_P50, frames.SPAN_LATENCY_P90,
              frames.SPAN_LATENCY_P99, frames.SPAN_CLIENT_ERROR_RATE, frames.LOG_COUNT, frames.LOG_COUNT_ERROR,
              frames.LOG_COUNT_WARN, frames.LOG_NEW_TEMPLATES, frames.CHANGE_COUNT):
        assert s in f.signals
    assert f.values.shape == (1, len(f.signals))


def test_name_normalisation():
    assert normalise_name("CpuUsageRate(%)") == "cpu_usage_rate"
    assert normalise_name("http.server.request.duration") == "http_server_request_duration"
    assert normalise_name("HTTPRequests") == "http_requests"


def test_config_validation():
    with pytest.raises(ConfigError):
        StoreConfig(step=0)
    with pytest.raises(ConfigError):
        StoreConfig.from_dict({"step": 60, "retention": 5})
    assert StoreConfig.from_dict({"step": 30}).grace == 15


def test_configs_from_settings(tmp_path):
    from rca_service.settings import Settings
    from rca_service.store.vectors import VectorConfig

    s = Settings(step_seconds=30, retention_hours=2, data_dir=tmp_path, qdrant_url="", embeddings=False)
    c = StoreConfig.from_settings(s)
    assert (c.step, c.retention_seconds) == (30, 7200.0)
    v = VectorConfig.from_settings(s)
    assert v.path == str(tmp_path / "qdrant") and v.enabled is False and v.url == ""
