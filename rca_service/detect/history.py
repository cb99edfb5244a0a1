"""A bounded log of rows of named signals, for per-service normal history.

A service's signal set can change over time (a metric appears, one stops), so each row keeps
the names it was recorded with. Rows are appended every step and turned into one matrix only
when a baseline or threshold is refitted, so appending is cheap: a tuple of names (shared by
consecutive rows with the same names) and a copy of the values, no per-signal Python work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np


class SignalRows:
    """The newest `maxlen` rows, each a vector of values of named signals (NaN = missing).

    Args:
        maxlen: rows kept; older ones are dropped as new ones arrive.
    """

    def __init__(self, maxlen: int) -> None:
        self._rows: deque[tuple[tuple[str, ...], np.ndarray]] = deque(maxlen=maxlen)
        self._names: tuple[str, ...] = ()
        self._order: tuple[tuple[str, ...], list[str], np.ndarray | None] | None = None  # (names, sorted, argsort)

    def __len__(self) -> int:
        return len(self._rows)

    def __bool__(self) -> bool:
        return bool(self._rows)

    def append(self, signals: Sequence[str], values: np.ndarray) -> None:
        """Add one row; `values` (S,) aligned to `signals` is copied."""
        if len(signals) != len(self._names) or tuple(signals) != self._names:
            self._names = tuple(signals)
        self._rows.append((self._names, np.array(values, dtype=np.float64)))

    def extend_dicts(self, rows: Iterable[dict[str, float]]) -> None:
        """Add rows given as {signal: value} (the saved form)."""
        for row in rows:
            names = sorted(row)
            self.append(names, np.array([row[s] for s in names], dtype=np.float64))

    def to_dicts(self) -> list[dict[str, float]]:
        """Rows as {signal: value} with the finite values only (JSON-friendly)."""
        return [{s: float(v) for s, v in zip(names, vals) if np.isfinite(v)} for names, vals in self._rows]

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """(signals, (N, S) matrix): the union of all rows' signals, sorted; NaN where missing."""
        if self._rows and all(names is self._names for names, _ in self._rows):
            # the usual case: one signal set all along (`append` shares its tuple), one stack
            if self._order is None or self._order[0] is not self._names:
                signals = sorted(set(self._names))
                order = np.argsort(self._names, kind="stable") if len(signals) == len(self._names) else None
                self._order = (self._names, signals, order)
            names, signals, order = self._order
            if order is not None:
                out = np.array([vals for _, vals in self._rows], dtype=np.float64).reshape(len(self._rows), len(names))
                return list(signals), out if list(names) == signals else out[:, order]
        signals = sorted({s for names in {n for n, _ in self._rows} for s in names})
        index = {s: i for i, s in enumerate(signals)}
        out = np.full((len(self._rows), len(signals)), np.nan)
        columns: dict[tuple[str, ...], np.ndarray] = {}
        for i, (names, vals) in enumerate(self._rows):
            cols = columns.get(names)
            if cols is None:
                cols = columns[names] = np.array([index[s] for s in names], dtype=np.int64)
            out[i, cols] = vals
        return signals, out
