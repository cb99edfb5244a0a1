"""Faults: what is injected where and when, and what it does to the faulty service.

Effects here are local to the faulty service (its own capacity, latency, errors, memory,
network interface). `model.py` carries them along the call graph: callers see the latency
and errors of their callees as real callers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rca_service.simulator.config import FaultKind


@dataclass
class Fault:
    """One injected fault.

    Attributes:
        kind: the fault kind.
        service: the faulty service (the label).
        start: simulated unix seconds when it begins.
        end: when it stops by itself (None: until cleared by restart / rollback / clear).
        severity: scale of its effect.
        version: for deploy faults, the bad version deployed.
    """

    kind: FaultKind
    service: str
    start: float
    end: float | None = None
    severity: float = 1.0
    version: str = ""
    cleared_at: float | None = None
    meta: dict = field(default_factory=dict)

    def active(self, t: float) -> bool:
        if t < self.start:
            return False
        stop = min(x for x in (self.end, self.cleared_at, float("inf")) if x is not None)
        return t < stop

    def to_dict(self) -> dict:
        return {
            "kind": self.kind.value, "service": self.service, "start": self.start, "end": self.end,
            "severity": self.severity, "version": self.version or None, "cleared_at": self.cleared_at,
        }


@dataclass
class LocalEffect:
    """What active faults do to one service during one step (neutral values = no fault)."""

    capacity: float = 1.0          # share of CPU capacity left to the service
    extra_cpu_pct: float = 0.0     # CPU burnt by a noisy neighbour / hot loop
    extra_latency_ms: float = 0.0  # added to the service's own processing time
    latency_factor: float = 1.0    # multiplies own processing time
    error_rate: float = 0.0        # share of its own requests that fail
    leak_mb: float = 0.0           # memory leaked so far
    net_delay_ms: float = 0.0      # one-way delay added on its network interface
    retransmit_factor: float = 1.0
    error_style: str = ""          # "exception" | "deploy" | "oom" | "" : which log templates


# how strongly each kind acts at severity 1.0
CPU_CONTENTION = 0.7        # share of capacity stolen
LATENCY_ADDED_MS = 250.0
EXCEPTION_RATE = 0.35
DEPLOY_ERROR_RATE = 0.25
NET_DELAY_MS = 150.0
LEAK_SHARE_PER_MIN = 0.035  # of the memory limit


def local_effect(faults: list[Fault], service: str, t: float, mem_base_mb: float, mem_limit_mb: float,
                 replicas: int = 1) -> LocalEffect:
    """Combine every fault active on `service` at simulated time `t`."""
    eff = LocalEffect()
    for f in faults:
        if f.service != service or not f.active(t):
            continue
        s = f.severity
        if f.kind is FaultKind.CPU:
            # scale-out spreads the contention over more replicas
            stolen = min(0.9, CPU_CONTENTION * s / max(1, replicas))
            eff.capacity *= 1.0 - stolen
            eff.extra_cpu_pct += 100.0 * stolen
        elif f.kind is FaultKind.MEMORY:
            minutes = (t - f.start) / 60.0
            eff.leak_mb += LEAK_SHARE_PER_MIN * mem_limit_mb * s * minutes
            used = (mem_base_mb + eff.leak_mb) / mem_limit_mb
            if used > 0.6:
                eff.latency_factor *= 1.0 + 4.0 * (used - 0.6)  # GC pressure
            if used > 0.92:
                eff.error_rate = max(eff.error_rate, min(0.5, 2.0 * (used - 0.92) + 0.05))
                eff.error_style = eff.error_style or "oom"
        elif f.kind is FaultKind.LATENCY:
            eff.extra_latency_ms += LATENCY_ADDED_MS * s
        elif f.kind is FaultKind.ERRORS:
            eff.error_rate = max(eff.error_rate, min(0.95, EXCEPTION_RATE * s))
            eff.error_style = "exception"
        elif f.kind is FaultKind.NETWORK:
            eff.net_delay_ms += NET_DELAY_MS * s
            eff.retransmit_factor *= 1.0 + 6.0 * s
        elif f.kind is FaultKind.DEPLOY:
            eff.error_rate = max(eff.error_rate, min(0.95, DEPLOY_ERROR_RATE * s))
            eff.latency_factor *= 1.0 + 0.3 * s
            eff.error_style = "deploy"
    return eff
