"""WebhookExecutor against a real HTTP server on 127.0.0.1, with signed requests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rca_service.errors import ConfigError
from rca_service.respond.actions import ScaleOut, ShiftTraffic
from rca_service.respond.executors.webhook import (
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookExecutor, WebhookExecutorConfig, verify_signature,
)

SECRET = "hook-secret"


class Receiver:
    """A webhook receiver that checks signatures and answers as told."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.status = 200
        self.answer: dict = {"ok": True, "message": "done", "state": {"token": "abc"}}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                valid = verify_signature(SECRET, self.headers[TIMESTAMP_HEADER], raw, self.headers[SIGNATURE_HEADER])
                receiver.calls.append({"body": json.loads(raw), "valid": valid})
                data = json.dumps(receiver.answer if valid else {"ok": False}).encode()
                self.send_response(receiver.status if valid else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def test_signed_steps_reach_the_receiver(receiver):
    ex = WebhookExecutor(WebhookExecutorConfig(url=receiver.url, secret=SECRET))
    action = ScaleOut("checkout", "shop", "checkout", add_replicas=2)
    assert ex.dry_run(action).ok
    res = ex.apply(action)
    assert res.ok and res.message == "done" and res.state == {"token": "abc"}
    back = ex.rollback(action, res.state)
    assert back.ok
    assert [c["body"]["operation"] for c in receiver.calls] == ["dry_run", "apply", "rollback"]
    assert all(c["valid"] for c in receiver.calls)
    assert receiver.calls[1]["body"]["params"]["add_replicas"] == 2
    assert receiver.calls[2]["body"]["applied_state"] == {"token": "abc"}
    ex.close()


def test_wrong_secret_is_rejected_by_the_receiver(receiver):
    ex = WebhookExecutor(WebhookExecutorConfig(url=receiver.url, secret="not-the-secret"))
    res = ex.apply(ShiftTraffic("checkout", "shop", "checkout"))
    assert not res.ok and "401" in res.message and receiver.calls[0]["valid"] is False


def test_receiver_saying_no_and_http_errors(receiver):
    ex = WebhookExecutor(WebhookExecutorConfig(url=receiver.url, secret=SECRET))
    receiver.answer = {"ok": False, "message": "change freeze"}
    res = ex.apply(ShiftTraffic("checkout", "shop", "checkout"))
    assert not res.ok and res.message == "change freeze"
    receiver.status = 500
    assert not ex.apply(ShiftTraffic("checkout", "shop", "checkout")).ok


def test_unreachable_webhook_is_a_failed_result(port):
    ex = WebhookExecutor(WebhookExecutorConfig(url=f"http://127.0.0.1:{port}/x", secret=SECRET, timeout_s=2))
    res = ex.apply(ShiftTraffic("checkout", "shop", "checkout"))
    assert not res.ok and "failed" in res.message


def test_signature_checks():
    from rca_service.respond.executors.webhook import sign

    sig = sign(SECRET, "100.000", b"{}")
    assert verify_signature(SECRET, "100.000", b"{}", sig, now=150)
    assert not verify_signature(SECRET, "100.000", b"{} ", sig, now=150)
    assert not verify_signature(SECRET, "100.000", b"{}", sig, now=1000)  # stale


def test_config_refuses_unsigned_or_odd_urls():
    with pytest.raises(ConfigError):
        WebhookExecutorConfig(url="http://127.0.0.1/x", secret="")
    with pytest.raises(ConfigError):
        WebhookExecutorConfig(url="file:///etc/passwd", secret="s")
    with pytest.raises(ConfigError):
        WebhookExecutorConfig.from_dict({"url": "http://x", "secret": "s", "retries": 3})
