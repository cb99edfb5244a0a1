"""What the OTLP decoder keeps and how it derives peers, quantiles and change events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rca_service.errors import ConfigError
from rca_service.ingest.configbase import config_from_dict

#: Span attributes worth keeping for root-cause analysis (peer naming, protocol outcome).
DEFAULT_SPAN_ATTRIBUTE_KEYS: tuple[str, ...] = (
    "service.peer.name",
    "peer.service",
    "server.address",
    "server.port",
    "net.peer.name",
    "db.system",
    "db.name",
    "db.namespace",
    "db.operation",
    "db.operation.name",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "rpc.grpc.status_code",
    "http.request.method",
    "http.method",
    "http.route",
    "http.response.status_code",
    "http.status_code",
    "messaging.system",
    "messaging.destination.name",
    "error.type",
    "exception.type",
)

#: Attributes naming the callee of a client span, most specific first (see PROTOCOLS.md).
DEFAULT_PEER_KEYS: tuple[str, ...] = (
    "service.peer.name",
    "peer.service",
    "server.address",
    "net.peer.name",
    "db.name",
    "db.namespace",
    "db.system",
)

SPAN_ATTRIBUTE_SCOPES = ("calls", "all", "none")


@dataclass(frozen=True)
class DecoderConfig:
    """Options of `OtlpDecoder`.

    Attributes:
        span_attribute_keys: span attributes kept on `Span.attributes`; None keeps every one.
        span_attribute_scope: which spans get their attributes read. "calls" (default): client,
            producer and consumer spans and spans with status ERROR — the ones whose attributes
            name a peer or explain a failure; reading attributes is most of the decoding cost,
            so server and internal spans skip it. "all": every span. "none": no span.
        peer_keys: attributes naming the callee of client/producer spans, first set wins.
        quantiles: quantiles estimated for histograms (q in (0, 1)).
        change_attribute: a log record with this attribute also yields a ChangeEvent whose
            kind is the attribute's value ("deploy", "config", ...). Empty disables.
        change_resource_keys: resource attributes whose new values are deploys. Empty disables.
        unknown_service: service name for resources without `service.name`.
    """

    span_attribute_keys: tuple[str, ...] | None = DEFAULT_SPAN_ATTRIBUTE_KEYS
    span_attribute_scope: str = "calls"
    peer_keys: tuple[str, ...] = DEFAULT_PEER_KEYS
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.99)
    change_attribute: str = "change.kind"
    change_resource_keys: tuple[str, ...] = ("service.version", "k8s.deployment.revision")
    unknown_service: str = "unknown_service"

    def __post_init__(self) -> None:
        if self.span_attribute_scope not in SPAN_ATTRIBUTE_SCOPES:
            raise ConfigError(f"span_attribute_scope must be one of {SPAN_ATTRIBUTE_SCOPES}, not {self.span_attribute_scope!r}")
        for q in self.quantiles:
            if not 0.0 < float(q) < 1.0:
                raise ConfigError(f"quantiles must lie in (0, 1), got {q}")
        if not self.unknown_service:
            raise ConfigError("unknown_service must not be empty")
        # Lists from JSON/YAML become tuples so the config stays hashable and immutable.
        for name in ("peer_keys", "quantiles", "change_resource_keys"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.span_attribute_keys is not None:
            object.__setattr__(self, "span_attribute_keys", tuple(self.span_attribute_keys))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DecoderConfig:
        """Build from a mapping; unknown keys raise ConfigError."""
        return config_from_dict(cls, data)

    @property
    def kept_span_keys(self) -> frozenset[str] | None:
        """Keys to keep, always including the peer keys (needed to name the callee)."""
        if self.span_attribute_keys is None:
            return None
        return frozenset(self.span_attribute_keys) | frozenset(self.peer_keys)
