"""Actions, playbook, SLO judgement, the frame-based SLO reader and the settings factory."""

from __future__ import annotations

import numpy as np
import pytest

from rca_service.errors import ConfigError, InputError, PolicyRefusal
from rca_service.localize.result import RootCause
from rca_service.respond.actions import ScaleOut, action_from_dict
from rca_service.respond.executors.dry_run import DryRunExecutor
from rca_service.respond.executors.webhook import WebhookExecutor
from rca_service.respond.wiring import executor_from_settings
from rca_service.respond.playbook import Playbook, PlaybookConfig
from rca_service.respond.slo import FrameSloReader, SloConfig, SloReading, judge
from rca_service.respond.state import RemediationStore
from rca_service.settings import Settings
from rca_service.store.frames import SPAN_ERROR_RATE, SPAN_LATENCY_P99, WindowFrame

ATTRS = {"pay": {"k8s.namespace.name": "shop", "k8s.deployment.name": "pay-v2"},
         "db": {"k8s.namespace.name": "shop", "k8s.statefulset.name": "db"}}


@pytest.mark.parametrize("kind, names", [("resource", ["scale_out", "restart"]), ("deploy", ["rollback", "revert_config"]),
                                         ("network", ["shift_traffic", "restart"]), ("code_error", ["restart", "rollback"])])
def test_playbook_maps_kinds_to_actions(kind, names):
    actions = Playbook().candidates(RootCause("pay", kind, 1.0, 0.9), ATTRS)
    assert [a.name for a in actions] == names
    assert all(a.namespace == "shop" and a.workload == "pay-v2" for a in actions)


def test_a_leak_signal_puts_restart_first():
    leak = RootCause("pay", "resource", 1.0, 0.9, signal="metric.memory_usage")
    assert [a.name for a in Playbook().candidates(leak, ATTRS)] == ["restart", "scale_out"]
    cfg = PlaybookConfig.from_dict({"signal_actions": {"resource": [["cpu", ["restart"]]]}})
    cpu = RootCause("pay", "resource", 1.0, 0.9, signal="metric.cpu_usage")
    assert [a.name for a in Playbook(cfg).candidates(cpu, ATTRS)] == ["restart"]
    with pytest.raises(ConfigError):
        PlaybookConfig.from_dict({"signal_actions": {"resource": [["cpu", ["reboot"]]]}})


def test_parameters_come_only_from_resource_attributes():
    evidence_says_other = RootCause("db", "resource", 1.0, 0.9, evidence=[])
    action = Playbook(PlaybookConfig(scale_step=3)).candidates(evidence_says_other, ATTRS)[0]
    assert (action.workload, action.workload_kind, action.add_replicas) == ("db", "StatefulSet", 3)
    with pytest.raises(PolicyRefusal) as info:
        Playbook().candidates(RootCause("cart", "resource", 1.0, 0.9), ATTRS)
    assert info.value.rule == "unknown_target"
    fallback = Playbook(PlaybookConfig(fallback_to_service_name=True, default_namespace="default"))
    assert fallback.candidates(RootCause("cart", "resource", 1.0, 0.9), {})[0].workload == "cart"


def test_playbook_config_is_validated():
    with pytest.raises(ConfigError):
        PlaybookConfig.from_dict({"actions": {"resource": ["reboot_the_world"]}})
    with pytest.raises(ConfigError):
        PlaybookConfig.from_dict({"actions": {"cosmic_rays": ["restart"]}})
    with pytest.raises(ConfigError):
        PlaybookConfig.from_dict({"scale_stp": 2})
    assert PlaybookConfig.from_dict({"actions": {"resource": ["restart"]}}).actions["resource"] == ("restart",)


def test_actions_validate_and_round_trip():
    a = ScaleOut("pay", "shop", "pay-v2", add_replicas=2)
    assert action_from_dict("scale_out", a.params()) == a
    for bad in ({"namespace": "Shop!"}, {"workload": "a b"}, {"add_replicas": 0}, {"add_replicas": True}):
        with pytest.raises(InputError):
            ScaleOut(**{**a.params(), **bad})
    with pytest.raises(InputError):
        action_from_dict("format_disk", {})


def test_judge_recovery_rules():
    cfg = SloConfig()
    ok = [SloReading("a", SPAN_ERROR_RATE, 0.01, 0.025), SloReading("a", SPAN_LATENCY_P99, 0.2, 0.24)]
    assert judge(ok, cfg).recovered is True
    assert judge(ok + [SloReading("b", SPAN_ERROR_RATE, 0.0, 0.3)], cfg).recovered is False
    assert judge([SloReading("a", SPAN_LATENCY_P99, 0.2, 0.3)], cfg).recovered is False
    assert judge([SloReading("a", SPAN_ERROR_RATE, 0.01, None)], cfg).recovered is None
    no_baseline = [SloReading("a", SPAN_ERROR_RATE, None, 0.01), SloReading("a", SPAN_LATENCY_P99, None, 3.0)]
    assert judge(no_baseline, cfg).recovered is True  # the latency cannot be judged, the error rate can
    assert judge([SloReading("a", SPAN_LATENCY_P99, None, 3.0)], cfg).recovered is None
    with pytest.raises(ConfigError):
        SloConfig.from_dict({"ratio": 0.5})


class _FrameStore:
    step = 60

    def __init__(self, times, errors, p99):
        self.frames = WindowFrame("pay", 60, np.array(times, dtype=np.int64), [SPAN_ERROR_RATE, SPAN_LATENCY_P99],
                                  np.column_stack([errors, p99]).astype(float))

    def frame(self, service, start, end):
        return self.frames.slice(start, end)


def test_frame_reader_uses_baseline_median_and_closed_current_steps():
    times = [0, 60, 120, 180, 240, 300, 360]
    store = _FrameStore(times, [0.0, 0.02, 0.01, 0.5, 0.1, 0.3, 0.9], [0.1, 0.1, np.nan, 1.0, 0.2, 0.4, 5.0])
    err, lat = FrameSloReader(store)("pay", (0, 180), (240, 360))
    assert err.baseline == pytest.approx(0.01) and lat.baseline == pytest.approx(0.1)
    assert err.current == pytest.approx(0.2) and lat.current == pytest.approx(0.3)  # step 360 is not closed
    none = FrameSloReader(store)("pay", (1000, 2000), (2000, 3000))
    assert none[0].baseline is None and none[0].current is None


def test_executor_from_settings():
    assert isinstance(executor_from_settings(Settings()), DryRunExecutor)
    hook = executor_from_settings(Settings(executor="webhook", webhook_url="http://127.0.0.1:9/x", webhook_secret="k"))
    assert isinstance(hook, WebhookExecutor)
    with pytest.raises(ConfigError):
        executor_from_settings(Settings(executor="webhook", webhook_url="http://127.0.0.1:9/x"))
    with pytest.raises(ConfigError):
        executor_from_settings(Settings(executor="simulator"))
    with pytest.raises(ConfigError):
        executor_from_settings(Settings(executor="ssh"))
    kube = executor_from_settings(Settings(executor="kubernetes", kube_host="http://127.0.0.1:9", kube_token="t"))
    assert kube.name == "kubernetes"


def test_corrupt_state_file_is_a_config_error(tmp_path):
    path = tmp_path / "respond" / "remediations.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(ConfigError):
        RemediationStore(path)


def test_wiring_takes_an_executor_or_a_simulator(tmp_path):
    from respond_helpers import FakeSystem
    from rca_service.audit.chain import AuditLog
    from rca_service.respond.executors.simulator import SimulatorExecutor
    from rca_service.respond.wiring import build_remediation_manager

    audit = AuditLog(tmp_path / "audit" / "chain.jsonl")
    settings = Settings(data_dir=tmp_path, two_person_approval=True, verify_seconds=42)
    default = build_remediation_manager(settings, audit, lambda *a: [])
    assert isinstance(default.executor, DryRunExecutor) and default.policy.config.dry_run
    assert default.store.path == tmp_path / "respond" / "remediations.json"
    assert default.policy.config.two_person_approval and default.slo.verify_seconds == 42
    dry = DryRunExecutor()
    assert build_remediation_manager(settings, audit, lambda *a: [], tmp_path / "x", dry).executor is dry
    sim = build_remediation_manager(settings, audit, lambda *a: [], None, FakeSystem())
    assert isinstance(sim.executor, SimulatorExecutor) and sim.playbook.config.fallback_to_service_name
    with pytest.raises(ConfigError):
        build_remediation_manager(settings, audit, lambda *a: [], None, object())


def test_read_slo_over_a_store():
    from rca_service.respond.slo import read_slo

    store = _FrameStore([0, 60, 120], [0.0, 0.0, 0.4], [0.1, 0.1, 0.9])
    err, lat = read_slo(store, "pay", (0, 120), (120, 180))
    assert (err.baseline, err.current, lat.current) == (0.0, 0.4, 0.9)
