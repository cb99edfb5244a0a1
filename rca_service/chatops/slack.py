"""Slack-style chat bot routes: slash commands and interactive buttons.

    POST /chatops/slack/commands       form-encoded slash command (`/rca ...`)
    POST /chatops/slack/interactions   form field `payload`: JSON, type block_actions

Every request is verified first — HMAC v0 over the raw body with the signing secret, timestamp
within 5 minutes (slack_sdk's SignatureVerifier) — and anything else is 401 and does nothing.
Commands are acknowledged at once (Slack gives 3 seconds) with an ephemeral "working on it";
the full Block Kit answer goes to `response_url` from a background task. Errors reach the user
as ephemeral messages, never as a 500. Approve/Reject go through the same role rules as the HTTP
API (roles from `slack_roles`) and the facade's policy, which writes the audit records.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import SignatureVerifier

from rca_service.api.auth import Principal, Role, require_role
from rca_service.chatops import blocks
from rca_service.chatops.commands import HELP, Command, parse_command
from rca_service.chatops.config import SlackConfig
from rca_service.chatops.responder import post_response, valid_response_url
from rca_service.errors import AuthError, NotFoundError, PolicyRefusal, RcaError

log = logging.getLogger(__name__)


class SlackBot:
    """The work behind the routes, separate from HTTP so it reads straight.

    Args:
        service: the `RcaService` facade.
        config: bot settings.
    """

    def __init__(self, service: Any, config: SlackConfig) -> None:
        self.service = service
        self.config = config
        self._verifier = SignatureVerifier(config.signing_secret) if config.signing_secret else None

    # -- verification --------------------------------------------------------------------
    def verify(self, body: bytes, headers: Any) -> dict[str, str]:
        """The request's form fields if its signature holds; AuthError(401) otherwise."""
        if self._verifier is None:
            raise AuthError("the chat bot is disabled: RCA_SLACK_SIGNING_SECRET is not set", status_code=401)
        try:
            ok = self._verifier.is_valid_request(body, {k: v for k, v in headers.items()})
        except (ValueError, TypeError):  # a timestamp that is not a number
            ok = False
        if not ok:
            raise AuthError("invalid or expired Slack request signature", status_code=401)
        parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def principal(self, user_id: str, user_name: str) -> Principal:
        name = f"slack:{user_name} ({user_id})" if user_name else f"slack:{user_id}"
        return Principal(name=name, role=self.config.role_of(user_id))

    # -- slash commands ------------------------------------------------------------------
    def run_command(self, command: Command, who: Principal, response_url: str) -> None:
        """Do a command and post its answer; every failure becomes an ephemeral message."""
        try:
            payload = self._command_payload(command, who)
        except PolicyRefusal as exc:
            payload = blocks.ephemeral(f":no_entry: Refused by policy rule `{exc.rule}`: {blocks.escape(exc)}")
        except (AuthError, NotFoundError) as exc:
            payload = blocks.ephemeral(f":no_entry: {blocks.escape(exc)}")
        except (RcaError, NotImplementedError) as exc:
            payload = blocks.ephemeral(f":warning: I could not do that: {blocks.escape(exc) or type(exc).__name__}")
        except Exception:  # the user must hear back whatever went wrong; the details go to the log
            log.exception("chat command %s failed", command.name)
            payload = blocks.ephemeral(":warning: Something went wrong on our side; the error is in the service log.")
        post_response(response_url, payload, self.config.response_timeout_s)

    def _command_payload(self, command: Command, who: Principal) -> dict:
        base = self.config.base_url
        if command.name == "incidents":
            status = command.arg if command.arg in ("open", "resolved") else None
            return blocks.incidents_message(list(self.service.list_incidents(status=status)), base)
        if command.name in ("approve", "reject"):
            require_role(who, Role.OPERATOR, f"{command.name} from chat")
            if command.name == "approve":
                rem = self.service.approve_remediation(command.arg, user=who.name, role=who.role.label)
            else:
                rem = self.service.reject_remediation(command.arg, user=who.name, role=who.role.label, reason=command.reason)
            msg = blocks.decision_message(rem, "approved" if command.name == "approve" else "rejected", who.name, base)
            msg.pop("replace_original", None)
            msg["response_type"] = "in_channel"  # a decision is the team's business
            return msg
        question = f"is {command.arg} ok?" if command.name == "status" else command.arg
        reply = self.service.query(question)
        msg = blocks.answer_message(reply, base)
        pending = [r for r in reply.get("remediations") or [] if r.get("status") in blocks.PENDING_STATES]
        for rem in pending[:5]:
            msg["blocks"].extend(blocks.remediation_blocks(rem, base))
        msg["blocks"] = msg["blocks"][: blocks.MAX_BLOCKS]
        return msg

    # -- buttons -------------------------------------------------------------------------
    def run_action(self, action_id: str, remediation_id: str, who: Principal, response_url: str) -> None:
        """Approve or reject from a button; replace the message on success, explain otherwise."""
        approve = action_id == blocks.APPROVE_ACTION
        verb = "approved" if approve else "rejected"
        try:
            require_role(who, Role.OPERATOR, f"{'approving' if approve else 'rejecting'} a remediation from chat")
            if approve:
                rem = self.service.approve_remediation(remediation_id, user=who.name, role=who.role.label)
            else:
                rem = self.service.reject_remediation(remediation_id, user=who.name, role=who.role.label,
                                                      reason="rejected from chat")
            payload = blocks.decision_message(rem, verb, who.name, self.config.base_url)
        except PolicyRefusal as exc:
            payload = {**blocks.ephemeral(f":no_entry: Refused by policy rule `{exc.rule}`: {blocks.escape(exc)}"),
                       "replace_original": False}
        except (RcaError, NotImplementedError) as exc:
            payload = {**blocks.ephemeral(f":no_entry: {blocks.escape(exc)}"), "replace_original": False}
        except Exception:
            log.exception("chat action %s on %s failed", action_id, remediation_id)
            payload = {**blocks.ephemeral(":warning: Something went wrong on our side."), "replace_original": False}
        post_response(response_url, payload, self.config.response_timeout_s)


def build_slack_router(service: Any, config: SlackConfig | None = None) -> APIRouter:
    """The chat bot's routes for one service (config from `service.settings` by default)."""
    bot = SlackBot(service, config or SlackConfig.from_settings(getattr(service, "settings", None)))
    router = APIRouter(prefix="/chatops/slack", tags=["chatops"])

    @router.post("/commands")
    async def commands(request: Request, background: BackgroundTasks) -> Response:
        form = bot.verify(await request.body(), request.headers)
        command = parse_command(form.get("text", ""))
        who = bot.principal(form.get("user_id", ""), form.get("user_name", ""))
        if command.name == "help":
            return JSONResponse(blocks.ephemeral(HELP))
        if command.name == "invalid":
            return JSONResponse(blocks.ephemeral(command.arg))
        response_url = form.get("response_url", "")
        if not valid_response_url(response_url):
            return JSONResponse(blocks.ephemeral("This request has no response_url to answer to."))
        background.add_task(bot.run_command, command, who, response_url)
        return JSONResponse(blocks.ephemeral(f"Working on it… ({blocks.escape(command.name)})"))

    @router.post("/interactions")
    async def interactions(request: Request, background: BackgroundTasks) -> Response:
        form = bot.verify(await request.body(), request.headers)
        try:
            payload = json.loads(form.get("payload", ""))
        except json.JSONDecodeError:
            return JSONResponse(blocks.ephemeral("That interaction had no readable payload."))
        if not isinstance(payload, dict) or payload.get("type") != "block_actions":
            return Response(status_code=200)  # other interaction types: acknowledged, nothing to do
        user = payload.get("user") or {}
        who = bot.principal(str(user.get("id", "")), str(user.get("username") or user.get("name") or ""))
        response_url = str(payload.get("response_url", ""))
        for action in payload.get("actions") or []:
            action_id, value = action.get("action_id"), str(action.get("value") or "")
            if action_id in (blocks.APPROVE_ACTION, blocks.REJECT_ACTION) and value and valid_response_url(response_url):
                background.add_task(bot.run_action, action_id, value, who, response_url)
        return Response(status_code=200)

    return router
