"""Time ranges in plain-language questions.

Understands the forms people type during an incident:

    absolute   "at 14:05", "around 2:30pm", "since 2pm", "between 10:00 and 10:30",
               "from 09:15 to 09:45", ISO timestamps "2026-01-27T14:05:00Z"
    relative   "last hour", "past 15 minutes", "in the last 2 hours", "10 minutes ago",
               "today", "yesterday", "this morning"

Clock times without a date resolve to the most recent occurrence at or before `now` (a question
about "14:05" asked at 09:00 means yesterday's 14:05). All times are unix seconds; clock times
are read in the configured time zone (UTC unless set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from dateutil import parser as dateparser

_UNIT_SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_WORD_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45, "half an": 0.5,
    "couple of": 2, "few": 3,
}
_UNIT = r"(?P<unit>seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|[smhdw])\b"
_AMOUNT = r"(?P<amount>\d+(?:\.\d+)?|half an|couple of|few|forty-five|fifteen|twenty|thirty|ten|one|two|three|four|five|six|an|a)?"
# "last hour", "past 15 minutes", "in the last 2h", "over the past day"
_RELATIVE = re.compile(r"\b(?:last|past|previous|recent|within(?: the)?(?: last| past)?)\s+" + _AMOUNT + r"\s*" + _UNIT, re.I)
# "10 minutes ago"
_AGO = re.compile(r"\b" + _AMOUNT + r"\s*" + _UNIT + r"\s+ago\b", re.I)
_ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b")
_CLOCK = r"(?:\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?|\d{1,2}\s*[ap]\.?m\.?|noon|midnight)"
_BETWEEN = re.compile(r"\b(?:between|from)\s+(?P<a>" + _CLOCK + r")\s+(?:and|to|until|till|-)\s+(?P<b>" + _CLOCK + r")", re.I)
_SINCE = re.compile(r"\b(?:since|after)\s+(?P<a>" + _CLOCK + r")", re.I)
_BEFORE = re.compile(r"\bbefore\s+(?P<a>" + _CLOCK + r")", re.I)
_AT = re.compile(r"\b(?:at|around|about|near|~)\s*(?P<a>" + _CLOCK + r")", re.I)
_BARE_CLOCK = re.compile(r"(?<![\d:])(?P<a>\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?)(?![\d:])", re.I)
_DAY_PARTS = {
    "this morning": (6, 12), "this afternoon": (12, 18), "this evening": (18, 24),
    "tonight": (18, 24), "last night": (-6, 6), "overnight": (-6, 6),
}


@dataclass(frozen=True)
class TimeRange:
    """A span of time a question is about.

    Attributes:
        start: unix seconds, inclusive.
        end: unix seconds, exclusive.
        point: the moment named, for questions about one time ("what broke at 14:05?").
        text: the words it was read from.
    """

    start: float
    end: float
    point: float | None = None
    text: str = ""

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "point": self.point, "text": self.text}


def _amount(raw: str | None) -> float:
    if not raw:
        return 1.0
    raw = raw.lower()
    if raw in _WORD_NUMBERS:
        return float(_WORD_NUMBERS[raw])
    return float(raw)


def _unit_seconds(raw: str) -> int:
    return _UNIT_SECONDS[raw.lower()]


def _parse_clock(text: str) -> tuple[int, int, int]:
    """(hour, minute, second) from "14:05", "2pm", "2:30 p.m.", "noon"."""
    t = text.strip().lower().replace(".", "")
    if t == "noon":
        return 12, 0, 0
    if t == "midnight":
        return 0, 0, 0
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap]m)?", t)
    if not m:
        raise ValueError(f"not a clock time: {text!r}")
    hour, minute, second = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if m.group(4) == "pm" and hour < 12:
        hour += 12
    elif m.group(4) == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"not a clock time: {text!r}")
    return hour, minute, second


class TimeParser:
    """Reads the time range of a question.

    Args:
        tz: time zone for clock times and calendar days (default UTC).
        point_window_s: half-width of the range around a single moment ("at 14:05").
        future_slack_s: a clock time up to this far after `now` still means today (clock skew).
    """

    def __init__(self, tz: tzinfo = timezone.utc, point_window_s: float = 900.0, future_slack_s: float = 300.0) -> None:
        self.tz = tz
        self.point_window_s = point_window_s
        self.future_slack_s = future_slack_s

    def parse(self, question: str, now: float) -> TimeRange | None:
        """The time range the question names, or None when it names none."""
        text = question
        for finder in (self._iso, self._between, self._relative, self._ago, self._calendar,
                       self._since, self._before, self._at):
            found = finder(text, now)
            if found is not None:
                return found
        return None

    # -- helpers -----------------------------------------------------------------------
    def _clock_to_ts(self, clock: str, now: float) -> float:
        """The most recent occurrence of a clock time at or before now (plus slack)."""
        hour, minute, second = _parse_clock(clock)
        local_now = datetime.fromtimestamp(now, self.tz)
        candidate = local_now.replace(hour=hour, minute=minute, second=second, microsecond=0)
        if candidate.timestamp() > now + self.future_slack_s:
            candidate -= timedelta(days=1)
        return candidate.timestamp()

    def _point(self, ts: float, text: str) -> TimeRange:
        return TimeRange(ts - self.point_window_s, ts + self.point_window_s, point=ts, text=text)

    def _midnight(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.tz).replace(hour=0, minute=0, second=0, microsecond=0)

    # -- finders, most specific first ----------------------------------------------------
    def _iso(self, text: str, now: float) -> TimeRange | None:
        matches = list(_ISO.finditer(text))
        if not matches:
            return None
        stamps = []
        for m in matches:
            dt = dateparser.isoparse(m.group(0).replace(" ", "T"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=self.tz)
            stamps.append((dt.timestamp(), "T" in m.group(0) or " " in m.group(0).strip()))
        if len(stamps) >= 2:
            a, b = sorted(s for s, _ in stamps[:2])
            return TimeRange(a, b, text=" .. ".join(m.group(0) for m in matches[:2]))
        ts, has_time = stamps[0]
        if not has_time:  # a bare date: the whole day
            return TimeRange(ts, ts + 86400, text=matches[0].group(0))
        if re.search(r"\bsince\s+" + re.escape(matches[0].group(0)), text, re.I):
            return TimeRange(ts, now, text=matches[0].group(0))
        return self._point(ts, matches[0].group(0))

    def _between(self, text: str, now: float) -> TimeRange | None:
        m = _BETWEEN.search(text)
        if not m:
            return None
        try:
            b = self._clock_to_ts(m.group("b"), now)
            hour_a = _parse_clock(m.group("a"))
        except ValueError:
            return None
        # "from 11pm to 1am": the start is the latest occurrence before the end
        local_b = datetime.fromtimestamp(b, self.tz)
        a_dt = local_b.replace(hour=hour_a[0], minute=hour_a[1], second=hour_a[2])
        if a_dt.timestamp() > b:
            a_dt -= timedelta(days=1)
        return TimeRange(a_dt.timestamp(), b, text=m.group(0))

    def _relative(self, text: str, now: float) -> TimeRange | None:
        m = _RELATIVE.search(text)
        if not m:
            return None
        span = _amount(m.group("amount")) * _unit_seconds(m.group("unit"))
        return TimeRange(now - span, now, text=m.group(0))

    def _ago(self, text: str, now: float) -> TimeRange | None:
        m = _AGO.search(text)
        if not m:
            return None
        ts = now - _amount(m.group("amount")) * _unit_seconds(m.group("unit"))
        return self._point(ts, m.group(0))

    def _calendar(self, text: str, now: float) -> TimeRange | None:
        low = text.lower()
        midnight = self._midnight(now)
        clock = _AT.search(text) or _BARE_CLOCK.search(text)
        day = -1 if re.search(r"\byesterday\b", low) else 0 if re.search(r"\btoday\b", low) else None
        if clock and day is not None:  # "around 22:15 yesterday": that time on that day
            try:
                hour, minute, second = _parse_clock(clock.group("a"))
            except ValueError:
                return None
            ts = (midnight + timedelta(days=day, hours=hour, minutes=minute, seconds=second)).timestamp()
            return self._point(ts, f"{clock.group(0).strip()} {'yesterday' if day else 'today'}")
        if re.search(r"\byesterday\b", low):
            return TimeRange((midnight - timedelta(days=1)).timestamp(), midnight.timestamp(), text="yesterday")
        for phrase, (h0, h1) in _DAY_PARTS.items():
            if phrase in low:
                base = midnight
                if (base + timedelta(hours=h0)).timestamp() > now:  # "this evening" asked at 9am
                    base -= timedelta(days=1)
                start = (base + timedelta(hours=h0)).timestamp()
                end = min((base + timedelta(hours=h1)).timestamp(), now)
                return TimeRange(start, end, text=phrase)
        if re.search(r"\btoday\b", low):
            return TimeRange(midnight.timestamp(), now, text="today")
        return None

    def _since(self, text: str, now: float) -> TimeRange | None:
        m = _SINCE.search(text)
        if not m:
            return None
        try:
            return TimeRange(self._clock_to_ts(m.group("a"), now), now, text=m.group(0))
        except ValueError:
            return None

    def _before(self, text: str, now: float) -> TimeRange | None:
        m = _BEFORE.search(text)
        if not m:
            return None
        try:
            ts = self._clock_to_ts(m.group("a"), now)
        except ValueError:
            return None
        return TimeRange(ts - 2 * self.point_window_s, ts, point=ts, text=m.group(0))

    def _at(self, text: str, now: float) -> TimeRange | None:
        m = _AT.search(text) or _BARE_CLOCK.search(text)
        if not m:
            return None
        try:
            return self._point(self._clock_to_ts(m.group("a"), now), m.group(0).strip())
        except ValueError:
            return None
