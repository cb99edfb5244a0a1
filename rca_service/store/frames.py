"""Window frames: what the store hands to detect and localize.

A `WindowFrame` is one service's signals over a run of fixed steps: a (T, S) float matrix
with NaN where a signal has no data in a step (missing is not zero). Signal names follow one
scheme so later stages can group them into families without knowing the system:

    span.request_rate        server spans per second in the step
    span.error_rate          share of server spans with status ERROR (0..1)
    span.latency_p50|p90|p99 server span duration quantiles, seconds
    span.client_error_rate   share of this service's outgoing (client) calls that failed
    metric.<name>            a metric series, name normalised (lower snake case); attributes
                             other than the service folded in as metric.<name>{k=v}
    log.count                log records in the step
    log.count.error          records with severity >= ERROR (17) or an error-like level
    log.count.warn           records with WARN severity (13..16)
    log.new_templates        records whose drain3 template was first seen in this step
    change.count             change events (deploys, config) in the step
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPAN_REQUEST_RATE = "span.request_rate"
SPAN_ERROR_RATE = "span.error_rate"
SPAN_LATENCY_P50 = "span.latency_p50"
SPAN_LATENCY_P90 = "span.latency_p90"
SPAN_LATENCY_P99 = "span.latency_p99"
SPAN_CLIENT_ERROR_RATE = "span.client_error_rate"
LOG_COUNT = "log.count"
LOG_COUNT_ERROR = "log.count.error"
LOG_COUNT_WARN = "log.count.warn"
LOG_NEW_TEMPLATES = "log.new_templates"
CHANGE_COUNT = "change.count"


def signal_family(signal: str) -> str:
    """Group a signal name into a family: latency, errors, traffic, resource, network, logs, change.

    Used by detect (which signals drove a score) and localize (fault kind). Works on names of
    any system: it looks only at our own prefixes and common metric words.
    """
    if signal.startswith("span."):
        if "latency" in signal:
            return "latency"
        if "error" in signal:
            return "errors"
        return "traffic"
    if signal.startswith("log."):
        return "logs"
    if signal.startswith("change."):
        return "change"
    name = signal.lower()
    if any(w in name for w in ("network", "net_", "receive", "transmit", "rx", "tx", "packet", "tcp")):
        return "network"
    if any(w in name for w in ("latency", "duration", "_lat", "response_time", "rt_")):
        return "latency"
    if any(w in name for w in ("error", "fail", "success")):
        return "errors"
    if any(w in name for w in ("cpu", "mem", "memory", "heap", "gc", "thread", "fd", "disk", "io", "syscall")):
        return "resource"
    if any(w in name for w in ("workload", "request", "qps", "rps", "load", "ops")):
        return "traffic"
    return "other"


@dataclass
class WindowFrame:
    """One service's signals over consecutive steps.

    Attributes:
        service: the service name.
        step: step length in seconds.
        times: (T,) int64 unix seconds, the start of each step, ascending, evenly spaced.
        signals: S signal names (see the module docstring).
        values: (T, S) float64; NaN where the signal had no data in that step.
    """

    service: str
    step: int
    times: np.ndarray
    signals: list[str]
    values: np.ndarray
    meta: dict = field(default_factory=dict)

    def column(self, signal: str) -> np.ndarray:
        """The (T,) series of one signal (all NaN if the service lacks it)."""
        if signal not in self.signals:
            return np.full(len(self.times), np.nan)
        return self.values[:, self.signals.index(signal)]

    def slice(self, start: float, end: float) -> "WindowFrame":
        """Steps whose start lies in [start, end)."""
        mask = (self.times >= start) & (self.times < end)
        return WindowFrame(self.service, self.step, self.times[mask], list(self.signals), self.values[mask], dict(self.meta))
