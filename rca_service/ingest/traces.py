"""OTLP traces → `Span` records.

This loop runs for every span we ingest, so it reads protobuf fields directly, builds each
`Span` positionally, converts the resource once per ResourceSpans (all spans of a resource
share that one dict: treat `Span.resource` as read-only), and reads span attributes only
where `DecoderConfig.span_attribute_scope` asks for them.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from rca_service.ingest.changes import ResourceChangeTracker
from rca_service.ingest.decoder_config import DecoderConfig
from rca_service.ingest.result import DecodeResult, Rejections
from rca_service.ingest.values import (
    NS_PER_S,
    attributes,
    first_text,
    selected_attributes,
)
from rca_service.records import RecordBatch, Span, SpanKind, StatusCode

_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)
_CALL_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER})
_PEER_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})
_ERROR = StatusCode.ERROR
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)

BAD_TRACE_ID = "without a valid 16-byte trace id"
BAD_SPAN_ID = "without a valid 8-byte span id"
BAD_PARENT_ID = "with a parent span id that is not 8 bytes"
END_BEFORE_START = "ending before they start"
NO_START = "without a start time"


def decode_traces(
    request: ExportTraceServiceRequest,
    config: DecoderConfig,
    changes: ResourceChangeTracker | None = None,
) -> DecodeResult:
    """Convert an ExportTraceServiceRequest into Spans (and deploy ChangeEvents).

    A span is rejected (counted, not returned) when its trace or span id is missing or has
    the wrong length, its parent id has the wrong length, it has no start time, or it ends
    before it starts.
    """
    batch = RecordBatch()
    spans = batch.spans
    append = spans.append
    rejections = Rejections()
    keep = config.kept_span_keys
    scope = config.span_attribute_scope
    peer_keys = config.peer_keys
    n_kinds = len(_KINDS)
    n_statuses = len(_STATUSES)

    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or config.unknown_service)
        first_start: float | None = None
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                trace_id = span.trace_id
                span_id = span.span_id
                if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
                    rejections.add(BAD_TRACE_ID)
                    continue
                if len(span_id) != 8 or span_id == _ZERO_SPAN:
                    rejections.add(BAD_SPAN_ID)
                    continue
                start_ns = span.start_time_unix_nano
                end_ns = span.end_time_unix_nano
                if not start_ns:
                    rejections.add(NO_START)
                    continue
                if end_ns < start_ns:
                    rejections.add(END_BEFORE_START)
                    continue
                parent = span.parent_span_id
                if parent and len(parent) != 8:
                    rejections.add(BAD_PARENT_ID)
                    continue
                kind_number = span.kind
                kind = _KINDS[kind_number] if 0 <= kind_number < n_kinds else SpanKind.UNSPECIFIED
                status = span.status
                code_number = status.code
                code = _STATUSES[code_number] if 0 <= code_number < n_statuses else StatusCode.UNSET

                # Reading attributes costs more than everything else together; only read them
                # where they matter (see DecoderConfig.span_attribute_scope).
                if scope == "all" or (scope == "calls" and (kind in _CALL_KINDS or code is _ERROR)):
                    attrs = selected_attributes(span.attributes, keep)
                    peer = first_text(attrs, peer_keys) if kind in _PEER_KINDS else None
                else:
                    attrs = {}
                    peer = None

                start = start_ns / NS_PER_S
                if first_start is None:
                    first_start = start
                append(
                    Span(
                        trace_id.hex(),
                        span_id.hex(),
                        parent.hex() if parent and parent != _ZERO_SPAN else None,
                        service,
                        span.name,
                        kind,
                        start,
                        end_ns / NS_PER_S,
                        code,
                        status.message,
                        peer,
                        attrs,
                        resource,
                    )
                )
        if changes is not None and first_start is not None:
            batch.changes.extend(changes.observe(service, resource, first_start))
    return DecodeResult.of(batch, rejections, "spans")
