"""SLO verification: did the incident's services recover after a remediation?

The manager asks an `SloReader` for each service's signals over two windows: the baseline
before the incident, and the time since the action was applied. The service wiring passes a
`FrameSloReader` over the store's window frames; tests pass any callable of the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rca_service.errors import ConfigError
from rca_service.respond.config import config_from_dict
from rca_service.store.frames import SPAN_ERROR_RATE, SPAN_LATENCY_P99, signal_family


@dataclass(frozen=True)
class SloReading:
    """One signal of one service: its baseline value and its value since the action (None: no data)."""

    service: str
    signal: str
    baseline: float | None
    current: float | None


class SloReader(Protocol):
    """Reads a service's SLO signals over a baseline window and a current window.

    Windows are ``(start, end)`` unix seconds, end exclusive.
    """

    def __call__(self, service: str, baseline: tuple[float, float], current: tuple[float, float]) -> list[SloReading]: ...


@dataclass(frozen=True)
class SloConfig:
    """How recovery is judged.

    Attributes:
        verify_seconds: after apply, how long the signals have to recover before roll back.
        baseline_seconds: length of the baseline window that ends at the incident's start.
        signals: the signals checked, per service.
        error_rate_slack: an error-like signal recovered when current <= baseline + this.
        ratio: any other signal recovered when current <= baseline * ratio + abs_slack.
        abs_slack: absolute slack for latency-like signals (seconds), so tiny baselines do not
            make tiny jitter a failure.
    """

    verify_seconds: float = 300.0
    baseline_seconds: float = 1800.0
    signals: tuple[str, ...] = (SPAN_ERROR_RATE, SPAN_LATENCY_P99)
    error_rate_slack: float = 0.02
    ratio: float = 1.25
    abs_slack: float = 0.005

    def __post_init__(self) -> None:
        if self.verify_seconds <= 0 or self.baseline_seconds <= 0:
            raise ConfigError("SloConfig: verify_seconds and baseline_seconds must be positive")
        if not self.signals:
            raise ConfigError("SloConfig: signals must not be empty")
        if self.ratio < 1.0 or self.error_rate_slack < 0 or self.abs_slack < 0:
            raise ConfigError("SloConfig: ratio must be >= 1 and slacks >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SloConfig":
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class SloVerdict:
    """`recovered`: True all signals with data are back to normal; False one is not; None no data yet."""

    recovered: bool | None
    readings: list[dict[str, Any]]


def signal_recovered(reading: SloReading, config: SloConfig) -> bool | None:
    """Whether one signal is back to normal; None when it cannot be told (no current value, or a
    non-error signal without a baseline)."""
    if reading.current is None or not math.isfinite(reading.current):
        return None
    has_baseline = reading.baseline is not None and math.isfinite(reading.baseline)
    if signal_family(reading.signal) == "errors":
        # without a baseline, "normal" for an error rate is close to zero
        return reading.current <= (reading.baseline if has_baseline else 0.0) + config.error_rate_slack
    if not has_baseline:
        return None  # a latency has no absolute "normal": no verdict without a baseline
    return reading.current <= reading.baseline * config.ratio + config.abs_slack


def judge(readings: list[SloReading], config: SloConfig) -> SloVerdict:
    """Combine per-signal results: all recovered → True, any not → False, no data → None."""
    rows, results = [], []
    for r in readings:
        ok = signal_recovered(r, config)
        rows.append({"service": r.service, "signal": r.signal, "baseline": r.baseline, "current": r.current, "recovered": ok})
        if ok is not None:
            results.append(ok)
    if not results:
        return SloVerdict(None, rows)
    return SloVerdict(all(results), rows)


class FrameSloReader:
    """An `SloReader` over the store's window frames (`TelemetryStoreAPI.frame`).

    Baseline = median of each signal over the baseline window's steps; current = mean over the
    steps that started at or after the current window's start and have closed by its end.

    Args:
        store: anything with ``frame(service, start, end) -> WindowFrame``.
        signals: the signals read (default: error rate and p99 latency).
    """

    def __init__(self, store: Any, signals: tuple[str, ...] = (SPAN_ERROR_RATE, SPAN_LATENCY_P99)) -> None:
        self.store = store
        self.signals = signals

    def __call__(self, service: str, baseline: tuple[float, float], current: tuple[float, float]) -> list[SloReading]:
        base = self.store.frame(service, baseline[0], baseline[1])
        now = self.store.frame(service, current[0], current[1])
        closed = now.times + now.step <= current[1]
        out = []
        for signal in self.signals:
            b = base.column(signal)
            c = now.column(signal)[closed]
            out.append(SloReading(service, signal, _nan_stat(np.nanmedian, b), _nan_stat(np.nanmean, c)))
        return out


def _nan_stat(fn: Any, values: np.ndarray) -> float | None:
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.all(np.isnan(values)):
        return None
    return float(fn(values))


def read_slo(store: Any, service: str, baseline: tuple[float, float], current: tuple[float, float],
             signals: tuple[str, ...] = (SPAN_ERROR_RATE, SPAN_LATENCY_P99)) -> list[SloReading]:
    """One `FrameSloReader` call: `service`'s signals over the baseline and current windows."""
    return FrameSloReader(store, signals)(service, baseline, current)
