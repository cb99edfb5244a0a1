"""Bodies of the records the service writes when an incident opens and when it is ranked.

Each body carries fingerprints (sha256) of what the decision was based on, so a later reader
can tell whether the same data and the same model artifacts would give the same answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from rca_service.audit.canonical import canonical_bytes
from rca_service.detect.incident import Incident
from rca_service.localize.result import RCAResult
from rca_service.store.frames import WindowFrame


def fingerprint_frames(frames: Iterable[WindowFrame]) -> str:
    """sha256 hex over the frames' services, steps, times, signal names and values.

    Frames are taken in service order; NaN is hashed as one fixed bit pattern so two frames with
    the same missing steps give the same fingerprint.
    """
    h = hashlib.sha256()
    for frame in sorted(frames, key=lambda f: f.service):
        h.update(canonical_bytes({"service": frame.service, "step": int(frame.step), "signals": list(frame.signals)}))
        h.update(np.ascontiguousarray(frame.times, dtype="<i8").tobytes())
        values = np.ascontiguousarray(frame.values, dtype="<f8").copy()
        values[np.isnan(values)] = np.nan  # one NaN payload
        h.update(values.tobytes())
    return h.hexdigest()


def incident_opened_body(incident: Incident, telemetry_fingerprint: str = "") -> dict:
    """Body of an ``incident_opened`` record: what opened, when, and the data's fingerprints."""
    return {
        "incident_id": incident.id,
        "start": incident.start,
        "services": {
            name: {"peak_score": a.peak_score, "detector": a.detector, "first_seen": a.first_seen}
            for name, a in sorted(incident.services.items())
        },
        "windows_fingerprint": incident.fingerprint,
        "telemetry_fingerprint": telemetry_fingerprint,
    }


def incident_updated_body(incident: Incident, after: float | None = None) -> dict:
    """Body of an ``incident_updated`` record: what the incident gained in the steps after step
    `after` (all of it when None)."""
    return {
        "incident_id": incident.id,
        "updates": [{"time": u.time, "service": u.service, "kind": u.kind, "signals": list(u.signals)}
                    for u in incident.updates if after is None or u.time > after],
        "services": sorted(incident.services),
        "windows_fingerprint": incident.fingerprint,
    }


def rca_ranked_body(result: RCAResult, top: int = 5) -> dict:
    """Body of an ``rca_ranked`` record: the ranking, the model artifacts' sha256, the inputs' hash."""
    model = dict(result.model or {})
    return {
        "incident_id": result.incident_id,
        "inconclusive": bool(result.inconclusive),
        "root_causes": [
            {"service": rc.service, "kind": rc.kind, "score": rc.score, "confidence": rc.confidence, "signal": rc.signal}
            for rc in result.root_causes[:top]
        ],
        "model": {"name": model.get("name", ""), "version": model.get("version", "")},
        "model_sha256": dict(model.get("sha256", {})),
        "inputs_fingerprint": result.inputs_fingerprint,
    }
