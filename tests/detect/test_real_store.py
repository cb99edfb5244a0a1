"""The detector on the real TelemetryStore, fed with metric records, and the shipped default model."""

import numpy as np

from rca_service.detect.detector_model import load_detector
from rca_service.detect.streaming import DetectConfig, StreamingDetector
from rca_service.records import MetricPoint
from rca_service.settings import Settings
from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore

T0 = 1_700_000_040
STEPS = 260
FAULT = 220


def _points(rng, service, metrics, fault_metric=None):
    pts = []
    for name, base in metrics.items():
        vals = base * (1 + 0.03 * rng.standard_normal(STEPS))
        if name == fault_metric:
            vals[FAULT:] *= 4
        pts += [MetricPoint(service, name, T0 + i * 60 + 7, float(v)) for i, v in enumerate(vals)]
    return pts


def test_real_store_step_change_opens_one_incident(tiny_detector):
    rng = np.random.default_rng(3)
    store = TelemetryStore(StoreConfig(step=60))
    pts = _points(rng, "orders", {"cpu_usage": 20.0, "memory_usage": 300.0, "request_latency": 0.05}, "cpu_usage")
    pts += _points(rng, "billing", {"cpu_usage": 5.0, "heap_used": 80.0})
    pts.sort(key=lambda p: p.time)
    det = StreamingDetector(store, DetectConfig(lookback_steps=0), tiny_detector)
    opened = []
    for i in range(STEPS):
        store.consume_metrics([p for p in pts if T0 + i * 60 <= p.time < T0 + (i + 1) * 60])
        store.close_until(T0 + (i + 1) * 60)
        if i == 120:
            det.prime(T0, T0 + 120 * 60)
            det.seek(T0 + 120 * 60)
        if i >= 120:
            opened += det.step()
    assert len(opened) == 1
    inc = opened[0]
    assert list(inc.services) == ["orders"]
    assert inc.services["orders"].signals[0].signal == "metric.cpu_usage"
    assert T0 + FAULT * 60 <= inc.start <= T0 + (FAULT + 2) * 60


def test_shipped_default_model_loads_and_verifies():
    det = load_detector(Settings().models_dir, "latest")
    assert det.version and len(det.sha256["weights.pt"]) == 64
    assert det.info()["name"] == "detector"


def test_real_store_reads_many_services_at_once_as_one_by_one():
    rng = np.random.default_rng(5)
    store = TelemetryStore(StoreConfig(step=60))
    pts = _points(rng, "orders", {"cpu_usage": 20.0, "memory_usage": 300.0})
    pts += [p for p in _points(rng, "billing", {"heap_used": 80.0}) if p.time < T0 + 100 * 60]
    store.consume_metrics(pts)
    store.close_until(T0 + STEPS * 60)
    for start, end in ((T0 + 50 * 60, T0 + 150 * 60), (T0 + 99 * 60, T0 + 100 * 60), (T0 + 10**6, T0 + 10**6 + 60)):
        many = store.frames(["orders", "billing", "unknown"], start, end)
        for service, frame in many.items():
            one = store.frame(service, start, end)
            assert (frame.signals, frame.times.tolist(), frame.meta) == (one.signals, one.times.tolist(), one.meta)
            np.testing.assert_array_equal(frame.values, one.values)
    assert many["billing"].signals[-1] == "metric.heap_used"
