"""`Localizer`: from an incident and the store to a ranked, evidenced, calibrated `RCAResult`."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rca_service.detect.incident import Incident
from rca_service.errors import ConfigError
from rca_service.localize.artifacts import MODEL_NAME, LocalizerArtifacts, load_artifacts
from rca_service.localize.calibration import Calibration
from rca_service.localize.configs import config_from_dict
from rca_service.localize.deviation import SignalDeviation
from rca_service.localize.gnn import KIND_CLASSES, RootCauseModel
from rca_service.localize.graph import EDGE_FEATURES, IncidentGraph, IncidentGraphBuilder, NodeDetail, forward_rows
from rca_service.localize.result import Evidence, RCAResult, RootCause
from rca_service.localize.trainer import graph_logits
from rca_service.store.api import TelemetryStoreAPI

# Which signal families point at which fault kind, to pick the signal named for a kind.
_KIND_FAMILIES = {
    "resource": ("resource",),
    "latency": ("latency", "other"),
    "code_error": ("errors", "logs"),
    "network": ("network", "latency"),
    "deploy": ("change", "errors", "latency"),
}


@dataclass
class RankerConfig:
    """What goes into a result.

    Attributes:
        max_candidates: root causes listed (best first).
        evidence_for: how many of the best candidates get full evidence.
        metrics_per_cause: metric evidence items per candidate.
        templates_per_cause: log-template evidence items per candidate.
        traces_per_cause: trace-id evidence items per candidate.
    """

    max_candidates: int = 10
    evidence_for: int = 3
    metrics_per_cause: int = 3
    templates_per_cause: int = 3
    traces_per_cause: int = 5

    def __post_init__(self) -> None:
        if min(self.max_candidates, self.evidence_for) < 1 or min(self.metrics_per_cause, self.templates_per_cause, self.traces_per_cause) < 0:
            raise ConfigError("max_candidates and evidence_for must be >= 1, per-cause counts >= 0")

    @classmethod
    def from_dict(cls, d: dict) -> "RankerConfig":
        return config_from_dict(cls, d)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _forward_calls(graph: IncidentGraph, *features: str) -> Iterator[tuple[int, int, list[float]]]:
    """(caller index, callee index, the named edge features) of each caller -> callee edge."""
    cols = [EDGE_FEATURES.index(f) for f in features]
    for k in forward_rows(graph.edge_attr):
        s, d = graph.edge_index[:, k]
        yield int(s), int(d), [float(graph.edge_attr[k, c]) for c in cols]


def _call_gap_evidence(graph: IncidentGraph, i: int, min_ratio: float = 2.0) -> Evidence | None:
    """Calls into or out of node `i` whose time outside the callee's span (wire, queues) rose at
    least `min_ratio` times against the baseline: what a network fault looks like in traces."""
    rows = []
    for s, d, (ratio, after) in _forward_calls(graph, "gap.ratio", "gap.after"):
        if i in (s, d) and ratio >= math.log(min_ratio):
            rows.append({"caller": graph.services[s], "callee": graph.services[d], "ratio": round(math.exp(ratio), 1),
                         "gap_ms": round(math.expm1(after), 2)})
    if not rows:
        return None
    rows.sort(key=lambda r: -r["ratio"])
    top = rows[0]
    return Evidence("trace", f"calls {top['caller']} -> {top['callee']} spend {top['ratio']}x longer outside the callee's "
                             f"span than before ({top['gap_ms']} ms per call): network or queueing", {"call_gaps": rows})


def _calls_per_request_evidence(graph: IncidentGraph, i: int, min_change: float = 0.25) -> Evidence | None:
    """Calls out of node `i` whose count per request it served changed by at least `min_change`
    (a quarter): requests cut short by a failure skip the calls after it; retries add calls."""
    rows = []
    for s, d, (ratio,) in _forward_calls(graph, "fanout.ratio"):
        change = math.expm1(ratio)
        if s == i and abs(change) >= min_change:
            rows.append({"caller": graph.services[s], "callee": graph.services[d], "change": round(change, 2)})
    if not rows:
        return None
    rows.sort(key=lambda r: r["change"])
    top = rows[0] if rows[0]["change"] < 0 else rows[-1]
    how = f"{-top['change']:.0%} fewer" if top["change"] < 0 else f"{top['change']:.0%} more"
    meaning = "requests end early (an error or an abandoned request)" if top["change"] < 0 else "retries or a changed code path"
    return Evidence("trace", f"{top['caller']} makes {how} calls to {top['callee']} per request it serves than before: "
                             f"{meaning}", {"calls_per_request": rows})


def _request_ends_evidence(graph: IncidentGraph, i: int, min_rise: float = 0.2) -> Evidence | None:
    """Callers of node `i` whose requests now end with the call to it `min_rise` more often (a
    share of their requests): a caller stops after a callee that failed it, so its requests end
    there; traces show this even when spans carry no error status."""
    rows = []
    for s, d, (rise,) in _forward_calls(graph, "ends.rise"):
        if d == i and rise >= min_rise:
            rows.append({"caller": graph.services[s], "callee": graph.services[d], "rise": round(rise, 2)})
    if not rows:
        return None
    rows.sort(key=lambda r: -r["rise"])
    top = rows[0]
    return Evidence("trace", f"the share of {top['caller']}'s requests that end with the call to {top['callee']} rose by "
                             f"{top['rise'] * 100:.0f} points: {top['caller']} stops after it (it failed, or failed "
                             f"{top['caller']})", {"request_ends": rows})


def _metric_evidence(dev: SignalDeviation, step: int, a0: float) -> Evidence:
    direction = "rose" if dev.peak_value >= dev.baseline else "fell"
    # say so when the peak was one step: a reader should not weigh a spike like a lasting shift
    spike = f"; one step only, {dev.held:.1f} σ held over two" if dev.held < 0.5 * dev.peak else ""
    return Evidence(
        kind="metric",
        summary=f"{dev.signal} {direction} from {_fmt(dev.baseline)} to {_fmt(dev.peak_value)} ({dev.peak:.1f} robust σ{spike})",
        data={"signal": dev.signal, "family": dev.family, "before": dev.baseline, "after": dev.peak_value,
              "deviation": dev.peak, "held_deviation": dev.held,
              "onset": None if dev.onset is None else a0 + dev.onset * step},
    )


class Localizer:
    """Ranks the services of an incident as its root cause.

    Args:
        artifacts: a loaded, verified model version (see `load_localizer`).
        config: what goes into a result.
    """

    def __init__(self, artifacts: LocalizerArtifacts, config: RankerConfig | None = None) -> None:
        self.artifacts = artifacts
        self.config = config or RankerConfig()
        self.builder = IncidentGraphBuilder(artifacts.graph_config)

    @property
    def model(self) -> RootCauseModel:
        return self.artifacts.model

    @property
    def calibration(self) -> Calibration:
        return self.artifacts.calibration

    @property
    def version(self) -> str:
        return self.artifacts.version

    @classmethod
    def load(cls, models_dir: Path, version: str | None = "latest", config: RankerConfig | None = None,
             widen: bool = True) -> "Localizer":
        return cls(load_artifacts(models_dir, version, widen=widen), config)

    def artifact_hashes(self) -> dict[str, str]:
        """sha256 of every artifact file of the loaded version, by file name."""
        return dict(self.artifacts.hashes)

    def model_info(self) -> dict:
        return {"name": MODEL_NAME, "version": self.version, "sha256": self.artifact_hashes(),
                "temperature": self.calibration.temperature}

    def rank(self, incident: Incident, store: TelemetryStoreAPI, anchor: float | None = None) -> RCAResult:
        """Rank the incident's candidate services (onset at `anchor`, default the incident's start)."""
        graph = self.builder.build(incident, store, anchor)
        return self.rank_graph(incident.id, graph, store)

    def rank_graph(self, incident_id: str, graph: IncidentGraph, store: TelemetryStoreAPI | None) -> RCAResult:
        """Rank an already built incident graph; `store` supplies the evidence (None: a ranking
        without evidence, as evaluation over many cases needs, which cannot keep every store)."""
        logits, kind_logits = graph_logits(self.model, graph)
        conf = self.calibration.confidences(logits)
        order = np.argsort(-logits, kind="stable")[: self.config.max_candidates]
        causes = []
        for pos, i in enumerate(order):
            kind = self._kind(graph.details[i], kind_logits[i])
            signal = self._signal(graph.details[i], kind)
            evidence = self._evidence(graph, int(i), store) if store is not None and pos < self.config.evidence_for else []
            causes.append(RootCause(service=graph.services[i], kind=kind, score=float(logits[i]),
                                    confidence=float(conf[i]), signal=signal, evidence=evidence))
        inconclusive = self.calibration.inconclusive(conf, graph.max_deviation())
        return RCAResult(
            incident_id=incident_id,
            root_causes=causes,
            inconclusive=inconclusive,
            created_at=time.time(),
            model=self.model_info(),
            inputs_fingerprint=graph.fingerprint(),
            explanation=self._explain(causes, inconclusive, graph),
        )

    @staticmethod
    def _kind(detail: NodeDetail, kind_logits: np.ndarray) -> str:
        if detail.changes:  # a deploy or config change right before the symptoms wins
            return "deploy"
        if not detail.deviations:
            return "unknown"
        return KIND_CLASSES[int(np.argmax(kind_logits))]

    @staticmethod
    def _signal(detail: NodeDetail, kind: str) -> str:
        devs = sorted(detail.deviations, key=lambda d: -d.peak)
        if not devs:
            return ""
        for d in devs:
            if d.family in _KIND_FAMILIES.get(kind, ()):
                return d.signal
        return devs[0].signal

    def _evidence(self, graph: IncidentGraph, i: int, store: TelemetryStoreAPI) -> list[Evidence]:
        cfg, detail = self.config, graph.details[i]
        a0, a1 = graph.analysis
        out = [_metric_evidence(d, graph.step, a0)
               for d in sorted(detail.deviations, key=lambda d: -d.peak)[: cfg.metrics_per_cause] if d.peak > 0]
        templates = store.log_templates(detail.service, a0, a1)
        templates.sort(key=lambda t: (t.first_seen < a0, -t.error_count, -t.count))
        for t in templates[: cfg.templates_per_cause]:
            new = "new " if t.first_seen >= a0 else ""
            out.append(Evidence("log_template", f"{new}log template ({t.count}x, {t.error_count} errors): {t.template[:200]}",
                                {"template_id": t.template_id, "template": t.template, "count": t.count,
                                 "error_count": t.error_count, "first_seen": t.first_seen, "new": bool(new)}))
        samples = store.span_samples(detail.service, a0, a1, limit=cfg.traces_per_cause)
        if samples:
            n_err = sum(s.is_error for s in samples)
            out.append(Evidence("trace", f"{len(samples)} sample spans ({n_err} errors), slowest {max(s.duration for s in samples):.3f} s",
                                {"trace_ids": [s.trace_id for s in samples],
                                 "spans": [{"trace_id": s.trace_id, "span_id": s.span_id, "name": s.name, "time": s.time,
                                            "duration": s.duration, "is_error": s.is_error} for s in samples]}))
        for trace_evidence in (_call_gap_evidence(graph, i), _calls_per_request_evidence(graph, i),
                               _request_ends_evidence(graph, i)):
            if trace_evidence is not None:
                out.append(trace_evidence)
        for c in detail.changes:
            out.append(Evidence("change", f"{c.kind} at {c.time:.0f}: {c.description}"[:300],
                                {"kind": c.kind, "time": c.time, "description": c.description, "attributes": dict(c.attributes)}))
        src, dst = graph.edge_index
        callers = sorted({graph.services[s] for s, d, r in zip(src, dst, graph.edge_attr[:, -1]) if d == i and r == 0})
        callees = sorted({graph.services[d] for s, d, r in zip(src, dst, graph.edge_attr[:, -1]) if s == i and r == 0})
        if callers or callees:
            out.append(Evidence("topology", f"called by {len(callers)} services, calls {len(callees)}",
                                {"callers": callers, "callees": callees}))
        return out

    @staticmethod
    def _explain(causes: list[RootCause], inconclusive: bool, graph: IncidentGraph) -> str:
        if not causes:
            return "No candidate services around this incident."
        top = causes[0]
        lead = (f"Inconclusive: the best candidate is {top.service} at {top.confidence:.0%} confidence, too low to act on."
                if inconclusive else f"{top.service} is the most likely root cause ({top.confidence:.0%} confidence, {top.kind}).")
        metric = next((e for e in top.evidence if e.kind == "metric"), None)
        gap = next((e for e in top.evidence if "call_gaps" in e.data), None)
        # a network fault shows on the wire, not in the service's own signals
        strongest = gap if gap is not None and (top.kind == "network" or metric is None) else metric
        why = f" Strongest signal: {strongest.summary}." if strongest else ""
        runner = f" Next: {causes[1].service} ({causes[1].confidence:.0%})." if len(causes) > 1 else ""
        return f"{lead}{why}{runner} {graph.num_nodes} services considered."


def load_localizer(models_dir: Path, version: str | None = "latest", config: RankerConfig | None = None,
                   widen: bool = True) -> Localizer:
    """Load and verify a localizer version from `<models_dir>/localizer/<version>/`.

    `widen`: accept a version trained on fewer features; it ranks as it always did (see
    `artifacts.load_artifacts`)."""
    return Localizer.load(Path(models_dir), version, config, widen)
