"""Self-observability: Prometheus metrics read from `RcaService.stats()` at scrape time.

Nothing here keeps its own copy of the service's counters: a custom collector asks the facade
for a snapshot on every scrape, so the numbers cannot drift from what the components count.
The API's own request counts and latencies are the only metrics recorded here.

What `stats()` returns (every part optional; a missing part is simply not exported)::

    {"ready": bool, "accepting": bool,
     "incidents": n | {"total": n, "open": n}, "rca_runs": n,
     "detector_seconds": last, "ranker_seconds": last,            # or {"detector": {"latency_seconds": L}}
     "ingest": IngestPipeline.stats()   {"accepted_spans", "accepted_points", "accepted_logs",
                                         "rejected_spans", "rejected_points", "rejected_logs",
                                         "refused_batches", "dropped_batches", "sink_errors",
                                         "requests": {"http.traces.200": n, ...},
                                         "queue_depth", "queue_capacity"},
     "store": TelemetryStore.stats()    {"steps", "services", "templates", "metric_series", "dropped"},
     "remediations": RemediationManager.stats()  {"total", "by_status": {...}, "by_action": {...}}}
    L = {"count": n, "sum": s[, "buckets": {upper_bound: cumulative}]} | seconds of the last run

Exported: rca_ingest_spans_total, rca_ingest_metric_points_total, rca_ingest_logs_total,
rca_ingest_rejected_total{reason}, rca_ingest_requests_total{transport,signal,outcome},
rca_ingest_queue_depth, rca_ingest_queue_capacity, rca_ingest_sink_errors_total,
rca_windows_held, rca_services, rca_log_templates, rca_metric_series, rca_store_dropped_total,
rca_detector_latency_seconds, rca_ranker_latency_seconds, rca_incidents_total,
rca_incidents_open, rca_rca_runs_total, rca_remediations_total,
rca_remediations_status{status} (current status of each remediation: a gauge, as statuses move),
rca_remediations_by_action{action}, rca_ready, rca_accepting, rca_stats_error,
rca_http_requests_total{method,route,status}, rca_http_request_duration_seconds{method,route}.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE_LATEST", "ServiceStatsCollector", "build_registry", "HttpMetrics", "render"]

# (section or None for top level, keys tried in order, metric name, help, type)
_SCALARS = [
    ("ingest", ("accepted_spans", "spans"), "rca_ingest_spans", "Spans accepted by ingest.", "counter"),
    ("ingest", ("accepted_points", "metric_points"), "rca_ingest_metric_points", "Metric points accepted by ingest.", "counter"),
    ("ingest", ("accepted_logs", "logs"), "rca_ingest_logs", "Log records accepted by ingest.", "counter"),
    ("ingest", ("queue_depth",), "rca_ingest_queue_depth", "Batches waiting in the ingest queue.", "gauge"),
    ("ingest", ("queue_capacity",), "rca_ingest_queue_capacity", "Capacity of the ingest queue.", "gauge"),
    ("ingest", ("sink_errors",), "rca_ingest_sink_errors", "Batches the store failed to take.", "counter"),
    ("store", ("steps", "windows"), "rca_windows_held", "Time steps (windows) held in memory.", "gauge"),
    ("store", ("services",), "rca_services", "Services seen.", "gauge"),
    ("store", ("templates",), "rca_log_templates", "Log templates known.", "gauge"),
    ("store", ("metric_series",), "rca_metric_series", "Metric series known.", "gauge"),
    ("store", ("dropped",), "rca_store_dropped", "Records dropped as too old or too far in the future.", "counter"),
    (None, ("incidents",), "rca_incidents", "Incidents opened since start.", "counter"),
    ("incidents", ("total",), "rca_incidents", "Incidents opened since start.", "counter"),
    ("incidents", ("open",), "rca_incidents_open", "Incidents open now.", "gauge"),
    (None, ("rca_runs",), "rca_rca_runs", "Root-cause rankings computed.", "counter"),
    ("remediations", ("total",), "rca_remediations", "Remediations proposed since the state began.", "counter"),
]
# (section, key → label value, metric, help, label, type)
_INGEST_REJECTED = {"rejected_spans": "invalid_spans", "rejected_points": "invalid_points",
                    "rejected_logs": "invalid_logs", "refused_batches": "overloaded", "dropped_batches": "dropped"}
_LABELLED = [
    ("remediations", "by_status", "rca_remediations_status", "Remediations by current status.", "status"),
    ("remediations", "by_action", "rca_remediations_by_action", "Remediations by action.", "action"),
]
_LATENCIES = [
    ("detector", "rca_detector_latency_seconds", "Time to score the newest closed steps of all services."),
    ("ranker", "rca_ranker_latency_seconds", "Time to rank the root causes of one incident."),
]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _section(stats: Mapping, name: str | None) -> Mapping:
    part = stats if name is None else stats.get(name)
    return part if isinstance(part, Mapping) else {}


class ServiceStatsCollector(Collector):
    """Prometheus collector that reads `service.stats()` on every scrape.

    Args:
        service: the `RcaService` facade (needs `stats()`; `ready`/`accepting` when present).
    """

    def __init__(self, service: Any) -> None:
        self.service = service

    def describe(self) -> list:
        # Empty: registering must not call stats() (the service may not be started yet).
        return []

    def collect(self) -> Iterator:
        yield GaugeMetricFamily("rca_ready", "1 when the models are loaded.", value=float(bool(getattr(self.service, "ready", False))))
        yield GaugeMetricFamily("rca_accepting", "1 when ingest accepts data.",
                                value=float(bool(getattr(self.service, "accepting", False))))
        try:
            stats = self.service.stats() or {}
        except Exception as exc:  # a scrape must still answer; the error is visible as a metric
            log.warning("stats() failed during a scrape: %s", exc)
            yield GaugeMetricFamily("rca_stats_error", "1 when the service could not report its stats.", value=1.0)
            return
        yield GaugeMetricFamily("rca_stats_error", "1 when the service could not report its stats.", value=0.0)
        yield from self._scalars(stats)
        yield from self._ingest_labelled(_section(stats, "ingest"))
        yield from self._labelled(stats)
        yield from self._latencies(stats)

    @staticmethod
    def _scalars(stats: Mapping) -> Iterator:
        seen: set[str] = set()
        for section, keys, name, help_text, kind in _SCALARS:
            part = _section(stats, section)
            value = next((_number(part.get(k)) for k in keys if _number(part.get(k)) is not None), None)
            if value is None or name in seen:
                continue
            seen.add(name)
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=value)

    @staticmethod
    def _ingest_labelled(ingest: Mapping) -> Iterator:
        rejected = CounterMetricFamily("rca_ingest_rejected", "Items or batches ingest refused, by reason.", labels=["reason"])
        found = False
        for key, reason in _INGEST_REJECTED.items():
            if _number(ingest.get(key)) is not None:
                rejected.add_metric([reason], _number(ingest[key]))
                found = True
        if isinstance(ingest.get("rejected"), Mapping):
            for reason, n in sorted(ingest["rejected"].items()):
                if _number(n) is not None:
                    rejected.add_metric([str(reason)], _number(n))
                    found = True
        if found:
            yield rejected
        requests = ingest.get("requests")
        if isinstance(requests, Mapping) and requests:
            family = CounterMetricFamily("rca_ingest_requests", "OTLP export requests by transport, signal and outcome.",
                                         labels=["transport", "signal", "outcome"])
            for key, n in sorted(requests.items()):
                parts = str(key).split(".", 2)
                if len(parts) == 3 and _number(n) is not None:
                    family.add_metric(parts, _number(n))
            yield family

    @staticmethod
    def _labelled(stats: Mapping) -> Iterator:
        for section, key, name, help_text, label in _LABELLED:
            raw = _section(stats, section).get(key)
            if not isinstance(raw, Mapping):
                continue
            family = GaugeMetricFamily(name, help_text, labels=[label])
            for label_value, count in sorted(raw.items(), key=lambda kv: str(kv[0])):
                if _number(count) is not None:
                    family.add_metric([str(label_value)], _number(count))
            yield family

    @staticmethod
    def _latencies(stats: Mapping) -> Iterator:
        for section, name, help_text in _LATENCIES:
            raw = _section(stats, section).get("latency_seconds", stats.get(f"{section}_seconds"))
            if isinstance(raw, Mapping) and _number(raw.get("count")) is not None:
                count, total = _number(raw.get("count")), _number(raw.get("sum")) or 0.0
                buckets = raw.get("buckets")
                if isinstance(buckets, Mapping) and buckets:
                    pairs = sorted((float(le), float(c)) for le, c in buckets.items())
                    if not math.isinf(pairs[-1][0]):
                        pairs.append((math.inf, count))
                    yield HistogramMetricFamily(name, help_text, buckets=[(_le(le), c) for le, c in pairs], sum_value=total)
                else:
                    yield SummaryMetricFamily(name, help_text, count_value=count, sum_value=total)
            elif _number(raw) is not None:  # only the last run is known
                yield GaugeMetricFamily(name, help_text + " (last run)", value=_number(raw))


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class HttpMetrics:
    """Request counts and latencies of the API itself, by route template (not raw path: bounded labels)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("rca_http_requests", "HTTP requests served.", ["method", "route", "status"], registry=registry)
        self.latency = Histogram("rca_http_request_duration_seconds", "HTTP request latency.", ["method", "route"],
                                 registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def observe(self, method: str, route: str, status: int, started: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(max(0.0, time.perf_counter() - started))


def build_registry(service: Any) -> tuple[CollectorRegistry, HttpMetrics]:
    """A fresh registry (one per app, never the global one) with the service collector registered."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceStatsCollector(service))
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, cpu seconds, open fds
    return registry, HttpMetrics(registry)


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)
