"""`/rca ...` slash commands: immediate ack, then the full Block Kit answer on the response_url."""

from __future__ import annotations

from chat_helpers import OPERATOR_USER, VIEWER_USER, command_body, signed_headers

from rca_service.chatops.blocks import APPROVE_ACTION, REJECT_ACTION


def run(c, receiver, text, user=OPERATOR_USER, expect_post=True):
    body = command_body(text, receiver.url, user_id=user)
    ack = c.post("/chatops/slack/commands", content=body, headers=signed_headers(body))
    assert ack.status_code == 200
    posted = receiver.wait_for(1)[0].json() if expect_post else None
    return ack.json(), posted


def texts(message) -> str:
    """Every text in a message's blocks, joined."""
    out = [message.get("text", "")]
    for b in message.get("blocks", []):
        out.append((b.get("text") or {}).get("text", ""))
        out += [f["text"] for f in b.get("fields", [])]
        out += [e.get("text", "") if isinstance(e.get("text"), str) else e.get("text", {}).get("text", "")
                for e in b.get("elements", [])]
    return "\n".join(out)


def test_question_is_acked_then_answered_with_blocks(chat, receiver):
    svc, c = chat
    ack, posted = run(c, receiver, "why is checkout slow?")
    assert ack["response_type"] == "ephemeral" and ack["text"].startswith("Working on it")
    assert posted["response_type"] == "ephemeral"
    all_text = texts(posted)
    assert "basketservice" in all_text and "86%" in all_text
    assert "cpu_usage of basketservice at 4.1x" in all_text
    inc = svc.incidents[1].id
    link = next(e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert link["url"] == f"https://rca.example.test/ui/incidents/{inc}"


def test_incidents_command_lists_with_links(chat, receiver):
    svc, c = chat
    _, posted = run(c, receiver, "incidents")
    text = posted["blocks"][0]["text"]["text"]
    assert text.startswith("4 incident(s), newest first")
    for inc in svc.incidents:
        assert f"<https://rca.example.test/ui/incidents/{inc.id}|{inc.id}>" in text


def test_status_command_matches_the_name_loosely(chat, receiver):
    _, posted = run(c=chat[1], receiver=receiver, text="status ledger")
    assert "ledger-db is not OK right now" in texts(posted)


def test_help_is_answered_at_once(chat, receiver):
    ack, _ = run(chat[1], receiver, "help", expect_post=False)
    assert "/rca approve" in ack["text"] and ack["response_type"] == "ephemeral"
    assert receiver.requests == []


def test_approve_by_an_operator_is_recorded_and_shown_to_the_channel(chat, receiver):
    svc, c = chat
    _, posted = run(c, receiver, "approve rem-3")
    assert svc.remediations[2].status == "approved"
    assert svc.audit[-1] == {"kind": "remediation_approved", "remediation_id": "rem-3",
                             "incident_id": svc.incidents[0].id, "user": f"slack:olga ({OPERATOR_USER})"}
    assert posted["response_type"] == "in_channel" and "approved by slack:olga" in posted["text"]


def test_viewer_cannot_approve_or_reject(chat, receiver):
    svc, c = chat
    _, posted = run(c, receiver, "reject rem-3", user=VIEWER_USER)
    assert posted["response_type"] == "ephemeral" and "needs the operator role" in posted["text"]
    assert svc.remediations[2].status == "proposed" and svc.audit == []


def test_policy_refusal_names_the_rule(chat, receiver):
    svc, c = chat
    _, posted = run(c, receiver, "approve rem-2")
    assert posted["response_type"] == "ephemeral"
    assert "min_confidence" in posted["text"] and svc.remediations[1].status == "proposed"


def test_reject_with_reason(chat, receiver):
    svc, c = chat
    run(c, receiver, "reject rem-3 blast radius too large")
    assert svc.remediations[2].status == "rejected" and svc.audit[-1]["reason"] == "blast radius too large"


def test_unknown_remediation_and_missing_id(chat, receiver):
    _, posted = run(chat[1], receiver, "approve rem-999")
    assert "no remediation rem-999" in posted["text"]
    ack, _ = run(chat[1], receiver, "approve", expect_post=False)
    assert "needs a remediation id" in ack["text"]


def test_failures_become_ephemeral_messages_never_500(chat, receiver):
    svc, c = chat

    def explode(*a, **k):
        raise RuntimeError("database on fire")

    svc.query = explode
    ack, posted = run(c, receiver, "why is checkout slow?")
    assert ack["text"].startswith("Working on it")
    assert posted["response_type"] == "ephemeral" and "Something went wrong" in posted["text"]
    assert "database on fire" not in posted["text"]  # internals stay in the log


def test_pending_remediations_come_with_buttons(chat, receiver):
    _, posted = run(chat[1], receiver, "what remediation is pending for the ledger?")
    buttons = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"] if "url" not in e]
    assert [(b["action_id"], b["value"]) for b in buttons] == [(APPROVE_ACTION, "rem-2"), (REJECT_ACTION, "rem-2"),
                                                              (APPROVE_ACTION, "rem-3"), (REJECT_ACTION, "rem-3")]
    assert buttons[0]["style"] == "primary" and buttons[1]["style"] == "danger" and "confirm" in buttons[0]
