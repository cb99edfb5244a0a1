"""The three OTLP signals and what differs between them (messages, paths, partial-success field)."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


@dataclass(frozen=True)
class Signal:
    """One OTLP signal.

    Attributes:
        name: "traces", "metrics" or "logs".
        http_path: the OTLP/HTTP path, e.g. "/v1/traces".
        grpc_service: full gRPC service name, taken from the proto descriptor.
        request_type: the Export…ServiceRequest message class.
        response_type: the Export…ServiceResponse message class.
        rejected_field: the partial-success counter, e.g. "rejected_spans".
        item_noun: what the counter counts, for messages.
    """

    name: str
    http_path: str
    grpc_service: str
    request_type: type[Message]
    response_type: type[Message]
    rejected_field: str
    item_noun: str

    def response(self, rejected: int = 0, error_message: str = "") -> Message:
        """The Export response; `partial_success` set only when something was rejected or said."""
        response = self.response_type()
        if rejected or error_message:
            setattr(response.partial_success, self.rejected_field, rejected)
            response.partial_success.error_message = error_message
        return response


TRACES = Signal(
    "traces", "/v1/traces", trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
    trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse,
    "rejected_spans", "spans",
)
METRICS = Signal(
    "metrics", "/v1/metrics", metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse,
    "rejected_data_points", "data points",
)
LOGS = Signal(
    "logs", "/v1/logs", logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
    logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse,
    "rejected_log_records", "log records",
)
SIGNALS: tuple[Signal, ...] = (TRACES, METRICS, LOGS)
