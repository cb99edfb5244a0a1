"""Helpers of the chat bot tests: Slack-signed requests, form bodies, settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from rca_fakes import fake_settings

SECRET = "8f14e45fceea167a5a36dedd4bea2543"
OPERATOR_USER = "U0OPERATOR"
ADMIN_USER = "U0ADMIN"
VIEWER_USER = "U0VIEWER"  # not listed in slack_roles: signed-in users default to viewer


def signed_headers(body: bytes, secret: str = SECRET, timestamp: float | None = None) -> dict[str, str]:
    """Slack's v0 signature, computed here from the spec (not with slack_sdk)."""
    ts = str(int(time.time() if timestamp is None else timestamp))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded"}


def command_body(text: str, response_url: str, user_id: str = OPERATOR_USER, user_name: str = "olga") -> bytes:
    return urlencode({"command": "/rca", "text": text, "response_url": response_url, "trigger_id": "13345224609.738474920.8088930838d88f008e0",
                      "user_id": user_id, "user_name": user_name, "team_id": "T0001", "channel_id": "C2147483705",
                      "api_app_id": "A123456"}).encode()


def action_body(action_id: str, value: str, response_url: str, user_id: str = OPERATOR_USER, kind: str = "block_actions") -> bytes:
    payload = {"type": kind, "user": {"id": user_id, "username": "olga", "team_id": "T0001"},
               "response_url": response_url, "message": {"text": "Remediation awaits approval"},
               "actions": [{"action_id": action_id, "block_id": f"rem:{value}", "value": value, "type": "button",
                            "action_ts": "1548426417.840180"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


def chat_settings(**overrides):
    return fake_settings(slack_signing_secret=SECRET, slack_roles=f"{OPERATOR_USER}:operator,{ADMIN_USER}:admin",
                         base_url="https://rca.example.test", **overrides)
