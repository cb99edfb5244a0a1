"""Route dependencies as `Annotated` aliases: the facade, the caller, and role checks.

Routes declare what they need in their signature (`service: ServiceDep, who: OperatorDep`);
the objects live on `app.state` (set by `create_app`), so nothing here is global.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from rca_service.api.auth import AccessControl, Principal, Role, require_remediation_rights, require_role


def get_service(request: Request) -> Any:
    """The `RcaService` facade the app was built for."""
    return request.app.state.service


def get_access(request: Request) -> AccessControl:
    return request.app.state.access


def get_principal(request: Request) -> Principal:
    """The caller, from the bearer token (the anonymous local user when no tokens are set)."""
    return get_access(request).authenticate(request.headers.get("authorization"))


ServiceDep = Annotated[Any, Depends(get_service)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _viewer(who: PrincipalDep) -> Principal:
    require_role(who, Role.VIEWER, "reading")
    return who


def _operator(who: PrincipalDep) -> Principal:
    require_role(who, Role.OPERATOR, "this action")
    return who


def _remediator(who: PrincipalDep) -> Principal:
    require_remediation_rights(who, "approving or applying a remediation")
    return who


def _admin(who: PrincipalDep) -> Principal:
    require_role(who, Role.ADMIN, "this action")
    return who


ViewerDep = Annotated[Principal, Depends(_viewer)]
OperatorDep = Annotated[Principal, Depends(_operator)]
RemediatorDep = Annotated[Principal, Depends(_remediator)]
AdminDep = Annotated[Principal, Depends(_admin)]
