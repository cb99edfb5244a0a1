"""`WebhookExecutor`: hands each step to an HTTP endpoint the operator runs, signed with HMAC.

Request: ``POST <url>`` with JSON ``{"operation": "dry_run"|"apply"|"rollback", "action",
"params", "applied_state", "sent_at"}`` and headers

    X-RCA-Timestamp: <unix seconds>
    X-RCA-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Answer: any 2xx means done; a JSON body ``{"ok": bool, "message": str, "state": {...}}`` may say
more (``state`` comes back to the receiver on rollback). Other statuses, timeouts and
connection errors are failures (``ok=False``); nothing is retried, so a step runs at most once.
Receivers check the signature with `verify_signature` (or its equivalent) and reject
timestamps more than a few minutes old.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from rca_service.errors import ConfigError
from rca_service.respond.actions import Action
from rca_service.respond.config import config_from_dict
from rca_service.respond.executors.base import ExecutionResult

SIGNATURE_HEADER = "X-RCA-Signature"
TIMESTAMP_HEADER = "X-RCA-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
                     tolerance_s: float = 300.0) -> bool:
    """Receiver side: the signature matches (constant time) and the timestamp is fresh."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class WebhookExecutorConfig:
    """Where and how to call the webhook.

    Attributes:
        url: http(s) URL of the receiver.
        secret: HMAC key shared with the receiver (required: an unsigned call could be forged).
        timeout_s: per-request timeout.
    """

    url: str
    secret: str
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"WebhookExecutorConfig: url {self.url!r} must be http(s)")
        if not self.secret:
            raise ConfigError("WebhookExecutorConfig: a secret is required to sign requests (RCA_WEBHOOK_SECRET)")
        if self.timeout_s <= 0:
            raise ConfigError("WebhookExecutorConfig: timeout_s must be positive")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WebhookExecutorConfig":
        return config_from_dict(cls, data)


class WebhookExecutor:
    """Executor that POSTs each step to a webhook.

    Args:
        config: URL, secret, timeout.
        transport: optional httpx transport (tests, proxies).
    """

    name = "webhook"

    def __init__(self, config: WebhookExecutorConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._client = httpx.Client(timeout=config.timeout_s, transport=transport)

    def supports(self, action: Action) -> bool:
        return True

    def dry_run(self, action: Action) -> ExecutionResult:
        return self._call("dry_run", action, {})

    def apply(self, action: Action) -> ExecutionResult:
        return self._call("apply", action, {})

    def rollback(self, action: Action, applied_state: dict[str, Any]) -> ExecutionResult:
        return self._call("rollback", action, applied_state)

    def close(self) -> None:
        self._client.close()

    def _call(self, operation: str, action: Action, applied_state: dict[str, Any]) -> ExecutionResult:
        sent_at = f"{time.time():.3f}"
        payload = {"operation": operation, "action": action.name, "params": action.params(),
                   "applied_state": applied_state, "sent_at": sent_at}
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: sent_at,
                   SIGNATURE_HEADER: sign(self.config.secret, sent_at, body)}
        dry = operation == "dry_run"
        try:
            resp = self._client.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return ExecutionResult(False, f"webhook {operation} failed: {type(exc).__name__}: {exc}", dry_run=dry)
        answer: dict[str, Any] = {}
        try:
            parsed = resp.json()
            if isinstance(parsed, dict):
                answer = parsed
        except ValueError:
            pass
        details = {"status": resp.status_code, "body": answer or resp.text[:500]}
        if not resp.is_success:
            return ExecutionResult(False, f"webhook {operation} answered HTTP {resp.status_code}", dry_run=dry, details=details)
        ok = bool(answer.get("ok", True))
        message = str(answer.get("message") or f"webhook {operation} accepted {action.describe()}")
        state = answer.get("state") if isinstance(answer.get("state"), dict) else {}
        return ExecutionResult(ok, message, dry_run=dry, state=state, details=details)
