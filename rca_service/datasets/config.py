"""Adapter configuration: the window cut around each fault and how much of the traces to keep."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from rca_service.errors import ConfigError

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build a config dataclass from a dict, refusing keys it does not know."""
    data = dict(data or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(known)}")
    return cls(**data)


@dataclass
class AdapterConfig:
    """How adapters cut and sample a case.

    Attributes:
        before_s: seconds of data before the injection in a case's default window; None keeps
            everything the case has before it (RCAEval cases are already cut).
        after_s: seconds after the injection; None keeps everything after it.
        clip_to_previous_fault: in day-long folders with many faults (Nezha), start the default
            window no earlier than `settle_s` after the previous fault of the day, so one case
            does not hold another's effects.
        settle_s: seconds a previous fault is assumed to need to fade (with the clip above).
        trace_sample: share of traces kept (whole traces, deterministic by trace id); 1.0 keeps all.
        normal_chunk_s: `load_normal` yields fault-free data in chunks of at most this length.
        normal_guard_s: seconds after each injection excluded from fault-free data, and
            `normal_guard_s / 5` before it.
    """

    before_s: float | None = 1800.0
    after_s: float | None = 600.0
    clip_to_previous_fault: bool = False
    settle_s: float = 300.0
    trace_sample: float = 1.0
    normal_chunk_s: float = 3600.0
    normal_guard_s: float = 900.0

    def __post_init__(self) -> None:
        for name in ("before_s", "after_s"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"AdapterConfig.{name} must be >= 0 or None, got {v}")
        if not 0.0 < self.trace_sample <= 1.0:
            raise ConfigError(f"AdapterConfig.trace_sample must be in (0, 1], got {self.trace_sample}")
        if self.normal_chunk_s <= 0:
            raise ConfigError("AdapterConfig.normal_chunk_s must be > 0")
        if self.settle_s < 0 or self.normal_guard_s < 0:
            raise ConfigError("AdapterConfig.settle_s and normal_guard_s must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AdapterConfig:
        return config_from_dict(cls, data)

    def window(self, inject_time: float) -> tuple[float | None, float | None]:
        """Default [start, end) around an injection (None = unbounded)."""
        start = None if self.before_s is None else inject_time - self.before_s
        end = None if self.after_s is None else inject_time + self.after_s
        return start, end
