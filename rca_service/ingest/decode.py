"""OTLP request bodies (protobuf or OTLP/JSON) → plain records.

`OtlpDecoder` is what the HTTP route, the gRPC server and dataset replay share:

    decoder = OtlpDecoder(DecoderConfig())
    message = decoder.parse(TRACES, body, "protobuf")     # DecodeError when malformed
    result = decoder.decode(TRACES, message)               # DecodeResult(batch, rejected, ...)

Parsing is separate from decoding so a transport may parse on one thread (fast, in C) and
convert on another; `decode_body` does both. With a `TimeScreen` (the pipeline gives one when
its sink has an accepted time range), `decode` also removes records the sink would drop for
their time and reports them among the rejected items.
"""

from __future__ import annotations

from typing import Literal

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from rca_service.errors import DecodeError
from rca_service.ingest.changes import ResourceChangeTracker
from rca_service.ingest.cumulative import DeltaToCumulative
from rca_service.ingest.decoder_config import DecoderConfig
from rca_service.ingest.logs import decode_logs
from rca_service.ingest.metrics import decode_metrics
from rca_service.ingest.otlp_json import parse_json
from rca_service.ingest.result import DecodeResult
from rca_service.ingest.signals import LOGS, METRICS, TRACES, Signal
from rca_service.ingest.time_screen import TimeScreen
from rca_service.ingest.traces import decode_traces

Encoding = Literal["protobuf", "json"]


def parse_protobuf(body: bytes, message_type: type[Message]) -> Message:
    """Parse a binary protobuf body; DecodeError says what was wrong."""
    try:
        return message_type.FromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"body is not a valid protobuf {message_type.DESCRIPTOR.name}: {exc}") from exc


class OtlpDecoder:
    """Parses OTLP bodies and converts messages into a RecordBatch.

    Holds the only state of decoding: the resource-change tracker that turns a new
    `service.version` into a deploy ChangeEvent, and the running totals that turn delta
    metrics cumulative. Safe to use from several threads.

    Args:
        config: what to keep; defaults to `DecoderConfig()`.
        screen: when given, every decoded batch passes through it (records outside the
            sink's accepted time range are removed and counted as rejected).
    """

    def __init__(self, config: DecoderConfig | None = None, screen: TimeScreen | None = None) -> None:
        self.config = config or DecoderConfig()
        self.screen = screen
        keys = self.config.change_resource_keys
        self.changes = ResourceChangeTracker(keys) if keys else None
        self.cumulative = DeltaToCumulative()

    def parse(self, signal: Signal, body: bytes, encoding: Encoding) -> Message:
        """Parse `body` as the signal's Export request in the given encoding."""
        if encoding == "protobuf":
            return parse_protobuf(body, signal.request_type)
        if encoding == "json":
            return parse_json(body, signal.request_type)
        raise DecodeError(f"unknown encoding {encoding!r}")

    def decode(self, signal: Signal, message: Message) -> DecodeResult:
        """Convert a parsed Export request of `signal` into records (screened, if configured)."""
        if signal.name == TRACES.name:
            result = decode_traces(message, self.config, self.changes)
        elif signal.name == METRICS.name:
            result = decode_metrics(message, self.config, self.changes, self.cumulative)
        elif signal.name == LOGS.name:
            result = decode_logs(message, self.config, self.changes)
        else:
            raise DecodeError(f"unknown signal {signal.name!r}")
        if self.screen is not None:
            self.screen.apply(result)
        return result

    def decode_body(self, signal: Signal, body: bytes, encoding: Encoding) -> DecodeResult:
        """Parse and convert in one call."""
        return self.decode(signal, self.parse(signal, body, encoding))
