"""OTLP metrics → `MetricPoint` records: gauge, sum, histogram, exponential histogram, summary.

Histograms and summaries become one point each whose `value` is the mean (sum / count) and
whose `quantiles` come from the buckets (histograms) or the reported quantiles (summaries).
Delta-temporality sums and histograms are turned cumulative (value; count and sum) when a
`DeltaToCumulative` is given, so the store sees every counter the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    DataPointFlags,
    Metric,
)

from rca_service.ingest.changes import ResourceChangeTracker
from rca_service.ingest.cumulative import DeltaToCumulative, series_key
from rca_service.ingest.decoder_config import DecoderConfig
from rca_service.ingest.quantiles import (
    estimate_quantiles,
    explicit_buckets,
    exponential_buckets,
)
from rca_service.ingest.result import DecodeResult, Rejections
from rca_service.ingest.values import NS_PER_S, attributes
from rca_service.records import MetricPoint, MetricType, RecordBatch

_NO_VALUE = DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA

NO_TIME = "without a time"
NO_VALUE = "without a value"
BAD_BUCKETS = "whose bucket counts do not match their bounds"
NO_DATA = "of a metric without a data type"


def decode_metrics(
    request: ExportMetricsServiceRequest,
    config: DecoderConfig,
    changes: ResourceChangeTracker | None = None,
    cumulative: DeltaToCumulative | None = None,
) -> DecodeResult:
    """Convert an ExportMetricsServiceRequest into MetricPoints (and deploy ChangeEvents).

    Points flagged "no recorded value" are skipped (they mark a gone series, not data).
    A point is rejected when it has no time, a number point has no value, or a histogram's
    bucket counts do not fit its bounds.
    """
    batch = RecordBatch()
    points = batch.metrics
    rejections = Rejections()
    qs = config.quantiles

    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        service = str(resource.get("service.name") or config.unknown_service)
        first_time: float | None = None
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                which = metric.WhichOneof("data")
                convert = _CONVERTERS.get(which)
                if convert is None:
                    rejections.add(NO_DATA)
                    continue
                data = getattr(metric, which)
                delta = cumulative if getattr(data, "aggregation_temporality", 0) == _DELTA else None
                ctx = _Context(service, metric, data, resource, qs, delta)
                for p in data.data_points:
                    if p.flags & _NO_VALUE:
                        continue
                    if not p.time_unix_nano:
                        rejections.add(NO_TIME)
                        continue
                    point = convert(ctx, p)
                    if isinstance(point, str):
                        rejections.add(point)
                    else:
                        points.append(point)
                        if first_time is None:
                            first_time = point.time
        if changes is not None and first_time is not None:
            batch.changes.extend(changes.observe(service, resource, first_time))
    return DecodeResult.of(batch, rejections, "data points")


class _Context(NamedTuple):
    """What every point of one metric shares."""

    service: str
    metric: Metric
    data: Any  # the Gauge / Sum / Histogram / ... message holding the points
    resource: dict[str, Any]
    quantiles: tuple[float, ...]
    delta: DeltaToCumulative | None  # set for delta-temporality metrics: keep running totals


def _number_point(ctx: _Context, p) -> MetricPoint | str:
    kind = p.WhichOneof("value")
    if kind is None:
        return NO_VALUE
    is_sum = ctx.metric.WhichOneof("data") == "sum"
    value = float(p.as_double if kind == "as_double" else p.as_int)
    attrs = attributes(p.attributes)
    if ctx.delta is not None:
        (value,) = ctx.delta.add(series_key(ctx.service, ctx.metric.name, attrs), value)
    return MetricPoint(
        ctx.service, ctx.metric.name, p.time_unix_nano / NS_PER_S, value,
        MetricType.SUM if is_sum else MetricType.GAUGE, ctx.metric.unit, attrs,
        is_sum and ctx.data.is_monotonic, resource=ctx.resource,
    )


def _histogram_point(ctx: _Context, p) -> MetricPoint | str:
    counts = list(p.bucket_counts)
    bounds = list(p.explicit_bounds)
    if counts and len(counts) != len(bounds) + 1:
        return BAD_BUCKETS
    lo, hi = _min_max(p)
    quantiles = estimate_quantiles(explicit_buckets(bounds, counts), ctx.quantiles, lo, hi) if counts else {}
    return _distribution_point(ctx, p, MetricType.HISTOGRAM, quantiles)


def _exponential_point(ctx: _Context, p) -> MetricPoint | str:
    buckets = exponential_buckets(
        p.scale, p.zero_count, p.zero_threshold,
        p.positive.offset, list(p.positive.bucket_counts),
        p.negative.offset, list(p.negative.bucket_counts),
    )
    lo, hi = _min_max(p)
    quantiles = estimate_quantiles(buckets, ctx.quantiles, lo, hi)
    return _distribution_point(ctx, p, MetricType.EXPONENTIAL_HISTOGRAM, quantiles)


def _summary_point(ctx: _Context, p) -> MetricPoint | str:
    quantiles = {float(qv.quantile): float(qv.value) for qv in p.quantile_values}
    count = float(p.count)
    total = float(p.sum)
    return MetricPoint(
        ctx.service, ctx.metric.name, p.time_unix_nano / NS_PER_S, total / count if count else math.nan,
        MetricType.SUMMARY, ctx.metric.unit, attributes(p.attributes), False, count, total, quantiles, ctx.resource,
    )


_CONVERTERS: dict[str | None, Callable[[_Context, Any], MetricPoint | str]] = {
    "gauge": _number_point,
    "sum": _number_point,
    "histogram": _histogram_point,
    "exponential_histogram": _exponential_point,
    "summary": _summary_point,
}


def _min_max(point) -> tuple[float | None, float | None]:
    """The point's recorded min and max (optional fields), None where absent."""
    lo = point.min if point.HasField("min") else None
    hi = point.max if point.HasField("max") else None
    return lo, hi


def _distribution_point(ctx: _Context, point, mtype: MetricType, quantiles: dict[float, float]) -> MetricPoint:
    """A histogram point: mean as value when the sum is known, else the estimated median.

    The value and quantiles describe this point's own interval; for delta histograms `count`
    and `sum` become running totals, like those of cumulative ones.
    """
    count = float(point.count)
    total = float(point.sum) if point.HasField("sum") else None
    if total is not None and count:
        value = total / count
    else:
        value = quantiles.get(0.5, math.nan)
    attrs = attributes(point.attributes)
    if ctx.delta is not None:
        key = series_key(ctx.service, ctx.metric.name, attrs)
        if total is None:
            (count,) = ctx.delta.add(key, count)
        else:
            count, total = ctx.delta.add(key, count, total)
    return MetricPoint(ctx.service, ctx.metric.name, point.time_unix_nano / NS_PER_S, value, mtype, ctx.metric.unit,
                       attrs, False, count, total, quantiles, ctx.resource)
