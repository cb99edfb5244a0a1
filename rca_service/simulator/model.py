"""The steady-state model of one step: load, latency, errors and resources per service.

Given the simulated time and the active faults, `compute_step` returns mean values per
service and per call edge. Load enters at the entry tier and flows down the call graph
(rate × fan-out); latency and errors flow back up (a caller waits for its callees and fails
with them). Record generators (traces, logs, metrics) sample around these means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rca_service.simulator.config import SimConfig
from rca_service.simulator.faults import Fault, LocalEffect, local_effect
from rca_service.simulator.topology import Topology

BASE_NET_MS = 0.6          # one-way network latency inside the cluster
BASE_ERROR_RATE = 0.001


@dataclass
class ServiceStep:
    """Mean behaviour of one service in one step."""

    rate: float                 # requests per second it serves
    self_ms: float              # own processing time per request
    latency_ms: float           # server-side latency including its downstream calls
    own_error: float            # share of requests failing in its own code
    error: float                # share failing, callees' failures included
    cpu_pct: float
    mem_mb: float
    gc_ms: float
    net_rx: float               # bytes per second
    net_tx: float
    retransmits: float          # TCP retransmits per second
    threads: float
    effect: LocalEffect = field(default_factory=LocalEffect)


@dataclass
class StepModel:
    """All services and edges of one step."""

    t: float
    services: dict[str, ServiceStep]
    edge_rate: dict[tuple[str, str], float]
    edge_net_ms: dict[tuple[str, str], float]   # round-trip network time added on the edge
    noise: dict[str, str] = field(default_factory=dict)  # service -> unlabelled blip this step


def diurnal(t: float, amplitude: float) -> float:
    """Load multiplier over the day: low at night, peak mid-afternoon (UTC)."""
    hour = (t % 86400.0) / 3600.0
    return 1.0 + amplitude * math.sin(2 * math.pi * (hour - 9.0) / 24.0)


def compute_step(topo: Topology, cfg: SimConfig, faults: list[Fault], t: float, rng: np.random.Generator,
                 replicas: dict[str, int] | None = None) -> StepModel:
    """Mean load, latency, errors and resources of every service at simulated time `t`."""
    replicas = replicas or {}
    order = topo.order()
    entries = topo.entries()
    load = cfg.base_rps * diurnal(t, cfg.diurnal_amplitude) * (1.0 + cfg.noise * rng.standard_normal())
    rate = {s: 0.0 for s in order}
    for e in entries:
        rate[e] = max(0.1, load / len(entries))
    edge_rate: dict[tuple[str, str], float] = {}
    for a in order:
        for b in topo.callees(a):
            r = rate[a] * topo.fanout[(a, b)]
            edge_rate[(a, b)] = r
            rate[b] += r

    effects = {}
    for s, spec in topo.services.items():
        effects[s] = local_effect(faults, s, t, spec.base_mem_mb, spec.mem_limit_mb, replicas.get(s, 1))

    noise = _noise_events(topo, cfg, rng)
    for s, kind in noise.items():
        if kind == "cpu_burst":
            effects[s].extra_cpu_pct += float(rng.uniform(20, 50))
        elif kind == "latency_blip":
            effects[s].extra_latency_ms += float(rng.uniform(40, 150))

    edge_net = {}
    for (a, b) in topo.fanout:
        # a delayed interface slows every packet through it: calls in and calls out
        edge_net[(a, b)] = 2 * BASE_NET_MS + 2 * (effects[a].net_delay_ms + effects[b].net_delay_ms)

    out: dict[str, ServiceStep] = {}
    for s in reversed(order):
        spec = topo.services[s]
        eff = effects[s]
        reps = max(1, replicas.get(s, 1))
        cpu = spec.idle_cpu + spec.cpu_per_req * rate[s] / reps
        util = min(0.97, cpu / (100.0 * eff.capacity))
        queueing = 1.0 / (1.0 - util) if util < 0.97 else 33.0
        self_ms = (spec.base_latency_ms * min(queueing, 20.0) * eff.latency_factor + eff.extra_latency_ms)
        down_ms = 0.0
        ok = 1.0 - min(1.0, BASE_ERROR_RATE + eff.error_rate)
        for b in topo.callees(s):
            f = topo.fanout[(s, b)]
            down_ms += f * (out[b].latency_ms + edge_net[(s, b)])
            ok *= (1.0 - cfg.error_propagation * out[b].error) ** f
        leak = eff.leak_mb
        mem = min(spec.mem_limit_mb, spec.base_mem_mb + 0.05 * rate[s] + leak)
        mem_used = mem / spec.mem_limit_mb
        # collectors work harder as the heap fills, and much harder near the limit
        gc = 2.0 + 0.02 * rate[s] + 80.0 * mem_used**2 + (400.0 * (mem_used - 0.6) ** 2 if mem_used > 0.6 else 0.0)
        wobble = 1.0 + cfg.noise * rng.standard_normal()
        out[s] = ServiceStep(
            rate=rate[s],
            self_ms=self_ms,
            latency_ms=self_ms + down_ms,
            own_error=min(1.0, BASE_ERROR_RATE + eff.error_rate),
            error=1.0 - ok,
            cpu_pct=min(100.0 * reps, (cpu + eff.extra_cpu_pct) * wobble),
            mem_mb=mem * (1.0 + 0.2 * cfg.noise * rng.standard_normal()),
            gc_ms=gc * wobble,
            net_rx=rate[s] * 2048.0 * wobble,
            net_tx=(rate[s] * 6144.0 + sum(edge_rate.get((s, b), 0.0) for b in topo.callees(s)) * 1024.0) * wobble,
            retransmits=max(0.0, 0.01 * rate[s] * eff.retransmit_factor * wobble),
            threads=8.0 + rate[s] * (self_ms + down_ms) / 1000.0,  # Little's law: busy workers
            effect=eff,
        )
    return StepModel(t=t, services=out, edge_rate=edge_rate, edge_net_ms=edge_net, noise=noise)


NOISE_KINDS = ("cpu_burst", "latency_blip", "log_burst")


def _noise_events(topo: Topology, cfg: SimConfig, rng: np.random.Generator) -> dict[str, str]:
    """Unlabelled one-step blips: how many this step (Poisson), in which services, of which kind."""
    n = int(rng.poisson(cfg.noise_events_per_hour * cfg.step_s / 3600.0))
    names = sorted(topo.services)
    return {names[int(rng.integers(len(names)))]: NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))] for _ in range(n)}
