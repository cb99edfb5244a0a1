"""The engine's answer under construction, and its JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field

from rca_service.query.parser import ParsedQuery


@dataclass
class Reply:
    """An answer under construction; `to_dict` is the engine's output."""

    answer: str
    parsed: ParsedQuery
    incident_id: str | None = None
    root_causes: list[dict] = field(default_factory=list)
    inconclusive: bool | None = None
    evidence: list[dict] = field(default_factory=list)
    similar: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    remediations: list[dict] = field(default_factory=list)
    status: dict | None = None
    rephrased: bool = False

    def to_dict(self) -> dict:
        p = self.parsed
        return {
            "question": p.question,
            "answer": self.answer,
            "intent": p.intent.value,
            "service": p.service.service if p.service else None,
            "service_match": {"text": p.service.text, "method": p.service.method, "score": p.service.score} if p.service else None,
            "time_range": p.time_range.to_dict() if p.time_range else None,
            "signals": list(p.signals),
            "incident_id": self.incident_id,
            "root_causes": self.root_causes,
            "inconclusive": self.inconclusive,
            "evidence": self.evidence,
            "similar": self.similar,
            "incidents": self.incidents,
            "remediations": self.remediations,
            "status": self.status,
            "rephrased": self.rephrased,
        }
