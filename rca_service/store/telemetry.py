"""The telemetry store: windows per service and step, topology, log templates, changes, vectors.

`TelemetryStore` implements `store.api.TimeBoundedSink` (ingest pushes records in) and
`store.api.TelemetryStoreAPI` (detect, localize, respond and the API read). One lock guards the
state: ingest holds it for one batch at a time, readers for one query.

Steps close on data time: a step is closed once the watermark (newest record time) passes its
end by the grace, or when `close_until(t)` / `advance(now)` says so. Closed steps still accept
late records (a replay may send one source after another); closing only tells readers the
step is complete enough to score. Retention follows data time too, so replays of old data work.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from rca_service.errors import InputError
from rca_service.records import ChangeEvent, LogRecord, MetricPoint, RecordBatch, Span
from rca_service.store.api import AcceptedTimeRange, LogTemplate, SpanSample, VectorHit
from rca_service.store.changes import ChangeTracker
from rca_service.store.config import StoreConfig
from rca_service.store.frames import WindowFrame
from rca_service.store.metrics import MetricAccumulator, series_names
from rca_service.store.persistence import StateWriter, read_state
from rca_service.store.spans import SpanAccumulator
from rca_service.store.templates import LogAccumulator
from rca_service.store.windows import FIXED_SIGNALS, StepTable

if TYPE_CHECKING:
    from rca_service.store.vectors import VectorStore

log = logging.getLogger(__name__)

# Count-like fixed signals: a step without data reads 0 (not NaN) once the frame shows the
# source is active for the service and the step shows the pipeline of that source was alive
# (some service sent that kind of record in it): a gap in collection is not zero traffic.
_ZERO_FILL_SPANS = [FIXED_SIGNALS.index("span.request_rate")]
_ZERO_FILL_LOGS = [FIXED_SIGNALS.index(s) for s in ("log.count", "log.count.error", "log.count.warn", "log.new_templates")]
_CHANGE_COL = FIXED_SIGNALS.index("change.count")


class TelemetryStore:
    """Windows, topology, templates, span samples and changes, bounded by retention.

    Args:
        config: store settings (step, retention, grace, bounds).
        vectors: optional vector store; new log templates and span signatures are queued to it.
    """

    def __init__(self, config: StoreConfig | None = None, vectors: VectorStore | None = None) -> None:
        self.config = config or StoreConfig()
        self.step: int = self.config.step
        self.vectors = vectors
        self._lock = threading.RLock()
        self._table = StepTable(self.step)
        self._changes = ChangeTracker(self._table)
        self._spans = SpanAccumulator(self.config, self._table, on_resource=self._changes.observe)
        self._metrics = MetricAccumulator(self._table, self.config.max_series, on_resource=self._changes.observe)
        self._logs = LogAccumulator(self.config, self._table, on_new_template=self._template_to_vectors,
                                    on_resource=self._changes.observe)
        self.watermark: float | None = None  # newest record time seen (data time)
        self._closed_until: int | None = None  # every step ending at or before this is closed
        self._settled_until: int | None = None  # spans of steps before this wait for no partner
        self._last_arrival = time.monotonic()
        self._writer = StateWriter()
        # service -> (its metric series keys, frame columns, column of each key): frames are read
        # for every service every step, and the naming only changes when a series appears
        self._frame_layouts: dict[str, tuple[set, list[str], dict]] = {}
        self.counters: dict[str, int] = {"spans": 0, "metric_points": 0, "logs": 0, "changes": 0,
                                         "dropped": 0, "steps_dropped": 0}

    # -- write side -------------------------------------------------------------------------
    def accepted_time_range(self) -> AcceptedTimeRange:
        """Record times the store keeps now: within retention behind the watermark, not far future.

        Lock-free (one read of the watermark), so ingest may ask per request without waiting
        for a batch being consumed; the answer can only lag towards accepting more.
        """
        watermark = self.watermark
        cfg = self.config
        return AcceptedTimeRange(
            earliest=-math.inf if watermark is None else watermark - cfg.retention_seconds,
            latest=time.time() + cfg.max_future_seconds,
            newest_data=watermark,
            retention_seconds=cfg.retention_seconds,
            max_future_seconds=cfg.max_future_seconds,
        )

    def _limits(self) -> tuple[float, float]:
        """Accepted record times as (lo, hi), read under the lock by `_ingest`."""
        accepted = self.accepted_time_range()
        return accepted.earliest, accepted.latest

    def _ingest(self, records: list, add: Callable[[list, float, float], tuple[int, float]], counter: str) -> None:
        """Run one accumulator over a batch under the lock; move the watermark and close steps."""
        with self._lock:
            lo, hi = self._limits()
            dropped, newest = add(records, lo, hi)
            self.counters[counter] += len(records) - dropped
            self.counters["dropped"] += dropped  # older than retention or stamped in the far future
            self._last_arrival = time.monotonic()
            if newest > -math.inf and (self.watermark is None or newest > self.watermark):
                self.watermark = newest
                self._close_through(newest - self.config.grace)

    def consume_spans(self, spans: list[Span]) -> None:
        """Add spans: per-step statistics, evidence samples, call edges."""
        if not spans:
            return
        self._ingest(spans, self._spans.consume, "spans")
        with self._lock:
            new_sigs = self._spans.take_new_signatures()
        if new_sigs and self.vectors is not None:
            for (svc, name, err), t in new_sigs:
                status = "error" if err else "ok"
                self.vectors.enqueue_text(
                    "span_signature", f"{svc}|{name}|{status}", f"{svc} {name} {status}",
                    {"service": svc, "operation": name, "status": status, "time": t})

    def consume_metrics(self, points: list[MetricPoint]) -> None:
        """Add metric points as per-step series values."""
        if points:
            self._ingest(points, self._metrics.consume, "metric_points")

    def consume_logs(self, logs: list[LogRecord]) -> None:
        """Add log records: counts by severity, drain3 templates."""
        if logs:
            self._ingest(logs, self._logs.consume, "logs")

    def consume_changes(self, changes: list[ChangeEvent]) -> None:
        """Add change events (deploys, config changes)."""
        if changes:
            self._ingest(changes, self._changes.add, "changes")

    def consume(self, batch: RecordBatch) -> None:
        """Add every record of a batch."""
        self.consume_spans(batch.spans)
        self.consume_metrics(batch.metrics)
        self.consume_logs(batch.logs)
        self.consume_changes(batch.changes)

    def _template_to_vectors(self, tpl: LogTemplate) -> None:
        if self.vectors is not None:
            self.vectors.enqueue_text(
                "log_template", f"{tpl.service}|{tpl.template}", tpl.template,
                {"service": tpl.service, "template_id": tpl.template_id, "time": tpl.first_seen})

    # -- closing and retention ----------------------------------------------------------------
    def _close_through(self, t: float) -> None:
        """Close every step that ends at or before t; settle pairing; apply retention."""
        until = self._table.align(t)  # steps starting before `until` end at or before t
        self._settle(until)
        if self._closed_until is not None and until <= self._closed_until:
            return
        self._closed_until = until
        for st, sd in self._table.steps.items():
            if st < until and not sd.closed:
                sd.closed = True
                for b in sd.services.values():
                    b.pack()
        if self.watermark is not None:
            keep_from = self._table.align(self.watermark - self.config.retention_seconds) + self.step
            dropped = self._table.drop_before(keep_from)
            if dropped:
                self.counters["steps_dropped"] += dropped
                alive = self._table.service_names
                self._logs.drop_before(keep_from, alive)
                self._metrics.forget(alive)
                self._changes.forget(alive)
                self._spans.server_services &= alive

    def _settle(self, until: int) -> None:
        """Stop waiting for partners of spans in steps before `until`.

        A close far ahead of the data (the wall clock during a replay of old data) while records
        still flow settles no closer than the grace behind the watermark, so pairs split over
        two batches are not cut.
        """
        wm = self.watermark
        if (wm is not None and until - wm > self.config.live_lag
                and time.monotonic() - self._last_arrival < self.config.idle_close_seconds):
            until = min(until, self._table.align(wm - self.config.grace))
        if self._settled_until is None or until > self._settled_until:
            self._settled_until = until
            self._spans.expire(until)

    def close_until(self, t: float) -> None:
        """Close every step that ends at or before t (wall-clock driven closing)."""
        with self._lock:
            self._close_through(t)

    def advance(self, now: float | None = None) -> float | None:
        """What the service's loop calls each tick; returns `latest_closed_step()`.

        Live data (watermark within `live_lag` of the wall clock): close by the wall clock minus
        the grace. Replayed old data: close by the watermark, and once nothing has arrived for
        `idle_close_seconds`, close the watermark's own step too (the end of a replay).
        """
        now = time.time() if now is None else now
        with self._lock:
            if self.watermark is not None:
                if now - self.watermark <= self.config.live_lag:
                    self._close_through(now - self.config.grace)
                elif time.monotonic() - self._last_arrival >= self.config.idle_close_seconds:
                    self._close_through(self._table.align(self.watermark) + self.step)
            return self.latest_closed_step()

    def latest_closed_step(self) -> float | None:
        """Start time of the newest closed step, or None when nothing is closed or held."""
        with self._lock:
            bounds = self._table.bounds()
            if self._closed_until is None or bounds is None or self._closed_until - self.step < bounds[0]:
                return None
            return float(self._closed_until - self.step)

    # -- read side ----------------------------------------------------------------------------
    def services(self) -> list[str]:
        """Every service seen (in spans, metrics, logs or changes) within retention, sorted."""
        with self._lock:
            return sorted(self._table.service_names)

    def frame(self, service: str, start: float, end: float) -> WindowFrame:
        """The service's steps whose start lies in [start, end), clamped to the steps held.

        Columns: FIXED_SIGNALS, then the service's metric series (sorted). Rates, error rates
        and latency come from SERVER/CONSUMER spans, or from entry spans (root spans and spans
        whose parent is in another service) for a service that has no server spans.
        """
        return self.frames([service], start, end)[service]

    def frames(self, services: list[str], start: float, end: float) -> dict[str, WindowFrame]:
        """`frame` of several services over the same range, in one pass.

        The streaming detector reads every service's newest step each step; what does not
        depend on the service (the range, and whether any service had spans or logs in each
        step) is worked out once here instead of once per service.
        """
        step = self.step
        with self._lock:
            bounds = self._table.bounds()
            if bounds is None or end <= start:
                return {svc: self._frame_of(svc, np.zeros(0, dtype=np.int64), [], None, None, None) for svc in services}
            first = max(math.ceil(start / step) * step, bounds[0]) if math.isfinite(start) else bounds[0]
            stop = min(end, bounds[1] + step)
            times = np.arange(first, stop, step, dtype=np.int64) if first < stop else np.zeros(0, dtype=np.int64)
            steps = [self._table.steps.get(t) for t in times.tolist()]
            spans_alive = np.array([sd is not None and any(x.n_spans for x in sd.services.values()) for sd in steps], dtype=bool)
            logs_alive = np.array([sd is not None and any(x.n_logs for x in sd.services.values()) for sd in steps], dtype=bool)
            return {svc: self._frame_of(svc, times, steps, spans_alive, logs_alive, self._closed_until) for svc in services}

    def _frame_of(self, service: str, times: np.ndarray, steps: list, spans_alive: np.ndarray | None,
                  logs_alive: np.ndarray | None, closed: float | None) -> WindowFrame:
        """One service's frame over `times` (their StepData in `steps`); the caller holds the lock.
        `spans_alive` None: the store holds nothing in range (an empty frame without meta)."""
        step = self.step
        signals, column = self._frame_layout(service)
        if spans_alive is None:
            return WindowFrame(service, step, times, signals, np.zeros((0, len(signals))))
        values = np.full((len(times), len(signals)), np.nan)
        use_server = service in self._spans.server_services
        log_gamma = self.config.sketch_log_gamma
        nfix = len(FIXED_SIGNALS)
        for i, sd in enumerate(steps):
            b = None if sd is None else sd.services.get(service)
            if b is None:
                continue
            row = b.fixed_row(step, use_server, log_gamma) + [math.nan] * (len(signals) - nfix)
            for key, (s, c) in b.metrics.items():
                if c:
                    row[column[key]] = s / c
            values[i] = row
        # (one step: a column with a value there has no gap to fill)
        zero_fill = ((_ZERO_FILL_SPANS, spans_alive), (_ZERO_FILL_LOGS, logs_alive), ([_CHANGE_COL], None)) if len(times) > 1 else ()
        for cols, alive in zero_fill:
            for j in cols:
                colv = values[:, j]
                if len(colv) and not np.isnan(colv).all():
                    fill = np.isnan(colv) if alive is None else np.isnan(colv) & alive
                    colv[fill] = 0.0
        meta = {"closed_until": closed, "latency_source": "server" if use_server else "entry"}
        return WindowFrame(service, step, times, signals, values, meta)

    def _frame_layout(self, service: str) -> tuple[list[str], dict]:
        """(frame columns, column of each metric series key) of a service; cached until its
        set of series changes. The caller holds the lock."""
        keys = self._metrics.keys_of(service)
        cached = self._frame_layouts.get(service)
        if cached is not None and cached[0] == keys:
            return list(cached[1]), cached[2]
        names = series_names(sorted(keys))
        signals = FIXED_SIGNALS + sorted(set(names.values()))
        col = {s: i for i, s in enumerate(signals)}
        column = {key: col[name] for key, name in names.items()}
        self._frame_layouts[service] = (keys, signals, column)
        return list(signals), column

    def topology(self, start: float | None = None, end: float | None = None) -> nx.DiGraph:
        """Service call graph over steps starting in [start, end).

        Nodes: services with data in the range and every edge end; attribute `virtual` is True
        for a callee known only from client spans (a database, an external API). Edges: `calls`,
        `errors` (either side ERROR), `latency_sum` (seconds of callee spans), `gap_sum` and
        `gap_calls` (client span minus server span, summed over the calls where both are known),
        `ends` (calls that were the last their caller's request made, counted once steps close).
        """
        g = nx.DiGraph()
        with self._lock:
            steps = self._table.range(start, end)
            real = set(self._table.service_names)
            for sd in steps:
                for svc in sd.services:
                    if not g.has_node(svc):
                        g.add_node(svc, virtual=False)
                for (src, dst), (calls, errors, lat, gap, gap_calls, ends) in sd.edges.items():
                    self._add_edge(g, src, dst, calls, errors, lat, real, gap, gap_calls, ends)
            # client spans still waiting for a server span in open steps: tentative peer edges
            lo = -math.inf if start is None else start
            hi = math.inf if end is None else end
            for svc, peer, err, d, st in self._spans.pairing.pending_clients.values():
                if lo <= st < hi:
                    self._add_edge(g, svc, peer, 1, int(err), d, real)
        return g

    @staticmethod
    def _add_edge(g: nx.DiGraph, src: str, dst: str, calls: float, errors: float, lat: float, real: set[str],
                  gap: float = 0.0, gap_calls: float = 0, ends: float = 0) -> None:
        for n in (src, dst):
            if not g.has_node(n):
                g.add_node(n, virtual=n not in real)
        if g.has_edge(src, dst):
            a = g.edges[src, dst]
            a["calls"] += int(calls)
            a["errors"] += int(errors)
            a["latency_sum"] += float(lat)
            a["gap_sum"] += float(gap)
            a["gap_calls"] += int(gap_calls)
            a["ends"] += int(ends)
        else:
            g.add_edge(src, dst, calls=int(calls), errors=int(errors), latency_sum=float(lat),
                       gap_sum=float(gap), gap_calls=int(gap_calls), ends=int(ends))

    def log_templates(self, service: str | None = None, start: float | None = None,
                      end: float | None = None) -> list[LogTemplate]:
        """Templates of a service (all if None) with occurrences in [start, end).

        With a range, `count`/`error_count` are the range's; `first_seen`/`last_seen` overall.
        """
        with self._lock:
            return self._logs.query(service, start, end)

    def span_samples(self, service: str, start: float, end: float, limit: int = 20) -> list[SpanSample]:
        """Error spans (slowest first), then the slowest other spans of the service in [start, end)."""
        errs: list[tuple] = []
        slow: list[tuple] = []
        with self._lock:
            for sd in self._table.range(start, end):
                b = sd.services.get(service)
                if b is not None:
                    e, sl = b.samples()
                    errs.extend(e)
                    slow.extend(sl)
        out: list[SpanSample] = []
        seen: set[str] = set()
        for d, trace_id, span_id, name, t, is_err in sorted(errs, key=lambda x: -x[0]) + sorted(slow, key=lambda x: -x[0]):
            if span_id in seen:
                continue
            seen.add(span_id)
            out.append(SpanSample(trace_id, span_id, service, name, t, d, bool(is_err)))
            if len(out) >= limit:
                break
        return out

    def changes(self, service: str | None = None, start: float | None = None,
                end: float | None = None) -> list[ChangeEvent]:
        """Change events (ingested and derived from version changes) in [start, end), by time."""
        with self._lock:
            return self._changes.query(service, start, end)

    def resource_attributes(self, service: str) -> dict[str, Any]:
        """The latest resource attributes seen for a service (k8s namespace, deployment...), {} if none."""
        with self._lock:
            return dict(self._changes.resources.get(service, {}))

    def search_vectors(self, text: str, kind: str | None = None, service: str | None = None,
                       limit: int = 5) -> list[VectorHit]:
        """Semantic search in the vector store ([] when the store has none)."""
        if self.vectors is None:
            return []
        return self.vectors.search(text, kind=kind, service=service, limit=limit)

    def stats(self) -> dict[str, Any]:
        """Counters and sizes for /metrics."""
        with self._lock:
            p = self._spans.pairing
            return {
                **self.counters,
                "steps": len(self._table.steps),
                "services": len(self._table.service_names),
                "templates": len(self._logs.templates),
                "metric_series": len(self._metrics.known),
                "span_index": len(p.index),
                "pending_children": len(p.pending_children),
                "pending_clients": len(p.pending_clients),
                "watermark": self.watermark,
                "latest_closed_step": self.latest_closed_step(),
            }

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write windows, topology, templates and change state under `directory` (gzip JSON).

        Only hour chunks that changed since the last save to the same folder are rewritten,
        and the lock is held one chunk at a time, so ingest keeps flowing while this runs.
        Pairing indexes are not saved (spans waiting for a partner are transient).
        """
        with self._lock:
            meta = {
                "config": self.config.to_dict(),
                "watermark": self.watermark,
                "closed_until": self._closed_until,
                "logs": self._logs.to_json(),
                "server_services": sorted(self._spans.server_services),
                "signatures": [[s, n, e] for s, n, e in self._spans.signatures],
                "metric_last": [[svc, name, [list(a) for a in attrs], *v]
                                for (svc, (name, attrs)), v in self._metrics.last.items()],
                "versions": {svc: [list(v) for v in vs] for svc, vs in self._changes.versions.items()},
                "resources": {svc: {k: v for k, v in r.items() if isinstance(v, (str, int, float, bool))}
                              for svc, r in self._changes.resources.items()},
                "counters": dict(self.counters),
            }
        return self._writer.write(directory, self._table, self._lock, meta)

    @classmethod
    def load(cls, directory: str | Path, config: StoreConfig | None = None,
             vectors: VectorStore | None = None) -> TelemetryStore:
        """A store restored from `save(directory)`; an empty one when nothing was saved.

        Raises:
            InputError: the saved state used another step length than `config`.
            StateError (a ConfigError): the state files are unreadable.
        """
        store = cls(config, vectors)
        saved = read_state(directory)
        if saved is None:
            return store
        state, steps = saved
        saved_step = int(state.get("config", {}).get("step", store.step))
        if saved_step != store.step:
            raise InputError(f"saved store uses step {saved_step} s, config asks for {store.step} s; "
                             "move the old state away to change the step")
        t = store._table
        for sd in steps:
            t.steps[sd.start] = sd
            t.service_names.update(sd.services)
            for svc, b in sd.services.items():
                for key in b.metrics:
                    store._metrics.add_known(svc, key)
        store._logs.load_json(state["logs"])
        store._spans.server_services = set(state["server_services"])
        store._spans.signatures = {(s, n, bool(e)) for s, n, e in state["signatures"]}
        for svc, name, attrs, tm, v, c in state["metric_last"]:
            store._metrics.last[(svc, (name, tuple(tuple(a) for a in attrs)))] = (tm, v, c)
        store._changes.versions = {svc: [tuple(v) for v in vs] for svc, vs in state["versions"].items()}
        store._changes.resources = dict(state.get("resources", {}))
        store.watermark = state["watermark"]
        store._closed_until = state["closed_until"]
        store.counters.update(state.get("counters", {}))
        return store
