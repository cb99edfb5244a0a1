"""Remediation policy: what may be proposed, approved and applied, and by whom.

Every check raises `errors.PolicyRefusal` whose `rule` is one of `RULES`, so the API, the chat
bot and the audit record can say exactly which rule said no.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rca_service.errors import ConfigError, PolicyRefusal
from rca_service.localize.result import RCAResult, RootCause
from rca_service.respond.actions import Action, ScaleOut
from rca_service.respond.config import config_from_dict
from rca_service.respond.remediation import APPLIED, Remediation

ROLES = ("viewer", "operator", "admin")
RULES = (
    "dry_run",                 # policy is dry run: nothing is applied
    "inconclusive",            # the RCA said it is not sure
    "no_root_cause",           # the RCA named no candidate
    "min_confidence",          # the top candidate's confidence is below the floor
    "no_playbook",             # the root-cause kind maps to no action
    "unknown_target",          # no namespace/workload known for the service
    "invalid_target",          # attributes that are not valid Kubernetes names
    "namespace_not_allowed",   # namespace outside the allow-list
    "service_not_allowed",     # service outside the allow-list
    "executor_unsupported",    # the executor cannot run any candidate action
    "rate_limit_service",      # too many actions on this service in the last hour
    "rate_limit_global",       # too many actions in the last hour
    "blast_radius_replicas",   # the action touches too many replicas
    "blast_radius_services",   # too large a share of the services acted on in the last hour
    "in_flight",               # too many applied, unverified remediations
    "role_not_allowed",        # the role may not approve/reject/apply
    "two_person",              # a second, different person must approve
    "approval_required",       # not approved yet
)
HOUR = 3600.0


@dataclass(frozen=True)
class PolicyConfig:
    """The operator's rules for remediation.

    Attributes:
        dry_run: propose (with an executor dry run) but never apply. On by default.
        allowed_namespaces: namespaces actions may touch; "*" allows any; empty allows none.
        allowed_services: services actions may touch; empty means any service in an allowed namespace.
        min_confidence: the top root cause's calibrated confidence must be at least this.
        approver_roles: roles that may approve, reject and apply.
        two_person_approval: two distinct people must approve before apply.
        max_actions_per_service_per_hour: rate limit per service (applied actions).
        max_actions_per_hour: rate limit over all services (applied actions).
        max_replicas_touched: blast radius: replicas one action may restart, roll or add.
        max_service_share: blast radius: share of known services acted on within an hour
            (this action included); at least one service is always allowed.
        max_in_flight: applied remediations not yet verified or rolled back, at most.
    """

    dry_run: bool = True
    allowed_namespaces: tuple[str, ...] = ("default",)
    allowed_services: tuple[str, ...] = ()
    min_confidence: float = 0.6
    approver_roles: tuple[str, ...] = ("operator", "admin")
    two_person_approval: bool = False
    max_actions_per_service_per_hour: int = 2
    max_actions_per_hour: int = 6
    max_replicas_touched: int = 10
    max_service_share: float = 0.5
    max_in_flight: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError("PolicyConfig: min_confidence must be in [0, 1]")
        bad_roles = sorted(set(self.approver_roles) - set(ROLES))
        if bad_roles:
            raise ConfigError(f"PolicyConfig: unknown approver roles {bad_roles}; known: {list(ROLES)}")
        for name in ("max_actions_per_service_per_hour", "max_actions_per_hour", "max_replicas_touched", "max_in_flight"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"PolicyConfig: {name} must be at least 1")
        if not 0.0 < self.max_service_share <= 1.0:
            raise ConfigError("PolicyConfig: max_service_share must be in (0, 1]")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "PolicyConfig":
        """Build from a dict; unknown keys are refused with `ConfigError`."""
        return config_from_dict(cls, data)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "PolicyConfig":
        """The operator's settings (`rca_service.settings.Settings`) as a policy."""
        base = {
            "dry_run": settings.dry_run,
            "allowed_namespaces": tuple(settings.allowed_namespaces),
            "allowed_services": tuple(settings.allowed_services),
            "min_confidence": settings.min_confidence,
            "two_person_approval": settings.two_person_approval,
        }
        return cls.from_dict({**base, **overrides})


class Policy:
    """The checks, one method per step of the flow.

    Args:
        config: the rules.
    """

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()

    # -- propose ------------------------------------------------------------------------
    def check_rca(self, result: RCAResult) -> RootCause:
        """The root cause we may act on: the top one of a conclusive, confident result."""
        if result.inconclusive:
            raise PolicyRefusal("inconclusive", f"the root-cause analysis of {result.incident_id} is inconclusive")
        if not result.root_causes:
            raise PolicyRefusal("no_root_cause", f"the root-cause analysis of {result.incident_id} names no candidate")
        top = result.root_causes[0]
        conf = float(top.confidence)
        if not math.isfinite(conf) or conf < self.config.min_confidence:
            raise PolicyRefusal("min_confidence", f"confidence {conf:.2f} in {top.service!r} is below "
                                                  f"the minimum {self.config.min_confidence:.2f}")
        return top

    def check_target(self, action: Action) -> None:
        """The action's namespace and service are on the allow-lists."""
        namespaces = self.config.allowed_namespaces
        if "*" not in namespaces and action.namespace not in namespaces:
            raise PolicyRefusal("namespace_not_allowed", f"namespace {action.namespace!r} is not in the allow-list {list(namespaces)}")
        services = self.config.allowed_services
        if services and action.service not in services:
            raise PolicyRefusal("service_not_allowed", f"service {action.service!r} is not in the allow-list {list(services)}")

    def check_rate(self, service: str, history: Iterable[Remediation], now: float) -> None:
        """Rate limits over remediations applied in the last hour."""
        recent = [r for r in history if r.applied_at is not None and now - r.applied_at < HOUR]
        per_service = sum(1 for r in recent if r.service == service)
        if per_service >= self.config.max_actions_per_service_per_hour:
            raise PolicyRefusal("rate_limit_service", f"{per_service} action(s) on {service!r} in the last hour "
                                                      f"(limit {self.config.max_actions_per_service_per_hour})")
        if len(recent) >= self.config.max_actions_per_hour:
            raise PolicyRefusal("rate_limit_global", f"{len(recent)} action(s) in the last hour "
                                                     f"(limit {self.config.max_actions_per_hour})")

    def check_blast_radius(self, action: Action, current_replicas: int | None, history: Iterable[Remediation],
                           total_services: int, now: float) -> None:
        """Replicas one action touches, share of services acted on, remediations in flight.

        Args:
            action: the action to take.
            current_replicas: the workload's replicas as the executor's dry run reported them
                (None when the executor cannot tell; then one replica is assumed).
            history: every remediation known (to count recent and in-flight ones).
            total_services: how many services the system has (at least 1).
            now: unix seconds.
        """
        touched = action.add_replicas if isinstance(action, ScaleOut) else int(current_replicas or 1)
        if touched > self.config.max_replicas_touched:
            raise PolicyRefusal("blast_radius_replicas", f"{action.describe()} touches {touched} replicas "
                                                         f"(limit {self.config.max_replicas_touched})")
        history = list(history)
        recent = {r.service for r in history if r.applied_at is not None and now - r.applied_at < HOUR}
        recent.add(action.service)
        allowed = max(1, math.floor(self.config.max_service_share * max(1, total_services)))
        if len(recent) > allowed:
            raise PolicyRefusal("blast_radius_services", f"acting on {len(recent)} of {total_services} services within "
                                                         f"an hour exceeds the share {self.config.max_service_share:.2f}")
        in_flight = sum(1 for r in history if r.status == APPLIED)
        if in_flight >= self.config.max_in_flight:
            raise PolicyRefusal("in_flight", f"{in_flight} applied remediation(s) are not verified yet "
                                             f"(limit {self.config.max_in_flight})")

    # -- approve / reject / apply -----------------------------------------------------------
    def check_role(self, role: str, step: str) -> None:
        """The role may approve, reject or apply."""
        if role not in self.config.approver_roles:
            raise PolicyRefusal("role_not_allowed", f"role {role!r} may not {step}; allowed: {list(self.config.approver_roles)}")

    def check_second_approver(self, rem: Remediation, user: str) -> None:
        """A person approves a remediation once; with two-person approval the second must differ."""
        if any(a["user"] == user for a in rem.approvals):
            raise PolicyRefusal("two_person", f"{user!r} already approved {rem.id}; a different person must approve")

    def approvals_needed(self) -> int:
        return 2 if self.config.two_person_approval else 1

    def check_apply(self, rem: Remediation, role: str) -> None:
        """Dry-run mode, role and approvals before an apply."""
        if self.config.dry_run:
            raise PolicyRefusal("dry_run", "policy is dry run: remediations are proposed but never applied "
                                           "(set RCA_DRY_RUN=false to allow applying)")
        self.check_role(role, "apply")
        distinct = {a["user"] for a in rem.approvals}
        if len(distinct) < self.approvals_needed():
            rule = "two_person" if self.config.two_person_approval and distinct else "approval_required"
            raise PolicyRefusal(rule, f"{rem.id} has {len(distinct)} approval(s); {self.approvals_needed()} distinct needed")
