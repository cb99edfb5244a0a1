"""KubernetesExecutor against a fake API server on 127.0.0.1: the official client's code runs."""

from __future__ import annotations

import pytest

from fake_kube_api import FakeKube
from rca_service.respond.actions import RestartWorkload, RevertConfig, RollbackRevision, ScaleOut, ShiftTraffic
from rca_service.respond.executors.kubernetes import KubernetesExecutor

NS = "shop"


@pytest.fixture
def kube():
    fake = FakeKube().start()
    fake.add_deployment(NS, "checkout", ["img:v1", "img:v2", "img:v3"], replicas=2)
    yield fake
    fake.stop()


@pytest.fixture
def executor(kube) -> KubernetesExecutor:
    return KubernetesExecutor.from_host(kube.url, token="s3cret")


def _writes(kube: FakeKube) -> list[dict]:
    return [r for r in kube.requests if r["method"] == "PATCH"]


def test_scale_out_dry_run_then_apply_then_rollback(kube, executor):
    action = ScaleOut("checkout", NS, "checkout", add_replicas=2)
    dry = executor.dry_run(action)
    assert dry.ok and dry.dry_run and dry.state == {"replicas": 2, "target": 4}
    assert kube.deployments[(NS, "checkout")]["spec"]["replicas"] == 2  # dryRun honoured
    assert _writes(kube)[-1]["query"]["dryRun"] == ["All"]
    assert kube.requests[0]["authorization"] == "Bearer s3cret"

    res = executor.apply(action)
    assert res.ok and kube.deployments[(NS, "checkout")]["spec"]["replicas"] == 4
    assert "dryRun" not in _writes(kube)[-1]["query"]
    assert _writes(kube)[-1]["content_type"].startswith("application/merge-patch+json")

    back = executor.rollback(action, res.state)
    assert back.ok and kube.deployments[(NS, "checkout")]["spec"]["replicas"] == 2


def test_restart_sets_the_template_annotation(kube, executor):
    action = RestartWorkload("checkout", NS, "checkout")
    assert executor.dry_run(action).ok
    assert "annotations" not in kube.template(NS, "checkout")["metadata"]
    res = executor.apply(action)
    assert res.ok and res.state["revision"] == 3
    assert "kubectl.kubernetes.io/restartedAt" in kube.template(NS, "checkout")["metadata"]["annotations"]
    assert kube.deployments[(NS, "checkout")]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"


@pytest.mark.parametrize("cls", [RollbackRevision, RevertConfig])
def test_rollback_to_previous_revision_and_undo(kube, executor, cls):
    action = cls("checkout", NS, "checkout")
    dry = executor.dry_run(action)
    assert dry.ok and dry.details == {"to_revision": 2}
    assert kube.template(NS, "checkout")["spec"]["containers"][0]["image"] == "img:v3"

    res = executor.apply(action)
    assert res.ok and kube.template(NS, "checkout")["spec"]["containers"][0]["image"] == "img:v2"
    assert "pod-template-hash" not in kube.template(NS, "checkout")["metadata"]["labels"]
    assert _writes(kube)[-1]["content_type"].startswith("application/json-patch+json")

    undo = executor.rollback(action, res.state)
    assert undo.ok and kube.template(NS, "checkout")["spec"]["containers"][0]["image"] == "img:v3"


def test_rollback_to_a_named_revision(kube, executor):
    res = executor.apply(RollbackRevision("checkout", NS, "checkout", to_revision=1))
    assert res.ok and kube.template(NS, "checkout")["spec"]["containers"][0]["image"] == "img:v1"


def test_no_earlier_revision_fails_cleanly(kube, executor):
    kube.add_deployment(NS, "fresh", ["img:v1"])
    res = executor.dry_run(RollbackRevision("fresh", NS, "fresh"))
    assert not res.ok and "no earlier revision" in res.message


def test_missing_deployment_is_a_failed_result(executor):
    res = executor.dry_run(RestartWorkload("ghost", NS, "ghost"))
    assert not res.ok and "404" in res.message


def test_unsupported_actions(executor):
    assert not executor.supports(ShiftTraffic("checkout", NS, "checkout"))
    assert not executor.supports(RestartWorkload("db", NS, "db", workload_kind="StatefulSet"))
    assert not executor.dry_run(ShiftTraffic("checkout", NS, "checkout")).ok


def test_manager_flow_on_kubernetes_rolls_back_an_unrecovered_scale_out(kube, executor, tmp_path):
    from respond_helpers import FakeSystem, make_incident, make_rca
    from rca_service.audit.chain import AuditLog
    from rca_service.respond.manager import RemediationManager
    from rca_service.respond.policy import PolicyConfig

    system = FakeSystem(services=("checkout", "front"))
    system.inject("checkout", "leak")  # the fake SLO stays broken
    audit = AuditLog(tmp_path / "audit" / "chain.jsonl")
    mgr = RemediationManager(PolicyConfig(dry_run=False, allowed_namespaces=(NS,)), executor, audit,
                             system.slo_reader, state_dir=tmp_path)
    attrs = {"checkout": {"k8s.namespace.name": NS, "k8s.deployment.name": "checkout"}}
    rem = mgr.propose(make_incident(("checkout",)), make_rca(service="checkout"), attrs, now=1000.0)
    assert rem.status == "proposed" and rem.dry_run["state"]["replicas"] == 2
    assert kube.deployments[(NS, "checkout")]["spec"]["replicas"] == 2
    mgr.approve(rem.id, "alice", "operator", now=1001.0)
    mgr.apply(rem.id, "alice", "operator", now=1002.0)
    assert kube.deployments[(NS, "checkout")]["spec"]["replicas"] == 3
    rem = mgr.verify(rem.id, now=1002.0 + 301)
    assert rem.status == "rolled_back" and kube.deployments[(NS, "checkout")]["spec"]["replicas"] == 2
    assert audit.verify().ok


def test_from_kubeconfig(kube, tmp_path):
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "{kube.url}"}}
users:
- name: bot
  user: {{token: "kc-token"}}
contexts:
- name: fake
  context: {{cluster: fake, user: bot, namespace: {NS}}}
current-context: fake
""")
    executor = KubernetesExecutor.from_kubeconfig(str(cfg))
    assert executor.dry_run(ScaleOut("checkout", NS, "checkout")).ok
    assert kube.requests[-1]["authorization"] == "Bearer kc-token"
