"""Chat bot fixtures: a canned facade with the bot configured, and a real response_url receiver."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_helpers import chat_settings  # noqa: E402
from rca_fakes import FakeService, Receiver  # noqa: E402


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def chat():
    """(service, TestClient) for an app whose chat bot is configured."""
    from fastapi.testclient import TestClient

    from rca_service.api.app import create_app

    svc = FakeService(chat_settings())
    with TestClient(create_app(svc)) as c:
        yield svc, c
