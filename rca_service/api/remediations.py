"""Remediations: list, approve, reject, apply (role and policy checked, audited by the service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from rca_service.api.deps import OperatorDep, RemediatorDep, ServiceDep, ViewerDep
from rca_service.api.schemas import DecisionRequest, RejectRequest
from rca_service.api.serialize import jsonable, remediation_summary

router = APIRouter(prefix="/api/v1/remediations", tags=["remediations"])


def remediation_json(rem: Any) -> dict:
    """The remediation as its component shapes it, plus the summary fields every view uses."""
    raw = jsonable(rem)
    summary = remediation_summary(rem)
    return {**summary, **raw} if isinstance(raw, dict) else summary


@router.get("")
def list_remediations(service: ServiceDep, who: ViewerDep,
                      incident: Annotated[str | None, Query(description="only this incident's")] = None) -> dict:
    return {"remediations": [remediation_json(r) for r in service.list_remediations(incident)]}


@router.post("/{remediation_id}/approve")
def approve(remediation_id: str, service: ServiceDep, who: RemediatorDep, body: DecisionRequest | None = None) -> dict:
    return remediation_json(service.approve_remediation(remediation_id, user=who.name, role=who.role.label))


@router.post("/{remediation_id}/reject")
def reject(remediation_id: str, service: ServiceDep, who: OperatorDep, body: RejectRequest | None = None) -> dict:
    reason = body.reason if body else ""
    return remediation_json(service.reject_remediation(remediation_id, user=who.name, role=who.role.label, reason=reason))


@router.post("/{remediation_id}/apply")
def apply(remediation_id: str, service: ServiceDep, who: RemediatorDep, body: DecisionRequest | None = None) -> dict:
    return remediation_json(service.apply_remediation(remediation_id, user=who.name, role=who.role.label))
