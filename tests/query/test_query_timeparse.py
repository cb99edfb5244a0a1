"""Time ranges read from questions, absolute and relative."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rca_service.query.timeparse import TimeParser


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


NOW = ts("2026-03-10 16:00:00")
P = TimeParser(point_window_s=600)


@pytest.mark.parametrize("question,start,end,point", [
    ("what broke at 14:05?", "2026-03-10 13:55", "2026-03-10 14:15", "2026-03-10 14:05"),
    ("errors around 2:30 pm", "2026-03-10 14:20", "2026-03-10 14:40", "2026-03-10 14:30"),
    ("what happened at noon", "2026-03-10 11:50", "2026-03-10 12:10", "2026-03-10 12:00"),
    ("at 18:00", "2026-03-09 17:50", "2026-03-09 18:10", "2026-03-09 18:00"),  # later than now: yesterday's
    ("at 12am", "2026-03-09 23:50", "2026-03-10 00:10", "2026-03-10 00:00"),
    ("anything at 2026-03-08T07:15:00Z?", "2026-03-08 07:05", "2026-03-08 07:25", "2026-03-08 07:15"),
    ("15 minutes ago", "2026-03-10 15:35", "2026-03-10 15:55", "2026-03-10 15:45"),
    ("around 22:15 yesterday", "2026-03-09 22:05", "2026-03-09 22:25", "2026-03-09 22:15"),
])
def test_points(question, start, end, point):
    tr = P.parse(question, NOW)
    assert (tr.start, tr.end, tr.point) == (ts(start), ts(end), ts(point))


@pytest.mark.parametrize("question,start,end", [
    ("since 2pm", "2026-03-10 14:00", "2026-03-10 16:00"),
    ("errors after 09:30", "2026-03-10 09:30", "2026-03-10 16:00"),
    ("between 10:00 and 10:30", "2026-03-10 10:00", "2026-03-10 10:30"),
    ("from 11pm to 1am", "2026-03-09 23:00", "2026-03-10 01:00"),  # across midnight
    ("from 9am until 11:15am", "2026-03-10 09:00", "2026-03-10 11:15"),
    ("last hour", "2026-03-10 15:00", "2026-03-10 16:00"),
    ("in the past 15 minutes", "2026-03-10 15:45", "2026-03-10 16:00"),
    ("within the last 2h", "2026-03-10 14:00", "2026-03-10 16:00"),
    ("over the previous day", "2026-03-09 16:00", "2026-03-10 16:00"),
    ("last half an hour", "2026-03-10 15:30", "2026-03-10 16:00"),
    ("yesterday", "2026-03-09 00:00", "2026-03-10 00:00"),
    ("today", "2026-03-10 00:00", "2026-03-10 16:00"),
    ("this morning", "2026-03-10 06:00", "2026-03-10 12:00"),
    ("this evening", "2026-03-09 18:00", "2026-03-10 00:00"),  # asked at 16:00: yesterday evening
    ("on 2026-03-07", "2026-03-07 00:00", "2026-03-08 00:00"),
    ("from 2026-03-07T10:00Z to 2026-03-07T11:30Z", "2026-03-07 10:00", "2026-03-07 11:30"),
])
def test_ranges(question, start, end):
    tr = P.parse(question, NOW)
    assert (tr.start, tr.end) == (ts(start), ts(end))
    assert tr.point is None


@pytest.mark.parametrize("question", ["why is it slow?", "is the ledger ok", "show incidents", "error rate 25:99",
                                      "version 2.4.1 deployed", "at 99pm"])
def test_no_time(question):
    assert P.parse(question, NOW) is None
