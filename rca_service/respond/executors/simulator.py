"""`SimulatorExecutor`: acts on the synthetic microservice system, so the whole loop can be seen working.

The simulator implements `SimulatorControl` structurally (no import of it here). Its own
`restart`/`rollback`/`scale_out` decide which injected faults an action really removes: a
restart clears a leak, a rollback clears a bad deploy, a scale-out relieves saturation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from rca_service.errors import RcaError
from rca_service.respond.actions import Action, RestartWorkload, RevertConfig, RollbackRevision, ScaleOut
from rca_service.respond.executors.base import ExecutionResult, jsonable


@runtime_checkable
class SimulatorControl(Protocol):
    """What the simulator offers to remediation.

    Methods:
        active_faults(): the faults injected now (any JSON-able shape, e.g. [{"service", "kind"}]).
        clear_fault(service): remove the fault injected into `service`; True if there was one.
        restart(service): restart the service's replicas.
        scale_out(service, replicas): run `replicas` replicas of the service (a target count).
        rollback(service): return the service to its previous version/config.
    """

    def active_faults(self) -> Any: ...

    def clear_fault(self, service: str) -> Any: ...

    def restart(self, service: str) -> Any: ...

    def scale_out(self, service: str, replicas: int) -> Any: ...

    def rollback(self, service: str) -> Any: ...


_SUPPORTED = (RestartWorkload.name, ScaleOut.name, RollbackRevision.name, RevertConfig.name)


class SimulatorExecutor:
    """Executor over a `SimulatorControl`.

    Args:
        control: the running simulation.
        base_replicas: replicas a simulated service runs when the control cannot say
            (the control may offer ``replicas`` as a ``service -> int`` mapping or method).
    """

    name = "simulator"

    def __init__(self, control: SimulatorControl, base_replicas: int = 1) -> None:
        self.control = control
        self.base_replicas = base_replicas

    def supports(self, action: Action) -> bool:
        return action.name in _SUPPORTED

    def _replicas(self, service: str) -> int:
        reader = getattr(self.control, "replicas", None)
        try:
            if isinstance(reader, Mapping):
                return int(reader.get(service, self.base_replicas))
            if callable(reader):
                return int(reader(service))
        except (TypeError, ValueError, KeyError, RcaError):
            pass
        return self.base_replicas

    def dry_run(self, action: Action) -> ExecutionResult:
        if not self.supports(action):
            return ExecutionResult(False, f"the simulator cannot {action.name}", dry_run=True)
        state = {"replicas": self._replicas(action.service)}
        return ExecutionResult(True, f"would {action.describe()} in the simulator", dry_run=True, state=state,
                               details={"active_faults": jsonable(self.control.active_faults())})

    def apply(self, action: Action) -> ExecutionResult:
        if not self.supports(action):
            return ExecutionResult(False, f"the simulator cannot {action.name}")
        before = jsonable(self.control.active_faults())
        state: dict[str, Any] = {"replicas": self._replicas(action.service)}
        try:
            if isinstance(action, ScaleOut):
                target = state["replicas"] + action.add_replicas
                answer = self.control.scale_out(action.service, target)
                state["target"] = target
            elif isinstance(action, (RollbackRevision, RevertConfig)):
                answer = self.control.rollback(action.service)
            else:
                answer = self.control.restart(action.service)
        except (KeyError, ValueError, RuntimeError, RcaError) as exc:
            return ExecutionResult(False, f"simulator refused {action.describe()}: {exc}", state=state)
        after = jsonable(self.control.active_faults())
        return ExecutionResult(True, f"{action.describe()} done in the simulator", state=state,
                               details={"answer": jsonable(answer), "faults_before": before, "faults_after": after})

    def rollback(self, action: Action, applied_state: dict[str, Any]) -> ExecutionResult:
        if isinstance(action, ScaleOut) and "replicas" in applied_state:
            try:
                answer = self.control.scale_out(action.service, int(applied_state["replicas"]))
            except (KeyError, ValueError, RuntimeError, RcaError) as exc:
                return ExecutionResult(False, f"simulator refused to scale back: {exc}")
            return ExecutionResult(True, f"scaled {action.service} back to {applied_state['replicas']} replica(s)",
                                   details={"answer": jsonable(answer)})
        # A restart or a rollback cannot be undone in a useful way: there is nothing to restore.
        return ExecutionResult(True, f"nothing to undo for {action.describe()} in the simulator")
