"""Plain telemetry records: what ingest (OTLP decoder, dataset adapters) hands to the store.

These know nothing of the stages after them. Times are unix seconds as floats (ns precision is
not needed downstream; windows are 60 s by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class SpanKind(IntEnum):
    """OTLP span kinds (same integers as the protobuf enum)."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """OTLP status codes (same integers as the protobuf enum)."""

    UNSET = 0
    OK = 1
    ERROR = 2


@dataclass(slots=True)
class Span:
    """One span, reduced to what root-cause analysis needs.

    `peer_service` is the callee named by a client span's attributes (`service.peer.name`,
    `peer.service`, `server.address`, `db.system`/`db.name`), when there is one.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    name: str
    kind: SpanKind
    start: float
    end: float
    status: StatusCode = StatusCode.UNSET
    status_message: str = ""
    peer_service: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds between start and end."""
        return max(0.0, self.end - self.start)

    @property
    def is_error(self) -> bool:
        return self.status == StatusCode.ERROR


class MetricType(IntEnum):
    GAUGE = 1
    SUM = 2
    HISTOGRAM = 3
    EXPONENTIAL_HISTOGRAM = 4
    SUMMARY = 5


@dataclass(slots=True)
class MetricPoint:
    """One metric data point, flattened.

    For gauge and sum, `value` is the number. For histograms and summaries, `value` is the mean
    (sum / count) when known, and `count`, `sum`, `quantiles` carry the rest
    (`quantiles` maps q in [0, 1] to a value; for histograms they are estimated from buckets).
    """

    service: str
    name: str
    time: float
    value: float
    type: MetricType = MetricType.GAUGE
    unit: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    is_monotonic: bool = False
    count: float | None = None
    sum: float | None = None
    quantiles: dict[float, float] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LogRecord:
    """One log record. `severity` is the OTLP severity number (0 unknown, 17+ error)."""

    service: str
    time: float
    body: str
    severity: int = 0
    severity_text: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChangeEvent:
    """A deploy, config change or similar, for one service.

    Derived from resource attribute changes (e.g. `service.version`, `k8s.deployment.revision`)
    or from log/span events marked as changes.
    """

    service: str
    time: float
    kind: str  # "deploy" | "config" | "scale" | other
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RecordBatch:
    """What one request or one replay chunk carries."""

    spans: list[Span] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    changes: list[ChangeEvent] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.spans) + len(self.metrics) + len(self.logs) + len(self.changes)
