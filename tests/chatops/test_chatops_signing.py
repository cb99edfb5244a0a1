"""Only requests signed with the secret, within 5 minutes, are acted on; anything else is 401."""

from __future__ import annotations

import time

import pytest
from chat_helpers import SECRET, action_body, command_body, signed_headers

from rca_service.chatops.blocks import APPROVE_ACTION

URLS = ["/chatops/slack/commands", "/chatops/slack/interactions"]


def body_for(url: str, response_url: str) -> bytes:
    if url.endswith("commands"):
        return command_body("approve rem-3", response_url)
    return action_body(APPROVE_ACTION, "rem-3", response_url)


@pytest.mark.parametrize("url", URLS)
def test_fresh_signed_request_is_acted_on(chat, receiver, url):
    svc, c = chat
    body = body_for(url, receiver.url)
    assert c.post(url, content=body, headers=signed_headers(body)).status_code == 200
    assert svc.remediations[2].status == "approved"
    assert len(receiver.wait_for(1)) == 1


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("case", ["unsigned", "wrong_secret", "replayed", "future", "tampered", "bad_timestamp", "no_prefix"])
def test_anything_else_is_401_and_does_nothing(chat, receiver, url, case):
    svc, c = chat
    body = body_for(url, receiver.url)
    if case == "unsigned":
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    elif case == "wrong_secret":
        headers = signed_headers(body, secret="another-secret-entirely")
    elif case == "replayed":  # a captured request sent again 6 minutes later
        headers = signed_headers(body, timestamp=time.time() - 360)
    elif case == "future":
        headers = signed_headers(body, timestamp=time.time() + 360)
    elif case == "tampered":  # signature of the original body, body changed in flight
        headers = signed_headers(body)
        body = body.replace(b"rem-3", b"rem-2")
    elif case == "bad_timestamp":
        headers = {**signed_headers(body), "X-Slack-Request-Timestamp": "yesterday"}
    else:
        headers = signed_headers(body)
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"][3:]
    resp = c.post(url, content=body, headers=headers)
    assert resp.status_code == 401
    assert [r.status for r in svc.remediations] == ["applied", "proposed", "proposed"]
    assert svc.audit == []
    time.sleep(0.05)
    assert receiver.requests == []


def test_signed_within_the_window_is_accepted(chat, receiver):
    svc, c = chat
    body = command_body("help", receiver.url)
    assert c.post("/chatops/slack/commands", content=body, headers=signed_headers(body, timestamp=time.time() - 240)).status_code == 200


def test_bot_without_a_secret_refuses_everything(receiver):
    from fastapi.testclient import TestClient
    from rca_fakes import FakeService, fake_settings

    from rca_service.api.app import create_app

    svc = FakeService(fake_settings())
    body = command_body("approve rem-3", receiver.url)
    with TestClient(create_app(svc)) as c:
        resp = c.post("/chatops/slack/commands", content=body, headers=signed_headers(body, secret=SECRET))
    assert resp.status_code == 401 and "RCA_SLACK_SIGNING_SECRET" in resp.json()["detail"]
    assert svc.remediations[2].status == "proposed"
