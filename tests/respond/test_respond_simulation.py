"""The whole loop against the real simulator: the executor really removes the injected fault.

SLO signals are computed from the simulation's own server spans, step by step, the way the
store's windows compute them (error share, p99 latency).
"""

from __future__ import annotations

import numpy as np
import pytest

from respond_helpers import make_incident, make_rca
from rca_service.audit.chain import AuditLog
from rca_service.records import SpanKind
from rca_service.respond.wiring import build_remediation_manager
from rca_service.respond.slo import SloReading
from rca_service.settings import Settings
from rca_service.store.frames import SPAN_ERROR_RATE, SPAN_LATENCY_P99

sim_engine = pytest.importorskip("rca_service.simulator.engine")
sim_config = pytest.importorskip("rca_service.simulator.config")


class SimWindows:
    """Runs the simulation and keeps each service's server-span errors and durations per step."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.step = sim.config.step_s
        self.steps: dict[tuple[str, float], list] = {}
        self.resource: dict[str, dict] = {}

    def run(self, n: int) -> float:
        for _ in range(n):
            t = self.sim.now
            for span in self.sim.tick().spans:
                self.resource.setdefault(span.service, dict(span.resource))
                if span.kind == SpanKind.SERVER:
                    cell = self.steps.setdefault((span.service, t), [0, []])
                    cell[0] += span.is_error
                    cell[1].append(span.duration)
        return self.sim.now

    def _series(self, service: str, start: float, end: float) -> tuple[list[float], list[float]]:
        errs, p99s = [], []
        for (svc, t), (n_err, durations) in sorted(self.steps.items()):
            if svc == service and start <= t and t + self.step <= end:
                errs.append(n_err / len(durations))
                p99s.append(float(np.quantile(durations, 0.99)))
        return errs, p99s

    def __call__(self, service, baseline, current):
        be, bl = self._series(service, *baseline)
        ce, cl = self._series(service, *current)
        med = lambda xs: float(np.median(xs)) if xs else None  # noqa: E731
        mean = lambda xs: float(np.mean(xs)) if xs else None  # noqa: E731
        return [SloReading(service, SPAN_ERROR_RATE, med(be), mean(ce)),
                SloReading(service, SPAN_LATENCY_P99, med(bl), mean(cl))]


def _setup(tmp_path, fault: str):
    sim = sim_engine.Simulation(sim_config.SimConfig(n_services=5, seed=3, start_time=0.0))
    windows = SimWindows(sim)
    start = windows.run(10)  # a normal baseline
    service = next(s for s in sim.services if sim.topology.services[s].tier != "entry")
    sim.inject(fault, service)
    now = windows.run(3)
    settings = Settings(data_dir=tmp_path, executor="simulator", dry_run=False, verify_seconds=300)
    audit = AuditLog(tmp_path / "audit" / "chain.jsonl")
    mgr = build_remediation_manager(settings, audit, windows, tmp_path / "remediations", sim)
    incident = make_incident((service,), start=start)
    return sim, windows, mgr, audit, service, incident, now


def _propose_approve_apply(mgr, windows, incident, service: str, kind: str, now: float, action: str):
    rca = make_rca(service=service, kind=kind, incident_id=incident.id, created_at=now)
    rem = mgr.propose(incident, rca, windows.resource, now=now)
    assert rem.status == "proposed" and rem.action == action and rem.params["workload"] == service
    mgr.approve(rem.id, "alice", "operator", now=now)
    rem = mgr.apply(rem.id, "alice", "operator", now=now)
    assert rem.status == "applied"
    return rem


def test_restart_stops_an_exception_storm_and_is_verified(tmp_path):
    sim, windows, mgr, audit, service, incident, now = _setup(tmp_path, "errors")
    rem = _propose_approve_apply(mgr, windows, incident, service, "code_error", now, "restart")
    assert sim.active_faults() == []
    assert mgr.verify(rem.id, now=windows.run(3)).status == "verified"


def test_rollback_removes_a_bad_deploy_and_is_verified(tmp_path):
    sim, windows, mgr, audit, service, incident, now = _setup(tmp_path, "deploy")
    rem = _propose_approve_apply(mgr, windows, incident, service, "deploy", now, "rollback")
    assert sim.active_faults() == []
    rem = mgr.verify(rem.id, now=windows.run(3))
    assert rem.status == "verified", rem.verification
    assert audit.verify().ok


def test_action_that_does_not_cure_is_rolled_back(tmp_path):
    sim, windows, mgr, audit, service, incident, now = _setup(tmp_path, "deploy")
    # a wrong diagnosis: more replicas do not undo a bad deploy
    rem = _propose_approve_apply(mgr, windows, incident, service, "resource", now, "scale_out")
    assert [f["kind"] for f in sim.active_faults()] == ["deploy"] and sim.replicas[service] == 2
    rem = mgr.verify(rem.id, now=windows.run(3))
    assert rem.status == "applied" and rem.verification["recovered"] is False
    rem = mgr.verify(rem.id, now=windows.run(3))  # past verify_seconds
    assert rem.status == "rolled_back" and sim.replicas[service] == 1
    kinds = [r["kind"] for r in audit.records(incident.id)]
    assert kinds[-2:] == ["remediation_rolling_back", "remediation_rolled_back"]
    assert audit.verify().ok
