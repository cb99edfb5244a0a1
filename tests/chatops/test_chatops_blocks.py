"""Messages stay within Block Kit's limits and escape data, however big the answer."""

from __future__ import annotations

from rca_fakes import FakeRemediation

from rca_service.chatops import blocks
from rca_service.chatops.notify import incident_payload, incident_updated_payload
from rca_service.detect.incident import Incident, IncidentUpdate, ServiceAnomaly
from rca_service.localize.result import Evidence, RCAResult, RootCause


def check_limits(message: dict) -> None:
    assert len(message["blocks"]) <= blocks.MAX_BLOCKS
    assert len(message["text"]) <= blocks.MAX_FALLBACK_TEXT
    for b in message["blocks"]:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= blocks.MAX_SECTION_TEXT
            assert len(b.get("fields", [])) <= blocks.MAX_FIELDS
            assert all(len(f["text"]) <= blocks.MAX_FIELD_TEXT for f in b.get("fields", []))
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= blocks.MAX_HEADER_TEXT
        if b["type"] == "actions":
            assert len(b["elements"]) <= blocks.MAX_ACTIONS
            for e in b["elements"]:
                assert len(e["text"]["text"]) <= blocks.MAX_BUTTON_TEXT
                assert len(e.get("value", "")) <= blocks.MAX_BUTTON_VALUE
                assert e.get("style", "primary") in ("primary", "danger")
        if b["type"] == "context":
            assert len(b["elements"]) <= blocks.MAX_CONTEXT_ELEMENTS


def test_a_huge_answer_fits():
    reply = {"answer": "word " * 5000, "incident_id": "inc-" + "9" * 3000, "inconclusive": False,
             "root_causes": [{"service": f"svc-{i}" * 50, "kind": "latency", "confidence": 0.1} for i in range(40)],
             "evidence": [{"summary": "e" * 900} for _ in range(40)]}
    msg = blocks.answer_message(reply, "https://x")
    check_limits(msg)
    assert msg["blocks"][0]["text"]["text"].endswith("…")


def test_many_remediation_blocks_fit():
    msg = blocks.message("t", [b for i in range(100) for b in blocks.remediation_blocks(
        FakeRemediation(f"rem-{i}" + "x" * 2500, "inc-1", "restart" * 30, "svc" * 40), "https://x")])
    check_limits(msg)


def test_incident_notification_fits_and_escapes():
    services = {f"<svc{i}>": ServiceAnomaly(f"<svc{i}>", 0, 1, float(i), "lstm_ae") for i in range(30)}
    inc = Incident(id="inc-" + "1" * 200, start=0, end=None, services=services)
    rca = RCAResult(inc.id, [RootCause(f"<svc{i}>&", "resource", 1.0, 0.5, evidence=[Evidence("metric", "<@U123> " * 500)])
                             for i in range(30)], inconclusive=True, created_at=0)
    msg = incident_payload(inc, rca, "https://x")
    check_limits(msg)
    text = str(msg["blocks"])
    assert "<svc" not in text and "&lt;svc29&gt;" in text and "<@U123>" not in text
    assert "Inconclusive" in text


def test_incident_update_notice_names_what_joined_and_the_cause_before_and_fits():
    services = {f"<svc{i}>": ServiceAnomaly(f"<svc{i}>", 0, 1, float(i), "lstm_ae") for i in range(30)}
    updates = [IncidentUpdate(60.0 * i, f"<svc{i}>", "joined" if i % 2 else "new_symptom", ["metric.cpu"]) for i in range(30)]
    inc = Incident(id="inc-7", start=0, end=None, services=services, updates=updates)
    rca = RCAResult(inc.id, [RootCause("<svc29>", "resource", 1.0, 0.8, evidence=[Evidence("metric", "cpu <!here>")])],
                    inconclusive=False, created_at=0)
    withdrawn = [FakeRemediation(f"rem-{i}", "inc-7", "rollback", "<svc0>") for i in range(40)]
    msg = incident_updated_payload(inc, rca, "<svc0>", "https://x", withdrawn)
    check_limits(msg)
    assert "Withdrawn, as they act on the old cause: rem-0 (rollback &lt;svc0&gt;)" in str(msg["blocks"])
    assert msg["text"].startswith("Incident inc-7 updated: most likely cause now &lt;svc29&gt; (was &lt;svc0&gt;)")
    text = str(msg["blocks"])
    assert "&lt;svc29&gt; (joined)" in text and "&lt;svc28&gt; (new symptom)" in text and "it was &lt;svc0&gt;" in text
    assert "<!here>" not in text
    assert "was none (inconclusive)" in str(incident_updated_payload(inc, rca, None, "https://x")["blocks"])


def test_escape():
    assert blocks.escape("<!channel> & <http://evil|click>") == "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;"


def test_real_remediation_record_renders_with_its_workload_and_buttons():
    from rca_service.respond.remediation import Remediation

    rem = Remediation(id="rem-0a1b2c3d4e5f", incident_id="inc-1", action="restart", status="proposed", created_at=0.0,
                      params={"service": "lumvor-svc", "namespace": "shop", "workload": "lumvor"},
                      description="restart lumvor-svc: cpu saturation")
    out = blocks.remediation_blocks(rem, "https://x")
    assert "restart shop/lumvor" in out[0]["text"]["text"] and "cpu saturation" in out[0]["text"]["text"]
    assert [e.get("value") for e in out[1]["elements"][:2]] == ["rem-0a1b2c3d4e5f"] * 2
    rem.status = "verified"
    assert all(e["action_id"] == "open_incident" for e in blocks.remediation_blocks(rem, "https://x")[1]["elements"])
