"""Labelled synthetic incidents over random topologies, generated directly as window frames.

The localizer learns what a root cause looks like from these: many random call graphs, signal
sets and naming schemes, faults of every kind propagating along the calls (callers see latency
and errors, resource faults show in the faulty service's own metrics, code faults in its span
status and logs), plus loud unrelated events that must not be blamed. Generating frames rather
than raw spans keeps thousands of cases cheap; the simulator's datasets (through the adapters
and the real store) add the raw-telemetry path on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rca_service.detect.incident import Incident, ServiceAnomaly
from rca_service.errors import ConfigError
from rca_service.localize.configs import config_from_dict
from rca_service.localize.framestore import EdgeSeries, FrameStore
from rca_service.records import ChangeEvent
from rca_service.store.api import LogTemplate, SpanSample

# Fault kinds the generator injects, mapped to result.FAULT_KINDS.
SYNTHETIC_FAULTS = {
    "cpu": "resource",
    "memory": "resource",
    "latency": "latency",
    "code_error": "code_error",
    "network": "network",
    "deploy": "deploy",
}

# Naming schemes: the same quantity goes by different names in different systems.
_CPU_NAMES = ("metric.cpu_usage_rate_pct", "metric.cpu", "metric.container_cpu_usage_seconds_total", "metric.process_cpu_utilization")
_MEM_NAMES = ("metric.memory_usage_rate_pct", "metric.mem", "metric.container_memory_working_set_bytes", "metric.process_memory_usage")
_NET_NAMES = (("metric.network_receive_bytes", "metric.network_transmit_bytes"), ("metric.net_rx_bytes", "metric.net_tx_bytes"),
              ("metric.network_io",))
_LAT_METRIC_NAMES = ("metric.lat_90", "metric.pod_server_latency_p90_s", "metric.http_server_duration")


@dataclass
class SyntheticConfig:
    """Ranges of the generated systems and incidents.

    Attributes:
        min_services: smallest topology.
        max_services: largest topology.
        steps: (step seconds, history steps, analysis steps) shapes to draw from.
        p_spans: chance a system has traces (span.* signals and edges).
        p_logs: chance a system has logs.
        p_metric_latency: chance a metrics-only system exports latency metrics for some services.
        max_distractors: unrelated anomalies per incident (0..this).
        weak: chance a fault is weak (close to the noise).
    """

    min_services: int = 4
    max_services: int = 40
    steps: tuple[tuple[int, int, int], ...] = ((60, 60, 5), (60, 30, 5), (10, 180, 30), (1, 240, 240))
    p_spans: float = 0.6
    p_logs: float = 0.4
    p_metric_latency: float = 0.5
    max_distractors: int = 3
    weak: float = 0.2

    def __post_init__(self) -> None:
        if not 2 <= self.min_services <= self.max_services:
            raise ConfigError("need 2 <= min_services <= max_services")
        for p in (self.p_spans, self.p_logs, self.p_metric_latency, self.weak):
            if not 0.0 <= p <= 1.0:
                raise ConfigError("probabilities must lie in [0, 1]")
        if self.max_distractors < 0 or not self.steps:
            raise ConfigError("max_distractors must be >= 0 and steps non-empty")

    @classmethod
    def from_dict(cls, d: dict) -> "SyntheticConfig":
        return config_from_dict(cls, d)


@dataclass
class SyntheticCase:
    """One generated incident: the store, the incident, and the labels kept apart."""

    store: FrameStore
    incident: Incident
    root: str
    fault: str
    kind: str
    inject_time: float


def _topology(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """A random layered call DAG: node 0 is the entry; every other node has 1-2 callers."""
    edges: set[tuple[int, int]] = set()
    for v in range(1, n):
        k = 1 if v < 3 or rng.random() < 0.7 else 2
        # prefer callers close to the entry (fan-out shaped like real systems)
        weights = 1.0 / (1.0 + np.arange(v)) ** 0.7
        callers = rng.choice(v, size=min(k, v), replace=False, p=weights / weights.sum())
        edges.update((int(u), v) for u in callers)
    return sorted(edges)


class SyntheticIncidents:
    """Generates `SyntheticCase`s from a seed.

    Args:
        config: ranges (defaults cover 4-40 services, 1 s to 60 s steps).
        seed: random seed; the same seed gives the same cases.
    """

    def __init__(self, config: SyntheticConfig | None = None, seed: int = 0) -> None:
        self.config = config or SyntheticConfig()
        self.rng = np.random.default_rng(seed)

    def cases(self, n: int) -> list[SyntheticCase]:
        return [self.case() for _ in range(n)]

    def case(self, fault: str | None = None) -> SyntheticCase:
        """One incident; `fault` picks the fault (default: uniform over SYNTHETIC_FAULTS)."""
        rng, cfg = self.rng, self.config
        n = int(rng.integers(cfg.min_services, cfg.max_services + 1))
        step, hist, ana = cfg.steps[int(rng.integers(len(cfg.steps)))]
        T = hist + ana + 2
        t0 = hist  # fault onset step
        t_start = 1_700_000_000 - (1_700_000_000 % step) + int(rng.integers(0, 1000)) * step
        times = t_start + step * np.arange(T)
        edges = _topology(rng, n)
        names = [f"svc{i:02d}-{int(rng.integers(1000)):03d}" for i in range(n)]
        children = {i: [v for u, v in edges if u == i] for i in range(n)}
        parents = {i: [u for u, v in edges if v == i] for i in range(n)}
        has_spans = rng.random() < cfg.p_spans
        has_logs = rng.random() < cfg.p_logs
        fault = fault or str(rng.choice(list(SYNTHETIC_FAULTS)))
        # entry nodes are rarely the injected root in benchmarks, but can be
        root = int(rng.integers(0, n)) if rng.random() < 0.15 else int(rng.integers(1, n)) if n > 1 else 0
        weak = rng.random() < cfg.weak
        mag = float(rng.uniform(0.6, 1.5) if weak else rng.uniform(1.5, 6.0))

        # -- normal behaviour ---------------------------------------------------------
        phase = np.linspace(0, rng.uniform(0.2, 2.0) * np.pi, T)
        load = 1.0 + 0.2 * np.sin(phase + rng.uniform(0, 6))
        rate = np.zeros((n, T))
        rate[0] = rng.uniform(20, 200) * load
        for v in range(1, n):
            rate[v] = sum(rate[u] * rng.uniform(0.3, 1.5) for u in parents[v])
        self_lat = rng.lognormal(np.log(0.01), 0.7, size=n)
        call_p = {e: rng.uniform(0.3, 1.0) for e in edges}
        noise = rng.uniform(0.02, 0.12, size=n)

        def jitter(i: int, size: int = T) -> np.ndarray:
            # heavy-tailed noise: single spikes happen in normal data too
            return noise[i] * rng.standard_t(4, size=size)

        extra_self = np.zeros((n, T))     # added own latency (s)
        extra_net = np.zeros((n, T))      # delay on responses of a node (seen by callers)
        extra_net_out = np.zeros((n, T))  # delay on a node's own requests (seen by it as a caller)
        err_own = np.zeros((n, T))        # own error share
        cpu_add = np.zeros((n, T))
        mem_add = np.zeros((n, T))
        net_shift = np.zeros((n, T))
        traffic_mul = np.ones((n, T))
        new_tmpl = np.zeros((n, T))
        err_logs = np.zeros((n, T))
        changes: list[ChangeEvent] = []
        after = slice(t0, T)
        ramp = np.clip((np.arange(T) - t0 + 1) / max(ana, 1), 0, 1)

        def code_error(i: int, m: float) -> None:
            err_own[i, after] += min(0.9, 0.03 * m * rng.uniform(0.5, 3))
            err_logs[i, after] += rate[i, after] * err_own[i, after] * rng.uniform(0.2, 1.0)
            new_tmpl[i, t0] += rng.integers(1, 4)
            if rng.random() < 0.5:  # failing early skips calls downstream
                for c in children[i]:
                    traffic_mul[c, after] *= 1 - rng.uniform(0.2, 0.9) * min(1.0, m / 3)
            if rng.random() < 0.3:
                extra_self[i, after] -= self_lat[i] * 0.5

        if fault == "cpu":
            if rng.random() < 0.3:  # a starved service also queues requests before its spans start
                extra_net[root, after] += self_lat[root] * mag * rng.uniform(0.1, 1.0)
            if rng.random() < 0.35:
                # contention from a neighbour: the service's own usage barely moves (or drops
                # as it is starved) while its latency climbs
                cpu_add[root, after] += rng.uniform(-5, 5)
                extra_self[root, after] += self_lat[root] * mag * rng.uniform(1.0, 5.0)
            else:
                cpu_add[root, after] += mag * rng.uniform(10, 40)
                extra_self[root, after] += self_lat[root] * mag * rng.uniform(0.2, 1.5)
        elif fault == "memory":
            mem_add[root] += ramp * mag * rng.uniform(5, 30)
            extra_self[root, after] += self_lat[root] * mag * rng.uniform(0.0, 0.5)
        elif fault == "latency":
            extra_self[root, after] += self_lat[root] * mag * rng.uniform(1, 5) + 0.02 * mag
        elif fault == "network":
            extra_net[root, after] += 0.02 * mag * rng.uniform(0.5, 5)
            if rng.random() < 0.5:  # the interface delays requests too, not only responses
                extra_net_out[root, after] += extra_net[root, after] * rng.uniform(0.1, 1.0)
            net_shift[root, after] += rng.choice([-1, 1]) * rng.uniform(0.0, 0.4) * min(1.0, mag / 3)
        elif fault == "code_error":
            code_error(root, mag)
        elif fault == "deploy":
            changes.append(ChangeEvent(names[root], float(times[t0]) + rng.uniform(0, step), "deploy", "rollout of a new version"))
            if rng.random() < 0.6:
                code_error(root, mag)
            else:
                extra_self[root, after] += self_lat[root] * mag * rng.uniform(1, 4)

        # distractors: loud, unrelated, and not propagated along the calls
        for _ in range(int(rng.integers(0, cfg.max_distractors + 1))):
            d = int(rng.integers(n))
            if d == root:
                continue
            at = int(rng.integers(max(1, t0 - hist // 2), T - 1))
            span_ = slice(at, min(T, at + int(rng.integers(1, max(2, ana + 2)))))
            what = rng.integers(4)
            if what == 0:
                cpu_add[d, span_] += rng.uniform(5, 40)
            elif what == 1:
                mem_add[d, span_] += rng.uniform(3, 20)
            elif what == 2:
                net_shift[d, span_] += rng.uniform(0.3, 1.0)
            else:
                err_logs[d, span_] += rng.uniform(1, 20)
                if rng.random() < 0.5:
                    new_tmpl[d, at] += 1
            if rng.random() < 0.1:
                changes.append(ChangeEvent(names[d], float(times[at]), "config", "config change"))

        # -- propagate along the calls (callees first) ------------------------------------
        for v in range(1, n):  # traffic drops flow down the graph
            for u in parents[v]:
                traffic_mul[v] *= np.where(traffic_mul[u] < 1, traffic_mul[u] ** 0.5, 1.0)
        lat = np.zeros((n, T))
        err = np.zeros((n, T))
        edge_lat: dict[tuple[int, int], np.ndarray] = {}
        edge_err: dict[tuple[int, int], np.ndarray] = {}
        for v in reversed(range(n)):
            own = self_lat[v] * (1 + jitter(v)).clip(0.3) + extra_self[v]
            own = own + 0.3 * self_lat[v] * cpu_add[v] / 40.0
            down = np.zeros(T)
            e = err_own[v] + np.abs(rng.normal(0, 0.002, T))
            for c in children[v]:
                seen = lat[c] + extra_net[c] + extra_net_out[v]
                edge_lat[(v, c)] = seen
                edge_err[(v, c)] = err[c]
                down += call_p[(v, c)] * seen
                e = e + (1 - e) * err[c] * rng.uniform(0.3, 1.0)
            lat[v] = np.maximum(own + down, 1e-4)
            err[v] = np.clip(e, 0, 1)
        rate = rate * traffic_mul * (1 + 0.3 * np.abs(jitter(0)))

        # -- frames -----------------------------------------------------------------------
        cpu_name = str(rng.choice(_CPU_NAMES))
        mem_name = str(rng.choice(_MEM_NAMES))
        net_names = _NET_NAMES[int(rng.integers(len(_NET_NAMES)))]
        lat_metric = str(rng.choice(_LAT_METRIC_NAMES)) if (not has_spans and rng.random() < cfg.p_metric_latency) else None
        edge_metrics = has_spans and rng.random() < 0.5
        frames: dict[str, tuple[list[str], np.ndarray]] = {}
        for i in range(n):
            cols: dict[str, np.ndarray] = {}
            base_cpu = rng.uniform(1, 30)
            usage = 0.5 + 0.5 * rate[i] / max(rate[i, :t0].mean(), 1e-9)
            cols[cpu_name] = np.clip(base_cpu * usage * (1 + jitter(i)) + cpu_add[i] * base_cpu / 10, 0, None)
            base_mem = rng.uniform(50, 500)
            cols[mem_name] = base_mem * (1 + 0.2 * noise[i] * rng.standard_normal(T)) + mem_add[i] * base_mem / 20
            for nm in net_names:
                cols[nm] = np.clip(rate[i] * rng.uniform(500, 5000) * (1 + jitter(i)) * (1 + net_shift[i]), 0, None)
            if has_spans:
                cols["span.request_rate"] = rate[i]
                cols["span.error_rate"] = err[i]
                cols["span.latency_p50"] = lat[i]
                cols["span.latency_p90"] = lat[i] * rng.uniform(1.5, 2.5) * (1 + jitter(i)).clip(0.5)
                cols["span.latency_p99"] = lat[i] * rng.uniform(2.5, 5) * (1 + 2 * jitter(i)).clip(0.5)
                if children[i]:
                    cols["span.client_error_rate"] = np.clip(np.mean([err[c] for c in children[i]], axis=0), 0, 1)
                if edge_metrics:
                    # client-side latency per callee, as a metric labelled with the peer; a single
                    # series carries no label (the store folds attributes only to tell series apart)
                    for c in children[i]:
                        label = f"{{peer.service={names[c]}}}" if len(children[i]) > 1 else ""
                        cols[f"metric.edge_client_latency_p50{label}"] = edge_lat[(i, c)] * (1 + jitter(i)).clip(0.5)
            elif lat_metric and rng.random() < 0.5:
                cols[lat_metric] = lat[i] * (1 + jitter(i)).clip(0.5)
            if has_logs:
                cols["log.count"] = rate[i] * rng.uniform(0.5, 3) * (1 + jitter(i)).clip(0)
                cols["log.count.error"] = rng.poisson(0.2 + err_logs[i]).astype(float)
                cols["log.new_templates"] = (rng.random(T) < 0.01).astype(float) + new_tmpl[i]
            frames[names[i]] = (list(cols), np.column_stack(list(cols.values())))

        edge_series: dict[tuple[str, str], EdgeSeries] = {}
        if has_spans:
            client_spans = rng.random() < 0.8  # most instrumentations record the caller's side
            for (u, v) in edges:
                calls = rate[u] * call_p[(u, v)] * step
                # the store times a call by the callee's span; the wire and queues are the gap
                server = lat[v]
                gap = None
                if client_spans:
                    wire = rng.lognormal(np.log(0.003), 0.6) * (1 + jitter(v)).clip(0.3)
                    gap = calls * (wire + extra_net[v] + extra_net_out[u])
                edge_series[(names[u], names[v])] = EdgeSeries(calls, calls * edge_err[(u, v)], calls * server, gap)
        templates: list[LogTemplate] = []
        samples: list[SpanSample] = []
        if has_logs:
            for i in range(n):
                for t in np.flatnonzero(new_tmpl[i] >= 1):
                    errs = int(err_logs[i, t:].sum())
                    templates.append(LogTemplate(f"t{i}-{t}", names[i], f"<*> failed with <*> at step {t}", float(times[t]),
                                                 float(times[-1]), int(errs + 1), errs))
        if has_spans:
            for i in range(n):
                if err[i, t0:].max() > 0.01:
                    samples.append(SpanSample(f"{i:032x}", f"{i:016x}", names[i], "op", float(times[t0]) + 1, float(lat[i, t0]), True))
        store = FrameStore(step, times, frames, edge_series, templates, samples, changes)

        inject = float(times[t0]) + float(rng.uniform(0, step))
        # the detector's start lags the injection by up to a step, sometimes leads it
        anchor_step = t0 + int(rng.choice([0, 0, 0, 1, -1])) if step >= 60 else t0 + int(rng.integers(0, max(2, ana // 10)))
        anchor = float(times[min(max(anchor_step, 1), T - 1)])
        affected = [names[i] for i in range(n) if lat[i, t0:].mean() > 1.3 * lat[i, :t0].mean() or err[i, t0:].max() > 0.01]
        affected = sorted(set(affected) | {names[root]})
        inc = Incident(id=f"syn-{int(times[t0])}-{root}", start=anchor, end=None,
                       services={s: ServiceAnomaly(s, anchor, anchor, 2.0, "synthetic") for s in affected})
        return SyntheticCase(store, inc, names[root], fault, SYNTHETIC_FAULTS[fault], inject)
