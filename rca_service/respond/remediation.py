"""The `Remediation` record: one proposed action for one incident, and everything that happened to it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rca_service.respond.actions import Action, action_from_dict

PROPOSED = "proposed"
APPROVED = "approved"
REJECTED = "rejected"
APPLIED = "applied"
VERIFIED = "verified"
ROLLED_BACK = "rolled_back"
FAILED = "failed"
REFUSED = "refused"
STATUSES = (PROPOSED, APPROVED, REJECTED, APPLIED, VERIFIED, ROLLED_BACK, FAILED, REFUSED)
# No further step is possible from these.
FINAL_STATUSES = frozenset({REJECTED, VERIFIED, ROLLED_BACK, FAILED, REFUSED})


@dataclass
class Remediation:
    """One remediation and its history.

    Attributes:
        id: "rem-<12 hex>".
        incident_id: the incident it answers.
        action: action name ("restart", "scale_out", ... or "" when refused before one was chosen).
        params: the action's parameters (see `actions.Action.params`).
        status: one of `STATUSES`.
        created_at: unix seconds.
        executor: name of the executor that dry-ran / applies it.
        description: one readable line (what, on what, why; or why nothing).
        root_cause: {"service", "kind", "confidence", "score", "signal"} of the cause acted on.
        services: the incident's services (their SLOs are checked by verify).
        incident_start: start of the incident (end of the SLO baseline window).
        total_services: services known when it was proposed (for the blast-radius share).
        rca_created_at: `created_at` of the RCA result it came from (one proposal per RCA).
        approvals: [{"user", "role", "time"}] in order.
        history: [{"time", "event", "user", "detail"}] every step, in order.
        refusal: {"rule", "message"} when status is "refused".
        dry_run: the executor's dry-run answer.
        apply_result: the executor's answer to apply.
        applied_at: when apply was called (start of the SLO "current" window).
        applied_state: what the executor needs to roll back.
        verification: the last SLO check {"recovered", "readings", "time"}.
        rollback_result: the executor's answer to rollback.
    """

    id: str
    incident_id: str
    action: str
    params: dict[str, Any]
    status: str
    created_at: float
    executor: str = ""
    description: str = ""
    root_cause: dict[str, Any] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    incident_start: float = 0.0
    total_services: int = 1
    rca_created_at: float = 0.0
    approvals: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    refusal: dict[str, str] | None = None
    dry_run: dict[str, Any] | None = None
    apply_result: dict[str, Any] | None = None
    applied_at: float | None = None
    applied_state: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] | None = None
    rollback_result: dict[str, Any] | None = None

    @property
    def service(self) -> str:
        """The service acted on."""
        return str(self.params.get("service") or self.root_cause.get("service", ""))

    def action_obj(self) -> Action:
        """The typed action (validated again on the way out of storage)."""
        return action_from_dict(self.action, self.params)

    def note(self, time: float, event: str, user: str = "system", **detail: Any) -> None:
        """Append one step to the history."""
        self.history.append({"time": time, "event": event, "user": user, "detail": detail})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Remediation":
        return cls(**data)
