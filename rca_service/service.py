"""Wires the stages together: ingest → store → detect → localize → respond (+ audit).

Routes, the CLI and the chat bot stay thin and call this object. Each stage only knows the
interface of the next one; this module is the one place that knows them all.

Component contracts (each owned by its sub-package):
    ingest.pipeline.IngestPipeline(sink, IngestConfig)       queue + worker in front of the store
    store.telemetry.TelemetryStore(StoreConfig, vectors)      windows, topology, templates
    store.vectors.VectorStore(VectorConfig)                   qdrant collections + embedder
    detect.streaming.StreamingDetector(store, DetectConfig)   scores closed steps, groups incidents
    localize.ranker.Localizer.load(models_dir, version)       rank(incident, store) -> RCAResult
    audit.chain.AuditLog(path, key_path)                      append / verify / records
    respond.manager.RemediationManager(...)                   propose/approve/reject/apply/verify
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from rca_service.settings import Settings

log = logging.getLogger(__name__)


class RcaService:
    """The running service: owns every stage and the background loop that drives detection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self.ready = False
        self.accepting = False
        # Components are created in start(): loading models is slow and must not happen at import.
        self.store = None
        self.ingest = None
        self.detector = None
        self.localizer = None
        self.audit = None
        self.remediation = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Create the stages, restore persisted state, start the background loop."""
        raise NotImplementedError("wired by the integration step")

    def stop(self) -> None:
        """Drain ingest, persist state, stop the loop."""
        self._stop.set()
        if self._loop:
            self._loop.join(timeout=10)

    def tick(self, now: float | None = None) -> list:
        """One pass of the loop: close steps up to `now`, score them, open/extend incidents,
        rank new incidents, propose remediations. Returns incidents opened in this pass."""
        raise NotImplementedError("wired by the integration step")

    # -- read side used by the API, chat bot, query engine and demo ------------------------
    # Implemented in the integration step on top of the components; signatures are stable.
    def list_incidents(self, start: float | None = None, end: float | None = None,
                       service: str | None = None, status: str | None = None) -> list:
        """Incidents (detect.incident.Incident), newest first, filtered."""
        raise NotImplementedError

    def get_incident(self, incident_id: str):
        """One Incident; raises errors.NotFoundError."""
        raise NotImplementedError

    def rca(self, incident_id: str, refresh: bool = False):
        """The incident's localize.result.RCAResult, computed once and cached unless refresh."""
        raise NotImplementedError

    def topology(self, start: float | None = None, end: float | None = None):
        """networkx.DiGraph of service calls in [start, end) (edge attrs calls, errors)."""
        raise NotImplementedError

    def timeseries(self, service: str, start: float, end: float, signals: list[str] | None = None) -> dict:
        """{"service", "step", "times": [...], "series": {signal: [value|None,...]}} for plots."""
        raise NotImplementedError

    def service_status(self, service: str) -> dict:
        """{"service", "anomalous": bool, "score", "detector", "signals": {...latest values},
        "open_incidents": [ids]} for "is X ok?"; raises NotFoundError for an unknown service."""
        raise NotImplementedError

    def services(self) -> list[str]:
        raise NotImplementedError

    def search(self, text: str, kind: str | None = None, service: str | None = None, limit: int = 5) -> list:
        """store.api.VectorHit list from the vector store."""
        raise NotImplementedError

    def similar_incidents(self, incident_id: str, limit: int = 3) -> list[dict]:
        """[{"incident_id", "score", "root_cause", "resolution"}] of past incidents like this one."""
        raise NotImplementedError

    def list_remediations(self, incident_id: str | None = None) -> list:
        raise NotImplementedError

    def approve_remediation(self, remediation_id: str, user: str, role: str):
        raise NotImplementedError

    def reject_remediation(self, remediation_id: str, user: str, role: str, reason: str = ""):
        raise NotImplementedError

    def apply_remediation(self, remediation_id: str, user: str, role: str):
        raise NotImplementedError

    def audit_records(self, incident_id: str | None = None) -> list[dict]:
        raise NotImplementedError

    def audit_verify(self) -> dict:
        """{"ok": bool, "records": n, "first_bad": index|None, "reason": str}."""
        raise NotImplementedError

    def query(self, question: str, now: float | None = None) -> dict:
        """Plain-language answer: {"answer", "incident_id", "root_causes", "evidence", ...}."""
        raise NotImplementedError

    def stats(self) -> dict:
        """Counters and gauges for /metrics: ingest, queue depth, windows, latencies, outcomes."""
        raise NotImplementedError

    def _run_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.tick(time.time())
            except Exception:  # the loop must survive one bad pass; the error is logged
                log.exception("background tick failed")
