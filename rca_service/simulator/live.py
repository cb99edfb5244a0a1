"""Live mode: the simulation's records sent through the OpenTelemetry SDK as OTLP/HTTP.

One `Resource` per service (and version: a deploy changes the resource, as a restarted pod
would). Spans go through a `TracerProvider` per service, logs through a `LoggerProvider` per
service; both are collected per tick and handed to the SDK's OTLP/HTTP exporters in one
request per signal. The ids the SDK gives spans are the simulation's own (a preset id
generator), so a trace seen by the server is the trace the simulation made.

Metrics are built as the SDK's `MetricsData` and sent with its `OTLPMetricExporter`: a
`MeterProvider` stamps points with the wall clock, which is wrong when simulated time runs
faster than real time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from opentelemetry import trace as otel_trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, TraceFlags
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import StatusCode as OtelStatus

from rca_service.records import LogRecord, MetricPoint, RecordBatch, Span, StatusCode

log = logging.getLogger(__name__)
SCOPE = InstrumentationScope("rca_service.simulator", "0.1.0")
_KIND = {1: OtelKind.INTERNAL, 2: OtelKind.SERVER, 3: OtelKind.CLIENT, 4: OtelKind.PRODUCER, 5: OtelKind.CONSUMER}


class _PresetIds(IdGenerator):
    """Hands the SDK the ids the simulation already chose for the next span."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_span_id(self) -> int:
        return self.span_id

    def generate_trace_id(self) -> int:
        return self.trace_id


class _SpanCollector(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


class _LogCollector(LogRecordProcessor):
    def __init__(self) -> None:
        self.records: list[ReadableLogRecord] = []

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.records.append(ReadableLogRecord(
            log_record=log_record.log_record, resource=log_record.resource or Resource.create({}),
            instrumentation_scope=log_record.instrumentation_scope, limits=log_record.limits))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _resource(service: str, version: str | None, namespace: str = "default") -> Resource:
    # reported as a Kubernetes deployment, so remediation can name its target
    attrs = {"service.name": service, "k8s.namespace.name": namespace, "k8s.deployment.name": service}
    if version:
        attrs["service.version"] = version
    return Resource.create(attrs)


def _parent_context(trace_id: str, span_id: str | None):
    if not span_id:
        return None
    ctx = SpanContext(trace_id=int(trace_id, 16), span_id=int(span_id, 16), is_remote=True,
                      trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return otel_trace.set_span_in_context(NonRecordingSpan(ctx))


class OtlpEmitter:
    """Sends record batches through the OpenTelemetry SDK to an OTLP/HTTP endpoint.

    Args:
        endpoint: base URL ("http://127.0.0.1:4318"); /v1/traces, /v1/metrics, /v1/logs are appended.
        headers: extra HTTP headers (e.g. {"Authorization": "Bearer ..."}).
        timeout: seconds per export (the SDK retries retryable answers within it).
        namespace: reported as `k8s.namespace.name` on every resource.
    """

    def __init__(self, endpoint: str, headers: dict[str, str] | None = None, timeout: float = 10.0,
                 namespace: str = "default") -> None:
        base = endpoint.rstrip("/")
        self.namespace = namespace
        self.span_exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers, timeout=timeout)
        self.metric_exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics", headers=headers, timeout=timeout)
        self.log_exporter = OTLPLogExporter(endpoint=f"{base}/v1/logs", headers=headers, timeout=timeout)
        self._ids = _PresetIds()
        self._spans = _SpanCollector()
        self._logs = _LogCollector()
        self._tracers: dict[tuple[str, str | None], object] = {}
        self._loggers: dict[tuple[str, str | None], object] = {}
        self.failures = 0

    def _tracer(self, service: str, version: str | None):
        key = (service, version)
        if key not in self._tracers:
            provider = TracerProvider(resource=_resource(service, version, self.namespace), id_generator=self._ids)
            provider.add_span_processor(self._spans)
            self._tracers[key] = provider.get_tracer(SCOPE.name, SCOPE.version)
        return self._tracers[key]

    def _logger(self, service: str, version: str | None):
        key = (service, version)
        if key not in self._loggers:
            provider = LoggerProvider(resource=_resource(service, version, self.namespace))
            provider.add_log_record_processor(self._logs)
            self._loggers[key] = provider.get_logger(SCOPE.name, SCOPE.version)
        return self._loggers[key]

    def _emit_span(self, s: Span) -> None:
        self._ids.trace_id = int(s.trace_id, 16)
        self._ids.span_id = int(s.span_id, 16)
        tracer = self._tracer(s.service, s.resource.get("service.version"))
        span = tracer.start_span(s.name, context=_parent_context(s.trace_id, s.parent_span_id),
                                 kind=_KIND.get(int(s.kind), OtelKind.INTERNAL), attributes=s.attributes or None,
                                 start_time=int(s.start * 1e9))
        if s.status == StatusCode.ERROR:
            span.set_status(Status(OtelStatus.ERROR, s.status_message or None))
        elif s.status == StatusCode.OK:
            span.set_status(Status(OtelStatus.OK))
        span.end(end_time=int(s.end * 1e9))

    def _emit_log(self, lg: LogRecord) -> None:
        logger = self._logger(lg.service, lg.resource.get("service.version"))
        ctx = _parent_context(lg.trace_id, lg.span_id) if lg.trace_id and lg.span_id else None
        ts = int(lg.time * 1e9)
        logger.emit(timestamp=ts, observed_timestamp=ts, context=ctx,
                    severity_number=SeverityNumber(lg.severity) if lg.severity else SeverityNumber.UNSPECIFIED,
                    severity_text=lg.severity_text or None, body=lg.body, attributes=lg.attributes or None)

    def metrics_data(self, points: list[MetricPoint]) -> MetricsData:
        """The SDK's `MetricsData` for gauge points, one ResourceMetrics per service."""
        by_service: dict[tuple[str, str | None], dict[tuple[str, str], list[NumberDataPoint]]] = {}
        for p in points:
            key = (p.service, p.resource.get("service.version"))
            ns = int(p.time * 1e9)
            by_service.setdefault(key, {}).setdefault((p.name, p.unit), []).append(
                NumberDataPoint(attributes=p.attributes or None, start_time_unix_nano=ns, time_unix_nano=ns, value=p.value))
        resource_metrics = []
        for (service, version), metrics in by_service.items():
            ms = [Metric(name=n, description="", unit=u, data=Gauge(data_points=dps)) for (n, u), dps in metrics.items()]
            resource_metrics.append(ResourceMetrics(resource=_resource(service, version, self.namespace),
                                                    scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=ms, schema_url="")],
                                                    schema_url=""))
        return MetricsData(resource_metrics=resource_metrics)

    def send(self, batch: RecordBatch) -> bool:
        """Export one batch (traces, metrics, logs). True when every export succeeded."""
        ok = True
        for s in batch.spans:
            self._emit_span(s)
        spans, self._spans.spans = self._spans.spans, []
        if spans and self.span_exporter.export(spans) != SpanExportResult.SUCCESS:
            ok = False
        if batch.metrics and self.metric_exporter.export(self.metrics_data(batch.metrics)) != MetricExportResult.SUCCESS:
            ok = False
        for lg in batch.logs:
            self._emit_log(lg)
        records, self._logs.records = self._logs.records, []
        if records and self.log_exporter.export(records).name != "SUCCESS":
            ok = False
        if not ok:
            self.failures += 1
        return ok

    def shutdown(self) -> None:
        for exp in (self.span_exporter, self.metric_exporter, self.log_exporter):
            try:
                exp.shutdown()
            except Exception:  # shutting down must not raise over an already-closed session
                log.debug("exporter shutdown failed", exc_info=True)


class LiveRunner(threading.Thread):
    """Ticks a simulation in real time (scaled by `speed`) and sends each tick as OTLP."""

    def __init__(self, sim, endpoint: str, speed: float, duration: float | None,
                 on_tick: Callable[[RecordBatch], None] | None, headers: dict[str, str] | None) -> None:
        super().__init__(name="sim-live", daemon=True)
        self.sim = sim
        self.emitter = OtlpEmitter(endpoint, headers, namespace=sim.config.namespace)
        self.speed = speed
        self.duration = duration
        self.on_tick = on_tick
        self._stop_event = threading.Event()
        self.ticks = 0
        self.error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.ticks > 0 and self.emitter.failures >= self.ticks)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        step = self.sim.config.step_s
        steps = None if self.duration is None else max(1, int(round(self.duration / step)))
        wall0 = time.monotonic()
        try:
            while not self._stop_event.is_set() and (steps is None or self.ticks < steps):
                if self.speed > 0:
                    # a step is sent once it has fully happened in simulated time
                    due = wall0 + (self.ticks + 1) * step / self.speed
                    if self._stop_event.wait(max(0.0, due - time.monotonic())):
                        break
                batch = self.sim.tick()
                self.emitter.send(batch)
                self.ticks += 1
                if self.on_tick is not None:
                    self.on_tick(batch)
        except Exception as exc:  # reported through .failed / .error; the thread must not die silently
            self.error = exc
            log.exception("live simulation stopped")
        finally:
            self.emitter.shutdown()
