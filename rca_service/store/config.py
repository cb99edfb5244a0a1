"""Configuration of the telemetry store (windows, topology, templates, retention)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from rca_service.errors import ConfigError


def config_from_dict(cls: type, data: dict[str, Any] | None) -> Any:
    """Build a config dataclass from a dict, refusing keys it does not know.

    Raises:
        ConfigError: a key that is not a field of `cls`, or a value its `validate` rejects.
    """
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown keys {unknown}; known keys are {sorted(names)}")
    return cls(**data)


@dataclass
class StoreConfig:
    """Settings of `TelemetryStore`.

    Attributes:
        step: step length in seconds; every window is one step.
        retention_seconds: how much data time the store keeps (steps older than the newest step
            minus this are dropped).
        grace_seconds: a step closes once the watermark (newest record time) passes its end by
            this much; None means half a step.
        latency_accuracy: relative accuracy of the latency quantile sketch (0.01 = 1 %).
        span_index_size: spans remembered for parent/child pairing across batches.
        pending_size: children waiting for a parent (and client spans waiting for a server span).
        samples_per_step: error spans and slowest spans kept per service and step (each).
        max_series: metric series tracked at most (new series beyond are dropped and counted).
        max_signatures: distinct span signatures (service, operation, status) remembered.
        max_future_seconds: records stamped further than this past the wall clock are dropped
            (a broken clock must not close every step).
        drain_sim_th: drain3 similarity threshold.
        drain_depth: drain3 prefix-tree depth.
        drain_max_clusters: drain3 templates per service (least recently used evicted).
        live_lag_seconds: `advance(now)` treats data as live when the watermark is within this of
            the wall clock; None means three steps.
        idle_close_seconds: `advance(now)` closes the watermark's own step once no record has
            arrived for this many wall seconds (the end of a replay).
    """

    step: int = 60
    retention_seconds: float = 24 * 3600.0
    grace_seconds: float | None = None
    latency_accuracy: float = 0.01
    span_index_size: int = 500_000
    pending_size: int = 200_000
    samples_per_step: int = 10
    max_series: int = 50_000
    max_signatures: int = 100_000
    max_future_seconds: float = 3600.0
    drain_sim_th: float = 0.4
    drain_depth: int = 4
    drain_max_clusters: int = 1000
    live_lag_seconds: float | None = None
    idle_close_seconds: float = 30.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for values that cannot work."""
        if not isinstance(self.step, int) or isinstance(self.step, bool) or self.step < 1:
            raise ConfigError(f"StoreConfig.step must be a positive integer of seconds, got {self.step!r}")
        if not (self.retention_seconds >= self.step):
            raise ConfigError("StoreConfig.retention_seconds must cover at least one step")
        if self.grace_seconds is not None and self.grace_seconds < 0:
            raise ConfigError("StoreConfig.grace_seconds must be >= 0")
        if not (0 < self.latency_accuracy < 0.5):
            raise ConfigError("StoreConfig.latency_accuracy must lie in (0, 0.5)")
        for name in ("span_index_size", "pending_size", "max_series", "max_signatures", "drain_max_clusters"):
            if getattr(self, name) < 1:
                raise ConfigError(f"StoreConfig.{name} must be >= 1")
        if self.samples_per_step < 0:
            raise ConfigError("StoreConfig.samples_per_step must be >= 0")
        if not (0 < self.drain_sim_th < 1):
            raise ConfigError("StoreConfig.drain_sim_th must lie in (0, 1)")
        if self.drain_depth < 3:
            raise ConfigError("StoreConfig.drain_depth must be >= 3")
        if self.max_future_seconds < 0 or self.idle_close_seconds <= 0:
            raise ConfigError("StoreConfig.max_future_seconds must be >= 0 and idle_close_seconds > 0")
        if self.live_lag_seconds is not None and self.live_lag_seconds <= 0:
            raise ConfigError("StoreConfig.live_lag_seconds must be > 0")

    @property
    def grace(self) -> float:
        """Grace in seconds after a step's end before the watermark closes it."""
        return self.step / 2 if self.grace_seconds is None else float(self.grace_seconds)

    @property
    def live_lag(self) -> float:
        return 3.0 * self.step if self.live_lag_seconds is None else float(self.live_lag_seconds)

    @property
    def sketch_log_gamma(self) -> float:
        """log(gamma) of the latency sketch: bins [gamma^i, gamma^(i+1)) keep `latency_accuracy`."""
        a = self.latency_accuracy
        return math.log((1 + a) / (1 - a))

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> StoreConfig:
        """From the service's Settings (step_seconds, retention_hours), plus explicit overrides."""
        return cls(step=int(settings.step_seconds), retention_seconds=float(settings.retention_hours) * 3600.0, **overrides)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> StoreConfig:
        """Build from a dict (e.g. JSON), refusing unknown keys."""
        return config_from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
