"""`DryRunExecutor`: says what it would do and changes nothing. The default executor."""

from __future__ import annotations

from typing import Any

from rca_service.respond.actions import Action
from rca_service.respond.executors.base import ExecutionResult


class DryRunExecutor:
    """Accepts every action and reports it without acting; `calls` keeps what was asked, in order."""

    name = "dry-run"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def supports(self, action: Action) -> bool:
        return True

    def dry_run(self, action: Action) -> ExecutionResult:
        self.calls.append(("dry_run", action.name, action.params()))
        return ExecutionResult(True, f"would {action.describe()}", dry_run=True)

    def apply(self, action: Action) -> ExecutionResult:
        self.calls.append(("apply", action.name, action.params()))
        return ExecutionResult(True, f"dry-run executor: did not {action.describe()} (nothing is changed)", dry_run=True)

    def rollback(self, action: Action, applied_state: dict[str, Any]) -> ExecutionResult:
        self.calls.append(("rollback", action.name, action.params()))
        return ExecutionResult(True, f"dry-run executor: nothing to roll back for {action.describe()}", dry_run=True)
