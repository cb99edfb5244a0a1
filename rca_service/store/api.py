"""The store's public interface: what detect, localize, respond and the API may call.

`rca_service.store.telemetry.TelemetryStore` implements it. Detect and localize depend on this
Protocol only, so they can be tested against a store filled directly from records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import networkx as nx

from rca_service.records import ChangeEvent, LogRecord, MetricPoint, Span
from rca_service.store.frames import WindowFrame


@dataclass
class LogTemplate:
    """A drain3 template seen for a service."""

    template_id: str
    service: str
    template: str
    first_seen: float
    last_seen: float
    count: int
    error_count: int = 0


@dataclass
class SpanSample:
    """A trace id kept as evidence: an error span or a slow span of a service in a step."""

    trace_id: str
    span_id: str
    service: str
    name: str
    time: float
    duration: float
    is_error: bool


@dataclass
class VectorHit:
    """One result of a similarity search in the vector store."""

    id: str
    score: float
    kind: str  # "log_template" | "span_signature" | "incident" | "metric_window"
    payload: dict


class RecordSink(Protocol):
    """What ingest pushes decoded records into (the collector's `Consume…` shape)."""

    def consume_spans(self, spans: list[Span]) -> None: ...

    def consume_metrics(self, points: list[MetricPoint]) -> None: ...

    def consume_logs(self, logs: list[LogRecord]) -> None: ...

    def consume_changes(self, changes: list[ChangeEvent]) -> None: ...


@dataclass(frozen=True)
class AcceptedTimeRange:
    """Record times a sink keeps right now; it drops records outside [earliest, latest].

    Attributes:
        earliest: oldest record time kept (`newest_data - retention_seconds`); -inf while the
            sink holds no data.
        latest: newest record time kept (the wall clock plus `max_future_seconds`).
        newest_data: the newest record time the sink has seen (data time), None if none yet.
        retention_seconds: how much data time the sink keeps behind `newest_data`.
        max_future_seconds: how far past the wall clock a record may be stamped.
    """

    earliest: float
    latest: float
    newest_data: float | None
    retention_seconds: float
    max_future_seconds: float


class TimeBoundedSink(RecordSink, Protocol):
    """A RecordSink that drops records outside a time range, and says which range.

    Ingest asks before queueing a request's records, so that a client is told (OTLP partial
    success) instead of its records vanishing. The sink still checks on arrival: records may
    age while they wait in the queue.
    """

    def accepted_time_range(self) -> AcceptedTimeRange:
        """The range as of now; cheap and safe to call from any thread."""
        ...


class TelemetryStoreAPI(RecordSink, Protocol):
    """Read side of the store."""

    step: int

    def services(self) -> list[str]:
        """Every service seen (in spans, metrics or logs), sorted."""
        ...

    def frame(self, service: str, start: float, end: float) -> WindowFrame:
        """The service's closed and open steps whose start lies in [start, end)."""
        ...

    def latest_closed_step(self) -> float | None:
        """Start time of the newest step that is closed (no more data expected), or None."""
        ...

    def topology(self, start: float | None = None, end: float | None = None) -> nx.DiGraph:
        """Service call graph over [start, end): nodes = services, edge attrs `calls`, `errors`,
        `latency_sum` (seconds, sum of child server-span durations), where the caller's client
        spans are known `gap_sum` (seconds of client span beyond the server span) over `gap_calls`,
        and `ends` (calls that were the last their caller's request made; 0 where unknown)."""
        ...

    def log_templates(self, service: str | None = None, start: float | None = None, end: float | None = None) -> list[LogTemplate]:
        """Templates seen for a service (all if None) with occurrences in [start, end)."""
        ...

    def span_samples(self, service: str, start: float, end: float, limit: int = 20) -> list[SpanSample]:
        """Error and slowest spans of the service in [start, end), errors first."""
        ...

    def changes(self, service: str | None = None, start: float | None = None, end: float | None = None) -> list[ChangeEvent]:
        ...

    def search_vectors(self, text: str, kind: str | None = None, service: str | None = None, limit: int = 5) -> list[VectorHit]:
        """Semantic search over embedded log templates, span signatures and incidents."""
        ...
