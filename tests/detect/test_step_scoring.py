"""The batched step scorer gives the same scores and incidents as scoring services one by one."""

import numpy as np

from fakes import FrameStore
from legacy_step import LegacyStreamingDetector
from synth import make_frame, normal_frames
from rca_service.detect.streaming import DetectConfig, StreamingDetector

STEPS = 260


def _faulty_frames() -> list:
    """Six services: a step change, bursts (masked in later windows), a flapping signal, a signal
    that stops reporting, a service whose last rows have nothing the model knows, and one that
    only appears late (cold start on n-sigma, then the autoencoder)."""
    frames = normal_frames(6, STEPS, seed=31)
    edits = {
        0: lambda v: v.__setitem__((slice(200, None), 2), v[200:, 2] * 3 + 5),
        1: lambda v: v.__setitem__(([150, 151, 152, 210, 230], 0), v[[150, 151, 152, 210, 230], 0] * 40),
        2: lambda v: v.__setitem__((slice(180, None, 2), 1), v[180::2, 1] * 30),
        3: lambda v: v.__setitem__((slice(170, None), 1), np.nan),
        4: lambda v: v.__setitem__((slice(220, 226), slice(None)), np.nan),
    }
    for i, edit in edits.items():
        v = frames[i].values.copy()
        edit(v)
        frames[i] = make_frame(frames[i].service, frames[i].signals, v)
    late = frames[5].values.copy()
    late[:130] = np.nan
    late[240:243, 0] *= 60
    frames[5] = make_frame(frames[5].service, frames[5].signals, late)
    return frames


def test_batched_step_scores_equal_the_per_service_path(tiny_detector):
    frames = _faulty_frames()
    cfg = DetectConfig(lookback_steps=0, min_history=40, refit_every=7, recalibrate_every=50)
    latents: dict[str, list] = {"new": [], "old": []}
    runs = {}
    for name, cls in (("new", StreamingDetector), ("old", LegacyStreamingDetector)):
        store = FrameStore(frames)
        runs[name] = (store, cls(store, cfg, tiny_detector, on_latent=lambda s, t, v, n=name: latents[n].append((s, t, v))))
    t0 = int(frames[0].times[0])
    for _, det in runs.values():
        det.seek(t0)
    kinds = set()
    for i in range(STEPS):
        for store, det in runs.values():
            store.close_until(t0 + (i + 1) * 60)
            det.step()
        new, old = runs["new"][1].latest_scores(), runs["old"][1].latest_scores()
        assert new.keys() == old.keys()
        for service, a in new.items():
            b = old[service]
            kinds.add((a.detector, a.anomalous))
            assert (a.time, a.detector, a.threshold_method, a.anomalous_signals) == (b.time, b.detector, b.threshold_method,
                                                                                     b.anomalous_signals)
            assert np.isclose(a.score, b.score, rtol=1e-5, atol=1e-6) and np.isclose(a.threshold, b.threshold, rtol=1e-5)
            assert [s.signal for s in a.signals] == [s.signal for s in b.signals]
            assert np.allclose([s.score for s in a.signals], [s.score for s in b.signals], rtol=1e-5, atol=1e-6)
            assert np.allclose([s.expected for s in a.signals], [s.expected for s in b.signals], rtol=1e-5, atol=1e-6)
            if a.latent is not None:
                assert np.allclose(a.latent, b.latent, atol=1e-5)
    # every kind of score came up: autoencoder and n-sigma, normal and anomalous
    assert {("lstm_ae", True), ("lstm_ae", False), ("nsigma", False)} <= kinds
    new_inc = [i.to_dict() for i in runs["new"][1].incidents()]
    old_inc = [i.to_dict() for i in runs["old"][1].incidents()]
    assert len(new_inc) >= 3
    for a, b in zip(new_inc, old_inc):
        assert (a["id"], a["start"], a["end"], list(a["services"])) == (b["id"], b["start"], b["end"], list(b["services"]))
    assert len(new_inc) == len(old_inc)
    assert [(s, t) for s, t, _ in latents["new"]] == [(s, t) for s, t, _ in latents["old"]]
