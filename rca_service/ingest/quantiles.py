"""Quantile estimates from histogram buckets (explicit and exponential).

Linear interpolation inside the bucket holding the rank, as Prometheus' `histogram_quantile`
does; open-ended outer buckets are closed with the recorded min/max when the point has them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: (lower bound, upper bound, count) of one bucket, buckets in ascending order.
Bucket = tuple[float, float, float]


def estimate_quantiles(
    buckets: Sequence[Bucket],
    quantiles: Sequence[float],
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[float, float]:
    """Estimate each quantile from ascending buckets; empty histograms give {}.

    Infinite outer bounds are replaced by `minimum` / `maximum` when known, otherwise by the
    bucket's finite bound (or 0 for a first bucket with a positive upper bound), and every
    estimate is clamped to [minimum, maximum] when those are known.
    """
    total = sum(c for _, _, c in buckets)
    if total <= 0:
        return {}
    out: dict[float, float] = {}
    for q in quantiles:
        rank = q * total
        seen = 0.0
        estimate = math.nan
        for lower, upper, count in buckets:
            if count <= 0:
                continue
            if seen + count >= rank:
                lower, upper = _close(lower, upper, minimum, maximum)
                estimate = lower + (upper - lower) * ((rank - seen) / count)
                break
            seen += count
        if minimum is not None and not math.isnan(estimate):
            estimate = max(estimate, minimum)
        if maximum is not None and not math.isnan(estimate):
            estimate = min(estimate, maximum)
        out[float(q)] = estimate
    return out


def _close(lower: float, upper: float, minimum: float | None, maximum: float | None) -> tuple[float, float]:
    """Replace infinite bucket bounds by finite stand-ins."""
    if math.isinf(lower):
        if minimum is not None:
            lower = min(minimum, upper)
        else:
            lower = 0.0 if upper > 0 else upper
    if math.isinf(upper):
        upper = max(maximum, lower) if maximum is not None else lower
    return lower, upper


def explicit_buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[Bucket]:
    """Buckets of an OTLP explicit-bounds histogram: bucket i is (bounds[i-1], bounds[i]]."""
    edges = [-math.inf, *bounds, math.inf]
    return [(edges[i], edges[i + 1], float(c)) for i, c in enumerate(counts)]


def exponential_buckets(
    scale: int,
    zero_count: int,
    zero_threshold: float,
    positive_offset: int,
    positive_counts: Sequence[int],
    negative_offset: int,
    negative_counts: Sequence[int],
) -> list[Bucket]:
    """Buckets of an OTLP exponential histogram, ascending.

    Positive bucket with index i covers (base**i, base**(i+1)] where base = 2**(2**-scale);
    negative buckets mirror that below zero, and the zero bucket is [-threshold, threshold].
    """
    def bound(index: int) -> float:
        try:
            return 2.0 ** (index / 2.0**scale)
        except OverflowError:
            return math.inf

    out: list[Bucket] = []
    for i in range(len(negative_counts) - 1, -1, -1):
        index = negative_offset + i
        out.append((-bound(index + 1), -bound(index), float(negative_counts[i])))
    if zero_count:
        out.append((-zero_threshold, zero_threshold, float(zero_count)))
    for i, count in enumerate(positive_counts):
        index = positive_offset + i
        out.append((bound(index), bound(index + 1), float(count)))
    return out
