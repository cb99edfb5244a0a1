"""Notifications to an incoming webhook (a real local HTTP server): content, 429 handling, refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from rca_fakes import FakeRemediation, FakeService

from rca_service.chatops.blocks import APPROVE_ACTION, REJECT_ACTION
from rca_service.chatops.config import NotifierConfig
from rca_service.chatops.notify import Notifier, retry_after_seconds
from rca_service.errors import ConfigError

FAST = NotifierConfig(min_interval_s=0.0, timeout_s=5.0, max_retries=2)


@pytest.fixture
def notifier(receiver):
    n = Notifier(receiver.url + "/services/T000/B000/XXXX", "https://rca.example.test", FAST)
    yield n
    n.close()


def test_incident_notice_links_to_the_incident_page(notifier, receiver):
    svc = FakeService()
    inc = svc.incidents[1]
    assert notifier.incident_opened(inc, svc.results[inc.id])
    assert notifier.flush(10)
    msg = receiver.requests[0].json()
    assert receiver.requests[0].path == "/services/T000/B000/XXXX"
    assert msg["text"].startswith(f"Incident {inc.id} opened: checkout-svc, basketservice, storefront")
    button = msg["blocks"][-1]["elements"][0]
    assert button["url"] == f"https://rca.example.test/ui/incidents/{inc.id}"
    fields = [f["text"] for b in msg["blocks"] for f in b.get("fields", [])]
    assert fields[0] == "*basketservice*\nresource · 86%"


def test_remediation_notice_has_approve_and_reject(notifier, receiver):
    notifier.remediation_proposed(FakeRemediation("rem-9", "inc-1", "rollback", "ledger-db"))
    notifier.flush(10)
    msg = receiver.requests[0].json()
    elements = msg["blocks"][-1]["elements"]
    assert [(e["action_id"], e.get("value")) for e in elements[:2]] == [(APPROVE_ACTION, "rem-9"), (REJECT_ACTION, "rem-9")]
    assert elements[2]["url"] == "https://rca.example.test/ui/incidents/inc-1"


def test_429_is_retried_after_retry_after(notifier, receiver):
    receiver.script = [(429, {"Retry-After": "1"}, b"rate_limited")]
    notifier.remediation_proposed(FakeRemediation("rem-9", "inc-1", "rollback", "ledger-db"))
    assert notifier.flush(15)
    assert len(receiver.requests) == 2 and receiver.requests[0].body == receiver.requests[1].body
    assert (notifier.sent, notifier.dropped) == (1, 0)


def test_server_errors_are_retried_then_dropped(notifier, receiver):
    receiver.script = [(503, {"Retry-After": "0"}, b"")] * 3
    notifier.remediation_proposed(FakeRemediation("rem-9", "inc-1", "rollback", "ledger-db"))
    assert notifier.flush(15)
    assert len(receiver.requests) == 3 and (notifier.sent, notifier.dropped) == (0, 1)


@pytest.mark.parametrize("status,body", [(400, b"invalid_payload"), (404, b"channel_not_found"), (410, b"channel_is_archived")])
def test_refusals_are_not_retried(notifier, receiver, status, body):
    receiver.script = [(status, {}, body)]
    notifier.remediation_proposed(FakeRemediation("rem-9", "inc-1", "rollback", "ledger-db"))
    notifier.remediation_proposed(FakeRemediation("rem-10", "inc-1", "restart", "ledger-db"))
    assert notifier.flush(10)
    assert len(receiver.requests) == 2  # the first dropped, the next one still sent
    assert (notifier.sent, notifier.dropped) == (1, 1)


def test_posts_are_spaced_by_the_rate_limit(receiver):
    n = Notifier(receiver.url, "https://x", NotifierConfig(min_interval_s=0.3))
    try:
        for i in range(3):
            n.remediation_proposed(FakeRemediation(f"rem-{i}", "inc-1", "restart", "a"))
        assert n.flush(10)
    finally:
        n.close()
    assert [r.json()["text"] for r in receiver.requests] == [f"Remediation rem-{i} awaits approval" for i in range(3)]


def test_disabled_without_a_url():
    n = Notifier("", "https://x")
    assert n.enabled is False and n.incident_opened(FakeService().incidents[0]) is False
    n.close()


def test_retry_after_forms():
    assert retry_after_seconds("3") == 3.0
    now = datetime(2026, 3, 10, 16, 0, tzinfo=timezone.utc)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now.timestamp()) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError):
        NotifierConfig.from_dict({"min_interval_s": 1, "burst": 5})
