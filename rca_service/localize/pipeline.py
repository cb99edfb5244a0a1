"""One labelled case through the real path: adapter records → fresh store → detector → incident.

Used by `eval` and by training on benchmark or simulator folders. The label never enters:
the store gets the case's records from the normal period up to `after_seconds` past the
injection, and the incident comes from the detector (or, when it opened none around the
injection, from its scores anchored at the injection time, which the baselines get too).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rca_service.datasets.case import Case, CaseRef
from rca_service.detect.incident import Incident, ServiceAnomaly, SignalScore
from rca_service.errors import ConfigError, RcaError
from rca_service.localize.configs import config_from_dict
from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore

log = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    """How much of a case is replayed and how the incident is found.

    Attributes:
        history_seconds: normal data before the injection loaded into the store.
        after_seconds: data after the injection loaded (a few minutes; never the whole run).
        detect: run the streaming detector (False: anchor at the injection directly).
        match_before_steps: an incident opened up to this many steps before the injection
            still counts as "around" it (step boundaries, clock skew).
        models_dir: where a trained detector may be found (None: n-sigma detector only).
    """

    history_seconds: float = 3600.0
    after_seconds: float = 300.0
    detect: bool = True
    match_before_steps: int = 1
    models_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.history_seconds <= 0 or self.after_seconds <= 0 or self.match_before_steps < 0:
            raise ConfigError("history_seconds and after_seconds must be positive, match_before_steps >= 0")

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        return config_from_dict(cls, d)


@dataclass
class CaseRun:
    """A case replayed into a store, with the incident to rank."""

    case: Case
    store: TelemetryStore
    incident: Incident
    detected: bool
    anchor: float


def infer_step(case: Case, default: int = 60) -> int:
    """The data's own resolution: the median gap between points of one metric series,
    between 1 s and `default` (span-only data keeps the default)."""
    by_series: dict[tuple[str, str], list[float]] = {}
    for m in case.records.metrics[:50_000]:
        by_series.setdefault((m.service, m.name), []).append(m.time)
    gaps = [np.median(np.diff(sorted(ts))) for ts in by_series.values() if len(ts) > 2]
    if not gaps:
        return default
    return int(min(max(1, round(float(np.median(gaps)))), default))


def _fallback_incident(case: Case, detector, anchor: float) -> Incident:
    """An incident at the injection from the detector's latest per-service scores."""
    services: dict[str, ServiceAnomaly] = {}
    scores = detector.latest_scores() if detector is not None else {}
    for name, sc in scores.items():
        sig = [SignalScore(s.signal, float(s.score)) for s in getattr(sc, "signals", [])[:3]]
        services[name] = ServiceAnomaly(name, anchor, anchor, float(getattr(sc, "score", 0.0)),
                                        str(getattr(sc, "detector", "nsigma")), sig)
    return Incident(id=f"eval-{int(anchor)}", start=anchor, end=None, services=services, title=case.name)


def _detector(store: TelemetryStore, cfg: PipelineConfig):
    from rca_service.detect.streaming import DetectConfig, StreamingDetector

    model = None
    if cfg.models_dir is not None:
        try:
            from rca_service.detect.detector_model import load_detector

            model = load_detector(cfg.models_dir)
        except (RcaError, OSError, ValueError) as exc:  # no trained detector: n-sigma stands in
            log.info("no detector model (%s); using n-sigma", exc)
    # baselines and thresholds come from the primed normal period; refitting inside a short
    # replay would cost threshold fits per step and learn from the fault itself
    return StreamingDetector(store, DetectConfig(min_history=10, lookback_steps=0, refit_every=1_000_000), model)


def run_case(ref: CaseRef, cfg: PipelineConfig) -> CaseRun:
    """Load a case's window into a fresh store and find its incident."""
    inject = ref.inject_time
    case = ref.load(inject - cfg.history_seconds, inject + cfg.after_seconds)
    step = infer_step(case)
    store = TelemetryStore(StoreConfig(step=step, retention_seconds=cfg.history_seconds + cfg.after_seconds + 3600))
    store.consume(case.records)
    store.close_until(inject + cfg.after_seconds + step)
    detected, incident, detector = False, None, None
    anchor = math.floor(inject / step) * step
    if cfg.detect:
        try:
            detector = _detector(store, cfg)
            detector.prime(inject - cfg.history_seconds, anchor)
            detector.seek(anchor - cfg.match_before_steps * step)
            for inc in detector.step():
                if inc.start >= anchor - cfg.match_before_steps * step:
                    incident, detected = inc, True
                    break
        except RcaError as exc:
            log.warning("%s: detector failed (%s); anchoring at the injection", ref.name, exc)
    if incident is None:
        incident = _fallback_incident(case, detector, anchor)
    return CaseRun(case, store, incident, detected, incident.start if detected else anchor)
