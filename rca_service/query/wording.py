"""Readable wording for answers: times, confidence, root causes, evidence lists."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rca_service.api.serialize import field


def fmt_time(ts: float | None, tz: tzinfo, now: float | None = None) -> str:
    """"14:05 UTC" on the day of `now`, "2026-01-27 14:05 UTC" otherwise."""
    if ts is None:
        return "an unknown time"
    dt = datetime.fromtimestamp(ts, tz)
    name = dt.tzname() or ""
    if now is not None and datetime.fromtimestamp(now, tz).date() == dt.date():
        return f"{dt:%H:%M} {name}".strip()
    return f"{dt:%Y-%m-%d %H:%M} {name}".strip()


def fmt_range(start: float | None, end: float | None, tz: tzinfo, now: float) -> str:
    return f"between {fmt_time(start, tz, now)} and {fmt_time(end, tz, now)}"


def confidence_word(confidence: float) -> str:
    if confidence >= 0.8:
        return "high"
    if confidence >= 0.6:
        return "moderate"
    return "low"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def describe_cause(rc: Any) -> str:
    """"basketservice (resource fault, signal metric.cpu_usage_rate), confidence 82% (high)"."""
    kind = field(rc, "kind", default="unknown")
    signal = field(rc, "signal", default="")
    confidence = float(field(rc, "confidence", default=0.0))
    what = f"{kind} fault" if kind != "unknown" else "unknown fault kind"
    if signal:
        what += f", signal {signal}"
    return f"{field(rc, 'service')} ({what}), confidence {pct(confidence)} ({confidence_word(confidence)})"


def join_names(names: list[str], limit: int = 5) -> str:
    names = [str(n) for n in names]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else ""


def incident_phrase(incident: Any, tz: tzinfo, now: float) -> str:
    """"Incident inc-… (started 14:03 UTC, still open; affecting a, b)"."""
    start = field(incident, "start")
    end = field(incident, "end")
    status = field(incident, "status", default="open")
    services = field(incident, "services", default={}) or {}
    ranked = sorted(services.values(), key=lambda a: -float(field(a, "peak_score", default=0.0))) if isinstance(services, dict) else []
    names = [field(a, "service") for a in ranked]
    when = f"started {fmt_time(start, tz, now)}"
    when += ", still open" if status == "open" or end is None else f", {status} at {fmt_time(end, tz, now)}"
    affecting = f"; anomalous: {join_names(names)}" if names else ""
    return f"incident {field(incident, 'id')} ({when}{affecting})"
