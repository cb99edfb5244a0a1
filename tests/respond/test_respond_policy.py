"""Every policy refusal names its rule, and is written to the audit chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from respond_helpers import SERVICES, FakeSystem, k8s_attrs, make_incident, make_rca
from rca_service.audit.chain import AuditLog
from rca_service.errors import ConfigError, PolicyRefusal
from rca_service.respond.executors.dry_run import DryRunExecutor
from rca_service.respond.executors.simulator import SimulatorExecutor
from rca_service.respond.manager import RemediationManager
from rca_service.respond.playbook import PlaybookConfig
from rca_service.respond.policy import RULES, PolicyConfig
from rca_service.settings import Settings

T0 = 10_200.0


def _mgr(system: FakeSystem, audit: AuditLog, tmp_path: Path, playbook: PlaybookConfig | None = None,
         executor=None, **policy) -> RemediationManager:
    policy.setdefault("dry_run", False)
    return RemediationManager(PolicyConfig(**policy), executor or SimulatorExecutor(system), audit, system.slo_reader,
                              state_dir=tmp_path, playbook=playbook)


def _last_refusal(audit: AuditLog) -> dict:
    recs = [r for r in audit.records() if r["kind"] == "policy_refused"]
    return recs[-1]["body"]


def _refusal_rule(mgr, audit, rca=None, attrs=None, incident=None, now=T0) -> str | None:
    """Propose; the rule that refused it (None if it was not refused). Checks on the way that the
    refusal message names the rule and that the audit log recorded it at the propose step."""
    rem = mgr.propose(incident or make_incident(), rca or make_rca(), k8s_attrs() if attrs is None else attrs, now=now)
    if rem.status != "refused":
        return None
    rule = rem.refusal["rule"]
    assert rule in rem.refusal["message"]
    last = _last_refusal(audit)
    assert (last["rule"], last["step"]) == (rule, "propose")
    return rule


def test_inconclusive(system, audit, tmp_path):
    assert _refusal_rule(_mgr(system, audit, tmp_path), audit, rca=make_rca(inconclusive=True)) == "inconclusive"


def test_low_confidence(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path, min_confidence=0.8)
    refused_by = _refusal_rule(mgr, audit, rca=make_rca(confidence=0.79))
    assert refused_by == "min_confidence"


def test_namespace_not_allowed(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path)
    refused_by = _refusal_rule(mgr, audit, attrs=k8s_attrs(namespace="kube-system"))
    assert refused_by == "namespace_not_allowed"


def test_service_not_allowed(system, audit, tmp_path):
    assert _refusal_rule(_mgr(system, audit, tmp_path, allowed_services=("svc-a",)), audit) == "service_not_allowed"


def test_unknown_target_without_resource_attributes(system, audit, tmp_path):
    assert _refusal_rule(_mgr(system, audit, tmp_path), audit, attrs={}) == "unknown_target"


def test_attribute_that_is_not_a_name_is_refused(system, audit, tmp_path):
    attrs = k8s_attrs()
    attrs["svc-b"]["k8s.deployment.name"] = "svc-b; kubectl delete ns default"
    assert _refusal_rule(_mgr(system, audit, tmp_path), audit, attrs=attrs) == "invalid_target"


def test_unknown_kind_has_no_playbook(system, audit, tmp_path):
    assert _refusal_rule(_mgr(system, audit, tmp_path), audit, rca=make_rca(kind="unknown")) == "no_playbook"


def test_executor_that_supports_nothing(system, audit, tmp_path):
    playbook = PlaybookConfig(actions={"network": ("shift_traffic",)})
    mgr = _mgr(system, audit, tmp_path, playbook=playbook)
    refused_by = _refusal_rule(mgr, audit, rca=make_rca(kind="network"))
    assert refused_by == "executor_unsupported"


def _apply_one(mgr, service="svc-b", incident_id="inc-1", now=T0):
    rem = mgr.propose(make_incident(incident_id=incident_id), make_rca(service=service, incident_id=incident_id),
                      k8s_attrs(), now=now)
    assert rem.status == "proposed", rem.refusal
    mgr.approve(rem.id, "alice", "operator", now=now)
    mgr.apply(rem.id, "alice", "operator", now=now)
    return rem


def test_rate_limit_per_service(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path, max_actions_per_service_per_hour=1, max_in_flight=5, max_service_share=1.0)
    _apply_one(mgr)
    refused_by = _refusal_rule(mgr, audit,
                               incident=make_incident(incident_id="inc-2"), rca=make_rca(incident_id="inc-2"),
                               now=T0 + 60)
    assert refused_by == "rate_limit_service"
    # an hour later the limit has passed
    rem = mgr.propose(make_incident(incident_id="inc-3"), make_rca(incident_id="inc-3"), k8s_attrs(), now=T0 + 3700)
    assert rem.status == "proposed"


def test_rate_limit_global(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path, max_actions_per_hour=2, max_in_flight=5, max_service_share=1.0)
    _apply_one(mgr, "svc-a", "inc-1")
    _apply_one(mgr, "svc-b", "inc-2")
    refused_by = _refusal_rule(mgr, audit,
                               incident=make_incident(incident_id="inc-3"),
                               rca=make_rca(service="svc-c", incident_id="inc-3"), now=T0 + 60)
    assert refused_by == "rate_limit_global"


def test_blast_radius_replicas(system, audit, tmp_path):
    system._replicas["svc-b"] = 40
    mgr = _mgr(system, audit, tmp_path, max_replicas_touched=10)
    refused_by = _refusal_rule(mgr, audit, rca=make_rca(kind="code_error"))
    assert refused_by == "blast_radius_replicas"


def test_blast_radius_services(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path, max_service_share=0.5, max_in_flight=5)  # 2 of 4 services per hour
    _apply_one(mgr, "svc-a", "inc-1")
    _apply_one(mgr, "svc-b", "inc-2")
    refused_by = _refusal_rule(mgr, audit,
                               incident=make_incident(incident_id="inc-3"),
                               rca=make_rca(service="svc-c", incident_id="inc-3"), now=T0 + 60)
    assert refused_by == "blast_radius_services"


def test_in_flight(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path, max_in_flight=1, max_service_share=1.0)
    _apply_one(mgr, "svc-a", "inc-1")
    refused_by = _refusal_rule(mgr, audit,
                               incident=make_incident(incident_id="inc-2"), rca=make_rca(service="svc-b", incident_id="inc-2"), now=T0 + 60)
    assert refused_by == "in_flight"


def _raises(rule, fn, *args, **kwargs):
    with pytest.raises(PolicyRefusal) as info:
        fn(*args, **kwargs)
    assert info.value.rule == rule and rule in str(info.value)


def test_role_may_not_approve_reject_or_apply(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    _raises("role_not_allowed", mgr.approve, rem.id, "eve", "viewer")
    assert _last_refusal(audit)["step"] == "approve" and _last_refusal(audit)["user"] == "eve"
    _raises("role_not_allowed", mgr.reject, rem.id, "eve", "viewer")
    mgr.approve(rem.id, "alice", "operator")
    _raises("role_not_allowed", mgr.apply, rem.id, "eve", "viewer")
    assert mgr.get(rem.id).status == "approved" and system.calls == []


def test_two_person_rule(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path, two_person_approval=True)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    assert mgr.approve(rem.id, "alice", "operator").status == "proposed"
    _raises("two_person", mgr.approve, rem.id, "alice", "admin")
    _raises("two_person", mgr.apply, rem.id, "alice", "admin")
    assert mgr.approve(rem.id, "bob", "admin").status == "approved"
    assert mgr.apply(rem.id, "bob", "admin", now=T0 + 1).status == "applied"


def test_apply_needs_approval(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    _raises("approval_required", mgr.apply, rem.id, "alice", "operator")


def test_dry_run_policy_never_applies(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path, dry_run=True)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    assert rem.status == "proposed" and rem.dry_run["dry_run"] is True
    mgr.approve(rem.id, "alice", "operator")
    _raises("dry_run", mgr.apply, rem.id, "alice", "operator")
    assert system.calls == [] and _last_refusal(audit)["rule"] == "dry_run"


def test_policy_may_tighten_between_propose_and_apply(system, audit, tmp_path):
    mgr = _mgr(system, audit, tmp_path)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(), now=T0)
    mgr.approve(rem.id, "alice", "operator")
    stricter = _mgr(system, audit, tmp_path, allowed_namespaces=("prod",))
    _raises("namespace_not_allowed", stricter.apply, rem.id, "alice", "operator")


def test_every_rule_raised_is_a_known_rule():
    assert len(set(RULES)) == len(RULES)


def test_policy_config_validation_and_settings():
    with pytest.raises(ConfigError):
        PolicyConfig.from_dict({"dry_rn": False})
    with pytest.raises(ConfigError):
        PolicyConfig(min_confidence=1.5)
    with pytest.raises(ConfigError):
        PolicyConfig(approver_roles=("root",))
    cfg = PolicyConfig.from_settings(Settings(allowed_namespaces="shop, payments", two_person_approval=True,
                                              min_confidence=0.7, dry_run=False))
    assert cfg.allowed_namespaces == ("shop", "payments") and cfg.two_person_approval and not cfg.dry_run
    assert PolicyConfig().dry_run is True  # dry run by default


def test_dry_run_executor_changes_nothing(system, audit, tmp_path):
    executor = DryRunExecutor()
    mgr = _mgr(system, audit, tmp_path, executor=executor)
    rem = mgr.propose(make_incident(), make_rca(), k8s_attrs(SERVICES), now=T0)
    mgr.approve(rem.id, "alice", "operator")
    rem = mgr.apply(rem.id, "alice", "operator", now=T0)
    assert rem.apply_result["dry_run"] is True and [c[0] for c in executor.calls] == ["dry_run", "apply"]
