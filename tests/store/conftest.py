"""Builders of hand-made records for the store tests."""

from __future__ import annotations

import itertools

import pytest

from rca_service.records import Span, SpanKind, StatusCode
from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore

# A step-aligned time in the past (replayed data, far from the wall clock).
T0 = 1_600_000_020.0 - (1_600_000_020 % 60)

_ids = itertools.count(1)


def new_id() -> str:
    return f"{next(_ids):016x}"


def span(service: str, start: float, duration: float, kind: SpanKind = SpanKind.SERVER, *,
         parent: str | None = None, error: bool = False, peer: str | None = None, name: str = "op",
         span_id: str | None = None, trace_id: str = "t", resource: dict | None = None) -> Span:
    return Span(trace_id, span_id or new_id(), parent, service, name, kind, start, start + duration,
                StatusCode.ERROR if error else StatusCode.UNSET, peer_service=peer, resource=resource or {})


@pytest.fixture
def store() -> TelemetryStore:
    return TelemetryStore(StoreConfig(step=60))
