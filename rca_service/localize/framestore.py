"""An in-memory, read-only store built from ready-made window frames.

`FrameStore` implements the read side of `rca_service.store.api.TelemetryStoreAPI` over
frames, edges, templates, span samples and change events handed to it directly. The localizer's
synthetic training data and its tests use it; the service itself uses the real TelemetryStore.
Writes (`consume_*`) are refused: this store only replays what it was built from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from rca_service.errors import InputError, NotFoundError
from rca_service.records import ChangeEvent, LogRecord, MetricPoint, Span
from rca_service.store.api import LogTemplate, SpanSample, VectorHit
from rca_service.store.frames import WindowFrame


@dataclass
class EdgeSeries:
    """Per-step call statistics of one caller → callee edge.

    Attributes:
        calls: (T,) calls per step, aligned with the store's `times`.
        errors: (T,) failed calls per step.
        latency_sum: (T,) summed callee server-span seconds per step.
        gap_sum: (T,) summed client-minus-server seconds per step over all calls, or None when
            the callers' client spans are unknown.
        ends: (T,) calls per step that were the last call of their caller's request, or None
            when not known.
    """

    calls: np.ndarray
    errors: np.ndarray
    latency_sum: np.ndarray
    gap_sum: np.ndarray | None = None
    ends: np.ndarray | None = None


@dataclass
class FrameStore:
    """A store over fixed frames on one common time grid.

    Attributes:
        step: step length in seconds.
        times: (T,) step starts shared by every frame.
        frames: service → (signal names, (T, S) values).
        edges: (caller, callee) → per-step call statistics.
        templates: log templates (their `first_seen` drives novelty).
        samples: span samples kept as evidence.
        change_events: deploys and config changes.
    """

    step: int
    times: np.ndarray
    frames: dict[str, tuple[list[str], np.ndarray]]
    edges: dict[tuple[str, str], EdgeSeries] = field(default_factory=dict)
    templates: list[LogTemplate] = field(default_factory=list)
    samples: list[SpanSample] = field(default_factory=list)
    change_events: list[ChangeEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.step <= 0:
            raise InputError(f"step must be positive, got {self.step}")
        if np.any(np.diff(self.times) <= 0):
            raise InputError("times must be increasing step starts")
        for service, (signals, values) in self.frames.items():
            if values.shape != (len(self.times), len(signals)):
                raise InputError(f"frame of {service!r} has shape {values.shape}, expected {(len(self.times), len(signals))}")

    # -- write side: refused ------------------------------------------------------------
    def consume_spans(self, spans: list[Span]) -> None:
        raise InputError("FrameStore is read-only")

    def consume_metrics(self, points: list[MetricPoint]) -> None:
        raise InputError("FrameStore is read-only")

    def consume_logs(self, logs: list[LogRecord]) -> None:
        raise InputError("FrameStore is read-only")

    def consume_changes(self, changes: list[ChangeEvent]) -> None:
        raise InputError("FrameStore is read-only")

    # -- read side ----------------------------------------------------------------------
    def services(self) -> list[str]:
        names = set(self.frames)
        for a, b in self.edges:
            names.update((a, b))
        return sorted(names)

    def _steps(self, start: float | None, end: float | None) -> slice:
        """The steps starting in [start, end) (`times` is sorted): a slice, cheap for one step."""
        lo = 0 if start is None else int(np.searchsorted(self.times, start, side="left"))
        hi = len(self.times) if end is None else int(np.searchsorted(self.times, end, side="left"))
        return slice(lo, max(lo, hi))

    def frame(self, service: str, start: float, end: float) -> WindowFrame:
        if service not in self.frames and service not in self.services():
            raise NotFoundError(f"unknown service {service!r}")
        steps = self._steps(start, end)
        signals, values = self.frames.get(service, ([], np.zeros((len(self.times), 0))))
        return WindowFrame(service, self.step, self.times[steps].astype(np.int64), list(signals), values[steps])

    def latest_closed_step(self) -> float | None:
        return float(self.times[-1]) if len(self.times) else None

    def topology(self, start: float | None = None, end: float | None = None) -> nx.DiGraph:
        steps = self._steps(start, end)
        g = nx.DiGraph()
        g.add_nodes_from(self.services())
        for (a, b), series in self.edges.items():
            calls = float(np.nansum(series.calls[steps]))
            if calls <= 0:
                continue
            known = series.gap_sum is not None
            g.add_edge(a, b, calls=calls, errors=float(np.nansum(series.errors[steps])),
                       latency_sum=float(np.nansum(series.latency_sum[steps])),
                       gap_sum=float(np.nansum(series.gap_sum[steps])) if known else 0.0, gap_calls=calls if known else 0.0,
                       ends=float(np.nansum(series.ends[steps])) if series.ends is not None else 0.0)
        return g

    def log_templates(self, service: str | None = None, start: float | None = None, end: float | None = None) -> list[LogTemplate]:
        lo = -np.inf if start is None else start
        hi = np.inf if end is None else end
        return [t for t in self.templates
                if (service is None or t.service == service) and t.last_seen >= lo and t.first_seen < hi]

    def span_samples(self, service: str, start: float, end: float, limit: int = 20) -> list[SpanSample]:
        hits = [s for s in self.samples if s.service == service and start <= s.time < end]
        hits.sort(key=lambda s: (not s.is_error, -s.duration))
        return hits[:limit]

    def changes(self, service: str | None = None, start: float | None = None, end: float | None = None) -> list[ChangeEvent]:
        lo = -np.inf if start is None else start
        hi = np.inf if end is None else end
        return [c for c in self.change_events if (service is None or c.service == service) and lo <= c.time < hi]

    def search_vectors(self, text: str, kind: str | None = None, service: str | None = None, limit: int = 5) -> list[VectorHit]:
        return []
