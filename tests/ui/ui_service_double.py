"""An RcaService stand-in with real data objects, for the incident-page test.

It implements the facade methods the API reads (list_incidents, get_incident, rca, topology,
timeseries, list/approve/reject_remediation, audit_records, audit_verify, ...) over real
dataclasses (Incident, RCAResult, a networkx graph) and a real AuditLog on disk, so the page is
exercised through the real API app and real HTTP.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import networkx as nx

from rca_service.audit.chain import AuditLog
from rca_service.detect.incident import Incident, IncidentUpdate, ServiceAnomaly, SignalScore
from rca_service.errors import AuthError, NotFoundError, PolicyRefusal
from rca_service.localize.result import Evidence, RCAResult, RootCause
from rca_service.respond.remediation import Remediation
from rca_service.settings import Settings

STEP = 60
# A template that would run script if the page rendered telemetry as HTML.
HOSTILE_TEMPLATE = '<img src=x onerror="document.body.dataset.pwned=1"> failed to charge card <*>'
TRACE_IDS = ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7a3ce929d0e0e4736"]


class ServiceDouble:
    """A running-service stand-in: one incident in a five-service system."""

    def __init__(self, data_dir: Path, settings: Settings) -> None:
        self.settings = settings
        self.ready = True
        self.accepting = True
        self.ingest = None
        now = float(int(time.time()) // STEP * STEP)
        self.t0 = now - 40 * STEP
        start, end = self.t0 + 25 * STEP, self.t0 + 31 * STEP
        self.graph = nx.DiGraph()
        for a, b, calls, errors in [("gateway", "orders", 900, 80), ("gateway", "catalog", 1500, 0),
                                    ("orders", "payments", 600, 120), ("orders", "catalog", 300, 0),
                                    ("payments", "ledger-db", 600, 0)]:
            self.graph.add_edge(a, b, calls=calls, errors=errors)
        self.incident = Incident(
            id="inc-test-0001", start=start, end=end, status="resolved", fingerprint="ab" * 32,
            title="errors and latency in payments", related=["inc-test-0000"],
            updates=[IncidentUpdate(start + STEP, "orders", "joined", ["span.latency_p99"]),
                     IncidentUpdate(start + 2 * STEP, "payments", "new_symptom", ["metric.cpu_usage"])],
            services={
                "payments": ServiceAnomaly("payments", start, end, 6.5, "lstm_ae", [
                    SignalScore("span.error_rate", 6.5, 0.2, 0.0), SignalScore("metric.cpu_usage", 3.1, 0.9, 0.3)]),
                "orders": ServiceAnomaly("orders", start + STEP, end, 2.4, "lstm_ae", [SignalScore("span.latency_p99", 2.4, 1.2, 0.3)]),
                "gateway": ServiceAnomaly("gateway", start + STEP, end, 1.3, "nsigma", [SignalScore("span.error_rate", 1.3)]),
            })
        self.result = RCAResult(
            incident_id=self.incident.id, inconclusive=False, created_at=end + 5,
            model={"name": "gnn-ranker", "version": "test", "sha256": {"weights.pt": "cd" * 32}},
            explanation="payments started failing first; its callers failed after it.",
            root_causes=[
                RootCause("payments", "code_error", 2.7, 0.86, "span.error_rate", [
                    Evidence("metric", "error rate 20% vs 0% before", {"signal": "span.error_rate", "value": 0.2}),
                    Evidence("log_template", "new error template x412", {"template": HOSTILE_TEMPLATE, "count": 412}),
                    Evidence("trace", "error spans", {"trace_ids": TRACE_IDS}),
                ]),
                RootCause("orders", "latency", 0.9, 0.09, "span.latency_p99", [Evidence("metric", "p99 4x baseline", {"signal": "span.latency_p99"})]),
                RootCause("gateway", "code_error", 0.3, 0.03, "span.error_rate"),
            ])
        self.remediation = Remediation(
            "rem-0001", self.incident.id, "restart", {"namespace": "default", "workload": "payments"}, "proposed",
            created_at=end + 6, executor="dry-run", services=sorted(self.incident.services),
            root_cause={"service": "payments", "kind": "code_error", "confidence": 0.86},
            dry_run={"ok": True, "message": "would restart default/payments", "dry_run": True},
            history=[{"time": end + 6, "event": "proposed", "user": "system", "detail": "restart"}])
        self.audit = AuditLog(data_dir / "audit")
        self.audit.append("incident_opened", {"fingerprint": self.incident.fingerprint}, self.incident.id)
        self.audit.append("rca_ranked", {"top": "payments", "confidence": "0.86"}, self.incident.id)
        self.audit.append("remediation_proposed", {"remediation": self.remediation.id, "action": "restart"}, self.incident.id)

    # -- lifecycle (the test manages it)
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    # -- read side
    def list_incidents(self, start=None, end=None, service=None, status=None) -> list:
        return [self.incident]

    def get_incident(self, incident_id: str) -> Incident:
        if incident_id != self.incident.id:
            raise NotFoundError(f"no incident {incident_id}")
        return self.incident

    def rca(self, incident_id: str, refresh: bool = False) -> RCAResult:
        self.get_incident(incident_id)
        return self.result

    def topology(self, start=None, end=None) -> nx.DiGraph:
        return self.graph

    def services(self) -> list[str]:
        return sorted(self.graph.nodes)

    def timeseries(self, service: str, start: float, end: float, signals: list[str] | None = None) -> dict:
        if service not in self.graph:
            raise NotFoundError(f"no service {service}")
        times = [self.t0 + i * STEP for i in range(40)]
        inc = self.incident
        series = {}
        for k, name in enumerate(signals or ["span.error_rate", "span.latency_p99"]):
            vals = []
            for t in times:
                base = 0.3 + 0.05 * math.sin(t / 300 + k)
                vals.append(base * (4 if inc.start <= t < inc.end else 1))
            vals[5] = None  # a gap: missing is not zero
            series[name] = vals
        return {"service": service, "step": STEP, "times": times, "series": series}

    def service_status(self, service: str) -> dict:
        return {"service": service, "anomalous": service in self.incident.services, "score": 0.0, "signals": {}, "open_incidents": []}

    def search(self, text, kind=None, service=None, limit=5) -> list:
        return []

    def similar_incidents(self, incident_id, limit=3) -> list[dict]:
        return []

    def list_remediations(self, incident_id: str | None = None) -> list:
        return [self.remediation] if incident_id in (None, self.incident.id) else []

    def _remediation(self, remediation_id: str) -> Remediation:
        if remediation_id != self.remediation.id:
            raise NotFoundError(f"no remediation {remediation_id}")
        return self.remediation

    def approve_remediation(self, remediation_id: str, user: str, role: str):
        rem = self._remediation(remediation_id)
        if role not in ("operator", "admin"):
            raise AuthError(f"role {role} may not approve", status_code=403)
        if rem.status != "proposed":
            raise PolicyRefusal("state", f"remediation is {rem.status}")
        rem.status = "approved"
        rem.approvals.append({"user": user, "role": role, "time": time.time()})
        rem.history.append({"time": time.time(), "event": "approved", "user": user, "detail": ""})
        self.audit.append("remediation_approved", {"remediation": rem.id}, rem.incident_id, actor=user)
        return rem

    def reject_remediation(self, remediation_id: str, user: str, role: str, reason: str = ""):
        rem = self._remediation(remediation_id)
        rem.status = "rejected"
        self.audit.append("remediation_rejected", {"remediation": rem.id, "reason": reason}, rem.incident_id, actor=user)
        return rem

    def apply_remediation(self, remediation_id: str, user: str, role: str):
        raise PolicyRefusal("dry_run", "dry run: nothing is applied")

    def audit_records(self, incident_id: str | None = None) -> list[dict]:
        return self.audit.records(incident_id)

    def audit_verify(self) -> dict:
        r = self.audit.verify()
        return {"ok": r.ok, "records": r.records, "first_bad": r.first_bad, "reason": r.reason}

    def query(self, question: str, now: float | None = None) -> dict:
        return {"answer": "payments", "incident_id": self.incident.id, "root_causes": [], "evidence": []}

    def stats(self) -> dict:
        return {}
