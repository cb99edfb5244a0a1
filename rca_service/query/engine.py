"""Answers plain-language questions from our own data, through the `RcaService` facade only.

    engine = QueryEngine(service)
    engine.answer("why is billing slow?", now=time.time())
    → {"answer": "...", "intent": "root_cause", "service": "billingservice",
       "time_range": None, "incident_id": "inc-…", "root_causes": [{"service", "kind", "score",
       "confidence", "signal"}], "inconclusive": False, "evidence": [...], "similar": [...], ...}

`answer` is a short paragraph naming the root cause, its confidence and the evidence — or saying
plainly that we do not know. Every structured field comes from the facade (incidents, RCA results,
the vector store, past incidents, remediations); an optional LLM may only reword `answer`.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rca_service.api.serialize import PENDING_STATES, field as get, jsonable, remediation_summary
from rca_service.errors import ConfigError, InputError, RcaError
from rca_service.ingest.configbase import config_from_dict
from rca_service.query.facts import FactFinder, asked_families
from rca_service.query.intent import Intent
from rca_service.query.llm import LLMRephraser
from rca_service.query.parser import ParsedQuery, QueryParser
from rca_service.query.reply import Reply
from rca_service.query.services import Embedder, MiniLMEmbedder
from rca_service.query.timeparse import TimeRange
from rca_service.query.wording import (
    describe_cause, fmt_range, fmt_time, incident_phrase, join_names, pct,
)
from rca_service.store.frames import signal_family

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


@dataclass
class QueryConfig:
    """Settings of the query engine.

    Attributes:
        timezone: IANA zone for clock times in questions and answers.
        point_window_s: half-width of the range around a single time ("at 14:05").
        default_window_s: range for "what broke?" without a time.
        changes_lookback_s: how far before an incident to look for changes.
        max_root_causes: root causes returned.
        max_evidence: evidence items returned (ranked evidence first, then vector hits).
        vector_hits: vector-store hits added as supporting evidence.
        similar_limit: past incidents returned.
        max_listed: incidents listed by "show incidents".
        semantic_services: match service names semantically with the offline MiniLM model.
        llm_url: optional OpenAI-compatible endpoint that may reword answers.
        llm_model: model name for that endpoint.
        llm_timeout_s: limit of one rewording call.
    """

    timezone: str = "UTC"
    point_window_s: float = 900.0
    default_window_s: float = 3600.0
    changes_lookback_s: float = 1800.0
    max_root_causes: int = 5
    max_evidence: int = 8
    vector_hits: int = 3
    similar_limit: int = 3
    max_listed: int = 10
    semantic_services: bool = True
    llm_url: str = ""
    llm_model: str = ""
    llm_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("point_window_s", "default_window_s", "changes_lookback_s", "llm_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"QueryConfig.{name} must be > 0")
        for name in ("max_root_causes", "max_evidence", "similar_limit", "max_listed"):
            if getattr(self, name) < 1:
                raise ConfigError(f"QueryConfig.{name} must be >= 1")
        if self.vector_hits < 0:
            raise ConfigError("QueryConfig.vector_hits must be >= 0")
        _ = self.tz  # validates the zone name

    @property
    def tz(self) -> tzinfo:
        if self.timezone.upper() == "UTC":
            return timezone.utc
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"QueryConfig.timezone: unknown time zone {self.timezone!r}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QueryConfig":
        """Build from a mapping, refusing keys this config does not have."""
        return config_from_dict(cls, data)

    @classmethod
    def from_settings(cls, settings: Any) -> "QueryConfig":
        """The parts an operator sets through `Settings` (LLM endpoint and model)."""
        return cls(llm_url=getattr(settings, "llm_url", "") or "", llm_model=getattr(settings, "llm_model", "") or "")


class QueryEngine:
    """Plain-language questions → answers, over the `RcaService` facade.

    Args:
        service: the facade (anything with its read methods: list_incidents, get_incident, rca,
            service_status, services, search, similar_incidents, list_remediations, timeseries).
        config: engine settings; default `QueryConfig.from_settings(service.settings)` when the
            service carries settings.
        embedder: texts → unit vectors for semantic service matching; default the shared
            offline MiniLM model (loaded on first semantic match only).
        rephraser: optional LLM rewording; default from `config.llm_url`.
    """

    def __init__(self, service: Any, config: QueryConfig | None = None, embedder: Embedder | None = None,
                 rephraser: LLMRephraser | None = None) -> None:
        self.service = service
        settings = getattr(service, "settings", None)
        self.config = config or (QueryConfig.from_settings(settings) if settings is not None else QueryConfig())
        self.tz = self.config.tz
        if embedder is None and self.config.semantic_services:
            embedder = MiniLMEmbedder.shared()
        self.parser = QueryParser(self.tz, self.config.point_window_s, embedder)
        self.facts = FactFinder(service, self.config, self.tz)
        if rephraser is None and self.config.llm_url:
            rephraser = LLMRephraser(self.config.llm_url, self.config.llm_model, self.config.llm_timeout_s)
        self.rephraser = rephraser

    # -- public --------------------------------------------------------------------------
    def parse(self, question: str, now: float | None = None) -> ParsedQuery:
        """The parsed question (intent, service, time range, signals) without answering it."""
        question = self._check(question)
        return self.parser.parse(question, time.time() if now is None else now, self.facts.services())

    def answer(self, question: str, now: float | None = None) -> dict:
        """Answer one question. Raises InputError for an empty or overlong question."""
        now = time.time() if now is None else float(now)
        parsed = self.parse(question, now)
        handler = {
            Intent.ROOT_CAUSE: self._root_cause,
            Intent.WHAT_BROKE: self._what_broke,
            Intent.STATUS: self._status,
            Intent.CHANGES: self._changes,
            Intent.LIST_INCIDENTS: self._list_incidents,
            Intent.SIMILAR: self._similar,
            Intent.REMEDIATION: self._remediation,
            Intent.HELP: self._help,
            Intent.UNKNOWN: self._unknown,
        }[parsed.intent]
        reply = handler(parsed, now)
        if self.rephraser is not None:
            better = self.rephraser.rephrase(parsed.question, reply.answer, reply.evidence)
            if better:
                reply.answer, reply.rephrased = better, True
        return reply.to_dict()

    # -- input and lookups ----------------------------------------------------------------
    @staticmethod
    def _check(question: Any) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InputError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        return question.strip()

    def _no_incident_text(self, parsed: ParsedQuery, why: str, now: float) -> str:
        where = f" involving {parsed.service.service}" if parsed.service else ""
        when = (" " + fmt_range(parsed.time_range.start, parsed.time_range.end, self.tz, now)) if parsed.time_range else ""
        if why == "unknown_id":
            return f"I don't know an incident with id {parsed.incident_id}."
        text = f"I don't know the cause: I found no incident{where}{when}."
        if parsed.service:
            status = self.facts.status_dict(parsed.service.service)
            if status is not None:
                text += " " + self._status_sentence(status, parsed)
        return text

    # -- intents --------------------------------------------------------------------------
    def _root_cause(self, parsed: ParsedQuery, now: float) -> Reply:
        incident, why = self.facts.find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now), parsed)
        return self._explain(incident, parsed, now)

    def _explain(self, incident: Any, parsed: ParsedQuery, now: float, lead: str = "") -> Reply:
        inc_id = get(incident, "id")
        head = (lead or "") + incident_phrase(incident, self.tz, now)
        head = head[0].upper() + head[1:]
        rca = self.facts.rca(inc_id)
        if rca is None:
            return Reply(f"{head}. I could not rank its root causes yet, so I don't know the cause.", parsed, incident_id=inc_id)
        reply = Reply("", parsed, incident_id=inc_id, root_causes=self.facts.root_cause_dicts(rca), inconclusive=bool(rca.inconclusive),
                      evidence=self.facts.evidence(rca, parsed), similar=self.facts.similar_to(inc_id))
        if not rca.root_causes:
            reply.answer = f"{head}. I don't know the root cause: no candidate had any supporting evidence."
            return reply
        top = rca.root_causes[0]
        if rca.inconclusive:
            text = (f"{head}. The evidence is inconclusive, so I can't name the root cause with confidence. "
                    f"The strongest candidate is {describe_cause(top)}.")
        else:
            text = f"{head}. The most likely root cause is {describe_cause(top)}."
        ranked_evidence = [e["summary"] for e in reply.evidence if e["source"] == "rca"][:3]
        if ranked_evidence:
            text += " Evidence: " + "; ".join(ranked_evidence) + "."
        others = [f"{rc.service} ({pct(rc.confidence)})" for rc in rca.root_causes[1:3]]
        if others:
            text += f" Next candidates: {join_names(others)}."
        if reply.similar:
            s = reply.similar[0]
            text += f" It resembles past incident {s.get('incident_id')}"
            if s.get("root_cause"):
                text += f" (root cause {s.get('root_cause')}"
                text += f", resolved by {s.get('resolution')})" if s.get("resolution") else ")"
            text += "."
        reply.answer = text
        return reply

    def _what_broke(self, parsed: ParsedQuery, now: float) -> Reply:
        if parsed.time_range is None and parsed.incident_id is None:
            parsed.time_range = _default_range(now, self.config.default_window_s)
        incident, why = self.facts.find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now).replace("I don't know the cause: I", "Nothing broke that I know of: I"), parsed)
        lead = ""
        if parsed.time_range and parsed.time_range.point is not None:
            lead = f"At {fmt_time(parsed.time_range.point, self.tz, now)}: "
        return self._explain(incident, parsed, now, lead=lead)

    def _status_sentence(self, status: dict, parsed: ParsedQuery) -> str:
        name = status.get("service")
        score = status.get("score")
        score_text = f" (anomaly score {score:.2f}; 1.0 is the alert threshold)" if isinstance(score, (int, float)) else ""
        if status.get("anomalous"):
            text = f"{name} is not OK right now: it is anomalous{score_text}."
        else:
            text = f"{name} looks healthy right now{score_text}."
        top = [t if isinstance(t, str) else get(t, "signal", "name", default="") for t in status.get("top_signals") or []]
        if status.get("anomalous") and any(top):
            text += f" Most unusual: {join_names([t for t in top if t][:3])}."
        asked = asked_families(parsed)

        def rank(item: tuple[str, Any]) -> tuple[int, int, int]:
            # the detector's top signals, then what was asked about, then the span signals everyone reads
            name = item[0]
            return (0 if name in top else 1, 0 if signal_family(name) in asked else 1, 0 if name.startswith("span.") else 1)

        numeric = [(k, v) for k, v in (status.get("signals") or {}).items() if isinstance(v, (int, float))]
        shown = [f"{k} = {v:.3g}" for k, v in sorted(numeric, key=rank)[:4]]
        if shown:
            text += " Latest values: " + ", ".join(shown) + "."
        open_ids = status.get("open_incidents") or []
        if open_ids:
            text += f" Open incidents: {join_names(open_ids)}."
        return text

    def _status(self, parsed: ParsedQuery, now: float) -> Reply:
        if parsed.service is None:
            known = self.facts.services()
            text = "Which service do you mean? "
            text += f"I know {join_names(known, limit=12)}." if known else "I have not seen any service yet."
            return Reply(text, parsed)
        status = self.facts.status_dict(parsed.service.service)
        if status is None:
            return Reply(f"I don't know how {parsed.service.service} is doing: I have no recent data for it.", parsed)
        open_ids = status.get("open_incidents") or []
        return Reply(self._status_sentence(status, parsed), parsed, status=status, incident_id=open_ids[0] if open_ids else None)

    def _changes(self, parsed: ParsedQuery, now: float) -> Reply:
        incident, why = self.facts.find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now).replace("I don't know the cause: I", "I can't say what changed: I"), parsed)
        inc_id, start = get(incident, "id"), float(get(incident, "start"))
        since = start - self.config.changes_lookback_s
        found: list[dict] = []
        rca = self.facts.rca(inc_id)
        for rc in (rca.root_causes if rca else []):
            found += [{"kind": "change", "summary": e.summary, "service": rc.service, "source": "rca", "data": jsonable(e.data)}
                      for e in rc.evidence if e.kind == "change"]
        names = list((get(incident, "services", default={}) or {}).keys())
        names += [rc.service for rc in (rca.root_causes[:3] if rca else []) if rc.service not in names]
        for name in names[:6]:
            found += self.facts.change_steps(name, since, start + 60.0, now)
        head = incident_phrase(incident, self.tz, now)
        head = head[0].upper() + head[1:]
        window = fmt_range(since, start, self.tz, now)
        if found:
            text = f"{head}. Changes recorded {window}: " + "; ".join(f["summary"] for f in found[:5]) + "."
        else:
            text = f"{head}. I found no recorded deploys or config changes {window}."
        return Reply(text, parsed, incident_id=inc_id, evidence=found[: self.config.max_evidence],
                     root_causes=self.facts.root_cause_dicts(rca) if rca else [], inconclusive=bool(rca.inconclusive) if rca else None)

    def _list_incidents(self, parsed: ParsedQuery, now: float) -> Reply:
        start, end = self.facts.range(parsed)
        name = parsed.service.service if parsed.service else None
        incidents = list(self.service.list_incidents(start=start, end=end, service=name, status=parsed.status))
        shown = incidents[: self.config.max_listed]
        rows = []
        for inc in shown:
            row = {"incident_id": get(inc, "id"), "start": get(inc, "start"), "end": get(inc, "end"),
                   "status": get(inc, "status"), "services": list((get(inc, "services", default={}) or {}).keys()),
                   "root_cause": None, "confidence": None}
            if len(rows) < 3:  # rank only the newest few; rankings are cached by the facade
                rca = self.facts.rca(row["incident_id"])
                if rca and rca.root_causes and not rca.inconclusive:
                    row["root_cause"], row["confidence"] = rca.root_causes[0].service, float(rca.root_causes[0].confidence)
            rows.append(row)
        scope = _scope_words(parsed.time_range)
        scope += f" involving {name}" if name else ""
        kind = f"{parsed.status} " if parsed.status else ""
        if not rows:
            return Reply(f"No {kind}incidents{scope}.", parsed, incidents=[])
        parts = []
        for r in rows:
            part = f"{r['incident_id']} ({fmt_time(r['start'], self.tz, now)}, {r['status']}"
            if r["root_cause"]:
                part += f", root cause {r['root_cause']} {pct(r['confidence'])}"
            parts.append(part + ")")
        more = f" (showing the newest {len(rows)})" if len(incidents) > len(rows) else ""
        noun = "incident" if len(incidents) == 1 else "incidents"
        text = f"{len(incidents)} {kind}{noun}{scope}{more}: " + "; ".join(parts) + "."
        return Reply(text, parsed, incidents=rows, incident_id=rows[0]["incident_id"])

    def _similar(self, parsed: ParsedQuery, now: float) -> Reply:
        incident, why = self.facts.find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now).replace("I don't know the cause: I", "I can't compare: I"), parsed)
        inc_id = get(incident, "id")
        similar = self.facts.similar_to(inc_id)
        head = incident_phrase(incident, self.tz, now)
        if not similar:
            return Reply(f"No: I have no past incident on record like {head}.", parsed, incident_id=inc_id)
        parts = []
        for s in similar:
            part = f"{s.get('incident_id')} (similarity {float(s.get('score') or 0):.2f}"
            if s.get("root_cause"):
                part += f", root cause {s['root_cause']}"
            if s.get("resolution"):
                part += f", resolved by {s['resolution']}"
            parts.append(part + ")")
        text = f"Yes: {head} resembles {len(similar)} past incident(s): " + "; ".join(parts) + "."
        return Reply(text, parsed, incident_id=inc_id, similar=similar)

    def _remediation(self, parsed: ParsedQuery, now: float) -> Reply:
        incident_id = None
        if parsed.incident_id or parsed.service or parsed.time_range:
            incident, _ = self.facts.find_incident(parsed, now)
            incident_id = get(incident, "id") if incident is not None else None
        try:
            rems = [remediation_summary(r) for r in self.service.list_remediations(incident_id)]
        except (RcaError, NotImplementedError) as exc:
            return Reply(f"I can't list remediations right now: {exc}.", parsed, incident_id=incident_id)
        scope = f" for incident {incident_id}" if incident_id else ""
        if not rems:
            return Reply(f"No remediation has been proposed{scope}.", parsed, incident_id=incident_id)
        pending = [r for r in rems if r["status"] in PENDING_STATES]
        parts = [f"{r['action']} {r['target_label']}".strip() + f" [{r['id']}]: {r['status']}" for r in rems[:5]]
        text = f"{len(rems)} remediation(s){scope}: " + "; ".join(parts) + "."
        if pending:
            text += f" {len(pending)} awaiting approval."
        return Reply(text, parsed, incident_id=incident_id, remediations=rems)

    def _help(self, parsed: ParsedQuery, now: float) -> Reply:
        return Reply(HELP_TEXT, parsed)

    def _unknown(self, parsed: ParsedQuery, now: float) -> Reply:
        if parsed.incident_id:  # a bare incident id: explain it
            return self._root_cause(parsed, now)
        if parsed.service:  # a bare service name: say how it is doing
            return self._status(parsed, now)
        return Reply("I don't understand the question. " + HELP_TEXT, parsed)


HELP_TEXT = ("You can ask, for example: \"why is <service> slow?\", \"what broke at 14:05?\", \"is <service> ok?\", "
             "\"what changed before the errors started?\", \"show incidents from the last hour\", "
             "\"has this happened before?\", \"what remediation is pending?\".")


def _default_range(now: float, window: float) -> TimeRange:
    return TimeRange(now - window, now, text=f"last {int(window // 60)} minutes")


def _scope_words(tr: TimeRange | None) -> str:
    """" in the last hour", " yesterday", " since 2pm" for a range read from a question."""
    if tr is None or not tr.text:
        return ""
    text = tr.text.strip()
    if re.match(r"(last|past|previous|recent|within)\b", text, re.I):
        return " in the " + re.sub(r"^(within( the)?( last| past)?)\s+", "last ", text, flags=re.I)
    if re.match(r"(at|about|~)\b", text, re.I):
        return " around " + re.sub(r"^(at|about|~)\s*", "", text, flags=re.I)
    return " " + text
