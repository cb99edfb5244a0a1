"""`RemediationManager`: propose → approve/reject → apply → verify → roll back, under policy, audited.

Every step writes its audit record *before* the state it describes is saved, and `apply` and
the automatic roll-back write an intent record before the executor is called and the
executor's answer after it. If the audit chain cannot be written, the step fails with
`AuditError` and nothing is done (fail closed).

Refusals: `propose` returns a remediation with status "refused" and `refusal` = {rule, message}
(so the incident page can say why nothing was proposed); `approve`, `reject` and `apply`
raise `PolicyRefusal`. Both are audited as ``policy_refused`` naming the rule. Asking for a
step the remediation's status does not allow (approving a rejected one...) raises `InputError`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rca_service.audit import chain as kinds
from rca_service.audit.chain import AuditLog
from rca_service.detect.incident import Incident
from rca_service.errors import InputError, NotFoundError, PolicyRefusal
from rca_service.localize.result import RCAResult
from rca_service.respond.actions import Action
from rca_service.respond.executors.base import ExecutionResult, Executor
from rca_service.respond.playbook import Playbook, PlaybookConfig
from rca_service.respond.policy import Policy, PolicyConfig
from rca_service.respond.remediation import (
    APPLIED, APPROVED, FAILED, FINAL_STATUSES, PROPOSED, REFUSED, REJECTED, ROLLED_BACK, STATUSES, VERIFIED,
    Remediation,
)
from rca_service.respond.slo import SloConfig, SloReader, SloReading, judge
from rca_service.respond.state import RemediationStore

log = logging.getLogger(__name__)


class RemediationManager:
    """Runs the remediation flow for incidents.

    Args:
        policy: the rules (a `PolicyConfig` or a ready `Policy`).
        executor: carries out actions (`Executor` protocol).
        audit: the audit chain every step is written to.
        slo_reader: reads SLO signals for verification (`SloReader` protocol).
        state_dir: folder of ``remediations.json``; default ``<data_dir>/respond`` where
            data_dir is the parent of the audit chain's ``audit/`` folder.
        playbook: root-cause kind → actions, and where parameters come from.
        slo: how recovery is judged and how long it may take (`SloConfig.verify_seconds`).
        clock: unix-seconds clock, used when a step is not given `now`.
    """

    def __init__(self, policy: PolicyConfig | Policy, executor: Executor, audit: AuditLog, slo_reader: SloReader, *,
                 state_dir: Path | None = None, playbook: PlaybookConfig | Playbook | None = None,
                 slo: SloConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy if isinstance(policy, Policy) else Policy(policy)
        self.executor = executor
        self.audit = audit
        self.slo_reader = slo_reader
        self.playbook = playbook if isinstance(playbook, Playbook) else Playbook(playbook)
        self.slo = slo or SloConfig()
        self._clock = clock
        folder = Path(state_dir) if state_dir is not None else Path(audit.path).parent.parent / "respond"
        self.store = RemediationStore(folder / "remediations.json")
        self._lock = threading.RLock()

    # -- reading ------------------------------------------------------------------------
    def list(self, incident_id: str | None = None) -> list[Remediation]:
        """Remediations, newest first, optionally one incident's only."""
        with self._lock:
            items = [r for r in self.store.items.values() if incident_id is None or r.incident_id == incident_id]
        return sorted(items, key=lambda r: r.created_at, reverse=True)

    def stats(self) -> dict[str, Any]:
        """Counts for /metrics: {"total", "by_status": {status: n}, "by_action": {action: n}}."""
        with self._lock:
            items = list(self.store.items.values())
        by_status = {s: 0 for s in STATUSES}
        by_action: dict[str, int] = {}
        for r in items:
            by_status[r.status] = by_status.get(r.status, 0) + 1
            if r.action:
                by_action[r.action] = by_action.get(r.action, 0) + 1
        return {"total": len(items), "by_status": by_status, "by_action": by_action}

    def get(self, remediation_id: str) -> Remediation:
        """One remediation; `NotFoundError` when there is none with that id."""
        with self._lock:
            rem = self.store.items.get(remediation_id)
        if rem is None:
            raise NotFoundError(f"no remediation {remediation_id!r}")
        return rem

    # -- propose --------------------------------------------------------------------------
    def propose(self, incident: Incident, rca_result: RCAResult, resource_attrs: dict[str, dict],
                now: float | None = None) -> Remediation:
        """Choose an action for the incident's top root cause, dry-run it, and record the proposal.

        Idempotent per incident: while a remediation for the incident is still open, or one was
        already made from this same RCA result, that one is returned.

        Args:
            incident: the incident (its services and start time are kept for verification).
            rca_result: the ranked root causes.
            resource_attrs: service → resource attributes (``k8s.namespace.name``,
                ``k8s.deployment.name``...); the only source of action parameters.
            now: unix seconds (default: the clock).

        Returns:
            The remediation: "proposed", "refused" (see `refusal`) or "failed" (every dry run failed).
        """
        now = self._now(now)
        with self._lock:
            existing = self._existing_for(incident.id, rca_result.created_at)
            if existing is not None:
                return existing
            rem = Remediation(id=f"rem-{uuid.uuid4().hex[:12]}", incident_id=incident.id, action="", params={},
                              status=PROPOSED, created_at=now, executor=self.executor.name,
                              services=sorted(incident.services), incident_start=float(incident.start),
                              total_services=max(1, len(set(resource_attrs) | set(incident.services))),
                              rca_created_at=float(rca_result.created_at))
            try:
                top = self.policy.check_rca(rca_result)
                rem.root_cause = {"service": top.service, "kind": top.kind, "confidence": _finite(top.confidence),
                                  "score": _finite(top.score), "signal": top.signal}
                candidates = self.playbook.candidates(top, resource_attrs)
                self.policy.check_target(candidates[0])  # every candidate has the same target
                supported = [a for a in candidates if self.executor.supports(a)]
                if not supported:
                    raise PolicyRefusal("executor_unsupported", f"executor {self.executor.name!r} supports none of "
                                                                f"{[a.name for a in candidates]}")
                self.policy.check_rate(top.service, self.store.items.values(), now)
                chosen, dry, tried = self._first_dry_run_ok(supported)
                if chosen is not None:
                    self.policy.check_blast_radius(chosen, dry.state.get("replicas"), self.store.items.values(),
                                                   rem.total_services, now)
            except PolicyRefusal as exc:
                return self._refuse_proposal(rem, exc, now)
            action = chosen or supported[0]
            rem.action, rem.params, rem.dry_run = action.name, action.params(), dry.to_dict()
            rem.description = (f"{action.describe()}: root cause {top.service} ({top.kind}, "
                               f"confidence {top.confidence:.2f})")
            rem.status = PROPOSED if chosen is not None else FAILED
            rem.note(now, "proposed" if chosen is not None else "dry_run_failed", tried=tried)
            self.audit.append(kinds.REMEDIATION_PROPOSED, {**self._body(rem), "dry_run": rem.dry_run, "tried": tried,
                                                           "root_cause": rem.root_cause}, rem.incident_id)
            self._save(rem)
            return rem

    def _first_dry_run_ok(self, actions: list[Action]) -> tuple[Action | None, ExecutionResult, list[dict]]:
        tried: list[dict] = []
        result = ExecutionResult(False, "no action tried", dry_run=True)
        for action in actions:
            result = self._call("dry_run", action)
            tried.append({"action": action.name, "ok": result.ok, "message": result.message})
            if result.ok:
                return action, result, tried
        return None, result, tried

    def _existing_for(self, incident_id: str, rca_created_at: float) -> Remediation | None:
        for rem in self.list(incident_id):
            if rem.status not in FINAL_STATUSES or rem.rca_created_at == float(rca_created_at):
                return rem
        return None

    def _refuse_proposal(self, rem: Remediation, exc: PolicyRefusal, now: float) -> Remediation:
        rem.status = REFUSED
        rem.refusal = {"rule": exc.rule, "message": str(exc)}
        rem.description = f"no action: {exc}"
        rem.note(now, "refused", rule=exc.rule, message=str(exc))
        self._audit_refusal(rem, exc, "propose", "system", "")
        self._save(rem)
        return rem

    # -- approve / reject ---------------------------------------------------------------
    def approve(self, remediation_id: str, user: str, role: str, now: float | None = None) -> Remediation:
        """Record one approval; the remediation becomes "approved" once enough distinct people approved.

        Raises:
            PolicyRefusal: ``role_not_allowed``, ``two_person`` (same person approving twice).
            InputError: the remediation is not awaiting approval.
        """
        now = self._now(now)
        _check_user(user)
        with self._lock:
            rem = self.get(remediation_id)
            self._require(rem, (PROPOSED,), "approve")
            try:
                self.policy.check_role(role, "approve")
                self.policy.check_second_approver(rem, user)
            except PolicyRefusal as exc:
                self._audit_refusal(rem, exc, "approve", user, role)
                raise
            rem.approvals.append({"user": user, "role": role, "time": now})
            needed = self.policy.approvals_needed()
            if len({a["user"] for a in rem.approvals}) >= needed:
                rem.status = APPROVED
            rem.note(now, "approved", user, role=role, approvals=len(rem.approvals), needed=needed)
            self.audit.append(kinds.REMEDIATION_APPROVED, {**self._body(rem), "user": user, "role": role,
                                                           "approvals": len(rem.approvals), "needed": needed},
                              rem.incident_id, actor=user)
            self._save(rem)
            return rem

    def reject(self, remediation_id: str, user: str, role: str, reason: str = "", now: float | None = None) -> Remediation:
        """Reject a proposed or approved remediation (final).

        Raises:
            PolicyRefusal: ``role_not_allowed``.
            InputError: the remediation is past the point where it can be rejected.
        """
        now = self._now(now)
        _check_user(user)
        with self._lock:
            rem = self.get(remediation_id)
            self._require(rem, (PROPOSED, APPROVED), "reject")
            try:
                self.policy.check_role(role, "reject")
            except PolicyRefusal as exc:
                self._audit_refusal(rem, exc, "reject", user, role)
                raise
            return self._reject(rem, user, role, reason, now)

    def supersede(self, incident_id: str, rca_result: RCAResult, now: float | None = None) -> list[Remediation]:
        """Withdraw the incident's remediations that are not applied yet and act on another
        service than `rca_result`'s most likely cause (any of them, when it is inconclusive).

        The incident grew and was ranked again: approving such a proposal now would act on a
        service the ranking no longer blames. Each is rejected by "system", audited with the
        reason, and `propose` can then make one for the new cause. Applied ones are left to
        their verification.

        Returns:
            The remediations withdrawn.
        """
        now = self._now(now)
        top = rca_result.acted_on_service()
        reason = f"superseded: the incident grew and its most likely cause is now {top or 'inconclusive'}"
        with self._lock:
            stale = [r for r in self.list(incident_id) if r.status in (PROPOSED, APPROVED)
                     and (top is None or r.root_cause.get("service") != top)]
            return [self._reject(rem, "system", "system", reason, now) for rem in stale]

    def _reject(self, rem: Remediation, user: str, role: str, reason: str, now: float) -> Remediation:
        rem.status = REJECTED
        rem.note(now, "rejected", user, role=role, reason=reason)
        self.audit.append(kinds.REMEDIATION_REJECTED, {**self._body(rem), "user": user, "role": role,
                                                       "reason": str(reason)[:2000]}, rem.incident_id, actor=user)
        self._save(rem)
        return rem

    # -- apply ----------------------------------------------------------------------------
    def apply(self, remediation_id: str, user: str, role: str, now: float | None = None) -> Remediation:
        """Apply an approved remediation through the executor.

        Raises:
            PolicyRefusal: ``dry_run``, ``role_not_allowed``, ``approval_required``, ``two_person``,
                allow-list, rate-limit or blast-radius rules (the policy may have changed since
                the proposal, and other actions may have run).
            InputError: the remediation is not proposed/approved.
        """
        now = self._now(now)
        _check_user(user)
        with self._lock:
            rem = self.get(remediation_id)
            self._require(rem, (PROPOSED, APPROVED), "apply")
            action = rem.action_obj()
            others = [r for r in self.store.items.values() if r.id != rem.id]
            try:
                self.policy.check_apply(rem, role)
                self.policy.check_target(action)
                self.policy.check_rate(rem.service, others, now)
                replicas = (rem.dry_run or {}).get("state", {}).get("replicas")
                self.policy.check_blast_radius(action, replicas, others, rem.total_services, now)
            except PolicyRefusal as exc:
                self._audit_refusal(rem, exc, "apply", user, role)
                raise
            self.audit.append(kinds.REMEDIATION_APPLYING, {**self._body(rem), "user": user, "role": role},
                              rem.incident_id, actor=user)
            result = self._call("apply", action)
            rem.applied_at = now
            rem.apply_result = result.to_dict()
            rem.applied_state = dict(result.state)
            rem.status = APPLIED if result.ok else FAILED
            rem.note(now, "applied" if result.ok else "apply_failed", user, message=result.message)
            self.audit.append(kinds.REMEDIATION_APPLIED, {**self._body(rem), "ok": result.ok, "answer": rem.apply_result},
                              rem.incident_id, actor=user)
            self._save(rem)
            return rem

    # -- verify / roll back -------------------------------------------------------------
    def verify(self, remediation_id: str, now: float | None = None) -> Remediation:
        """Check the incident's SLO signals since the action; roll back when the time is up.

        Recovered (every signal with data back within its tolerance of the pre-incident
        baseline) → "verified". Not recovered, or no data, once `SloConfig.verify_seconds` have
        passed since apply → executor rollback → "rolled_back" (or "failed" when the rollback
        fails). Otherwise it stays "applied" and the last check is kept in `verification`.

        Raises:
            InputError: the remediation is not "applied".
        """
        now = self._now(now)
        with self._lock:
            rem = self.get(remediation_id)
            self._require(rem, (APPLIED,), "verify")
            readings = self._read_slo(rem, now)
            verdict = judge(readings, self.slo)
            rem.verification = {"time": now, "recovered": verdict.recovered, "readings": verdict.readings}
            deadline = (rem.applied_at or now) + self.slo.verify_seconds
            if verdict.recovered:
                rem.status = VERIFIED
                rem.note(now, "verified")
                self.audit.append(kinds.REMEDIATION_VERIFIED, {**self._body(rem), "readings": verdict.readings},
                                  rem.incident_id)
            elif now >= deadline:
                self._roll_back(rem, verdict.readings, now)
            if rem.status != APPLIED:  # a pending check is kept in memory only: no fsync every tick
                self._save(rem)
            return rem

    def verify_pending(self, now: float | None = None) -> list[Remediation]:
        """Verify every applied remediation (for the service's loop); returns those that changed status."""
        now = self._now(now)
        changed = []
        for rem in [r for r in self.list() if r.status == APPLIED]:
            if self.verify(rem.id, now).status != APPLIED:
                changed.append(rem)
        return changed

    def _roll_back(self, rem: Remediation, readings: list[dict], now: float) -> None:
        reason = f"SLO not back to normal within {self.slo.verify_seconds:g}s of apply"
        self.audit.append(kinds.REMEDIATION_ROLLING_BACK, {**self._body(rem), "reason": reason, "readings": readings},
                          rem.incident_id)
        result = self._call("rollback", rem.action_obj(), rem.applied_state)
        rem.rollback_result = result.to_dict()
        rem.status = ROLLED_BACK if result.ok else FAILED
        rem.note(now, "rolled_back" if result.ok else "rollback_failed", reason=reason, message=result.message)
        self.audit.append(kinds.REMEDIATION_ROLLED_BACK, {**self._body(rem), "ok": result.ok,
                                                          "answer": rem.rollback_result}, rem.incident_id)

    def _read_slo(self, rem: Remediation, now: float) -> list[SloReading]:
        services = [rem.service] + [s for s in rem.services if s != rem.service]
        baseline = (rem.incident_start - self.slo.baseline_seconds, rem.incident_start)
        current = (rem.applied_at or now, now)
        readings: list[SloReading] = []
        for service in services:
            try:
                readings.extend(self.slo_reader(service, baseline, current))
            except Exception:  # a reader failure counts as "no data" for that service, never as recovery
                log.exception("SLO reader failed for %s", service)
        return readings

    # -- helpers --------------------------------------------------------------------------
    def _call(self, step: str, action: Action, *args: Any) -> ExecutionResult:
        try:
            return getattr(self.executor, step)(action, *args)
        except Exception as exc:  # an executor bug must still end in an audited, failed step
            log.exception("executor %s %s raised", self.executor.name, step)
            return ExecutionResult(False, f"executor error: {type(exc).__name__}: {exc}", dry_run=step == "dry_run")

    def _audit_refusal(self, rem: Remediation, exc: PolicyRefusal, step: str, user: str, role: str) -> None:
        self.audit.append(kinds.POLICY_REFUSED, {**self._body(rem), "step": step, "rule": exc.rule,
                                                 "message": str(exc), "user": user, "role": role},
                          rem.incident_id, actor=user or "system")

    @staticmethod
    def _body(rem: Remediation) -> dict[str, Any]:
        return {"remediation_id": rem.id, "action": rem.action, "params": rem.params, "status": rem.status,
                "executor": rem.executor}

    @staticmethod
    def _require(rem: Remediation, allowed: tuple[str, ...], step: str) -> None:
        if rem.status not in allowed:
            raise InputError(f"cannot {step} remediation {rem.id}: it is {rem.status} (needs {' or '.join(allowed)})")

    def _save(self, rem: Remediation) -> None:
        self.store.items[rem.id] = rem
        self.store.save()

    def _now(self, now: float | None) -> float:
        return float(self._clock() if now is None else now)


def _finite(x: Any) -> float | None:
    """A float for the audit body, or None for NaN/inf (which canonical JSON refuses)."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _check_user(user: str) -> None:
    if not isinstance(user, str) or not user.strip():
        raise InputError("a user name is required")
