"""Approve / Reject buttons: same roles and policy as the API, audited, the message replaced."""

from __future__ import annotations

from urllib.parse import urlencode

from chat_helpers import ADMIN_USER, OPERATOR_USER, VIEWER_USER, action_body, signed_headers

from rca_service.chatops.blocks import APPROVE_ACTION, REJECT_ACTION


def click(c, receiver, action, value, user=OPERATOR_USER, kind="block_actions"):
    body = action_body(action, value, receiver.url, user_id=user, kind=kind)
    resp = c.post("/chatops/slack/interactions", content=body, headers=signed_headers(body))
    assert resp.status_code == 200
    return resp


def test_approve_button_replaces_the_message_and_audits(chat, receiver):
    svc, c = chat
    click(c, receiver, APPROVE_ACTION, "rem-3")
    posted = receiver.wait_for(1)[0].json()
    assert posted["replace_original"] is True
    assert "approved by slack:olga" in posted["text"]
    assert not any(e.get("action_id") in (APPROVE_ACTION, REJECT_ACTION)
                   for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert svc.audit[-1]["kind"] == "remediation_approved" and svc.audit[-1]["user"].endswith(f"({OPERATOR_USER})")


def test_reject_button_by_admin(chat, receiver):
    svc, c = chat
    click(c, receiver, REJECT_ACTION, "rem-3", user=ADMIN_USER)
    assert receiver.wait_for(1)[0].json()["replace_original"] is True
    assert svc.remediations[2].status == "rejected"


def test_viewer_click_is_refused_without_replacing_the_message(chat, receiver):
    svc, c = chat
    click(c, receiver, APPROVE_ACTION, "rem-3", user=VIEWER_USER)
    posted = receiver.wait_for(1)[0].json()
    assert posted["replace_original"] is False and posted["response_type"] == "ephemeral"
    assert "needs the operator role" in posted["text"]
    assert svc.remediations[2].status == "proposed" and svc.audit == []


def test_policy_refusal_on_click(chat, receiver):
    svc, c = chat
    click(c, receiver, APPROVE_ACTION, "rem-2")
    posted = receiver.wait_for(1)[0].json()
    assert "min_confidence" in posted["text"] and posted["replace_original"] is False


def test_other_interactions_are_acked_and_ignored(chat, receiver):
    svc, c = chat
    click(c, receiver, APPROVE_ACTION, "rem-3", kind="view_submission")
    click(c, receiver, "open_incident", "inc-x")
    body = urlencode({"payload": "{not json"}).encode()
    resp = c.post("/chatops/slack/interactions", content=body, headers=signed_headers(body))
    assert resp.status_code == 200 and resp.json()["response_type"] == "ephemeral"
    assert svc.remediations[2].status == "proposed" and receiver.requests == []
