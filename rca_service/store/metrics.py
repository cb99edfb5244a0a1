"""Metric points into per-step series values, and the naming of those series.

Gauges and non-monotonic sums: mean of the points in the step. Monotonic sums (counters,
cumulative temporality as the OpenTelemetry SDK and Prometheus send them): per-second rate from
consecutive deltas, a drop read as a reset. Histograms and summaries: the step's mean from the
deltas of their cumulative sum and count, else the point's own mean.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from rca_service.records import MetricPoint, MetricType
from rca_service.store.windows import SeriesKey, StepTable

# Attributes that only say which service/instance emitted a point: never part of a series name.
IDENTITY_ATTRIBUTES = frozenset({
    "service.name", "service.namespace", "service.instance.id", "service.version", "host.name", "host.id",
    "k8s.pod.name", "k8s.pod.uid", "k8s.namespace.name", "k8s.deployment.name", "k8s.node.name",
    "k8s.replicaset.name", "k8s.container.name", "container.id", "container.name", "pod", "pod_name",
    "instance", "job", "namespace", "node",
})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_name(name: str) -> str:
    """Lower snake case: 'CpuUsageRate(%)' -> 'cpu_usage_rate', 'http.server.duration' -> 'http_server_duration'."""
    s = _CAMEL.sub("_", name.strip()).lower()
    s = _NON_WORD.sub("_", s).strip("_")
    return s or "unnamed"


def series_names(keys: list[SeriesKey]) -> dict[SeriesKey, str]:
    """Signal names for series keys: `metric.<name>`, with attributes folded in only where a
    name has several series, and then only the attributes whose values differ between them."""
    by_name: dict[str, list[SeriesKey]] = {}
    for k in keys:
        by_name.setdefault(k[0], []).append(k)
    out: dict[SeriesKey, str] = {}
    for name, ks in by_name.items():
        if len(ks) == 1:
            out[ks[0]] = f"metric.{name}"
            continue
        attr_sets = [dict(k[1]) for k in ks]
        all_keys = sorted({a for d in attr_sets for a in d})
        varying = [a for a in all_keys if len({d.get(a) for d in attr_sets}) > 1]
        for k, d in zip(ks, attr_sets):
            label = ",".join(f"{a}={d.get(a, '')}" for a in varying)
            out[k] = f"metric.{name}{{{label}}}"
    return out


class MetricAccumulator:
    """Adds metric points to a `StepTable`; remembers the last point of each cumulative series.

    Args:
        table: where per-step accumulators live.
        max_series: series tracked at most; points of further series are dropped and counted.
    """

    def __init__(self, table: StepTable, max_series: int,
                 on_resource: Callable[[str, dict, float], None] | None = None) -> None:
        self.table = table
        self.on_resource = on_resource
        self.max_series = max_series
        self._names: dict[str, str] = {}
        # (service, series key) -> (time, value, count) of the previous cumulative point
        self.last: dict[tuple[str, SeriesKey], tuple[float, float, float]] = {}
        self.known: set[tuple[str, SeriesKey]] = set()
        self._by_service: dict[str, set[SeriesKey]] = {}
        self.dropped_series = 0

    def add_known(self, service: str, key: SeriesKey) -> None:
        """Register a series (its column then appears in every frame of the service)."""
        self.known.add((service, key))
        self._by_service.setdefault(service, set()).add(key)

    def keys_of(self, service: str) -> set[SeriesKey]:
        """Series keys the service has within retention."""
        return set(self._by_service.get(service, ()))

    def _key(self, p: MetricPoint) -> SeriesKey:
        name = self._names.get(p.name)
        if name is None:
            name = self._names[p.name] = normalise_name(p.name)
            if len(self._names) > 4 * self.max_series:
                self._names.clear()
        attrs = p.attributes
        if not attrs:
            return (name, ())
        return (name, tuple(sorted((k, str(v)) for k, v in attrs.items() if k not in IDENTITY_ATTRIBUTES)))

    def _step_value(self, sk: tuple[str, SeriesKey], p: MetricPoint) -> float | None:
        """The value this point contributes to its step, or None (first point of a counter)."""
        if p.type == MetricType.GAUGE or (p.type == MetricType.SUM and not p.is_monotonic):
            return p.value
        if p.type == MetricType.SUM:
            prev = self.last.get(sk)
            self.last[sk] = (p.time, p.value, 0.0)
            if prev is None or p.time <= prev[0]:
                return None
            delta = p.value - prev[1]
            if delta < 0:  # counter reset: the new value counts from zero
                delta = p.value
            return delta / (p.time - prev[0])
        # histogram / summary
        if p.count is None or p.sum is None:
            return p.value
        prev = self.last.get(sk)
        self.last[sk] = (p.time, p.sum, p.count)
        if prev is not None and p.time > prev[0]:
            dc, ds = p.count - prev[2], p.sum - prev[1]
            if dc > 0 and ds >= 0:
                return ds / dc
            if dc == 0:
                return None
        return p.sum / p.count if p.count else None

    def consume(self, points: list[MetricPoint], lo: float, hi: float) -> tuple[int, float]:
        """Add points with lo <= time <= hi; return (points dropped, newest time seen)."""
        dropped = 0
        newest = float("-inf")
        table = self.table
        seen_res: set[int] = set()
        for p in points:
            t = p.time
            if t < lo or t > hi:
                dropped += 1
                continue
            if p.resource and self.on_resource is not None and id(p.resource) not in seen_res:
                seen_res.add(id(p.resource))
                self.on_resource(p.service, p.resource, t)
            key = self._key(p)
            sk = (p.service, key)
            if sk not in self.known:
                if len(self.known) >= self.max_series:
                    self.dropped_series += 1
                    dropped += 1
                    continue
                self.add_known(p.service, key)
            newest = max(newest, t)
            b = table.bucket(p.service, table.align(t))
            b.n_points += 1
            v = self._step_value(sk, p)
            if v is None or math.isnan(v):  # NaN points carry nothing
                continue
            acc = b.metrics.get(key)
            if acc is None:
                b.metrics[key] = [v, 1]
            else:
                acc[0] += v
                acc[1] += 1
        return dropped, newest

    def forget(self, services_alive: set[str]) -> None:
        """Drop counter state of services no longer held (after retention)."""
        self.last = {k: v for k, v in self.last.items() if k[0] in services_alive}
        self.known = {k for k in self.known if k[0] in services_alive}
        self._by_service = {s: keys for s, keys in self._by_service.items() if s in services_alive}
