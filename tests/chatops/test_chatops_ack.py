"""Over a real socket: the slash command is acknowledged before the (slow) answer is ready.

The facade's query blocks until the test releases it; the HTTP ack must already have arrived,
with nothing posted to the response_url yet. Then the answer arrives there. No timing asserts:
the ordering is forced by the gate.
"""

from __future__ import annotations

import threading

import httpx
from chat_helpers import chat_settings, command_body, signed_headers
from rca_fakes import FakeService, uvicorn_server

from rca_service.api.app import create_app


class SlowService(FakeService):
    def __init__(self):
        super().__init__(chat_settings())
        self.gate = threading.Event()
        self.entered = threading.Event()

    def query(self, question, now=None):
        self.entered.set()
        self.gate.wait(30)
        return super().query(question, now)


def test_ack_comes_before_the_answer(receiver):
    svc = SlowService()
    with uvicorn_server(create_app(svc)) as url:
        body = command_body("why is checkout slow?", receiver.url)
        ack = httpx.post(f"{url}/chatops/slack/commands", content=body, headers=signed_headers(body), timeout=10)
        assert ack.status_code == 200 and ack.json()["text"].startswith("Working on it")
        assert svc.entered.wait(10)  # the answer is being worked on...
        assert receiver.requests == []  # ...and nothing was posted yet
        svc.gate.set()
        answer = receiver.wait_for(1, timeout=20)[0].json()
    assert "basketservice" in answer["text"]
