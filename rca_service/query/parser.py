"""Reads a question into a `ParsedQuery`: intent, service, time range, signals, incident id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo

from rca_service.query.intent import Intent, classify_intent, extract_signals
from rca_service.query.services import Embedder, ServiceMatch, ServiceMatcher
from rca_service.query.timeparse import TimeParser, TimeRange

_INCIDENT_ID = re.compile(r"\b(inc[-_][A-Za-z0-9][A-Za-z0-9_-]*)", re.I)
_STATUS_FILTER = (("open", re.compile(r"\b(open|active|ongoing|current)\b", re.I)),
                  ("resolved", re.compile(r"\b(resolved|closed|finished|fixed)\b", re.I)))


@dataclass
class ParsedQuery:
    """What a question asks, as far as the parser can tell.

    Attributes:
        question: the text as asked.
        intent: what is asked for.
        intent_score: the weight of evidence for the intent (0 when unknown).
        service: the service named, if any.
        time_range: the time the question is about, if it names one.
        signals: signal families mentioned ("latency", "errors", "cpu", ...).
        incident_id: an incident id written in the question.
        status: "open" or "resolved" when the question filters incidents so.
    """

    question: str
    intent: Intent
    intent_score: float = 0.0
    service: ServiceMatch | None = None
    time_range: TimeRange | None = None
    signals: list[str] = field(default_factory=list)
    incident_id: str | None = None
    status: str | None = None


class QueryParser:
    """Parses questions against the services currently known.

    Args:
        tz: time zone for clock times.
        point_window_s: half-width of the range around "at 14:05".
        embedder: for semantic service matching; None for lexical only.
    """

    def __init__(self, tz: tzinfo, point_window_s: float = 900.0, embedder: Embedder | None = None) -> None:
        self.times = TimeParser(tz=tz, point_window_s=point_window_s)
        self.embedder = embedder
        self._matcher: ServiceMatcher | None = None

    def matcher(self, services: list[str]) -> ServiceMatcher:
        """A matcher for this list of services, reused while the list does not change."""
        if self._matcher is None or self._matcher.services != list(dict.fromkeys(services)):
            self._matcher = ServiceMatcher(services, embedder=self.embedder)
        return self._matcher

    def parse(self, question: str, now: float, services: list[str]) -> ParsedQuery:
        intent, score = classify_intent(question)
        id_match = _INCIDENT_ID.search(question)
        text_for_names = _INCIDENT_ID.sub(" ", question)
        time_range = self.times.parse(text_for_names, now)
        if time_range and time_range.text:  # "at 2pm" is not a service called "pm"
            text_for_names = text_for_names.replace(time_range.text, " ")
        status = None
        if intent == Intent.LIST_INCIDENTS:
            status = next((name for name, rx in _STATUS_FILTER if rx.search(question)), None)
        return ParsedQuery(
            question=question,
            intent=intent,
            intent_score=score,
            service=self.matcher(services).match(text_for_names),
            time_range=time_range,
            signals=extract_signals(question),
            incident_id=id_match.group(1) if id_match else None,
            status=status,
        )
