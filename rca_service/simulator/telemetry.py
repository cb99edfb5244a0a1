"""Metric points and log records of one step, sampled around the step model."""

from __future__ import annotations

import random

import numpy as np

from rca_service.records import LogRecord, MetricPoint, Span, SpanKind
from rca_service.simulator import templates as tpl
from rca_service.simulator.config import SimConfig
from rca_service.simulator.model import StepModel
from rca_service.simulator.topology import Topology

SEVERITY = {"INFO": 9, "WARN": 13, "ERROR": 17}


def step_metrics(model: StepModel, versions: dict[str, str], replicas: dict[str, int]) -> list[MetricPoint]:
    """One point per service and metric at the step's start time."""
    points: list[MetricPoint] = []
    for s, st in sorted(model.services.items()):
        resource = {"service.name": s, "service.version": versions[s]}
        for name, value, unit in (
            ("cpu_usage", st.cpu_pct, "%"),
            ("memory_usage", st.mem_mb, "MiB"),
            ("gc_pause", st.gc_ms, "ms"),
            ("network_receive", st.net_rx, "By/s"),
            ("network_transmit", st.net_tx, "By/s"),
            ("tcp_retransmits", st.retransmits, "1/s"),
            ("threads", st.threads, "1"),
            ("replicas", float(replicas.get(s, 1)), "1"),
        ):
            points.append(MetricPoint(service=s, name=name, time=model.t, value=float(value), unit=unit, resource=resource))
    return points


def _log(service: str, t: float, level: str, body: str, versions: dict[str, str],
         span: Span | None = None, attrs: dict | None = None) -> LogRecord:
    return LogRecord(
        service=service, time=t, body=body, severity=SEVERITY[level], severity_text=level,
        trace_id=span.trace_id if span else None, span_id=span.span_id if span else None,
        attributes=attrs or {}, resource={"service.name": service, "service.version": versions[service]},
    )


def step_logs(topo: Topology, cfg: SimConfig, model: StepModel, spans: list[Span], rng: np.random.Generator,
              versions: dict[str, str]) -> list[LogRecord]:
    """Templated log lines of every service for the step (INFO always; WARN/ERROR as faults dictate)."""
    by_service: dict[str, list[Span]] = {}
    failed: dict[str, list[Span]] = {}
    for sp in spans:
        if sp.kind == SpanKind.SERVER:
            by_service.setdefault(sp.service, []).append(sp)
            if sp.is_error:
                failed.setdefault(sp.service, []).append(sp)
    mean_rate = np.mean([st.rate for st in model.services.values()]) or 1.0
    logs: list[LogRecord] = []
    t0, width = model.t, cfg.step_s * 0.98
    r = random.Random(int(rng.integers(2**63)))  # fast scalar draws; counts stay on numpy

    def at() -> float:
        return t0 + r.uniform(0, width)

    def pick(pool: list[Span]) -> Span | None:
        return r.choice(pool) if pool else None

    for s in sorted(model.services):
        st, spec = model.services[s], topo.services[s]
        eff = st.effect
        own = by_service.get(s, [])
        n_info = int(rng.poisson(cfg.logs_per_step * min(3.0, 0.5 + 0.5 * st.rate / mean_rate)))
        for _ in range(n_info):
            sp = pick(own)
            logs.append(_log(s, at(), "INFO", tpl.info_message(r, sp.name if sp else spec.operations[0]), versions, sp))
        if model.noise.get(s) == "log_burst":
            peer = (topo.callees(s) or [s])[0]
            for _ in range(int(rng.integers(3, 8))):
                logs.append(_log(s, at(), "WARN", tpl.fill(r, r.choice(tpl.TRANSIENT), peer=peer), versions))
        if st.self_ms > 300:
            for _ in range(int(rng.poisson(2))):
                logs.append(_log(s, at(), "WARN", tpl.fill(r, tpl.WARN_SLOW, op=spec.operations[0], ms=int(st.self_ms)), versions))
        pct = int(100 * st.mem_mb / spec.mem_limit_mb)
        if st.gc_ms > 40 or pct > 55:  # the runtime starts complaining before the limit
            for _ in range(int(rng.poisson(2))):
                logs.append(_log(s, at(), "WARN", tpl.fill(r, tpl.WARN_GC, ms=int(st.gc_ms), pct=pct), versions))
        if eff.capacity < 0.6:
            for _ in range(int(rng.poisson(1.5))):
                logs.append(_log(s, at(), "WARN", tpl.fill(r, tpl.WARN_CPU), versions))
        for callee in topo.callees(s):
            net = model.edge_net_ms[(s, callee)]
            if net > 50:
                for _ in range(int(rng.poisson(2))):
                    logs.append(_log(s, at(), "WARN", tpl.fill(r, tpl.WARN_RETRY, peer=callee, ms=int(net)), versions))
        # errors raised in its own code, in the style of the fault behind them
        n_err = int(rng.poisson(st.own_error * cfg.logs_per_step * 4))
        for _ in range(n_err):
            sp = pick(failed.get(s, []))
            msg = tpl.error_message(r, s, eff.error_style, op=sp.name if sp else spec.operations[0], version=versions[s])
            logs.append(_log(s, at(), "ERROR", msg, versions, sp))
        # failures that came from callees
        inherited = max(0.0, st.error - st.own_error)
        callees = topo.callees(s)
        for _ in range(int(rng.poisson(inherited * cfg.logs_per_step * 2)) if callees else 0):
            worst = max(callees, key=lambda c: model.services[c].error)
            sp = pick(failed.get(s, []))
            logs.append(_log(s, at(), "ERROR", tpl.fill(r, tpl.CALL_FAILED, peer=worst, reason="status 500"), versions, sp))
    logs.sort(key=lambda r: r.time)
    return logs
