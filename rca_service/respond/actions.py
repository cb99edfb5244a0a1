"""The catalogue of remediation actions, as typed, validated dataclasses.

Every parameter names a Kubernetes-style object (namespace, workload) and must be a DNS-1123
name: a value that came from somewhere it should not (a log line, free text) fails validation
instead of reaching an executor. The playbook fills these from resource attributes only.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from rca_service.errors import InputError

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def _check_int(what: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{what} must be an integer in {low}..{high}")


def _check_name(what: str, value: str) -> None:
    if not isinstance(value, str) or not _DNS1123.match(value):
        raise InputError(f"{what} {value!r} is not a valid Kubernetes name (DNS-1123)")


@dataclass(frozen=True)
class Action:
    """Base of every action: which service, and the workload that runs it.

    Attributes:
        service: the service as the telemetry names it (`service.name`).
        namespace: Kubernetes namespace of the workload.
        workload: name of the workload object (e.g. the Deployment).
        workload_kind: "Deployment" or "StatefulSet".
    """

    name: ClassVar[str] = ""
    service: str
    namespace: str
    workload: str
    workload_kind: str = "Deployment"

    def __post_init__(self) -> None:
        if not isinstance(self.service, str) or not self.service or len(self.service) > 253:
            raise InputError(f"action service {self.service!r} must be a non-empty name")
        _check_name("namespace", self.namespace)
        _check_name("workload", self.workload)
        if self.workload_kind not in WORKLOAD_KINDS:
            raise InputError(f"workload kind {self.workload_kind!r} is not one of {WORKLOAD_KINDS}")

    def params(self) -> dict[str, Any]:
        """The action's parameters as a plain dict (for JSON, audit and executors)."""
        return asdict(self)

    def describe(self) -> str:
        """One readable line for people."""
        return f"{self.name} {self.workload_kind.lower()} {self.namespace}/{self.workload}"


@dataclass(frozen=True)
class RestartWorkload(Action):
    """Rolling restart of every pod of the workload."""

    name: ClassVar[str] = "restart"


@dataclass(frozen=True)
class ScaleOut(Action):
    """Add `add_replicas` replicas to the workload."""

    name: ClassVar[str] = "scale_out"
    add_replicas: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("scale_out add_replicas", self.add_replicas, 1, 100)

    def describe(self) -> str:
        return f"{super().describe()} by {self.add_replicas} replica(s)"


@dataclass(frozen=True)
class RollbackRevision(Action):
    """Roll the workload back to an earlier revision (the previous one when `to_revision` is None)."""

    name: ClassVar[str] = "rollback"
    to_revision: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.to_revision is not None and (not isinstance(self.to_revision, int) or self.to_revision < 1):
            raise InputError("rollback to_revision must be a positive integer or None")


@dataclass(frozen=True)
class RevertConfig(Action):
    """Undo the latest configuration change of the workload.

    On Kubernetes a config change rolls a new pod-template revision, so reverting it rolls the
    template back to the revision before the change.
    """

    name: ClassVar[str] = "revert_config"


@dataclass(frozen=True)
class ShiftTraffic(Action):
    """Move `weight_percent` of the service's traffic away from it (needs a mesh or a webhook)."""

    name: ClassVar[str] = "shift_traffic"
    weight_percent: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("shift_traffic weight_percent", self.weight_percent, 1, 100)


ACTIONS: dict[str, type[Action]] = {
    cls.name: cls for cls in (RestartWorkload, ScaleOut, RollbackRevision, RevertConfig, ShiftTraffic)
}


def action_from_dict(name: str, params: dict[str, Any]) -> Action:
    """Rebuild an action from its name and `params()` (e.g. from persisted state)."""
    cls = ACTIONS.get(name)
    if cls is None:
        raise InputError(f"unknown action {name!r}; known: {sorted(ACTIONS)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError(f"bad parameters for action {name!r}: {exc}") from exc
