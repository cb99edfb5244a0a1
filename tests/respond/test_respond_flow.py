"""propose → approve → apply → verify → roll back, against a small simulated system."""

from __future__ import annotations

from pathlib import Path

import pytest

from respond_helpers import FakeSystem, k8s_attrs, make_incident, make_rca
from rca_service.audit.chain import AuditLog
from rca_service.errors import AuditError, InputError, NotFoundError
from rca_service.respond.executors.simulator import SimulatorControl, SimulatorExecutor
from rca_service.respond.manager import RemediationManager
from rca_service.respond.policy import PolicyConfig
from rca_service.respond.slo import SloConfig

T0 = 10_200.0


def _manager(system: FakeSystem, audit: AuditLog, tmp_path: Path, **policy) -> RemediationManager:
    return RemediationManager(PolicyConfig(dry_run=False, **policy), SimulatorExecutor(system), audit,
                              system.slo_reader, state_dir=tmp_path, slo=SloConfig(verify_seconds=300))


def _kinds(audit: AuditLog, incident_id: str = "inc-1") -> list[str]:
    return [r["kind"] for r in audit.records(incident_id)]


def test_fake_system_is_a_simulator_control(system):
    assert isinstance(system, SimulatorControl)


def test_recovering_remediation_is_verified(system, audit, tmp_path):
    system.inject("svc-b", "cpu")
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(kind="resource"), k8s_attrs(), now=T0)
    assert rem.status == "proposed" and rem.action == "scale_out"
    assert rem.params["namespace"] == "default" and rem.params["workload"] == "svc-b"
    assert system.calls == []  # the proposal only dry-ran

    mgr.approve(rem.id, "alice", "operator", now=T0 + 1)
    rem = mgr.apply(rem.id, "alice", "operator", now=T0 + 2)
    assert rem.status == "applied" and system.calls == [("scale_out", "svc-b", 3)]
    assert system.faults == {}

    rem = mgr.verify(rem.id, now=T0 + 62)
    assert rem.status == "verified" and rem.verification["recovered"] is True
    assert _kinds(audit) == ["remediation_proposed", "remediation_approved", "remediation_applying",
                             "remediation_applied", "remediation_verified"]
    applied = audit.records("inc-1")[3]
    assert applied["body"]["answer"]["details"]["faults_before"] == [{"kind": "cpu", "service": "svc-b"}]
    assert audit.verify().ok


def test_unrecovered_remediation_is_rolled_back(system, audit, tmp_path):
    system.inject("svc-b", "leak")  # scale-out does not cure a leak
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(kind="resource"), k8s_attrs(), now=T0)
    mgr.approve(rem.id, "alice", "admin", now=T0)
    mgr.apply(rem.id, "alice", "admin", now=T0 + 1)

    rem = mgr.verify(rem.id, now=T0 + 120)  # not recovered, still within verify_seconds
    assert rem.status == "applied" and rem.verification["recovered"] is False
    assert mgr.verify_pending(now=T0 + 200) == []

    changed = mgr.verify_pending(now=T0 + 301)
    assert [r.id for r in changed] == [rem.id]
    rem = mgr.get(rem.id)
    assert rem.status == "rolled_back" and rem.rollback_result["ok"]
    assert system.calls[-1] == ("scale_out", "svc-b", 2)  # back to the replicas it had
    kinds = _kinds(audit)
    assert kinds[-2:] == ["remediation_rolling_back", "remediation_rolled_back"]
    assert audit.verify().ok


def test_rejected_proposal_then_a_new_rca_gives_a_new_proposal(system, audit, tmp_path):
    system.inject("svc-b", "leak")
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(kind="code_error"), k8s_attrs(), now=T0)
    assert rem.action == "restart"  # code errors: restart first, rollback second
    mgr.reject(rem.id, "bob", "operator", reason="not now", now=T0)
    assert mgr.get(rem.id).status == "rejected" and system.calls == []
    assert mgr.propose(make_incident(), make_rca(kind="code_error"), k8s_attrs(), now=T0 + 1).id == rem.id
    rem2 = mgr.propose(make_incident(), make_rca(kind="resource", created_at=T0 + 5), k8s_attrs(), now=T0 + 5)
    assert rem2.id != rem.id and rem2.action == "scale_out"


def test_a_changed_ranking_withdraws_proposals_for_the_old_cause_before_anything_is_applied(system, audit, tmp_path):
    mgr = _manager(system, audit, tmp_path)
    first = mgr.propose(make_incident(), make_rca("svc-b"), k8s_attrs(), now=T0)
    mgr.approve(first.id, "alice", "operator", now=T0)
    assert mgr.supersede("inc-1", make_rca("svc-b", created_at=T0 + 60), now=T0 + 60) == []  # same cause: kept
    withdrawn = mgr.supersede("inc-1", make_rca("svc-a", created_at=T0 + 60), now=T0 + 60)
    assert [r.id for r in withdrawn] == [first.id] and mgr.get(first.id).status == "rejected"
    record = audit.records("inc-1")[-1]
    assert record["kind"] == "remediation_rejected" and record["actor"] == "system"
    assert record["body"]["reason"] == "superseded: the incident grew and its most likely cause is now svc-a"
    with pytest.raises(InputError):
        mgr.apply(first.id, "alice", "operator", now=T0 + 61)  # an old button no longer acts
    second = mgr.propose(make_incident(), make_rca("svc-a", created_at=T0 + 60), k8s_attrs(), now=T0 + 60)
    assert second.id != first.id and second.service == "svc-a" and system.calls == []
    # an inconclusive ranking leaves nothing to act on: the pending proposal goes too
    assert mgr.supersede("inc-1", make_rca("svc-a", inconclusive=True, created_at=T0 + 120), now=T0 + 120) == [second]


def test_an_applied_remediation_is_not_withdrawn(system, audit, tmp_path):
    system.inject("svc-b", "cpu")
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca("svc-b"), k8s_attrs(), now=T0)
    mgr.approve(rem.id, "alice", "operator", now=T0)
    mgr.apply(rem.id, "alice", "operator", now=T0 + 1)
    assert mgr.supersede("inc-1", make_rca("svc-a", created_at=T0 + 60), now=T0 + 60) == []
    assert mgr.get(rem.id).status == "applied"


def test_state_survives_restart(system, audit, tmp_path):
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    mgr.approve(rem.id, "alice", "operator", now=T0)
    again = _manager(system, AuditLog(audit.path), tmp_path)
    got = again.get(rem.id)
    assert got.status == "approved" and got.approvals[0]["user"] == "alice"
    assert [r.id for r in again.list("inc-1")] == [rem.id]
    assert again.apply(rem.id, "alice", "operator", now=T0 + 1).status == "applied"


def test_propose_is_idempotent_per_incident(system, audit, tmp_path):
    mgr = _manager(system, audit, tmp_path)
    a = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    b = mgr.propose(make_incident(), make_rca(created_at=T0 + 60), k8s_attrs(), now=T0 + 60)
    assert a.id == b.id and len(mgr.list()) == 1
    assert _kinds(audit).count("remediation_proposed") == 1


def test_wrong_steps_are_input_errors(system, audit, tmp_path):
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    with pytest.raises(InputError):
        mgr.verify(rem.id, now=T0)
    mgr.reject(rem.id, "bob", "operator", now=T0)
    with pytest.raises(InputError):
        mgr.approve(rem.id, "alice", "operator", now=T0)
    with pytest.raises(InputError):
        mgr.apply(rem.id, "alice", "operator", now=T0)
    with pytest.raises(NotFoundError):
        mgr.get("rem-nope")
    with pytest.raises(InputError):
        mgr.approve(rem.id, "  ", "operator")


def test_every_dry_run_failing_marks_failed(system, audit, tmp_path):
    class Broken(SimulatorExecutor):
        def dry_run(self, action):
            raise RuntimeError("simulator is down")

    mgr = RemediationManager(PolicyConfig(dry_run=False), Broken(system), audit, system.slo_reader, state_dir=tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    assert rem.status == "failed" and "simulator is down" in rem.dry_run["message"]
    assert [t["action"] for t in rem.history[-1]["detail"]["tried"]] == ["scale_out", "restart"]
    assert audit.verify().ok


def test_stats_count_outcomes(system, audit, tmp_path):
    system.inject("svc-b", "cpu")
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    mgr.approve(rem.id, "alice", "operator", now=T0)
    mgr.apply(rem.id, "alice", "operator", now=T0)
    mgr.verify(rem.id, now=T0 + 60)
    mgr.propose(make_incident(incident_id="inc-2"), make_rca(incident_id="inc-2", inconclusive=True), k8s_attrs())
    stats = mgr.stats()
    assert stats["total"] == 2 and stats["by_status"]["verified"] == 1 and stats["by_status"]["refused"] == 1
    assert stats["by_action"] == {"scale_out": 1}


def test_a_broken_audit_chain_blocks_every_action(system, audit, tmp_path):
    mgr = _manager(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    mgr.approve(rem.id, "alice", "operator", now=T0)
    lines = audit.path.read_bytes().splitlines(keepends=True)
    audit.path.write_bytes(b"".join(lines[1:]))  # someone removed the first record
    fresh = _manager(system, AuditLog(audit.path), tmp_path)
    with pytest.raises(AuditError):
        fresh.apply(rem.id, "alice", "operator", now=T0 + 1)
    assert system.calls == [] and fresh.get(rem.id).status == "approved"


def test_non_finite_scores_do_not_break_the_audit(system, audit, tmp_path):
    rca = make_rca()
    rca.root_causes[0].score = float("nan")
    rem = _manager(system, audit, tmp_path).propose(make_incident(), rca, k8s_attrs(), now=T0)
    assert rem.status == "proposed" and rem.root_cause["score"] is None
    rca2 = make_rca(incident_id="inc-2", confidence=float("nan"))
    rem2 = _manager(system, audit, tmp_path).propose(make_incident(incident_id="inc-2"), rca2, k8s_attrs(), now=T0)
    assert rem2.refusal["rule"] == "min_confidence" and audit.verify().ok
