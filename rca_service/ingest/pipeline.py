"""A bounded queue and one worker thread between the OTLP transports and the store.

    HTTP route ─┐                       ┌──────────── worker thread ────────────┐
    gRPC server ┼─ submit(RecordBatch) ─► queue (N batches) ─► sink.consume_spans/metrics/
    replay      ┘   raises Overloaded                          logs/changes
                    when full (never blocks)

Transports answer the client as soon as a batch is queued; a full queue is reported back as
`OverloadedError` so the client retries later (HTTP 429 + Retry-After, gRPC UNAVAILABLE).
When the sink says which record times it keeps (`TimeBoundedSink.accepted_time_range`), the
shared decoder screens each request against it before queueing: records the sink would drop
are removed and reported to the client as rejected (OTLP partial success).
A sink that raises loses that batch only: the error is logged and counted, the worker goes on.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rca_service.errors import ConfigError, OverloadedError
from rca_service.ingest.configbase import config_from_dict
from rca_service.ingest.decode import OtlpDecoder
from rca_service.ingest.decoder_config import DecoderConfig
from rca_service.ingest.time_screen import TimeScreen
from rca_service.records import RecordBatch
from rca_service.store.api import RecordSink

log = logging.getLogger(__name__)

_STOP = object()  # queue sentinel: the worker exits when it takes this


@dataclass(frozen=True)
class IngestConfig:
    """Limits and behaviour of ingest.

    Attributes:
        queue_size: batches (one per request) that may wait for the sink; beyond it, submit
            raises OverloadedError.
        max_body_bytes: largest request body, counted after decompression too (16 MiB).
        retry_after_seconds: what overloaded clients are told to wait.
        inline_decode_bytes: HTTP bodies up to this size are decoded on the event loop; larger
            ones on a worker thread so one big request cannot stall the loop.
        decode_threads: most HTTP bodies decoded on threads at once.
        grpc_workers: threads serving gRPC calls.
        stop_timeout_seconds: how long stop(drain=True) waits for the queue to empty.
        gc_gen0_threshold: raise the garbage collector's generation-0 threshold to at least this
            when the pipeline starts (None: leave it). Decoding allocates ~1000 tracked objects
            per 512 spans; with Python's default (700) the collector runs after every request
            and its full passes over everything queued cost about 30% of ingest throughput.
            Process-wide, and only ever raised, never lowered.
        decoder: what the OTLP decoder keeps (see DecoderConfig).
    """

    queue_size: int = 256
    max_body_bytes: int = 16 * 1024 * 1024
    retry_after_seconds: float = 1.0
    inline_decode_bytes: int = 256 * 1024
    decode_threads: int = 4
    grpc_workers: int = 8
    stop_timeout_seconds: float = 30.0
    gc_gen0_threshold: int | None = 50_000
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self) -> None:
        for name in ("queue_size", "max_body_bytes", "decode_threads", "grpc_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"IngestConfig.{name} must be a positive integer, got {value!r}")
        if self.gc_gen0_threshold is not None and (not isinstance(self.gc_gen0_threshold, int) or self.gc_gen0_threshold <= 0):
            raise ConfigError("IngestConfig.gc_gen0_threshold must be a positive integer or None")
        if self.inline_decode_bytes < 0:
            raise ConfigError("IngestConfig.inline_decode_bytes must be >= 0")
        if self.retry_after_seconds <= 0 or self.stop_timeout_seconds <= 0:
            raise ConfigError("IngestConfig.retry_after_seconds and stop_timeout_seconds must be > 0")
        if isinstance(self.decoder, Mapping):
            object.__setattr__(self, "decoder", DecoderConfig.from_dict(self.decoder))
        if not isinstance(self.decoder, DecoderConfig):
            raise ConfigError("IngestConfig.decoder must be a DecoderConfig or a mapping")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> IngestConfig:
        """Build from a mapping (e.g. parsed YAML); unknown keys raise ConfigError."""
        return config_from_dict(cls, data)


class IngestPipeline:
    """Queue + worker in front of a RecordSink (the store).

    Args:
        sink: receives the records, on the worker thread only (so it needs no locking
            against ingest; it may still be read concurrently by others).
        config: limits; defaults to `IngestConfig()`.

    `decoder` is the shared OtlpDecoder the transports use; it screens record times when the
    sink has `accepted_time_range()`. Counters for `stats()` are updated by `submit`, the
    worker, and the transports through `record_request` / `record_rejected`.
    """

    def __init__(self, sink: RecordSink, config: IngestConfig | None = None) -> None:
        self.sink = sink
        self.config = config or IngestConfig()
        self.decoder = OtlpDecoder(self.config.decoder, screen=TimeScreen.for_sink(sink))
        self._queue: queue.Queue = queue.Queue(maxsize=self.config.queue_size)
        self._worker: threading.Thread | None = None
        self._running = False
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # batches submitted and not yet fully consumed

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._lock:
            if self._running:
                return
            self._running = True
            self._raise_gc_threshold()
            self._worker = threading.Thread(target=self._run, name="ingest-worker", daemon=True)
            self._worker.start()

    def stop(self, drain: bool = True) -> None:
        """Stop accepting batches and stop the worker.

        Args:
            drain: True hands every queued batch to the sink first (waiting at most
                `stop_timeout_seconds`); False drops them (counted as `dropped_batches`).
        """
        with self._lock:
            if not self._running:
                return
            self._running = False
        if not drain:
            self._discard_queued()
        # The sentinel needs a free slot; the worker frees one soon unless the sink hangs.
        deadline = time.monotonic() + self.config.stop_timeout_seconds
        while True:
            try:
                self._queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    log.error("ingest worker did not drain within %.0f s", self.config.stop_timeout_seconds)
                    return
        if self._worker is not None:
            self._worker.join(timeout=max(0.0, deadline - time.monotonic()))
            if self._worker.is_alive():
                log.error("ingest worker still busy after %.0f s", self.config.stop_timeout_seconds)

    @property
    def running(self) -> bool:
        return self._running

    # -- producer side -------------------------------------------------------------------
    def is_full(self) -> bool:
        """True when a submit now would be refused (lets transports refuse before decoding)."""
        return self._queue.full()

    def check_accepting(self) -> None:
        """Raise OverloadedError now if a batch would be refused (stopped or full)."""
        if not self._running:
            raise OverloadedError("ingest is not running", retry_after=self.config.retry_after_seconds)
        if self._queue.full():
            self._count("refused_batches")
            raise OverloadedError("ingest queue is full, retry later", retry_after=self.config.retry_after_seconds)

    def submit(self, batch: RecordBatch) -> None:
        """Queue a batch for the sink without blocking.

        Raises:
            OverloadedError: the queue is full or the pipeline is not running.
        """
        # Check and put under one lock so stop() cannot slip its sentinel in between.
        with self._lock:
            if not self._running:
                raise OverloadedError("ingest is not running", retry_after=self.config.retry_after_seconds)
            if not len(batch):
                return
            try:
                self._queue.put_nowait(batch)
            except queue.Full:
                self._counts["refused_batches"] += 1
                raise OverloadedError("ingest queue is full, retry later", retry_after=self.config.retry_after_seconds) from None
            self._pending += 1
            c = self._counts
            c["accepted_spans"] += len(batch.spans)
            c["accepted_points"] += len(batch.metrics)
            c["accepted_logs"] += len(batch.logs)
            c["accepted_changes"] += len(batch.changes)
            c["accepted_batches"] += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every batch submitted so far has reached the sink; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # -- accounting for transports ------------------------------------------------------
    def record_request(self, transport: str, signal: str, outcome: str | int) -> None:
        """Count one request, e.g. ("http", "traces", 200) or ("grpc", "logs", "UNAVAILABLE")."""
        with self._lock:
            self._requests[f"{transport}.{signal}.{outcome}"] += 1

    def record_rejected(self, signal: str, n: int) -> None:
        """Count items the decoder rejected (partial success) for one signal."""
        if n:
            key = {"traces": "rejected_spans", "metrics": "rejected_points", "logs": "rejected_logs"}.get(signal, f"rejected_{signal}")
            self._count(key, n)

    def stats(self) -> dict[str, Any]:
        """Counters and gauges: accepted/rejected/consumed items, requests by outcome, queue.

        `rejected_*` count every item refused with partial success; `rejected_too_old` and
        `rejected_too_new` (present when the sink has an accepted time range) say how many of
        them, over all signals, were refused for their time stamp.
        """
        with self._lock:
            out: dict[str, Any] = {
                key: self._counts.get(key, 0)
                for key in (
                    "accepted_spans", "accepted_points", "accepted_logs", "accepted_changes", "accepted_batches",
                    "rejected_spans", "rejected_points", "rejected_logs",
                    "consumed_spans", "consumed_points", "consumed_logs", "consumed_changes", "consumed_batches",
                    "refused_batches", "dropped_batches", "sink_errors",
                )
            }
            out["requests"] = dict(self._requests)
        if self.decoder.screen is not None:
            out.update(self.decoder.screen.stats())
        out["queue_depth"] = self._queue.qsize()
        out["queue_capacity"] = self.config.queue_size
        out["running"] = self._running
        return out

    # -- worker ----------------------------------------------------------------------------
    def _run(self) -> None:
        sink = self.sink
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            try:
                if batch.spans:
                    sink.consume_spans(batch.spans)
                if batch.metrics:
                    sink.consume_metrics(batch.metrics)
                if batch.logs:
                    sink.consume_logs(batch.logs)
                if batch.changes:
                    sink.consume_changes(batch.changes)
            except Exception:  # one bad batch must not stop ingest; it is logged and counted
                log.exception("sink failed on a batch of %d records", len(batch))
                self._done(batch, failed=True)
            else:
                self._done(batch, failed=False)

    def _done(self, batch: RecordBatch, failed: bool) -> None:
        with self._idle:
            c = self._counts
            if failed:
                c["sink_errors"] += 1
            else:
                c["consumed_spans"] += len(batch.spans)
                c["consumed_points"] += len(batch.metrics)
                c["consumed_logs"] += len(batch.logs)
                c["consumed_changes"] += len(batch.changes)
                c["consumed_batches"] += 1
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def _discard_queued(self) -> None:
        while True:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                return
            if batch is not _STOP:
                self._count("dropped_batches")
                with self._idle:
                    self._pending -= 1
                    if not self._pending:
                        self._idle.notify_all()

    def _raise_gc_threshold(self) -> None:
        wanted = self.config.gc_gen0_threshold
        gen0, gen1, gen2 = gc.get_threshold()
        if wanted and gen0 and gen0 < wanted:  # gen0 == 0 means collection is disabled: keep it so
            gc.set_threshold(wanted, gen1, gen2)
            log.info("garbage collector generation-0 threshold raised from %d to %d for ingest", gen0, wanted)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n
