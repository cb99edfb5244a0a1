"""Executors: carry out remediation actions behind one `Executor` interface."""

from rca_service.respond.executors.base import ExecutionResult, Executor
from rca_service.respond.executors.dry_run import DryRunExecutor
from rca_service.respond.executors.simulator import SimulatorControl, SimulatorExecutor
from rca_service.respond.executors.webhook import WebhookExecutor, WebhookExecutorConfig

__all__ = ["DryRunExecutor", "ExecutionResult", "Executor", "SimulatorControl", "SimulatorExecutor",
           "WebhookExecutor", "WebhookExecutorConfig"]
# KubernetesExecutor lives in .kubernetes; import it from there (it pulls in the kubernetes client).
