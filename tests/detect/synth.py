"""Synthetic service telemetry for detector tests: different signal sets and scales per service."""

from __future__ import annotations

import numpy as np

from rca_service.store.frames import WindowFrame

SIGNAL_SETS = [
    ["span.request_rate", "span.error_rate", "span.latency_p50", "span.latency_p99", "metric.cpu_usage", "metric.memory_usage"],
    ["span.request_rate", "span.latency_p90", "metric.cpu_usage_rate", "metric.network_receive_bytes", "log.count"],
    ["metric.cpu_usage", "metric.memory_working_set", "metric.network_transmit_bytes", "log.count", "log.count.error"],
]


def normal_values(signals: list[str], steps: int, rng: np.random.Generator, scale: float = 1.0,
                  missing: float = 0.02) -> np.ndarray:
    """(steps, S) values: a daily load curve drives traffic, latency and CPU; noise on top."""
    t = np.arange(steps)
    load = scale * (50 + 20 * np.sin(2 * np.pi * t / 1440 + rng.uniform(0, 6)) + rng.normal(0, 2, steps))
    cols = []
    for s in signals:
        if "request_rate" in s or "log.count" == s:
            v = load * rng.uniform(0.5, 2)
        elif "error" in s:
            v = np.abs(rng.normal(0, 0.002, steps))
        elif "latency" in s:
            v = 0.05 * (1 + load / (200 * scale)) * np.exp(rng.normal(0, 0.05, steps))
        elif "cpu" in s:
            v = 0.2 * load / scale + rng.normal(0, 0.5, steps)
        elif "memory" in s:
            v = 300 * scale + np.cumsum(rng.normal(0, 0.2, steps)) * 0.1
        else:
            v = 1000 * load + rng.normal(0, 500, steps)
        cols.append(v)
    out = np.stack(cols, axis=1)
    out[rng.random(out.shape) < missing] = np.nan
    return out


def make_frame(service: str, signals: list[str], values: np.ndarray, start: int = 1_699_999_980, step: int = 60) -> WindowFrame:
    times = start + step * np.arange(len(values), dtype=np.int64)
    return WindowFrame(service, step, times, list(signals), values)


def normal_frames(n_services: int = 6, steps: int = 300, seed: int = 0) -> list[WindowFrame]:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_services):
        sigs = SIGNAL_SETS[i % len(SIGNAL_SETS)]
        frames.append(make_frame(f"svc-{i}", sigs, normal_values(sigs, steps, rng, scale=10.0 ** (i % 3))))
    return frames
