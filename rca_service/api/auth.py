"""Access control for the HTTP API and the chat bot.

Roles are ordered: viewer < operator < admin. A viewer reads everything; an operator may also
approve, reject and apply remediations (the remediation policy still decides); an admin may do
everything. Tokens come from `Settings.api_tokens` ("token:role[:name],..."), sent as
`Authorization: Bearer <token>`; Slack users get roles from `Settings.slack_roles`
("U123:operator,U456:admin").

With no API tokens configured the server is local-only: `check_bind_safety` refuses to start on
anything but a loopback address, requests are served as the anonymous local user, and
remediation cannot be approved or applied over HTTP (a 403 that says why).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from rca_service.errors import AuthError, ConfigError


class Role(IntEnum):
    """Roles in increasing power; comparison means "at least"."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> "Role":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ConfigError(f"unknown role {text!r}: use viewer, operator or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """Who is calling.

    Attributes:
        name: the token's name (or the Slack user), written into audit records.
        role: what they may do.
        authenticated: False for the anonymous local user of a server without tokens.
    """

    name: str
    role: Role
    authenticated: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role.label, "authenticated": self.authenticated}


MIN_TOKEN_CHARS = 12  # a guessable token is no access control
LOCAL_USER = Principal(name="local", role=Role.OPERATOR, authenticated=False)
NO_TOKENS_REFUSAL = ("no API tokens are configured, so remediation cannot be approved or applied over HTTP; "
                     "set RCA_API_TOKENS (\"token:operator[:name]\") and send it as a bearer token")


def parse_api_tokens(spec: str) -> dict[str, Principal]:
    """Parse "token:role[:name],..." into token → principal. Raises ConfigError when malformed."""
    tokens: dict[str, Principal] = {}
    for i, item in enumerate(p.strip() for p in (spec or "").split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            raise ConfigError(f"api_tokens entry {i + 1} must be token:role[:name]")
        token, role = parts[0], Role.parse(parts[1])
        if len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"api_tokens entry {i + 1}: tokens must be at least {MIN_TOKEN_CHARS} characters")
        if token in tokens:
            raise ConfigError(f"api_tokens entry {i + 1}: duplicate token")
        name = parts[2].strip() if len(parts) == 3 and parts[2].strip() else f"token-{i + 1}"
        tokens[token] = Principal(name=name, role=role)
    return tokens


def parse_slack_roles(spec: str) -> dict[str, Role]:
    """Parse "slack_user_id:role,..." into user id → role. Raises ConfigError when malformed."""
    roles: dict[str, Role] = {}
    for i, item in enumerate(p.strip() for p in (spec or "").split(",")):
        if not item:
            continue
        user, sep, role = item.partition(":")
        if not sep or not user.strip():
            raise ConfigError(f"slack_roles entry {i + 1} must be user_id:role")
        roles[user.strip()] = Role.parse(role)
    return roles


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_safety(settings: Any) -> None:
    """Refuse unsafe start-up settings. Call before binding the HTTP port.

    Raises:
        ConfigError: a non-loopback host with no API tokens (the API would be open to the
            network without authentication), or malformed api_tokens / slack_roles.
    """
    tokens = parse_api_tokens(getattr(settings, "api_tokens", ""))
    parse_slack_roles(getattr(settings, "slack_roles", ""))
    host = str(getattr(settings, "host", "127.0.0.1"))
    if not tokens and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host}: no API tokens are configured, so the API would be open to anyone "
            "who can reach it. Set RCA_API_TOKENS or bind 127.0.0.1.")


class AccessControl:
    """Authenticates bearer tokens and checks roles.

    Args:
        api_tokens: the `Settings.api_tokens` string.
    """

    def __init__(self, api_tokens: str = "") -> None:
        self._tokens = parse_api_tokens(api_tokens)

    @property
    def enabled(self) -> bool:
        """True when tokens are configured (requests must then carry one)."""
        return bool(self._tokens)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an `Authorization` header value.

        Raises:
            AuthError(401): tokens are configured and the header is missing, malformed or unknown.
        """
        if not self._tokens:
            return LOCAL_USER
        if not authorization:
            raise AuthError("missing bearer token (Authorization: Bearer <token>)", status_code=401)
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'", status_code=401)
        presented = value.strip().encode()
        found = None
        for token, principal in self._tokens.items():  # constant time per token; no early exit
            if hmac.compare_digest(presented, token.encode()):
                found = principal
        if found is None:
            raise AuthError("unknown API token", status_code=401)
        return found


def require_role(principal: Principal, needed: Role, action: str) -> None:
    """Raise AuthError(403) unless the principal has at least `needed`."""
    if principal.role < needed:
        raise AuthError(f"{action} needs the {needed.label} role; {principal.name} is {principal.role.label}", status_code=403)


def require_remediation_rights(principal: Principal, action: str) -> None:
    """Approve/apply need an operator who proved who they are (no anonymous local user)."""
    if not principal.authenticated:
        raise AuthError(f"{action} refused: {NO_TOKENS_REFUSAL}", status_code=403)
    require_role(principal, Role.OPERATOR, action)
