"""Delta-temporality sums and histograms → cumulative, so the store sees one convention.

The store turns cumulative counters into per-step rates by differencing consecutive points.
SDKs configured for delta temporality (and Collectors running `cumulativetodelta`) send each
interval's increment instead; differencing those would be wrong, so we keep running totals
per series here and hand the store cumulative values whatever the client chose.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

#: Series whose running totals we keep; the least recently updated beyond this are forgotten
#: (their next point restarts from zero, which the store reads as a counter reset).
DEFAULT_MAX_SERIES = 100_000

_SCALAR = (str, int, float, bool)


def series_key(service: str, name: str, attributes: dict[str, Any]) -> tuple[Hashable, ...]:
    """A hashable identity of one series: service, metric name and sorted attributes."""
    return (service, name, *sorted((k, v if isinstance(v, _SCALAR) else repr(v)) for k, v in attributes.items()))


class DeltaToCumulative:
    """Running totals of delta series. Thread-safe (decoders run on several threads).

    Args:
        max_series: most series remembered (least recently updated evicted first).
    """

    def __init__(self, max_series: int = DEFAULT_MAX_SERIES) -> None:
        self.max_series = max_series
        self._totals: OrderedDict[tuple[Hashable, ...], tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: tuple[Hashable, ...], *deltas: float) -> tuple[float, ...]:
        """Add one interval's increments to the series' totals and return the new totals."""
        with self._lock:
            previous = self._totals.pop(key, None)
            totals = deltas if previous is None else tuple(p + d for p, d in zip(previous, deltas))
            self._totals[key] = totals
            if len(self._totals) > self.max_series:
                self._totals.popitem(last=False)
            return totals

    def __len__(self) -> int:
        return len(self._totals)
