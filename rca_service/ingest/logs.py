"""OTLP logs → `LogRecord` records, plus `ChangeEvent`s for records marked as changes."""

from __future__ import annotations

import time as _time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)

from rca_service.ingest.changes import ResourceChangeTracker
from rca_service.ingest.decoder_config import DecoderConfig
from rca_service.ingest.result import DecodeResult, Rejections
from rca_service.ingest.values import NS_PER_S, attributes, body_text
from rca_service.records import ChangeEvent, LogRecord, RecordBatch

BAD_TRACE_ID = "with a trace id that is not 16 bytes"
BAD_SPAN_ID = "with a span id that is not 8 bytes"


def decode_logs(
    request: ExportLogsServiceRequest,
    config: DecoderConfig,
    changes: ResourceChangeTracker | None = None,
) -> DecodeResult:
    """Convert an ExportLogsServiceRequest into LogRecords and ChangeEvents.

    The record's time is `time_unix_nano`, else `observed_time_unix_nano`, else the time of
    arrival. A record whose attribute `config.change_attribute` is set (e.g. `change.kind:
    deploy`) is kept as a log record AND yields a ChangeEvent(kind=that value,
    description=body). Records with trace or span ids of the wrong length are rejected.
    """
    batch = RecordBatch()
    logs = batch.logs
    events = batch.changes
    rejections = Rejections()
    change_key = config.change_attribute
    arrival = _time.time()

    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        service = str(resource.get("service.name") or config.unknown_service)
        first_time: float | None = None
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                trace_id = record.trace_id
                span_id = record.span_id
                if trace_id and len(trace_id) != 16:
                    rejections.add(BAD_TRACE_ID)
                    continue
                if span_id and len(span_id) != 8:
                    rejections.add(BAD_SPAN_ID)
                    continue
                nanos = record.time_unix_nano or record.observed_time_unix_nano
                when = nanos / NS_PER_S if nanos else arrival
                if first_time is None:
                    first_time = when
                attrs = attributes(record.attributes)
                body = body_text(record.body)
                logs.append(
                    LogRecord(
                        service,
                        when,
                        body,
                        record.severity_number,
                        record.severity_text,
                        trace_id.hex() if trace_id and any(trace_id) else None,
                        span_id.hex() if span_id and any(span_id) else None,
                        attrs,
                        resource,
                    )
                )
                kind = attrs.get(change_key) if change_key else None
                if kind is not None and kind != "":
                    extra = {k: v for k, v in attrs.items() if k != change_key}
                    events.append(ChangeEvent(service, when, str(kind), body, extra))
        if changes is not None and first_time is not None:
            events.extend(changes.observe(service, resource, first_time))
    return DecodeResult.of(batch, rejections, "log records")
