"""Wires the stages together: ingest → store → detect → localize → respond (+ audit).

Routes, the CLI, the chat bot and the demo stay thin and call this object. Each stage only knows
the interface of the next one; this module is the one place that knows them all.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from rca_service.audit.bodies import incident_opened_body, incident_updated_body, rca_ranked_body
from rca_service.errors import NotFoundError
from rca_service.settings import Settings

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 60.0


class RcaService:
    """The running service: owns every stage and the background loop that drives detection.

    Args:
        settings: operator settings.
        executor: optional remediation executor overriding Settings.executor (the demo passes
            the simulator's executor so a fix really removes the injected fault).
        start_transports: start the gRPC server (the HTTP side is the API app's).
    """

    def __init__(self, settings: Settings, executor=None, start_transports: bool = True) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._executor_override = executor
        self._start_transports = start_transports
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._lock = threading.RLock()
        self._rca_cache: dict[str, object] = {}
        self._last_save = time.monotonic()
        self._timings = {"detector_seconds": 0.0, "ranker_seconds": 0.0}
        self._counts = {"incidents": 0, "rca_runs": 0}
        self.ready = False
        self.accepting = False
        self.store = None
        self.vectors = None
        self.ingest = None
        self.grpc = None
        self.detector = None
        self.localizer = None
        self.audit = None
        self.remediation = None
        self.notifier = None
        self.query_engine = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, background_loop: bool = True, wait_ready: bool = True) -> None:
        """Create the stages, restore persisted state, start transports and the loop.

        Ingest starts first, so data is accepted (/healthz) while the models load (/readyz).
        With wait_ready=False the models load on the loop thread and start() returns at once.
        """
        self._start_store_and_ingest()
        self.accepting = True
        if wait_ready:
            self._load_rest()
        if background_loop:
            self._loop = threading.Thread(target=self._run_loop, name="rca-loop", daemon=True)
            self._loop.start()

    def _load_rest(self) -> None:
        """The slow part of start-up: models, audit chain, remediation, interfaces."""
        self._start_models()
        self._start_respond()
        self._start_interfaces()
        self.ready = True

    def _start_store_and_ingest(self) -> None:
        from rca_service.ingest.pipeline import IngestConfig, IngestPipeline
        from rca_service.store.telemetry import StoreConfig, TelemetryStore
        from rca_service.store.vectors import VectorConfig, VectorStore

        s = self.settings
        store_dir = self.data_dir / "store"
        self._adopt_saved_step(store_dir)
        self.vectors = VectorStore(VectorConfig(url=s.qdrant_url, api_key=s.qdrant_api_key,
                                                path=self.data_dir / "qdrant", enabled=s.embeddings))
        store_config = StoreConfig(step=s.step_seconds, retention_seconds=s.retention_hours * 3600)
        if store_dir.exists():
            self.store = TelemetryStore.load(store_dir, store_config, self.vectors)
        else:
            self.store = TelemetryStore(store_config, vectors=self.vectors)
        self.ingest = IngestPipeline(sink=self.store, config=IngestConfig(
            queue_size=s.ingest_queue_size, max_body_bytes=s.max_body_bytes))
        self.ingest.start()
        if self._start_transports:
            from rca_service.ingest.grpc_server import OtlpGrpcServer

            self.grpc = OtlpGrpcServer(self.ingest, s.host, s.grpc_port, s.max_body_bytes, token=s.ingest_token)
            self.grpc.start()

    def _adopt_saved_step(self, store_dir: Path) -> None:
        """A data dir's windows have one step length; keep it rather than refuse to start."""
        from rca_service.store.persistence import read_json_gz

        meta_path = store_dir / "store.json.gz"
        if not meta_path.exists():
            return
        saved = int(read_json_gz(meta_path).get("config", {}).get("step", self.settings.step_seconds))
        if saved != self.settings.step_seconds:
            log.warning("data dir %s holds %d s windows; using step %d s instead of %d s",
                        self.data_dir, saved, saved, self.settings.step_seconds)
            self.settings.step_seconds = saved

    def _start_models(self) -> None:
        from rca_service.detect.detector_model import load_detector
        from rca_service.detect.streaming import DetectConfig, StreamingDetector
        from rca_service.localize.ranker import load_localizer

        s = self.settings
        model = load_detector(s.models_dir, s.detector_version)
        self.detector = StreamingDetector(self.store, DetectConfig(), model, on_latent=self._store_latent)
        detect_dir = self.data_dir / "detect"
        if detect_dir.exists():
            self.detector.load(detect_dir)
        self.localizer = load_localizer(s.models_dir, s.localizer_version)

    def _store_latent(self, service: str, t: float, vector) -> None:
        """The encoder's latent vector of a service window, so similar past states can be found."""
        if self.vectors is not None:
            self.vectors.upsert_vector("metric_windows", f"{service}:{int(t)}", vector,
                                       {"service": service, "time": t, "kind": "metric_window"})

    def _start_respond(self) -> None:
        from rca_service.audit.chain import AuditLog
        from rca_service.respond.slo import FrameSloReader
        from rca_service.respond.wiring import build_remediation_manager

        self.audit = AuditLog.for_data_dir(self.data_dir)
        self.remediation = build_remediation_manager(self.settings, self.audit, FrameSloReader(self.store),
                                                     executor=self._executor_override)

    def _start_interfaces(self) -> None:
        from rca_service.query.engine import QueryEngine

        self.query_engine = QueryEngine(self)
        if self.settings.slack_webhook_url:
            from rca_service.chatops.notify import Notifier

            self.notifier = Notifier(self.settings.slack_webhook_url, self.settings.base_url)

    def stop(self) -> None:
        """Drain ingest, persist state, stop the loop and transports."""
        self._stop.set()
        if self._loop:
            self._loop.join(timeout=10)
        if self.grpc:
            self.grpc.stop()
        if self.ingest:
            self.ingest.stop(drain=True)
        self.accepting = False
        self.save()
        if self.notifier:
            self.notifier.close()
        if self.vectors:
            self.vectors.close()
        self.ready = False

    def save(self) -> None:
        """Persist windows, topology, templates and detector state."""
        with self._lock:
            if self.store is not None:
                self.store.save(self.data_dir / "store")
            if self.detector is not None:
                self.detector.save(self.data_dir / "detect")
        self._last_save = time.monotonic()

    # -- the loop ----------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list:
        """One pass: close steps up to `now`, score them, open or extend incidents, rank new
        incidents and those that grew, propose remediations, verify applied ones. Returns
        incidents opened now."""
        now = time.time() if now is None else now
        with self._lock:
            self.store.advance(now)
            t0 = time.perf_counter()
            scored_before = self.detector.cursor
            opened = self.detector.step(now)
            self._timings["detector_seconds"] = time.perf_counter() - t0
            for incident in opened:
                self._on_incident_opened(incident)
            for incident in self.detector.updated():
                self._on_incident_updated(incident, scored_before)
            self.remediation.verify_pending(self._now())
        if time.monotonic() - self._last_save > SAVE_EVERY_SECONDS:
            self.save()
        return opened

    def _on_incident_opened(self, incident) -> None:
        self._counts["incidents"] += 1
        self.audit.append("incident_opened", incident_opened_body(incident), incident_id=incident.id)
        if self.vectors is not None:
            self.vectors.enqueue_text("incidents", incident.id, self._incident_summary(incident),
                                      {"incident_id": incident.id, "time": incident.start,
                                       "service": sorted(incident.services)})
        result = self.rca(incident.id)
        # Proposed even when inconclusive: the policy refuses it, and the refusal is audited.
        proposal = self.remediation.propose(incident, result, self.resource_attrs_for(result), now=self._now())
        if self.notifier is not None:
            self.notifier.incident_opened(incident, result)
            if proposal is not None and proposal.status == "proposed":
                self.notifier.remediation_proposed(proposal)

    def _on_incident_updated(self, incident, scored_before: float | None) -> None:
        """A service joined an open incident, or a member showed a new symptom: a second fault
        may have landed in it, so its causes are ranked again. People hear of it only when the
        most likely cause changed; then proposals for the old cause that were not applied yet are
        withdrawn, and a remediation is proposed for the new one."""
        self.audit.append("incident_updated", incident_updated_body(incident, scored_before), incident_id=incident.id)
        before = self.rca(incident.id)
        result = self.rca(incident.id, refresh=True)
        if result.acted_on_service() == before.acted_on_service():
            return
        withdrawn = self.remediation.supersede(incident.id, result, now=self._now())
        proposal = self.remediation.propose(incident, result, self.resource_attrs_for(result), now=self._now())
        if self.notifier is not None:
            self.notifier.incident_updated(incident, result, before.acted_on_service(), withdrawn)
            if proposal is not None and proposal.status == "proposed":
                self.notifier.remediation_proposed(proposal)

    def _now(self) -> float:
        """Telemetry time: the store's newest record time when replaying old data, else wall time."""
        watermark = getattr(self.store, "watermark", None)
        wall = time.time()
        if watermark is not None and wall - watermark > 3 * self.settings.step_seconds:
            return float(watermark)
        return wall

    @staticmethod
    def _incident_summary(incident) -> str:
        parts = []
        for name, anomaly in sorted(incident.services.items(), key=lambda kv: -kv[1].peak_score):
            sig = ", ".join(s.signal for s in anomaly.signals[:3])
            parts.append(f"{name} anomalous ({sig})")
        return "; ".join(parts)

    def resource_attrs_for(self, result) -> dict[str, dict]:
        """Resource attributes (namespace, workload) of the ranked services, from ingest."""
        return {rc.service: dict(self.store.resource_attributes(rc.service)) for rc in result.root_causes}

    def _run_loop(self) -> None:
        if not self.ready:
            try:
                self._load_rest()
            except Exception:
                log.exception("loading models failed; the service accepts data but is not ready")
                return
        while not self._stop.wait(1.0):
            try:
                self.tick(time.time())
            except Exception:  # the loop must survive one bad pass; the error is logged
                log.exception("background tick failed")

    # -- read side used by the API, chat bot, query engine and demo ------------------------
    def list_incidents(self, start: float | None = None, end: float | None = None,
                       service: str | None = None, status: str | None = None) -> list:
        """Incidents (detect.incident.Incident), newest first, filtered."""
        out = []
        for inc in self.detector.incidents():
            inc_end = inc.end if inc.end is not None else float("inf")
            if start is not None and inc_end < start:
                continue
            if end is not None and inc.start >= end:
                continue
            if service is not None and service not in inc.services:
                continue
            if status is not None and inc.status != status:
                continue
            out.append(inc)
        return sorted(out, key=lambda i: i.start, reverse=True)

    def get_incident(self, incident_id: str):
        """One Incident; raises errors.NotFoundError."""
        return self.detector.get(incident_id)

    def rca(self, incident_id: str, refresh: bool = False):
        """The incident's RCAResult, computed once (and audited) unless refresh."""
        incident = self.get_incident(incident_id)
        with self._lock:
            if not refresh and incident_id in self._rca_cache:
                return self._rca_cache[incident_id]
            saved = self._rca_path(incident_id)
            if not refresh and saved.exists():  # ranked before a restart: same answer, no new record
                from rca_service.localize.result import RCAResult

                result = RCAResult.from_dict(json.loads(saved.read_text()))
                self._rca_cache[incident_id] = result
                return result
            t0 = time.perf_counter()
            result = self.localizer.rank(incident, self.store)
            self._timings["ranker_seconds"] = time.perf_counter() - t0
            self._counts["rca_runs"] += 1
            body = rca_ranked_body(result)
            body["detector"] = self.detector.model.info() if self.detector.model is not None else {}
            self.audit.append("rca_ranked", body, incident_id=incident_id)
            self._rca_cache[incident_id] = result
            saved.parent.mkdir(parents=True, exist_ok=True)
            tmp = saved.with_suffix(".tmp")
            tmp.write_text(json.dumps(result.to_dict()))
            os.replace(tmp, saved)
            return result

    def _rca_path(self, incident_id: str) -> Path:
        safe = "".join(c for c in incident_id if c.isalnum() or c in "-_")
        return self.data_dir / "rca" / f"{safe}.json"

    def topology(self, start: float | None = None, end: float | None = None):
        return self.store.topology(start, end)

    def timeseries(self, service: str, start: float, end: float, signals: list[str] | None = None) -> dict:
        if service not in self.store.services():
            raise NotFoundError(f"no service {service!r}")
        frame = self.store.frame(service, start, end)
        names = signals or frame.signals
        series = {}
        for name in names:
            col = frame.column(name)
            series[name] = [None if v != v else float(v) for v in col]  # NaN -> None for JSON
        return {"service": service, "step": frame.step, "times": [int(t) for t in frame.times], "series": series}

    def service_status(self, service: str) -> dict:
        if service not in self.store.services():
            raise NotFoundError(f"no service {service!r}")
        score = self.detector.latest_scores().get(service)
        scores = score.to_dict() if score is not None else {}
        open_ids = [i.id for i in self.list_incidents(service=service, status="open")]
        latest = self.store.latest_closed_step()
        signals = {}
        if latest is not None:
            frame = self.store.frame(service, latest, latest + self.store.step)
            if len(frame.times):
                signals = {n: (None if v != v else float(v)) for n, v in zip(frame.signals, frame.values[-1])}
        return {"service": service, "anomalous": bool(scores.get("anomalous", False)) or bool(open_ids),
                "score": scores.get("score"), "detector": scores.get("detector"),
                "top_signals": scores.get("signals", []), "signals": signals, "open_incidents": open_ids}

    def services(self) -> list[str]:
        return self.store.services()

    def search(self, text: str, kind: str | None = None, service: str | None = None, limit: int = 5) -> list:
        return self.store.search_vectors(text, kind=kind, service=service, limit=limit)

    def similar_incidents(self, incident_id: str, limit: int = 3) -> list[dict]:
        incident = self.get_incident(incident_id)
        hits = self.search(self._incident_summary(incident), kind="incidents", limit=limit + 1)
        out = []
        for hit in hits:
            other = hit.payload.get("incident_id")
            if not other or other == incident_id:
                continue
            result = self._rca_cache.get(other)
            top = result.root_causes[0].service if result and result.root_causes else None
            rems = [r for r in self.list_remediations(other) if r.status in ("verified", "applied")]
            out.append({"incident_id": other, "score": hit.score, "root_cause": top,
                        "resolution": rems[0].action if rems else None})
        return out[:limit]

    def list_remediations(self, incident_id: str | None = None) -> list:
        return self.remediation.list(incident_id)

    def approve_remediation(self, remediation_id: str, user: str, role: str):
        return self.remediation.approve(remediation_id, user, role)

    def reject_remediation(self, remediation_id: str, user: str, role: str, reason: str = ""):
        return self.remediation.reject(remediation_id, user, role, reason)

    def apply_remediation(self, remediation_id: str, user: str, role: str):
        return self.remediation.apply(remediation_id, user, role)

    def audit_records(self, incident_id: str | None = None) -> list[dict]:
        return self.audit.records(incident_id)

    def audit_verify(self) -> dict:
        return self.audit.verify().to_dict()

    def query(self, question: str, now: float | None = None) -> dict:
        return self.query_engine.answer(question, now)

    def stats(self) -> dict:
        out = {"ready": self.ready, "accepting": self.accepting, **self._timings, **self._counts}
        if self.ingest is not None:
            out["ingest"] = self.ingest.stats()
        if self.store is not None:
            out["store"] = self.store.stats()
        if self.remediation is not None:
            out["remediations"] = self.remediation.stats()
        return out
