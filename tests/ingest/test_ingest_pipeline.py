"""IngestPipeline: bounded queue, never blocking submit, draining stop, surviving sink errors."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from rca_service.errors import ConfigError, OverloadedError
from rca_service.ingest.pipeline import IngestConfig, IngestPipeline
from rca_service.records import LogRecord, RecordBatch, Span, SpanKind


def batch(n: int, tag: str = "a") -> RecordBatch:
    spans = [Span(f"{i:032x}", f"{i:016x}", None, tag, "op", SpanKind.SERVER, 1.0, 2.0) for i in range(n)]
    return RecordBatch(spans=spans, logs=[LogRecord(tag, 1.0, "hello")])


def test_submit_never_blocks_and_refuses_when_full(RecordingSink):
    sink = RecordingSink()
    sink.gate.clear()
    pipeline = IngestPipeline(sink, IngestConfig(queue_size=2, retry_after_seconds=0.5))
    pipeline.start()
    accepted = 0
    with pytest.raises(OverloadedError) as err:
        for _ in range(10):  # worker holds one, queue holds two, then refusal
            pipeline.submit(batch(3))
            accepted += 1
    assert err.value.retry_after == 0.5 and 2 <= accepted <= 3
    assert pipeline.is_full()
    sink.gate.set()
    assert pipeline.flush(10)
    assert len(sink.spans) == 3 * accepted and len(sink.logs) == accepted
    stats = pipeline.stats()
    assert stats["accepted_spans"] == stats["consumed_spans"] == 3 * accepted
    assert stats["refused_batches"] == 1 and stats["queue_depth"] == 0
    pipeline.stop()


def four_queued(RecordingSink):
    """A pipeline with 4 batches of 2 spans submitted behind a blocked sink."""
    sink = RecordingSink()
    sink.gate.clear()
    pipeline = IngestPipeline(sink, IngestConfig(queue_size=8))
    pipeline.start()
    for _ in range(4):
        pipeline.submit(batch(2))
    return pipeline, sink


def test_stop_drains_by_default(RecordingSink):
    pipeline, sink = four_queued(RecordingSink)
    threading.Timer(0.2, sink.gate.set).start()
    pipeline.stop(drain=True)
    assert len(sink.spans) == 8
    with pytest.raises(OverloadedError):
        pipeline.submit(batch(1))


def test_stop_without_drain_drops_and_counts(RecordingSink):
    pipeline, sink = four_queued(RecordingSink)
    stopper = threading.Thread(target=pipeline.stop, kwargs={"drain": False})
    stopper.start()
    deadline = time.monotonic() + 10
    while pipeline.stats()["dropped_batches"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sink.gate.set()  # only now may the worker finish the batch it may hold
    stopper.join(10)
    stats = pipeline.stats()
    assert stats["dropped_batches"] in (3, 4)
    assert stats["dropped_batches"] + stats["consumed_batches"] == 4 and len(sink.spans) == 2 * stats["consumed_batches"]


def test_a_failing_sink_loses_one_batch_not_the_worker(RecordingSink):
    sink = RecordingSink()
    pipeline = IngestPipeline(sink)
    pipeline.start()
    sink.fail_next = True
    pipeline.submit(batch(2, "bad"))
    pipeline.submit(batch(3, "good"))
    assert pipeline.flush(10)
    assert {s.service for s in sink.spans} == {"good"} and len(sink.spans) == 3
    assert pipeline.stats()["sink_errors"] == 1
    pipeline.stop()


def test_start_raises_the_gc_threshold_but_never_lowers_it(RecordingSink):
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        pipeline = IngestPipeline(RecordingSink(), IngestConfig(gc_gen0_threshold=20_000))
        pipeline.start()
        assert gc.get_threshold()[0] == 20_000
        pipeline.stop()
        lower = IngestPipeline(RecordingSink(), IngestConfig(gc_gen0_threshold=1_000))
        lower.start()
        assert gc.get_threshold()[0] == 20_000
        lower.stop()
    finally:
        gc.set_threshold(*before)


def test_config_rejects_bad_values_and_unknown_keys():
    with pytest.raises(ConfigError):
        IngestConfig(queue_size=0)
    with pytest.raises(ConfigError):
        IngestConfig(retry_after_seconds=0)
    with pytest.raises(ConfigError):
        IngestConfig(gc_gen0_threshold=-1)
    with pytest.raises(ConfigError, match="unknown key"):
        IngestConfig.from_dict({"queue": 3})
    with pytest.raises(ConfigError, match="unknown key"):
        IngestConfig.from_dict({"decoder": {"scope": "all"}})
    assert IngestConfig.from_dict({"decoder": {"span_attribute_scope": "all"}}).decoder.span_attribute_scope == "all"
