"""The question set: each realistic question gets the expected intent, service, time range and incident."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from rca_fakes import DAY, NOW, FakeService

from rca_service.query.engine import QueryConfig, QueryEngine

SPEC = yaml.safe_load((Path(__file__).parent / "questions.yaml").read_text())
QUESTIONS = SPEC["questions"]


def when(text: str) -> float:
    """"HH:MM" today, "D-1 HH:MM" yesterday, "now-<n>m", "now"."""
    if text == "now":
        return NOW
    if text.startswith("now-"):
        return NOW - 60 * float(text[4:-1])
    day = DAY
    if text.startswith("D-1 "):
        day, text = DAY - 86400, text[4:]
    hour, minute = (int(x) for x in text.split(":"))
    return day + hour * 3600 + minute * 60


@pytest.fixture(scope="module")
def answers():
    engine = QueryEngine(FakeService(), QueryConfig(semantic_services=False))
    return {item["q"]: engine.answer(item["q"], now=NOW) for item in QUESTIONS}


def test_the_set_is_big_and_varied():
    assert datetime.fromisoformat(SPEC["now"]).timestamp() == NOW
    assert len(QUESTIONS) >= 40
    intents = {q["intent"] for q in QUESTIONS}
    assert {"root_cause", "what_broke", "status", "changes", "list_incidents", "similar", "remediation", "help"} <= intents
    assert sum(1 for q in QUESTIONS if q["time"]) >= 15


@pytest.mark.parametrize("item", QUESTIONS, ids=[q["q"] for q in QUESTIONS])
def test_question(item, answers):
    got = answers[item["q"]]
    assert got["intent"] == item["intent"]
    assert got["service"] == item["service"]
    if item["time"] is None:
        assert got["time_range"] is None or item["intent"] == "what_broke"
    else:
        tr = got["time_range"]
        assert tr is not None, "no time range read"
        assert tr["start"] == pytest.approx(when(item["time"]["start"]))
        assert tr["end"] == pytest.approx(when(item["time"]["end"]))
        if "point" in item["time"]:
            assert tr["point"] == pytest.approx(when(item["time"]["point"]))
    if item["incident"] is None:
        assert got["incident_id"] is None
    else:
        expected = next(i.id for i in FakeService().incidents if i.id.endswith(f"-{item['incident']:04x}"))
        assert got["incident_id"] == expected
    assert got["answer"] and len(got["answer"]) < 1500


def test_no_question_takes_a_time_from_a_future_it_cannot_know(answers):
    for item in QUESTIONS:
        tr = answers[item["q"]]["time_range"]
        if tr:
            assert tr["start"] <= NOW + 900
            assert tr["start"] < tr["end"]


def test_the_clock_is_read_in_the_configured_zone():
    engine = QueryEngine(FakeService(), QueryConfig(semantic_services=False, timezone="Europe/Berlin"))
    got = engine.answer("what broke at 15:05?", now=NOW)  # 15:05 in Berlin (UTC+1) is 14:05 UTC
    assert got["time_range"]["point"] == NOW - 2 * 3600 + 5 * 60
    assert got["incident_id"].endswith("-0003")
    assert "15:03 CET" in got["answer"]  # and answers in that zone too


def test_relative_day_words_use_midnight_of_the_zone():
    got = QueryEngine(FakeService(), QueryConfig(semantic_services=False)).answer("list incidents today", now=NOW)
    assert got["time_range"]["start"] == DAY and got["time_range"]["end"] == NOW
    assert datetime.fromtimestamp(DAY, timezone.utc) + timedelta(hours=16) == datetime.fromtimestamp(NOW, timezone.utc)
