"""Helpers for the respond tests: a tiny simulated system, incidents, RCA results."""

from __future__ import annotations

from rca_service.detect.incident import Incident, ServiceAnomaly
from rca_service.localize.result import RCAResult, RootCause
from rca_service.respond.slo import SloReading
from rca_service.store.frames import SPAN_ERROR_RATE, SPAN_LATENCY_P99

SERVICES = ("svc-a", "svc-b", "svc-c", "svc-d")
# Which simulator step really removes which fault (the real simulator decides this itself).
CURES = {"cpu": "scale_out", "leak": "restart", "bad_deploy": "rollback"}


class FakeSystem:
    """A SimulatorControl: faults per service, replicas, and SLO signals that follow the faults."""

    def __init__(self, services=SERVICES) -> None:
        self.faults: dict[str, str] = {}
        self._replicas = {s: 2 for s in services}
        self.calls: list[tuple] = []

    def inject(self, service: str, kind: str) -> None:
        self.faults[service] = kind

    def active_faults(self) -> list[dict]:
        return [{"service": s, "kind": k} for s, k in sorted(self.faults.items())]

    def clear_fault(self, service: str) -> bool:
        return self.faults.pop(service, None) is not None

    def _cure(self, service: str, step: str) -> bool:
        if CURES.get(self.faults.get(service, "")) == step:
            return self.clear_fault(service)
        return False

    def restart(self, service: str) -> bool:
        self.calls.append(("restart", service))
        return self._cure(service, "restart")

    def scale_out(self, service: str, replicas: int) -> bool:
        self.calls.append(("scale_out", service, replicas))
        self._replicas[service] = replicas
        return self._cure(service, "scale_out")

    def rollback(self, service: str) -> bool:
        self.calls.append(("rollback", service))
        return self._cure(service, "rollback")

    def replicas(self, service: str) -> int:
        return self._replicas[service]

    def slo_reader(self, service: str, baseline: tuple[float, float], current: tuple[float, float]) -> list[SloReading]:
        broken = service in self.faults
        return [SloReading(service, SPAN_ERROR_RATE, 0.01, 0.4 if broken else 0.012),
                SloReading(service, SPAN_LATENCY_P99, 0.2, 1.5 if broken else 0.21)]


def make_incident(services=("svc-b", "svc-a"), incident_id: str = "inc-1", start: float = 10_000.0) -> Incident:
    anomalies = {s: ServiceAnomaly(s, start, start + 60, 3.0, "lstm_ae") for s in services}
    return Incident(incident_id, start, None, anomalies, fingerprint="ab" * 32)


def make_rca(service: str = "svc-b", kind: str = "resource", confidence: float = 0.9, inconclusive: bool = False,
             incident_id: str = "inc-1", created_at: float = 10_100.0) -> RCAResult:
    rcs = [RootCause(service, kind, 2.0, confidence, "metric.cpu"), RootCause("svc-a", "latency", 1.0, 0.1)]
    return RCAResult(incident_id, rcs, inconclusive, created_at, model={"name": "gnn", "version": "1",
                                                                         "sha256": {"weights.pt": "cd" * 32}})


def k8s_attrs(services=SERVICES, namespace: str = "default") -> dict[str, dict]:
    return {s: {"k8s.namespace.name": namespace, "k8s.deployment.name": s, "service.name": s} for s in services}
