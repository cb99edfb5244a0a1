"""`google.rpc.Status` bodies for OTLP errors, shared by the HTTP route and the gRPC server.

OTLP/HTTP puts a Status in every 4xx/5xx body; OTLP/gRPC sends one in the
`grpc-status-details-bin` trailer. Details: `BadRequest` for bad data, `RetryInfo` for
throttling (so clients know when to come back).
"""

from __future__ import annotations

import math

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

INVALID_ARGUMENT = code_pb2.INVALID_ARGUMENT
RESOURCE_EXHAUSTED = code_pb2.RESOURCE_EXHAUSTED
UNAVAILABLE = code_pb2.UNAVAILABLE
UNAUTHENTICATED = code_pb2.UNAUTHENTICATED
INTERNAL = code_pb2.INTERNAL


def error_status(
    code: int,
    message: str,
    bad_field: str | None = None,
    retry_after: float | None = None,
) -> status_pb2.Status:
    """A Status with a BadRequest detail when `bad_field` is given and RetryInfo for `retry_after`."""
    status = status_pb2.Status(code=code, message=message)
    if bad_field is not None:
        detail = error_details_pb2.BadRequest()
        detail.field_violations.add(field=bad_field, description=message)
        status.details.append(_pack(detail))
    if retry_after is not None:
        seconds = math.floor(retry_after)
        delay = duration_pb2.Duration(seconds=seconds, nanos=int((retry_after - seconds) * 1e9))
        status.details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so clients never come back too early."""
    return str(max(1, math.ceil(seconds)))


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
