"""Facts for answers, fetched through the `RcaService` facade only.

Every lookup tolerates a facade part that fails or is not wired yet: it logs and returns
nothing, so an answer can still say what it does know (and that it does not know the rest).
"""

from __future__ import annotations

import logging
from datetime import tzinfo
from typing import Any

from rca_service.api.serialize import field as get, jsonable
from rca_service.errors import NotFoundError, RcaError
from rca_service.query.parser import ParsedQuery
from rca_service.query.wording import fmt_range, fmt_time
from rca_service.store.frames import signal_family

log = logging.getLogger(__name__)

# question words → the store's signal families (store.frames.signal_family)
FAMILY_OF_ASKED = {"cpu": "resource", "memory": "resource"}


def asked_families(parsed: ParsedQuery) -> set[str]:
    """Signal families the question asks about."""
    return {FAMILY_OF_ASKED.get(s, s) for s in parsed.signals}


class FactFinder:
    """Looks up incidents, rankings, evidence and status for the query engine.

    Args:
        service: the facade.
        config: the engine's QueryConfig (limits on evidence, similar incidents...).
        tz: time zone for wording times in evidence summaries.
    """

    def __init__(self, service: Any, config: Any, tz: tzinfo) -> None:
        self.service = service
        self.config = config
        self.tz = tz

    def services(self) -> list[str]:
        try:
            return list(self.service.services())
        except RcaError as exc:
            log.warning("services() failed: %s", exc)
            return []

    def range(self, parsed: ParsedQuery) -> tuple[float | None, float | None]:
        tr = parsed.time_range
        return (tr.start, tr.end) if tr else (None, None)

    def find_incident(self, parsed: ParsedQuery, now: float) -> tuple[Any | None, str]:
        """The incident a question is about, and why it was chosen (for wording)."""
        if parsed.incident_id:
            try:
                return self.service.get_incident(parsed.incident_id), "named"
            except NotFoundError:
                return None, "unknown_id"
        start, end = self.range(parsed)
        name = parsed.service.service if parsed.service else None
        candidates = list(self.service.list_incidents(start=start, end=end, service=name))
        if not candidates and name:
            # the named service may be the cause without being anomalous itself: look at rankings
            for inc in list(self.service.list_incidents(start=start, end=end))[:5]:
                rca = self.rca(get(inc, "id"))
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
            asked = asked_families(parsed)
            for inc in candidates:
                anomaly = (get(inc, "services", default={}) or {}).get(name)
                if anomaly and any(signal_family(get(sig, "signal", default="")) in asked
                                   for sig in get(anomaly, "signals", default=[]) or []):
                    return inc, "signals"
        return candidates[0], "latest"  # the facade lists newest first

    def rca(self, incident_id: str) -> Any | None:
        try:
            return self.service.rca(incident_id)
        except (RcaError, NotImplementedError) as exc:
            log.warning("rca(%s) failed: %s", incident_id, exc)
            return None

    def root_cause_dicts(self, rca: Any) -> list[dict]:
        return [{"service": rc.service, "kind": rc.kind, "score": float(rc.score), "confidence": float(rc.confidence),
                 "signal": rc.signal} for rc in rca.root_causes[: self.config.max_root_causes]]

    def evidence(self, rca: Any, parsed: ParsedQuery) -> list[dict]:
        """The top cause's ranked evidence (the asked-about signals first), then vector-store hits."""
        items: list[dict] = []
        if rca and rca.root_causes:
            top = rca.root_causes[0]
            asked = asked_families(parsed)
            ranked = sorted(top.evidence, key=lambda e: 0 if signal_family(str(e.data.get("signal", ""))) in asked else 1)
            items = [{"kind": e.kind, "summary": e.summary, "service": top.service, "source": "rca",
                      "data": jsonable(e.data)} for e in ranked]
            items = items[: max(1, self.config.max_evidence - self.config.vector_hits)]
            if self.config.vector_hits:
                items += self.vector_evidence(f"{parsed.question} {top.service} {top.kind} {top.signal}", top.service)
        return items[: self.config.max_evidence]

    def vector_evidence(self, text: str, service_name: str | None) -> list[dict]:
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

    def similar_to(self, incident_id: str) -> list[dict]:
        try:
            return jsonable(list(self.service.similar_incidents(incident_id, limit=self.config.similar_limit)))
        except (RcaError, NotImplementedError) as exc:
            log.warning("similar_incidents(%s) failed: %s", incident_id, exc)
            return []

    def status_dict(self, name: str) -> dict | None:
        try:
            return jsonable(self.service.service_status(name))
        except (RcaError, NotImplementedError) as exc:
            log.warning("service_status(%s) failed: %s", name, exc)
            return None

    def change_steps(self, name: str, start: float, end: float, now: float) -> list[dict]:
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
