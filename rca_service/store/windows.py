"""Per-step accumulators and the table of steps they live in.

Ingest appends into a `ServiceStep` (one service, one step) with plain attribute and dict
updates; everything derived (rates, quantiles, metric means) is computed when a frame is read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from rca_service.records import ChangeEvent
from rca_service.store import frames
from rca_service.store.sketch import pack, quantiles, unpack

# Fixed signals every frame carries, in this order; metric series follow, sorted.
FIXED_SIGNALS = [
    frames.SPAN_REQUEST_RATE,
    frames.SPAN_ERROR_RATE,
    frames.SPAN_LATENCY_P50,
    frames.SPAN_LATENCY_P90,
    frames.SPAN_LATENCY_P99,
    frames.SPAN_CLIENT_ERROR_RATE,
    frames.LOG_COUNT,
    frames.LOG_COUNT_ERROR,
    frames.LOG_COUNT_WARN,
    frames.LOG_NEW_TEMPLATES,
    frames.CHANGE_COUNT,
]

# A metric series key: (normalised name, sorted ((attr, value), ...)).
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class ServiceStep:
    """What one service did in one step. Counters and sketches only; bounded in size.

    Span fields: `n_spans` (all kinds), server/consumer spans (`n_server`, `err_server`,
    `lat_server` sketch bins), entry spans used when the service has no server spans
    (`n_entry`, `err_entry`, `lat_entry`), client/producer spans (`n_client`, `err_client`),
    evidence samples (`err_samples` list, `slow_samples` min-heap of (duration, ...)).
    Metric field: `metrics` maps a series key to [sum, count] of per-step values.
    Log fields: counts and `templates` (drain3 cluster id -> [count, error count]).
    """

    __slots__ = (  # noqa: RUF023  (grouped by source, not sorted)
        "n_spans", "n_server", "err_server", "lat_server", "n_entry", "err_entry", "lat_entry",
        "n_client", "err_client", "err_samples", "slow_samples", "slow_min",
        "metrics", "n_points",
        "n_logs", "n_log_error", "n_log_warn", "n_log_new", "templates",
        "n_changes", "packed", "_row", "_row_version",
    )

    def __init__(self) -> None:
        self.n_spans = 0
        self.n_server = 0
        self.err_server = 0
        self.lat_server: dict[int, int] = {}
        self.n_entry = 0
        self.err_entry = 0
        self.lat_entry: dict[int, int] = {}
        self.n_client = 0
        self.err_client = 0
        self.err_samples: list[tuple] = []
        self.slow_samples: list[tuple] = []
        self.slow_min = -1.0
        self.metrics: dict[SeriesKey, list[float]] = {}
        self.n_points = 0
        self.n_logs = 0
        self.n_log_error = 0
        self.n_log_warn = 0
        self.n_log_new = 0
        self.templates: dict[int, list[int]] = {}
        self.n_changes = 0
        self.packed = False  # latency sketches held as bytes (closed step), see pack()
        self._row: list[float] | None = None
        self._row_version: tuple = ()

    def pack(self) -> None:
        """Shrink a closed step: latency sketches to bytes, evidence samples to one JSON string
        (together several times less memory; a day of steps is mostly closed steps)."""
        if not self.packed:
            self.lat_server = pack(self.lat_server)
            self.lat_entry = pack(self.lat_entry)
            self.err_samples = json.dumps(self.err_samples) if self.err_samples else ""
            self.slow_samples = json.dumps(self.slow_samples) if self.slow_samples else ""
            self.packed = True

    def unpack(self) -> None:
        """Back to the mutable forms, so late records can be added."""
        if self.packed:
            self.lat_server = unpack(self.lat_server)
            self.lat_entry = unpack(self.lat_entry)
            self.err_samples, self.slow_samples = self.samples()
            self.packed = False

    def samples(self) -> tuple[list[tuple], list[tuple]]:
        """(error samples, slow samples heap) as lists of (duration, trace_id, span_id, name, time, is_error)."""
        if not self.packed:
            return self.err_samples, self.slow_samples
        # JSON keeps list order, so the slow list is still a valid heap
        return ([tuple(x) for x in json.loads(self.err_samples)] if self.err_samples else [],
                [tuple(x) for x in json.loads(self.slow_samples)] if self.slow_samples else [])

    def version(self) -> tuple:
        """Changes whenever anything was added (cheap cache key for derived rows)."""
        return (self.n_spans, self.n_entry, self.n_points, self.n_logs, self.n_log_new, self.n_changes)

    def fixed_row(self, step: int, use_server: bool, log_gamma: float) -> list[float]:
        """Values of FIXED_SIGNALS for this step (NaN where there is nothing to say).

        Args:
            step: step length in seconds (rates are per second).
            use_server: take rate/errors/latency from server spans (else from entry spans).
            log_gamma: the latency sketch's log(gamma).
        """
        v = self.version()
        if self._row is not None and self._row_version == (v, use_server):
            return self._row
        nan = math.nan
        if use_server:
            n, err, bins = self.n_server, self.err_server, self.lat_server
        else:
            n, err, bins = self.n_entry, self.err_entry, self.lat_entry
        rate = n / step if self.n_spans else nan
        err_rate = err / n if n else nan
        p50, p90, p99 = quantiles(bins, (0.5, 0.9, 0.99), log_gamma) if n else (nan, nan, nan)
        cli = self.err_client / self.n_client if self.n_client else nan
        if self.n_logs:
            logs = [float(self.n_logs), float(self.n_log_error), float(self.n_log_warn), float(self.n_log_new)]
        else:
            logs = [nan, nan, nan, nan]
        has_any = self.n_spans or self.n_points or self.n_logs or self.n_changes
        changes = float(self.n_changes) if has_any else nan
        row = [rate, err_rate, p50, p90, p99, cli, *logs, changes]
        self._row, self._row_version = row, (v, use_server)
        return row


@dataclass
class StepData:
    """Everything the store holds for one step: per-service accumulators, call edges, changes."""

    start: int
    services: dict[str, ServiceStep] = field(default_factory=dict)
    # (caller service, callee service) -> [calls, errors, latency_sum seconds, gap_sum seconds, gap_calls,
    #                                     calls that ended their request]
    edges: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    changes: list[ChangeEvent] = field(default_factory=list)
    closed: bool = False


class StepTable:
    """Steps keyed by their start (int unix seconds), with retention."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.steps: dict[int, StepData] = {}
        self.service_names: set[str] = set()

    def align(self, t: float) -> int:
        """Start of the step holding time t."""
        return int(t // self.step) * self.step

    def get(self, st: int) -> StepData:
        """The step starting at `st`, created when missing."""
        sd = self.steps.get(st)
        if sd is None:
            sd = self.steps[st] = StepData(st)
        return sd

    def bucket(self, service: str, st: int) -> ServiceStep:
        """The accumulator of `service` in the step starting at `st`, created when missing."""
        sd = self.steps.get(st)
        if sd is None:
            sd = self.steps[st] = StepData(st)
        b = sd.services.get(service)
        if b is None:
            b = sd.services[service] = ServiceStep()
            self.service_names.add(service)
        elif b.packed:
            b.unpack()  # a late record for a closed step
        return b

    def range(self, start: float | None, end: float | None) -> list[StepData]:
        """Steps whose start lies in [start, end), ascending."""
        lo = -math.inf if start is None else start
        hi = math.inf if end is None else end
        return [self.steps[k] for k in sorted(self.steps) if lo <= k < hi]

    def bounds(self) -> tuple[int, int] | None:
        """(first step start, last step start), or None when empty."""
        if not self.steps:
            return None
        return min(self.steps), max(self.steps)

    def drop_before(self, st: int) -> int:
        """Drop steps starting before `st`; returns how many were dropped."""
        old = [k for k in self.steps if k < st]
        for k in old:
            del self.steps[k]
        if old:
            self.service_names = {s for sd in self.steps.values() for s in sd.services}
        return len(old)
