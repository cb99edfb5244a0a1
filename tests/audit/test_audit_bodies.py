"""Fingerprints and the bodies of incident_opened / rca_ranked records."""

from __future__ import annotations

import numpy as np

from rca_service.audit.bodies import fingerprint_frames, incident_opened_body, rca_ranked_body
from rca_service.util import sha256_file
from rca_service.audit.chain import AuditLog
from rca_service.detect.incident import Incident, ServiceAnomaly
from rca_service.localize.result import RCAResult, RootCause
from rca_service.store.frames import WindowFrame


def _frame(service: str, values) -> WindowFrame:
    return WindowFrame(service, 60, np.array([0, 60], dtype=np.int64), ["span.error_rate"], np.array(values, dtype=float))


def test_frame_fingerprint_is_order_free_and_sensitive():
    a, b = _frame("a", [[0.1], [np.nan]]), _frame("b", [[0.0], [0.2]])
    assert fingerprint_frames([a, b]) == fingerprint_frames([b, a])
    assert fingerprint_frames([a, b]) != fingerprint_frames([a, _frame("b", [[0.0], [0.21]])])
    assert fingerprint_frames([_frame("a", [[0.1], [float("nan")]])]) == fingerprint_frames([a])


def test_bodies_are_written_to_the_chain(tmp_path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"\x00\x01")
    incident = Incident("inc-9", 100.0, None, {"svc": ServiceAnomaly("svc", 100.0, 160.0, 2.5, "lstm_ae")},
                        fingerprint="f" * 64)
    rca = RCAResult("inc-9", [RootCause("svc", "resource", 3.0, 0.8, "metric.cpu")], False, 200.0,
                    model={"name": "gnn", "version": "3", "sha256": {"weights.pt": sha256_file(weights)}},
                    inputs_fingerprint="e" * 64)
    log = AuditLog(tmp_path / "chain.jsonl")
    log.append("incident_opened", incident_opened_body(incident, "d" * 64), incident_id="inc-9")
    log.append("rca_ranked", rca_ranked_body(rca), incident_id="inc-9")
    opened, ranked = log.records("inc-9")
    assert opened["body"]["windows_fingerprint"] == "f" * 64 and opened["body"]["telemetry_fingerprint"] == "d" * 64
    assert ranked["body"]["model_sha256"]["weights.pt"] == "b413f47d13ee2fe6c845b2ee141af81de858df4ec549a58b7970bb96645bc8d2"
    assert ranked["body"]["root_causes"][0]["service"] == "svc" and ranked["body"]["inputs_fingerprint"] == "e" * 64
    assert log.verify().ok
