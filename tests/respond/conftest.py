"""Fixtures for the respond tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rca_service.audit.chain import AuditLog
from respond_helpers import FakeSystem


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit" / "chain.jsonl")
