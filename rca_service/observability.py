"""Self-observability: Prometheus metrics read from `RcaService.stats()` at scrape time.

Nothing here keeps its own copy of the service's counters: a custom collector asks the facade
for a snapshot on every scrape, so the numbers cannot drift from what the components count.
The API's own request counts and latencies are the only metrics recorded here.

`stats()` shape (every part optional; missing parts are simply not exported)::

    {
      "ingest": {"spans": n, "metric_points": n, "logs": n,          # counters since start
                 "rejected": {"<reason>": n} | n,                      # counter
                 "queue_depth": n, "queue_capacity": n},               # gauges
      "store": {"windows": n, "services": n, "templates": n},          # gauges
      "detector": {"latency_seconds": LATENCY},
      "ranker": {"latency_seconds": LATENCY},
      "incidents": {"total": n, "open": n},
      "remediations": {"<outcome>": n},                                # counter by outcome
      "audit": {"records": n},
      "vectors": {"pending": n, "points": n},
    }
    LATENCY = {"count": n, "sum": seconds[, "buckets": {upper_bound: cumulative count}]} | seconds (last)

Exported names: rca_ingest_spans_total, rca_ingest_metric_points_total, rca_ingest_logs_total,
rca_ingest_rejected_total{reason}, rca_ingest_queue_depth, rca_ingest_queue_capacity,
rca_windows_held, rca_services, rca_log_templates, rca_detector_latency_seconds,
rca_ranker_latency_seconds, rca_incidents_total, rca_incidents_open,
rca_remediations_total{outcome}, rca_audit_records, rca_vectors_pending, rca_vectors_points,
rca_ready, rca_accepting, rca_stats_error; and rca_http_requests_total{method,route,status},
rca_http_request_duration_seconds{method,route}.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE_LATEST", "ServiceStatsCollector", "build_registry", "HttpMetrics", "render"]

# (section, key, metric name, help, type)
_SCALARS = [
    ("ingest", "spans", "rca_ingest_spans", "Spans accepted by ingest.", "counter"),
    ("ingest", "metric_points", "rca_ingest_metric_points", "Metric data points accepted by ingest.", "counter"),
    ("ingest", "logs", "rca_ingest_logs", "Log records accepted by ingest.", "counter"),
    ("ingest", "queue_depth", "rca_ingest_queue_depth", "Batches waiting in the ingest queue.", "gauge"),
    ("ingest", "queue_capacity", "rca_ingest_queue_capacity", "Capacity of the ingest queue.", "gauge"),
    ("store", "windows", "rca_windows_held", "Service windows (steps) held in memory.", "gauge"),
    ("store", "services", "rca_services", "Services seen.", "gauge"),
    ("store", "templates", "rca_log_templates", "Log templates known.", "gauge"),
    ("incidents", "total", "rca_incidents", "Incidents opened since start.", "counter"),
    ("incidents", "open", "rca_incidents_open", "Incidents open now.", "gauge"),
    ("audit", "records", "rca_audit_records", "Records in the audit chain.", "gauge"),
    ("vectors", "pending", "rca_vectors_pending", "Items waiting to be embedded.", "gauge"),
    ("vectors", "points", "rca_vectors_points", "Points in the vector store.", "gauge"),
]
_LABELLED = [
    ("ingest", "rejected", "rca_ingest_rejected", "Items or requests rejected by ingest, by reason.", "reason"),
    (None, "remediations", "rca_remediations", "Remediation steps by outcome.", "outcome"),
]
_LATENCIES = [
    ("detector", "rca_detector_latency_seconds", "Time to score one closed step for all services."),
    ("ranker", "rca_ranker_latency_seconds", "Time to rank the root causes of one incident."),
]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


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
        yield from self._labelled(stats)
        yield from self._latencies(stats)

    @staticmethod
    def _scalars(stats: Mapping) -> Iterator:
        for section, key, name, help_text, kind in _SCALARS:
            value = _number((stats.get(section) or {}).get(key))
            if value is None:
                continue
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=value)

    @staticmethod
    def _labelled(stats: Mapping) -> Iterator:
        for section, key, name, help_text, label in _LABELLED:
            raw = (stats.get(section) or {}).get(key) if section else stats.get(key)
            if raw is None:
                continue
            family = CounterMetricFamily(name, help_text, labels=[label])
            if isinstance(raw, Mapping):
                for label_value, count in sorted(raw.items(), key=lambda kv: str(kv[0])):
                    value = _number(count)
                    if value is not None:
                        family.add_metric([str(label_value)], value)
            elif _number(raw) is not None:
                family.add_metric(["all"], _number(raw))
            yield family

    @staticmethod
    def _latencies(stats: Mapping) -> Iterator:
        for section, name, help_text in _LATENCIES:
            raw = (stats.get(section) or {}).get("latency_seconds")
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
            elif _number(raw) is not None:
                yield GaugeMetricFamily(name.replace("_seconds", "_last_seconds"), help_text + " (last run)", value=_number(raw))


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
    return registry, HttpMetrics(registry)


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)
