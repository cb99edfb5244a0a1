"""respond stage: playbooks, policy, executors, verification and automatic roll-back."""

from rca_service.respond.actions import ACTIONS, Action, RestartWorkload, RevertConfig, RollbackRevision, ScaleOut, ShiftTraffic
from rca_service.respond.executors import DryRunExecutor, ExecutionResult, Executor, SimulatorControl, SimulatorExecutor
from rca_service.respond.wiring import build_remediation_manager, executor_from_settings
from rca_service.respond.manager import RemediationManager
from rca_service.respond.playbook import Playbook, PlaybookConfig
from rca_service.respond.policy import Policy, PolicyConfig
from rca_service.respond.remediation import STATUSES, Remediation
from rca_service.respond.slo import FrameSloReader, SloConfig, SloReader, SloReading

__all__ = [
    "ACTIONS", "Action", "DryRunExecutor", "ExecutionResult", "Executor", "FrameSloReader", "Playbook",
    "PlaybookConfig", "Policy", "PolicyConfig", "Remediation", "RemediationManager", "RestartWorkload",
    "RevertConfig", "RollbackRevision", "STATUSES", "ScaleOut", "ShiftTraffic", "SimulatorControl",
    "SimulatorExecutor", "SloConfig", "SloReader", "SloReading", "build_remediation_manager", "executor_from_settings",
]
