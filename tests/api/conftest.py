"""Fixtures for the API tests: a canned facade and clients with and without tokens."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rca_fakes import TOKENS, FakeService, fake_settings  # noqa: E402

from rca_service.api.app import create_app  # noqa: E402


@pytest.fixture
def service() -> FakeService:
    return FakeService(fake_settings())


@pytest.fixture
def client(service) -> TestClient:
    """No tokens configured: the local-only mode."""
    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture
def secured() -> tuple[FakeService, TestClient]:
    """Tokens configured: viewer, operator, admin."""
    svc = FakeService(fake_settings(api_tokens=TOKENS))
    with TestClient(create_app(svc)) as c:
        yield svc, c
