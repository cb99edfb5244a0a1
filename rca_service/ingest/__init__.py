"""Ingest stage: OTLP over HTTP and gRPC → plain records → a bounded queue → the store.

Public API:
    IngestConfig, IngestPipeline     queue + worker in front of a RecordSink   (pipeline.py)
    DecoderConfig, OtlpDecoder       OTLP protobuf / JSON → RecordBatch         (decode.py)
    OtlpGrpcServer                   OTLP/gRPC receiver                         (grpc_server.py)
    TimeScreen                       refuse records outside the sink's time range (time_screen.py)
    TRACES, METRICS, LOGS            the signals and their messages             (signals.py)
The OTLP/HTTP routes live in `rca_service.api.otlp_http.build_otlp_router`.
"""

from rca_service.ingest.decode import OtlpDecoder
from rca_service.ingest.decoder_config import DecoderConfig
from rca_service.ingest.pipeline import IngestConfig, IngestPipeline
from rca_service.ingest.result import DecodeResult
from rca_service.ingest.signals import LOGS, METRICS, SIGNALS, TRACES, Signal
from rca_service.ingest.time_screen import TimeScreen

__all__ = [
    "LOGS",
    "METRICS",
    "SIGNALS",
    "TRACES",
    "DecodeResult",
    "DecoderConfig",
    "IngestConfig",
    "IngestPipeline",
    "OtlpDecoder",
    "Signal",
    "TimeScreen",
]
