"""Refuse, before queueing, the records the store would drop on arrival for their time stamps.

The store keeps a bounded stretch of data time (retention behind its newest record) and ignores
records stamped far past the wall clock. Without this screen such records were answered 200
and then silently dropped by the store's worker; with it the client is told through OTLP
partial success (`rejected_spans` / `rejected_data_points` / `rejected_log_records` and an
`error_message`), and the rest of the request is still accepted.

    screen = TimeScreen.for_sink(store)       # None when the sink keeps every time
    screen.apply(result)                      # removes and counts out-of-range records

The store still checks on arrival: a record may age out while its batch waits in the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, TypeVar

from rca_service.ingest.result import DecodeResult
from rca_service.store.api import AcceptedTimeRange

T = TypeVar("T")

# The time each record kind is judged by: the one the store's accumulators check.
_SPAN_TIME = attrgetter("start")
_RECORD_TIME = attrgetter("time")


class TimeScreen:
    """Removes records outside the sink's accepted time range from decoded batches.

    Args:
        accepted_range: returns the sink's current `AcceptedTimeRange`; called once per
            request, from any transport thread, so it must be cheap and thread-safe.

    Spans are judged by their start time, metric points and log records by their time (as
    the store judges them). Change events derived from resource attributes are removed too,
    without being reported: they are not items the client sent.
    """

    def __init__(self, accepted_range: Callable[[], AcceptedTimeRange]) -> None:
        self._accepted_range = accepted_range
        self._lock = threading.Lock()
        self._too_old = 0
        self._too_new = 0

    @classmethod
    def for_sink(cls, sink: Any) -> TimeScreen | None:
        """A screen over `sink.accepted_time_range`, or None when the sink has no such method."""
        accepted_range = getattr(sink, "accepted_time_range", None)
        return cls(accepted_range) if callable(accepted_range) else None

    def apply(self, result: DecodeResult) -> None:
        """Remove out-of-range records from `result.batch` and count them in `result`."""
        batch = result.batch
        if not len(batch):
            return
        accepted = self._accepted_range()
        lo, hi = accepted.earliest, accepted.latest
        batch.spans, old_spans, new_spans = split_by_time(batch.spans, _SPAN_TIME, lo, hi)
        batch.metrics, old_points, new_points = split_by_time(batch.metrics, _RECORD_TIME, lo, hi)
        batch.logs, old_logs, new_logs = split_by_time(batch.logs, _RECORD_TIME, lo, hi)
        batch.changes, _, _ = split_by_time(batch.changes, _RECORD_TIME, lo, hi)
        too_old = old_spans + old_points + old_logs
        too_new = new_spans + new_points + new_logs
        if too_old:
            result.reject(too_old_reason(accepted), too_old)
        if too_new:
            result.reject(too_new_reason(accepted), too_new)
        if too_old or too_new:
            with self._lock:
                self._too_old += too_old
                self._too_new += too_new

    def stats(self) -> dict[str, int]:
        """Items rejected so far: `rejected_too_old` (past retention), `rejected_too_new` (future)."""
        with self._lock:
            return {"rejected_too_old": self._too_old, "rejected_too_new": self._too_new}


def split_by_time(items: list[T], time_of: Callable[[T], float], lo: float, hi: float) -> tuple[list[T], int, int]:
    """(items with lo <= time <= hi, how many were older than lo, how many newer than hi).

    Returns `items` itself when all are in range: the usual case costs one pass and no copy.
    """
    too_old = too_new = 0
    for item in items:
        t = time_of(item)
        if t < lo:
            too_old += 1
        elif t > hi:
            too_new += 1
    if not (too_old or too_new):
        return items, 0, 0
    return [item for item in items if lo <= time_of(item) <= hi], too_old, too_new


def too_old_reason(accepted: AcceptedTimeRange) -> str:
    """E.g. "older than the 24 h retention (newest data 2026-11-28T01:00:00Z)"."""
    newest = "none yet" if accepted.newest_data is None else utc_text(accepted.newest_data)
    return f"older than the {duration_text(accepted.retention_seconds)} retention (newest data {newest})"


def too_new_reason(accepted: AcceptedTimeRange) -> str:
    """E.g. "stamped more than 1 h ahead of the server clock (2026-11-28T01:00:00Z)"."""
    now = accepted.latest - accepted.max_future_seconds
    return f"stamped more than {duration_text(accepted.max_future_seconds)} ahead of the server clock ({utc_text(now)})"


def utc_text(t: float) -> str:
    """Unix seconds as an RFC 3339 UTC time to the second, e.g. "2026-11-28T01:00:00Z"."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_text(seconds: float) -> str:
    """Seconds in the largest whole unit: "24 h", "90 min", "45 s"."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
