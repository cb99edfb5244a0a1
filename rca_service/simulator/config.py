"""Simulator configuration and the fault kinds it knows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from rca_service.datasets.config import config_from_dict
from rca_service.errors import ConfigError


class FaultKind(str, Enum):
    """Faults the simulator can inject (the label names written to datasets)."""

    CPU = "cpu"            # CPU contention: less capacity, higher CPU, slower responses
    MEMORY = "memory"      # memory leak: memory grows, GC pauses lengthen, finally OOM errors
    LATENCY = "latency"    # added processing latency in the service's own code
    ERRORS = "errors"      # exception bursts: failed spans, ERROR logs with stack traces
    NETWORK = "network"    # network delay on the service's interface (its calls in and out)
    DEPLOY = "deploy"      # a bad deploy: a change event, then errors from the new version

    @classmethod
    def parse(cls, value: str | FaultKind) -> FaultKind:
        try:
            return cls(value) if not isinstance(value, cls) else value
        except ValueError as exc:
            raise ConfigError(f"unknown fault kind {value!r}; known: {[k.value for k in cls]}") from exc


@dataclass
class SimConfig:
    """A synthetic microservice system.

    Attributes:
        n_services: services in the generated topology (10-40 is realistic; 3-200 allowed).
        seed: makes topology, load, faults' effects and every record reproducible.
        step_s: seconds per tick; metrics get one point per service per tick.
        start_time: unix seconds of simulated time zero (None: now, rounded to the step).
        traces_per_step: sampled traces started at the entry tier per tick (each walks the graph).
        max_calls_per_edge: cap on repeated calls along one edge inside one request.
        logs_per_step: INFO log lines per service per tick at average load (more under load).
        base_rps: requests per second entering the system at average load.
        diurnal_amplitude: relative swing of the load over the day (0 = flat).
        noise: relative noise on load and resource metrics.
        error_propagation: chance a callee's failure fails the caller's request too.
        fault_severity: scale of every fault's effect (1.0 = clearly visible).
        namespace: the Kubernetes namespace live mode reports (`k8s.namespace.name`), with each
            service as a deployment of its own name.
        noise_events_per_hour: unlabelled one-step blips in random services (a CPU burst, a
            latency blip, a burst of warnings) - the loud, unrelated events that must not be
            blamed for an incident.
    """

    n_services: int = 12
    seed: int = 1
    step_s: float = 60.0
    start_time: float | None = None
    traces_per_step: int = 12
    max_calls_per_edge: int = 3
    logs_per_step: int = 6
    base_rps: float = 50.0
    diurnal_amplitude: float = 0.35
    noise: float = 0.05
    error_propagation: float = 0.7
    fault_severity: float = 1.0
    noise_events_per_hour: float = 3.0
    namespace: str = "default"

    def __post_init__(self) -> None:
        if not 3 <= self.n_services <= 200:
            raise ConfigError(f"SimConfig.n_services must be in [3, 200], got {self.n_services}")
        if self.step_s <= 0:
            raise ConfigError("SimConfig.step_s must be > 0")
        if self.traces_per_step < 0 or self.logs_per_step < 0 or self.max_calls_per_edge < 1:
            raise ConfigError("SimConfig: traces_per_step/logs_per_step >= 0 and max_calls_per_edge >= 1")
        if self.base_rps <= 0:
            raise ConfigError("SimConfig.base_rps must be > 0")
        if not 0 <= self.diurnal_amplitude < 1 or not 0 <= self.noise < 1:
            raise ConfigError("SimConfig.diurnal_amplitude and noise must be in [0, 1)")
        if not 0 <= self.error_propagation <= 1:
            raise ConfigError("SimConfig.error_propagation must be in [0, 1]")
        if self.fault_severity <= 0:
            raise ConfigError("SimConfig.fault_severity must be > 0")
        if self.noise_events_per_hour < 0:
            raise ConfigError("SimConfig.noise_events_per_hour must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SimConfig:
        return config_from_dict(cls, data)
