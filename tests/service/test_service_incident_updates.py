"""The service ranks an incident again when it grows, and says so only when the cause changed.

The stages around the wiring are small fakes (the detector's own update rules are tested in
tests/detect); the audit chain is the real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rca_service.audit.chain import AuditLog
from rca_service.detect.incident import Incident, IncidentUpdate, ServiceAnomaly
from rca_service.localize.result import RCAResult, RootCause
from rca_service.service import RcaService
from rca_service.settings import Settings

STEP = 60.0


class _Detector:
    """Plays a script: step k opens or grows one incident."""

    model = None

    def __init__(self) -> None:
        self.incident = Incident("inc-1", start=0.0, end=None, services={"storefront": _anomaly("storefront", 0.0)})
        self.cursor: float | None = None
        self._updated: list[Incident] = []

    def step(self, now: float) -> list[Incident]:
        t = (-STEP if self.cursor is None else self.cursor) + STEP
        self.cursor = t
        self._updated = []
        if t == 0.0:
            return [self.incident]
        grows = {STEP: ("ledger-db", "joined"), 2 * STEP: ("storefront", "new_symptom")}
        if t in grows:
            service, kind = grows[t]
            self.incident.services.setdefault(service, _anomaly(service, t))
            self.incident.updates.append(IncidentUpdate(t, service, kind, ["metric.cpu_usage"]))
            self._updated = [self.incident]
        return []

    def updated(self) -> list[Incident]:
        return list(self._updated)

    def get(self, incident_id: str) -> Incident:
        assert incident_id == self.incident.id
        return self.incident


def _anomaly(service: str, t: float) -> ServiceAnomaly:
    return ServiceAnomaly(service, t, t, 3.0, "lstm_ae")


class _Localizer:
    """Ranks the incident's newest service first: the joined one is the new top cause."""

    def rank(self, incident: Incident, store) -> RCAResult:
        order = sorted(incident.services, key=lambda s: -incident.services[s].first_seen)
        causes = [RootCause(s, "resource", 1.0 / (i + 1), 0.9 / (i + 1)) for i, s in enumerate(order)]
        return RCAResult(incident.id, causes, inconclusive=False, created_at=incident.services[order[0]].first_seen)


@dataclass
class _Recorder:
    calls: list = field(default_factory=list)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.calls.append((name, args)) or None


class _Store:
    watermark = None

    def advance(self, now: float) -> None:
        pass

    def resource_attributes(self, service: str) -> dict:
        return {}


def _service(tmp_path) -> tuple[RcaService, _Recorder, _Recorder]:
    svc = RcaService(Settings(data_dir=str(tmp_path)), start_transports=False)
    svc.store, svc.detector, svc.localizer = _Store(), _Detector(), _Localizer()
    svc.audit = AuditLog(tmp_path / "audit" / "chain.jsonl")
    svc.remediation, svc.notifier = _Recorder(), _Recorder()
    return svc, svc.remediation, svc.notifier


def test_a_service_joining_reranks_the_incident_and_tells_people_the_cause_changed(tmp_path):
    svc, remediation, notifier = _service(tmp_path)
    svc.tick(0.0)
    assert svc.rca("inc-1").root_causes[0].service == "storefront"
    notifier.calls.clear()
    svc.tick(STEP)
    assert svc.rca("inc-1").root_causes[0].service == "ledger-db"
    assert [name for name, _ in notifier.calls] == ["incident_updated"]
    assert notifier.calls[0][1][2] == "storefront"  # what the cause was before
    # the old cause's proposals are withdrawn before the new cause gets one
    acts = [(name, args) for name, args in remediation.calls if name != "verify_pending"]
    assert [name for name, _ in acts] == ["propose", "supersede", "propose"]
    assert acts[1][1][1].root_causes[0].service == acts[2][1][1].root_causes[0].service == "ledger-db"
    kinds = [(r["kind"], r["body"].get("updates")) for r in svc.audit.records("inc-1")]
    assert [k for k, _ in kinds] == ["incident_opened", "rca_ranked", "incident_updated", "rca_ranked"]
    assert kinds[2][1] == [{"time": STEP, "service": "ledger-db", "kind": "joined", "signals": ["metric.cpu_usage"]}]
    assert svc.audit.verify().ok


def test_an_update_that_leaves_the_cause_in_place_is_ranked_and_audited_but_not_announced(tmp_path):
    svc, remediation, notifier = _service(tmp_path)
    svc.tick(0.0)
    svc.tick(STEP)
    notifier.calls.clear()
    before = [c for c in remediation.calls if c[0] != "verify_pending"]
    svc.tick(2 * STEP)  # storefront's new symptom: ledger-db stays first
    assert notifier.calls == []
    assert [c for c in remediation.calls if c[0] != "verify_pending"] == before  # nothing withdrawn or proposed
    kinds = [r["kind"] for r in svc.audit.records("inc-1")]
    assert kinds[-2:] == ["incident_updated", "rca_ranked"]
    assert svc.audit.records("inc-1")[-2]["body"]["updates"][0]["service"] == "storefront"  # only this tick's news
    assert len(svc.audit.records("inc-1")[-2]["body"]["updates"]) == 1
