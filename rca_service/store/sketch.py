"""Latency quantiles from a log-bucket sketch (the DDSketch idea), bounded and mergeable.

A duration d > 0 falls in bin i = floor(log(d) / log(gamma)); every value of bin i lies in
[gamma^i, gamma^(i+1)), so answering 2 * gamma^(i+1) / (gamma + 1) is within the configured
relative accuracy. The hot path only does `bins[i] = bins.get(i, 0) + 1`; quantiles are computed
at read time. A step's sketch holds at most a few hundred bins whatever the traffic.
"""

from __future__ import annotations

import math

import numpy as np

# Durations at or below this (1 µs) share one bin: clocks do not resolve less.
MIN_DURATION = 1e-6
ZERO_BIN = -(2**31)


def bin_of(duration: float, inv_log_gamma: float) -> int:
    """The sketch bin of one duration (seconds)."""
    if duration <= MIN_DURATION:
        return ZERO_BIN
    return math.floor(math.log(duration) * inv_log_gamma)


def pack(bins: dict[int, int]) -> bytes:
    """A compact, immutable copy of a sketch (int64 pairs) for steps that are closed."""
    return np.array(list(bins.items()), dtype=np.int64).tobytes() if bins else b""


def unpack(packed: bytes) -> dict[int, int]:
    """The dict form of a packed sketch, to add to it again."""
    pairs = np.frombuffer(packed, dtype=np.int64).reshape(-1, 2)
    return dict(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist()))


def quantiles(bins: dict[int, int] | bytes, qs: tuple[float, ...], log_gamma: float) -> list[float]:
    """Quantiles of the sketched durations (NaN when empty).

    Args:
        bins: bin index -> count, or its packed form.
        qs: quantiles in [0, 1].
        log_gamma: log(gamma) the bins were built with.
    """
    if not bins:
        return [math.nan] * len(qs)
    if isinstance(bins, bytes):
        pairs = np.frombuffer(bins, dtype=np.int64).reshape(-1, 2)
        keys, counts = pairs[:, 0], pairs[:, 1].astype(np.float64)
    else:
        keys = np.fromiter(bins.keys(), dtype=np.int64, count=len(bins))
        counts = np.fromiter(bins.values(), dtype=np.float64, count=len(bins))
    order = np.argsort(keys)
    keys, counts = keys[order], counts[order]
    cum = np.cumsum(counts)
    total = cum[-1]
    gamma = math.exp(log_gamma)
    out = []
    for q in qs:
        # nearest rank: the smallest value with at least q of all values at or below it
        rank = max(1.0, math.ceil(q * total - 1e-9))  # 0.9 * 100 is 90.00000000000001
        i = int(np.searchsorted(cum, rank, side="left"))
        i = min(i, len(keys) - 1)
        k = int(keys[i])
        out.append(MIN_DURATION if k == ZERO_BIN else 2.0 * math.exp((k + 1) * log_gamma) / (gamma + 1.0))
    return out
