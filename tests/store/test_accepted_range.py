"""`TelemetryStore.accepted_time_range()`: exactly the times the store keeps on arrival."""

from __future__ import annotations

import math
import time

from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore

from .conftest import T0, span


def test_range_is_open_below_until_data_arrives_then_follows_the_watermark():
    store = TelemetryStore(StoreConfig(step=60, retention_seconds=3600, max_future_seconds=120))
    before = time.time()
    empty = store.accepted_time_range()
    assert empty.earliest == -math.inf and empty.newest_data is None
    assert before + 120 <= empty.latest <= time.time() + 120
    store.consume_spans([span("svc", T0, 2.0)])
    after = store.accepted_time_range()
    assert after.newest_data == T0 + 2.0 == store.watermark
    assert after.earliest == T0 + 2.0 - 3600
    assert (after.retention_seconds, after.max_future_seconds) == (3600, 120)


def test_store_drops_exactly_what_lies_outside_the_range():
    store = TelemetryStore(StoreConfig(step=60, retention_seconds=3600))
    store.consume_spans([span("svc", T0, 1.0)])
    lo = store.accepted_time_range().earliest
    store.consume_spans([span("svc", lo - 0.5, 0.1), span("svc", lo, 0.1), span("svc", time.time() + 7200, 0.1)])
    assert store.counters["dropped"] == 2 and store.counters["spans"] == 2
