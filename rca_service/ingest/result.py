"""What decoding one OTLP request yields: the records, and what was rejected and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rca_service.records import RecordBatch


class Rejections:
    """Counts rejected items by reason, for the partial-success `error_message`."""

    __slots__ = ("count", "reasons")

    def __init__(self) -> None:
        self.count = 0
        self.reasons: Counter[str] = Counter()

    def add(self, reason: str, n: int = 1) -> None:
        self.count += n
        self.reasons[reason] += n

    def message(self, noun: str) -> str:
        """E.g. "rejected 3 spans: 2 without a valid trace id; 1 with end before start"."""
        if not self.count:
            return ""
        parts = "; ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
        return f"rejected {self.count} {noun}: {parts}"


@dataclass
class DecodeResult:
    """Records decoded from one request plus the count and reasons of rejected items.

    `rejected` counts spans, data points or log records, matching the OTLP partial-success
    field of the signal (`rejected_spans`, `rejected_data_points`, `rejected_log_records`).
    `rejections` keeps the reasons, so later checks (the time screen) can add their own and
    `error_message` still names every reason once.
    """

    batch: RecordBatch = field(default_factory=RecordBatch)
    rejected: int = 0
    error_message: str = ""
    rejections: Rejections = field(default_factory=Rejections, repr=False, compare=False)
    noun: str = "items"

    @classmethod
    def of(cls, batch: RecordBatch, rejections: Rejections, noun: str) -> DecodeResult:
        return cls(batch=batch, rejected=rejections.count, error_message=rejections.message(noun),
                   rejections=rejections, noun=noun)

    def reject(self, reason: str, n: int) -> None:
        """Count `n` more rejected items under `reason` (the caller removed them from `batch`)."""
        if n:
            self.rejections.add(reason, n)
            self.rejected = self.rejections.count
            self.error_message = self.rejections.message(self.noun)
