"""Build the respond stage from the operator's settings (one call for the service wiring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rca_service.audit.chain import AuditLog
from rca_service.errors import ConfigError
from rca_service.respond.executors.base import Executor
from rca_service.respond.executors.dry_run import DryRunExecutor
from rca_service.respond.executors.simulator import SimulatorControl, SimulatorExecutor
from rca_service.respond.executors.webhook import WebhookExecutor, WebhookExecutorConfig
from rca_service.respond.manager import RemediationManager
from rca_service.respond.playbook import PlaybookConfig
from rca_service.respond.policy import PolicyConfig
from rca_service.respond.slo import SloConfig, SloReader

EXECUTORS = ("dry-run", "kubernetes", "webhook", "simulator")


def executor_from_settings(settings: Any, simulator: SimulatorControl | None = None) -> Executor:
    """The executor named by ``settings.executor``.

    Args:
        settings: `rca_service.settings.Settings` (reads executor, webhook_url, webhook_secret,
            kubeconfig, kube_context, kube_host, kube_token when present).
        simulator: the running simulation, required for "simulator".

    Raises:
        ConfigError: an unknown executor, or one whose settings are missing.
    """
    kind = settings.executor
    if kind == "dry-run":
        return DryRunExecutor()
    if kind == "webhook":
        return WebhookExecutor(WebhookExecutorConfig(url=settings.webhook_url, secret=getattr(settings, "webhook_secret", "")))
    if kind == "simulator":
        if simulator is None:
            raise ConfigError("executor 'simulator' needs a running simulation (SimulatorControl)")
        return SimulatorExecutor(simulator)
    if kind == "kubernetes":
        from rca_service.respond.executors.kubernetes import KubernetesExecutor

        host = getattr(settings, "kube_host", "")
        if host:
            return KubernetesExecutor.from_host(host, token=getattr(settings, "kube_token", ""))
        return KubernetesExecutor.from_kubeconfig(getattr(settings, "kubeconfig", "") or None,
                                                  getattr(settings, "kube_context", "") or None)
    raise ConfigError(f"unknown executor {kind!r}; known: {list(EXECUTORS)}")


def build_remediation_manager(settings: Any, audit: AuditLog, slo_reader: SloReader, state_dir: Path | None = None,
                              executor: Executor | SimulatorControl | None = None, *,
                              policy_overrides: dict[str, Any] | None = None) -> RemediationManager:
    """A `RemediationManager` configured from settings.

    Args:
        settings: `rca_service.settings.Settings` (dry_run, allowed_namespaces, allowed_services,
            min_confidence, two_person_approval, executor, verify_seconds, webhook/kube fields).
        audit: the audit chain.
        slo_reader: `SloReader`, e.g. ``FrameSloReader(store)``.
        state_dir: folder of ``remediations.json`` (default ``<data_dir>/respond``).
        executor: overrides ``settings.executor``: an `Executor`, or a `SimulatorControl`
            (the running simulation) which is wrapped in a `SimulatorExecutor`.
        policy_overrides: extra `PolicyConfig` fields (rate limits, blast radius...).

    With the simulator executor the playbook may use the service name as the workload name and
    namespace "default" (simulated services carry no Kubernetes attributes).
    """
    if executor is None:
        chosen = executor_from_settings(settings)
    elif isinstance(executor, Executor):
        chosen = executor
    elif isinstance(executor, SimulatorControl):
        chosen = SimulatorExecutor(executor)
    else:
        raise ConfigError(f"{type(executor).__name__} is neither an Executor nor a SimulatorControl")
    simulated = chosen.name == SimulatorExecutor.name
    playbook = PlaybookConfig(fallback_to_service_name=True, default_namespace="default") if simulated else PlaybookConfig()
    return RemediationManager(
        PolicyConfig.from_settings(settings, **(policy_overrides or {})), chosen, audit, slo_reader,
        state_dir=Path(state_dir) if state_dir is not None else Path(settings.data_dir) / "respond",
        playbook=playbook, slo=SloConfig(verify_seconds=float(settings.verify_seconds)),
    )
