"""Block Kit messages, built within Slack's limits (PROTOCOLS.md):

section text ≤ 3000 chars and ≤ 10 fields; actions ≤ 25 elements; button text ≤ 75 chars,
`value` ≤ 2000, style "primary"/"danger"; about 50 blocks a message; header text ≤ 150.

Every builder here clips to those limits, so no answer, however long, produces a message Slack
refuses. Text is Slack `mrkdwn`; anything taken from data is escaped (&, <, >) so a service or
log line cannot forge links or mentions.
"""

from __future__ import annotations

from typing import Any

from rca_service.api.serialize import PENDING_STATES, remediation_summary

MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 3000

APPROVE_ACTION = "remediation_approve"
REJECT_ACTION = "remediation_reject"


def escape(text: Any) -> str:
    """Slack's three escapes for text from data."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Text cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str, fields: list[str] | None = None) -> dict:
    block: dict = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text or " ", MAX_SECTION_TEXT)}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, MAX_FIELD_TEXT)} for f in fields[:MAX_FIELDS]]
    return block


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": False}}


def context(*texts: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(t, MAX_SECTION_TEXT)} for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def button(text: str, action_id: str, value: str | None = None, style: str | None = None, url: str | None = None,
           confirm: dict | None = None) -> dict:
    el: dict = {"type": "button", "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT)}, "action_id": action_id}
    if value is not None:
        el["value"] = value[:MAX_BUTTON_VALUE]
    if style in ("primary", "danger"):
        el["style"] = style
    if url:
        el["url"] = url
    if confirm:
        el["confirm"] = confirm
    return el


def actions(elements: list[dict], block_id: str | None = None) -> dict:
    block: dict = {"type": "actions", "elements": elements[:MAX_ACTIONS]}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def message(text: str, blocks: list[dict], response_type: str | None = None, replace_original: bool | None = None) -> dict:
    """A message payload: fallback `text` plus at most 50 blocks."""
    payload: dict = {"text": clip(text, MAX_FALLBACK_TEXT), "blocks": blocks[:MAX_BLOCKS]}
    if response_type:
        payload["response_type"] = response_type
    if replace_original is not None:
        payload["replace_original"] = replace_original
    return payload


def ephemeral(text: str) -> dict:
    """A plain ephemeral reply (acks and errors)."""
    return {"response_type": "ephemeral", "text": clip(text, MAX_FALLBACK_TEXT)}


def incident_url(base_url: str, incident_id: str) -> str:
    return f"{base_url.rstrip('/')}/ui/incidents/{incident_id}"


# -- composite messages ----------------------------------------------------------------
def answer_message(reply: dict, base_url: str) -> dict:
    """The query engine's answer as a message: answer text, root causes as fields, evidence, link."""
    blocks = [section(escape(reply.get("answer", "")))]
    causes = reply.get("root_causes") or []
    if causes:
        fields = [f"*{escape(rc['service'])}*\n{escape(rc.get('kind', ''))} · {100 * float(rc.get('confidence', 0)):.0f}%"
                  for rc in causes[:MAX_FIELDS]]
        title = "*Candidates (inconclusive)*" if reply.get("inconclusive") else "*Ranked root causes*"
        blocks.append(section(title, fields))
    evidence = [f"• {escape(e.get('summary', ''))}" for e in (reply.get("evidence") or [])[:8]]
    if evidence:
        blocks.append(context("\n".join(evidence)))
    inc_id = reply.get("incident_id")
    if inc_id:
        blocks.append(actions([button("Open incident page", "open_incident", value=str(inc_id),
                                      url=incident_url(base_url, str(inc_id)))]))
    return message(reply.get("answer", ""), blocks, response_type="ephemeral")


def incidents_message(incidents: list[Any], base_url: str, limit: int = 10) -> dict:
    """`/rca incidents`: the newest incidents with links."""
    if not incidents:
        return message("No incidents recorded.", [section("No incidents recorded.")], response_type="ephemeral")
    lines = []
    for inc in incidents[:limit]:
        names = ", ".join(escape(s) for s in list((inc.services or {}).keys())[:4])
        lines.append(f"• <{incident_url(base_url, inc.id)}|{escape(inc.id)}> — {escape(inc.status)}"
                     + (f" — {names}" if names else ""))
    more = f"\n…and {len(incidents) - limit} more" if len(incidents) > limit else ""
    text = f"{len(incidents)} incident(s), newest first:\n" + "\n".join(lines) + more
    return message(f"{len(incidents)} incident(s)", [section(text)], response_type="ephemeral")


def remediation_blocks(rem: Any, base_url: str, with_buttons: bool = True) -> list[dict]:
    """One remediation: what, where, status; Approve/Reject buttons while it awaits a decision."""
    s = remediation_summary(rem)
    text = f"*Remediation {escape(s['id'])}*: {escape(s['action'])} {escape(s['target_label'])} — *{escape(s['status'])}*"
    if s.get("reason"):
        text += f"\n{escape(s['reason'])}"
    blocks = [section(text)]
    elements = []
    if with_buttons and s["status"] in PENDING_STATES:
        confirm = {"title": {"type": "plain_text", "text": "Approve remediation?"},
                   "text": {"type": "mrkdwn", "text": clip(f"{escape(s['action'])} {escape(s['target_label'])}", 300)},
                   "confirm": {"type": "plain_text", "text": "Approve"}, "deny": {"type": "plain_text", "text": "Cancel"}}
        elements += [button("Approve", APPROVE_ACTION, value=s["id"], style="primary", confirm=confirm),
                     button("Reject", REJECT_ACTION, value=s["id"], style="danger")]
    if s.get("incident_id"):
        elements.append(button("Open incident", "open_incident", value=str(s["incident_id"]),
                               url=incident_url(base_url, str(s["incident_id"]))))
    if elements:
        blocks.append(actions(elements, block_id=f"rem:{s['id']}"))
    return blocks


def decision_message(rem: Any, verb: str, user: str, base_url: str) -> dict:
    """Replaces a remediation message once someone decided: no buttons, who did what."""
    s = remediation_summary(rem)
    blocks = remediation_blocks(rem, base_url, with_buttons=False)
    blocks.append(context(f"{escape(verb)} by {escape(user)}"))
    return message(f"Remediation {s['id']} {verb} by {user}: now {s['status']}", blocks, replace_original=True)
