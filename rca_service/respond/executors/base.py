"""The one interface every executor implements, and the answer it gives."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from rca_service.respond.actions import Action


@dataclass
class ExecutionResult:
    """An executor's answer.

    Attributes:
        ok: the step succeeded (for a dry run: the step would succeed).
        message: one readable line.
        dry_run: True when nothing was changed.
        state: what a later rollback needs (e.g. previous replicas or pod template); JSON-able.
        details: the executor's raw answer, trimmed (status codes, object revisions...); JSON-able.
    """

    ok: bool
    message: str
    dry_run: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Executor(Protocol):
    """Carries out actions. Operational failures come back as ``ok=False``, not as exceptions.

    `rollback(action, applied_state)` undoes `apply(action)`, given the `state` that apply's
    result carried.
    """

    name: str

    def supports(self, action: Action) -> bool: ...

    def dry_run(self, action: Action) -> ExecutionResult: ...

    def apply(self, action: Action) -> ExecutionResult: ...

    def rollback(self, action: Action, applied_state: dict[str, Any]) -> ExecutionResult: ...


def jsonable(value: Any) -> Any:
    """A JSON-able copy of `value` (dataclasses, sets and odd objects become dicts, lists, strings)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return jsonable(asdict(value))
    return str(value)
