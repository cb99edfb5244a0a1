"""An incident through the whole real pipeline, in-process and in simulated time.

A Simulation's record batches go through the real ingest pipeline into the real store; the
service's own tick() closes steps, scores them with the shipped detector, opens an incident,
ranks it with the shipped localizer and proposes a remediation; the audit chain records it all.
Then `rca-service audit verify` is run on the folder, before and after tampering with a record.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rca_service.respond.executors.simulator import SimulatorExecutor
from rca_service.service import RcaService
from rca_service.settings import Settings
from rca_service.simulator.config import SimConfig
from rca_service.simulator.engine import Simulation

REPO = Path(__file__).resolve().parents[2]
# The demo's scale (rca_service.demo.DemoConfig): a 5 s step, 240 normal steps of history (more
# than the detector's min_history), a bad deploy. At a 60 s step with 90 history steps the shipped
# detector opened no incident for an 'errors' fault (error rate 0.02 -> 0.47); reported to the lead.
STEP = 5
HISTORY_STEPS = 240
FAULT_STEPS = 6
FAULT = "deploy"


def _drain(service: RcaService, timeout: float = 30.0) -> None:
    """Wait until ingest has handed every queued batch to the store."""
    assert service.ingest.flush(timeout), "ingest did not drain"


@pytest.fixture(scope="module")
def incident_run(tmp_path_factory):
    """One simulated incident run: history, a fault, ticks. Yields (service, sim, fault, opened, data_dir)."""
    data_dir = tmp_path_factory.mktemp("pipeline") / "data"
    now = time.time()
    start = float((now - (HISTORY_STEPS + FAULT_STEPS + 2) * STEP) // STEP * STEP)
    sim = Simulation(SimConfig(n_services=10, seed=7, step_s=float(STEP), start_time=start))
    settings = Settings(data_dir=data_dir, http_port=0, grpc_port=0, step_seconds=STEP, executor="simulator",
                        dry_run=False, embeddings=False, allowed_namespaces=["default"])
    service = RcaService(settings, executor=SimulatorExecutor(sim), start_transports=False)
    service.start(background_loop=False)
    try:
        for _ in range(HISTORY_STEPS):
            service.ingest.submit(sim.tick())
        _drain(service)
        # The back-filled stretch is normal: the detector learns it as its baseline, as the demo does.
        service.detector.prime(start, sim.now)
        service.detector.seek(sim.now)
        fault = sim.inject(FAULT)
        # A step closes once the clock passes its end by the store's grace (late data still lands).
        lag = service.store.config.grace + 1
        opened = []
        for _ in range(FAULT_STEPS):
            service.ingest.submit(sim.tick())
            _drain(service)
            opened += service.tick(now=sim.now + lag)
        yield service, sim, fault, opened, data_dir
    finally:
        sim.stop()
        service.stop()


def test_fault_opens_an_incident_with_the_injected_service_ranked_top3(incident_run):
    service, _sim, fault, opened, _ = incident_run
    assert opened, f"no incident opened after an '{fault.kind.value}' fault in {fault.service}"
    incident = next((i for i in opened if fault.service in i.services), opened[0])
    assert incident.start >= fault.start - STEP
    result = service.rca(incident.id)
    ranked = [rc.service for rc in result.root_causes]
    assert fault.service in ranked[:3], f"{fault.service} not in top 3: {ranked[:5]}"
    top = result.root_causes[0]
    assert 0.0 < top.confidence <= 1.0
    assert top.evidence, "the top root cause carries no evidence"
    assert all(ev.summary for ev in top.evidence)
    # rca() is cached: the same object, audited once
    assert service.rca(incident.id) is result


def test_remediation_is_proposed_and_audited(incident_run):
    service, _sim, fault, opened, _ = incident_run
    assert opened
    incident_ids = {i.id for i in opened}
    rems = [r for i in incident_ids for r in service.list_remediations(i)]
    assert rems, "no remediation proposed for the incident"
    # the proposal acts on the incident's top-ranked root cause
    tops = {service.rca(r.incident_id).root_causes[0].service for r in rems}
    assert {r.service for r in rems} <= tops, ([(r.service, r.action) for r in rems], tops)
    verdict = service.audit_verify()
    assert verdict["ok"] is True, verdict
    kinds = [r.get("kind") for r in service.audit_records()]
    assert "incident_opened" in kinds and "rca_ranked" in kinds
    for iid in incident_ids:
        mine = [r.get("kind") for r in service.audit_records(iid)]
        assert mine.index("incident_opened") < mine.index("rca_ranked")


def _verify(data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rca_service.cli", "audit", "verify", "--data-dir", str(data_dir), "--json"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def test_audit_verify_cli_passes_then_fails_after_a_record_is_edited(incident_run):
    service, _sim, _fault, opened, data_dir = incident_run
    assert opened
    ok = _verify(data_dir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] is True and report["records"] >= 2

    chain = data_dir / "audit" / "chain.jsonl"
    lines = chain.read_text().splitlines(keepends=True)
    idx = next(i for i, line in enumerate(lines) if '"rca_ranked"' in line)
    record = json.loads(lines[idx])
    body_key = next(k for k in ("body", "data", "payload") if k in record)
    record[body_key]["incident"] = "tampered"
    lines[idx] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    chain.write_text("".join(lines))
    bad = _verify(data_dir)
    assert bad.returncode != 0, bad.stdout + bad.stderr
    assert json.loads(bad.stdout)["ok"] is False
