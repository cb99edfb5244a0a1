"""Answers plain-language questions from our own data, through the `RcaService` facade only.

    engine = QueryEngine(service)
    engine.answer("why is checkout slow?", now=time.time())
    → {"answer": "...", "intent": "root_cause", "service": "checkoutservice",
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
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rca_service.api.serialize import PENDING_STATES, field as get, jsonable, remediation_summary
from rca_service.errors import ConfigError, InputError, NotFoundError, RcaError
from rca_service.ingest.configbase import config_from_dict
from rca_service.query.intent import Intent
from rca_service.query.llm import LLMRephraser
from rca_service.query.parser import ParsedQuery, QueryParser
from rca_service.query.services import Embedder, MiniLMEmbedder
from rca_service.query.timeparse import TimeRange
from rca_service.query.wording import (
    describe_cause, fmt_range, fmt_time, incident_phrase, join_names, pct,
)
from rca_service.store.frames import signal_family

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
_FAMILY_OF_ASKED = {"cpu": "resource", "memory": "resource"}  # question words → store signal families


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
        if rephraser is None and self.config.llm_url:
            rephraser = LLMRephraser(self.config.llm_url, self.config.llm_model, self.config.llm_timeout_s)
        self.rephraser = rephraser

    # -- public --------------------------------------------------------------------------
    def parse(self, question: str, now: float | None = None) -> ParsedQuery:
        """The parsed question (intent, service, time range, signals) without answering it."""
        question = self._check(question)
        return self.parser.parse(question, time.time() if now is None else now, self._services())

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

    def _services(self) -> list[str]:
        try:
            return list(self.service.services())
        except RcaError as exc:
            log.warning("services() failed: %s", exc)
            return []

    def _range(self, parsed: ParsedQuery) -> tuple[float | None, float | None]:
        tr = parsed.time_range
        return (tr.start, tr.end) if tr else (None, None)

    def _find_incident(self, parsed: ParsedQuery, now: float) -> tuple[Any | None, str]:
        """The incident a question is about, and why it was chosen (for wording)."""
        if parsed.incident_id:
            try:
                return self.service.get_incident(parsed.incident_id), "named"
            except NotFoundError:
                return None, "unknown_id"
        start, end = self._range(parsed)
        name = parsed.service.service if parsed.service else None
        candidates = list(self.service.list_incidents(start=start, end=end, service=name))
        if not candidates and name:
            # the named service may be the cause without being anomalous itself: look at rankings
            for inc in list(self.service.list_incidents(start=start, end=end))[:5]:
                rca = self._rca(get(inc, "id"))
                if rca and any(get(rc, "service") == name for rc in rca.root_causes[:3]):
                    return inc, "ranked"
            return None, "none_for_service"
        if not candidates:
            return None, "none"
        point = parsed.time_range.point if parsed.time_range else None
        if point is not None:
            def distance(inc: Any) -> float:
                s, e = get(inc, "start"), get(inc, "end") or now
                return 0.0 if s <= point <= e else min(abs(point - s), abs(point - e))
            return min(candidates, key=distance), "time"
        if name and parsed.signals:
            # "why is X slow?": the newest incident where X is anomalous in the asked-about signals
            asked = {_FAMILY_OF_ASKED.get(s, s) for s in parsed.signals}
            for inc in candidates:
                anomaly = (get(inc, "services", default={}) or {}).get(name)
                if anomaly and any(signal_family(get(sig, "signal", default="")) in asked
                                   for sig in get(anomaly, "signals", default=[]) or []):
                    return inc, "signals"
        return candidates[0], "latest"  # the facade lists newest first

    def _rca(self, incident_id: str) -> Any | None:
        try:
            return self.service.rca(incident_id)
        except (RcaError, NotImplementedError) as exc:
            log.warning("rca(%s) failed: %s", incident_id, exc)
            return None

    def _root_cause_dicts(self, rca: Any) -> list[dict]:
        return [{"service": rc.service, "kind": rc.kind, "score": float(rc.score), "confidence": float(rc.confidence),
                 "signal": rc.signal} for rc in rca.root_causes[: self.config.max_root_causes]]

    def _evidence(self, rca: Any, parsed: ParsedQuery) -> list[dict]:
        """The top cause's ranked evidence (the asked-about signals first), then vector-store hits."""
        items: list[dict] = []
        if rca and rca.root_causes:
            top = rca.root_causes[0]
            asked = {_FAMILY_OF_ASKED.get(s, s) for s in parsed.signals}
            ranked = sorted(top.evidence, key=lambda e: 0 if signal_family(str(e.data.get("signal", ""))) in asked else 1)
            items = [{"kind": e.kind, "summary": e.summary, "service": top.service, "source": "rca",
                      "data": jsonable(e.data)} for e in ranked]
            items = items[: max(1, self.config.max_evidence - self.config.vector_hits)]
            if self.config.vector_hits:
                items += self._vector_evidence(f"{parsed.question} {top.service} {top.kind} {top.signal}", top.service)
        return items[: self.config.max_evidence]

    def _vector_evidence(self, text: str, service_name: str | None) -> list[dict]:
        try:
            hits = self.service.search(text, service=service_name, limit=self.config.vector_hits)
        except (RcaError, NotImplementedError) as exc:
            log.warning("vector search failed: %s", exc)
            return []
        out = []
        for hit in hits:
            payload = dict(hit.payload or {})
            summary = payload.get("text") or payload.get("template") or payload.get("summary") or payload.get("name") or hit.id
            out.append({"kind": hit.kind, "summary": str(summary), "service": payload.get("service", service_name),
                        "source": "vector", "score": float(hit.score), "data": jsonable(payload)})
        return out

    def _similar_to(self, incident_id: str) -> list[dict]:
        try:
            return jsonable(list(self.service.similar_incidents(incident_id, limit=self.config.similar_limit)))
        except (RcaError, NotImplementedError) as exc:
            log.warning("similar_incidents(%s) failed: %s", incident_id, exc)
            return []

    def _no_incident_text(self, parsed: ParsedQuery, why: str, now: float) -> str:
        where = f" involving {parsed.service.service}" if parsed.service else ""
        when = (" " + fmt_range(parsed.time_range.start, parsed.time_range.end, self.tz, now)) if parsed.time_range else ""
        if why == "unknown_id":
            return f"I don't know an incident with id {parsed.incident_id}."
        text = f"I don't know the cause: I found no incident{where}{when}."
        if parsed.service:
            status = self._status_dict(parsed.service.service)
            if status is not None:
                text += " " + self._status_sentence(status, parsed)
        return text

    # -- intents --------------------------------------------------------------------------
    def _root_cause(self, parsed: ParsedQuery, now: float) -> Reply:
        incident, why = self._find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now), parsed)
        return self._explain(incident, parsed, now)

    def _explain(self, incident: Any, parsed: ParsedQuery, now: float, lead: str = "") -> Reply:
        inc_id = get(incident, "id")
        head = (lead or "") + incident_phrase(incident, self.tz, now)
        head = head[0].upper() + head[1:]
        rca = self._rca(inc_id)
        if rca is None:
            return Reply(f"{head}. I could not rank its root causes yet, so I don't know the cause.", parsed, incident_id=inc_id)
        reply = Reply("", parsed, incident_id=inc_id, root_causes=self._root_cause_dicts(rca), inconclusive=bool(rca.inconclusive),
                      evidence=self._evidence(rca, parsed), similar=self._similar_to(inc_id))
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
        incident, why = self._find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now).replace("I don't know the cause: I", "Nothing broke that I know of: I"), parsed)
        lead = ""
        if parsed.time_range and parsed.time_range.point is not None:
            lead = f"At {fmt_time(parsed.time_range.point, self.tz, now)}: "
        return self._explain(incident, parsed, now, lead=lead)

    def _status_dict(self, name: str) -> dict | None:
        try:
            return jsonable(self.service.service_status(name))
        except (RcaError, NotImplementedError) as exc:
            log.warning("service_status(%s) failed: %s", name, exc)
            return None

    def _status_sentence(self, status: dict, parsed: ParsedQuery) -> str:
        name = status.get("service")
        score = status.get("score")
        score_text = f" (anomaly score {score:.2f}; 1.0 is the alert threshold)" if isinstance(score, (int, float)) else ""
        if status.get("anomalous"):
            text = f"{name} is not OK right now: it is anomalous{score_text}."
        else:
            text = f"{name} looks healthy right now{score_text}."
        signals = status.get("signals") or {}
        asked = {_FAMILY_OF_ASKED.get(s, s) for s in parsed.signals}
        shown = sorted(signals.items(), key=lambda kv: 0 if signal_family(kv[0]) in asked else 1)[:4]
        shown = [f"{k} = {v:.3g}" for k, v in shown if isinstance(v, (int, float))]
        if shown:
            text += " Latest values: " + ", ".join(shown) + "."
        open_ids = status.get("open_incidents") or []
        if open_ids:
            text += f" Open incidents: {join_names(open_ids)}."
        return text

    def _status(self, parsed: ParsedQuery, now: float) -> Reply:
        if parsed.service is None:
            known = self._services()
            text = "Which service do you mean? "
            text += f"I know {join_names(known, limit=12)}." if known else "I have not seen any service yet."
            return Reply(text, parsed)
        status = self._status_dict(parsed.service.service)
        if status is None:
            return Reply(f"I don't know how {parsed.service.service} is doing: I have no recent data for it.", parsed)
        open_ids = status.get("open_incidents") or []
        return Reply(self._status_sentence(status, parsed), parsed, status=status, incident_id=open_ids[0] if open_ids else None)

    def _changes(self, parsed: ParsedQuery, now: float) -> Reply:
        incident, why = self._find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now).replace("I don't know the cause: I", "I can't say what changed: I"), parsed)
        inc_id, start = get(incident, "id"), float(get(incident, "start"))
        since = start - self.config.changes_lookback_s
        found: list[dict] = []
        rca = self._rca(inc_id)
        for rc in (rca.root_causes if rca else []):
            found += [{"kind": "change", "summary": e.summary, "service": rc.service, "source": "rca", "data": jsonable(e.data)}
                      for e in rc.evidence if e.kind == "change"]
        names = list((get(incident, "services", default={}) or {}).keys())
        names += [rc.service for rc in (rca.root_causes[:3] if rca else []) if rc.service not in names]
        for name in names[:6]:
            found += self._change_steps(name, since, start + 60.0, now)
        head = incident_phrase(incident, self.tz, now)
        head = head[0].upper() + head[1:]
        window = fmt_range(since, start, self.tz, now)
        if found:
            text = f"{head}. Changes recorded {window}: " + "; ".join(f["summary"] for f in found[:5]) + "."
        else:
            text = f"{head}. I found no recorded deploys or config changes {window}."
        return Reply(text, parsed, incident_id=inc_id, evidence=found[: self.config.max_evidence],
                     root_causes=self._root_cause_dicts(rca) if rca else [], inconclusive=bool(rca.inconclusive) if rca else None)

    def _change_steps(self, name: str, start: float, end: float, now: float) -> list[dict]:
        """Steps with change events for one service, from the windows (change.count > 0)."""
        try:
            ts = self.service.timeseries(name, start, end, signals=["change.count"])
        except (RcaError, NotImplementedError) as exc:
            log.warning("timeseries(%s) failed: %s", name, exc)
            return []
        counts = (ts.get("series") or {}).get("change.count") or []
        runs: list[list[float]] = []  # [first step, last step, events] of consecutive steps with changes
        step = float(ts.get("step") or 60)
        for t, c in zip(ts.get("times") or [], counts, strict=False):
            if not c:
                continue
            if runs and t - runs[-1][1] <= step:
                runs[-1][1], runs[-1][2] = t, runs[-1][2] + c
            else:
                runs.append([t, t, c])
        out = []
        for first, last, total in runs:
            when = f"at {fmt_time(first, self.tz, now)}" if first == last else fmt_range(first, last + step, self.tz, now)
            out.append({"kind": "change", "summary": f"{int(total)} change event(s) on {name} {when}", "service": name,
                        "source": "windows", "data": {"start": first, "end": last + step, "count": total}})
        return out

    def _list_incidents(self, parsed: ParsedQuery, now: float) -> Reply:
        start, end = self._range(parsed)
        name = parsed.service.service if parsed.service else None
        incidents = list(self.service.list_incidents(start=start, end=end, service=name, status=parsed.status))
        shown = incidents[: self.config.max_listed]
        rows = []
        for inc in shown:
            row = {"incident_id": get(inc, "id"), "start": get(inc, "start"), "end": get(inc, "end"),
                   "status": get(inc, "status"), "services": list((get(inc, "services", default={}) or {}).keys()),
                   "root_cause": None, "confidence": None}
            if len(rows) < 3:  # rank only the newest few; rankings are cached by the facade
                rca = self._rca(row["incident_id"])
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
        incident, why = self._find_incident(parsed, now)
        if incident is None:
            return Reply(self._no_incident_text(parsed, why, now).replace("I don't know the cause: I", "I can't compare: I"), parsed)
        inc_id = get(incident, "id")
        similar = self._similar_to(inc_id)
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
            incident, _ = self._find_incident(parsed, now)
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
