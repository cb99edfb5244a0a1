"""Playbook: which actions answer which kind of root cause, with parameters from resource attributes.

The only inputs are the root cause's service and kind (from localize) and the resource
attributes the caller knows for that service (``k8s.namespace.name``, ``k8s.deployment.name``...,
as the OpenTelemetry semantic conventions name them). Log and span text never reach here, so
nothing written into a log line can choose what we run or where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rca_service.errors import ConfigError, InputError, PolicyRefusal
from rca_service.localize.result import FAULT_KINDS, RootCause
from rca_service.respond.actions import ACTIONS, Action, RestartWorkload, RollbackRevision, RevertConfig, ScaleOut, ShiftTraffic
from rca_service.respond.config import config_from_dict

# Ordered candidates per fault kind: the manager takes the first one the executor supports and
# whose dry run succeeds. "unknown" maps to nothing: we do not act on a cause we cannot name.
DEFAULT_ACTIONS: dict[str, tuple[str, ...]] = {
    "resource": ("scale_out", "restart"),
    "latency": ("scale_out", "restart"),
    "code_error": ("restart", "rollback"),  # a recent deploy makes the kind "deploy" instead
    "network": ("shift_traffic", "restart"),
    "deploy": ("rollback", "revert_config"),
    "unknown": (),
}

# Within a kind, a signal word can change the order: a leak is cured by a restart, not by more
# replicas. The signal is our own `store.frames` name; it only reorders the allowed actions.
DEFAULT_SIGNAL_ACTIONS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "resource": tuple((word, ("restart", "scale_out")) for word in ("mem", "heap", "gc", "oom")),
}

# (resource attribute, workload kind) in the order they are looked for.
WORKLOAD_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("k8s.deployment.name", "Deployment"),
    ("k8s.statefulset.name", "StatefulSet"),
)
NAMESPACE_ATTRIBUTE = "k8s.namespace.name"


@dataclass(frozen=True)
class PlaybookConfig:
    """How root causes become actions.

    Attributes:
        actions: fault kind -> ordered action names (see `DEFAULT_ACTIONS`).
        signal_actions: fault kind -> ((word, actions), ...): when the root cause's signal name
            contains the word (lower case), those actions replace the kind's list.
        scale_step: replicas a scale-out adds.
        shift_weight_percent: share of traffic a traffic shift moves away.
        fallback_to_service_name: when no workload attribute is known, use the service name as
            the workload name (the service name is itself a resource attribute; off by default
            because on a real cluster the two often differ).
        default_namespace: namespace to use when the service has no ``k8s.namespace.name``;
            empty means "refuse" (rule ``unknown_target``).
    """

    actions: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    signal_actions: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = field(
        default_factory=lambda: dict(DEFAULT_SIGNAL_ACTIONS))
    scale_step: int = 1
    shift_weight_percent: int = 100
    fallback_to_service_name: bool = False
    default_namespace: str = ""

    def __post_init__(self) -> None:
        unknown_kinds = sorted((set(self.actions) | set(self.signal_actions)) - set(FAULT_KINDS))
        if unknown_kinds:
            raise ConfigError(f"PlaybookConfig: unknown fault kinds {unknown_kinds}; known: {list(FAULT_KINDS)}")
        lists = [(k, names) for k, names in self.actions.items()]
        lists += [(k, names) for k, rules in self.signal_actions.items() for _, names in rules]
        for kind, names in lists:
            bad = [n for n in names if n not in ACTIONS]
            if bad:
                raise ConfigError(f"PlaybookConfig: kind {kind!r} names unknown actions {bad}; known: {sorted(ACTIONS)}")
        if not 1 <= self.scale_step <= 100:
            raise ConfigError("PlaybookConfig: scale_step must be in 1..100")
        if not 1 <= self.shift_weight_percent <= 100:
            raise ConfigError("PlaybookConfig: shift_weight_percent must be in 1..100")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "PlaybookConfig":
        data = dict(data or {})
        if "actions" in data:
            data["actions"] = {k: tuple(v) for k, v in dict(data["actions"]).items()}
        if "signal_actions" in data:
            data["signal_actions"] = {k: tuple((str(w), tuple(names)) for w, names in rules)
                                      for k, rules in dict(data["signal_actions"]).items()}
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class Target:
    """Where an action lands, read from resource attributes."""

    service: str
    namespace: str
    workload: str
    workload_kind: str


class Playbook:
    """Turns a root cause into candidate actions.

    Args:
        config: the playbook's mapping and parameters.
    """

    def __init__(self, config: PlaybookConfig | None = None) -> None:
        self.config = config or PlaybookConfig()

    def target(self, service: str, resource_attrs: dict[str, dict]) -> Target:
        """The workload behind `service`, from its resource attributes.

        Raises:
            PolicyRefusal: rule ``unknown_target`` when the namespace or workload is not known.
        """
        attrs = resource_attrs.get(service) or {}
        namespace = str(attrs.get(NAMESPACE_ATTRIBUTE) or self.config.default_namespace)
        workload, kind = "", ""
        for attr, workload_kind in WORKLOAD_ATTRIBUTES:
            if attrs.get(attr):
                workload, kind = str(attrs[attr]), workload_kind
                break
        if not workload and self.config.fallback_to_service_name:
            workload, kind = service, "Deployment"
        if not namespace or not workload:
            raise PolicyRefusal("unknown_target", f"no namespace/workload is known for service {service!r} "
                                                  f"(resource attributes {NAMESPACE_ATTRIBUTE}, k8s.deployment.name)")
        return Target(service, namespace, workload, kind)

    def candidates(self, root_cause: RootCause, resource_attrs: dict[str, dict]) -> list[Action]:
        """Actions for the root cause, best first.

        Raises:
            PolicyRefusal: ``no_playbook`` when its kind maps to no action, ``unknown_target``
                when the workload is not known, ``invalid_target`` when the attributes do not
                form valid Kubernetes names.
        """
        names = self.config.actions.get(root_cause.kind, ())
        signal = (root_cause.signal or "").lower()
        for word, override in self.config.signal_actions.get(root_cause.kind, ()):
            if word in signal:
                names = override
                break
        if not names:
            raise PolicyRefusal("no_playbook", f"no action is mapped to root-cause kind {root_cause.kind!r}")
        t = self.target(root_cause.service, resource_attrs)
        base = {"service": t.service, "namespace": t.namespace, "workload": t.workload, "workload_kind": t.workload_kind}
        out: list[Action] = []
        try:
            for name in names:
                if name == ScaleOut.name:
                    out.append(ScaleOut(**base, add_replicas=self.config.scale_step))
                elif name == ShiftTraffic.name:
                    out.append(ShiftTraffic(**base, weight_percent=self.config.shift_weight_percent))
                elif name == RollbackRevision.name:
                    out.append(RollbackRevision(**base))
                elif name == RevertConfig.name:
                    out.append(RevertConfig(**base))
                else:
                    out.append(RestartWorkload(**base))
        except InputError as exc:
            raise PolicyRefusal("invalid_target", str(exc)) from exc
        return out
