import numpy as np
import pytest

from fakes import FrameStore
from synth import make_frame, normal_frames
from rca_service.detect.incident import Incident
from rca_service.detect.streaming import DetectConfig, StreamingDetector
from rca_service.errors import ConfigError, NotFoundError

STEPS = 300
FAULT_AT = 240
BURST = 222  # while a step change at 200 is still anomalous (the baseline absorbs it in ~30 steps)


def _run(frames, model, config=None, steps=STEPS, prime=0):
    store = FrameStore(frames)
    det = StreamingDetector(store, config or DetectConfig(lookback_steps=0), model)
    t0 = int(frames[0].times[0])
    opened = []
    if prime:
        store.close_until(t0 + prime * 60)
        det.prime(t0, t0 + prime * 60)
    det.seek(t0 + prime * 60)
    for i in range(prime, steps):
        store.close_until(t0 + (i + 1) * 60)
        opened += det.step()
    return det, opened, t0


def _with_step_change(frames, service_idx, col, factor, at=FAULT_AT):
    f = frames[service_idx]
    v = f.values.copy()
    v[at:, col] = v[at:, col] * factor + 10 * np.nanstd(v[:at, col])
    frames[service_idx] = make_frame(f.service, f.signals, v)
    return f.service, f.signals[col]


def _memory_shift_with_cpu_bursts(steps) -> tuple[list, str]:
    """Service 0's memory shifts at 200 and stays anomalous; its CPU is 50x at `steps`."""
    frames = normal_frames(3, STEPS, seed=22)
    service, _ = _with_step_change(frames, 0, 5, 3.0, at=200)  # metric.memory_usage
    f = frames[0]
    v = f.values.copy()
    v[list(steps), f.signals.index("metric.cpu_usage")] *= 50
    frames[0] = make_frame(f.service, f.signals, v)
    return frames, service


def test_step_change_opens_one_incident_naming_service_and_signal(tiny_detector):
    frames = normal_frames(4, STEPS, seed=11)
    service, signal = _with_step_change(frames, 1, 2, 3.0)
    det, opened, t0 = _run(frames, tiny_detector, prime=120)
    assert len(opened) == 1
    inc = opened[0]
    assert service in inc.services
    assert t0 + FAULT_AT * 60 <= inc.start <= t0 + (FAULT_AT + 2) * 60
    anomaly = inc.services[service]
    assert anomaly.detector == "lstm_ae"
    assert anomaly.signals[0].signal == signal
    assert anomaly.peak_score > 1
    assert len(inc.fingerprint) == 64
    assert det.get(inc.id) is inc


def test_incident_resolves_after_quiet_steps(tiny_detector):
    frames = normal_frames(3, STEPS, seed=12)
    f = frames[0]
    v = f.values.copy()
    v[FAULT_AT : FAULT_AT + 4, 0] *= 50  # a 4-step burst
    frames[0] = make_frame(f.service, f.signals, v)
    det, opened, t0 = _run(frames, tiny_detector, prime=120)
    assert len(opened) == 1
    inc = opened[0]
    assert inc.status == "resolved"
    assert inc.end is not None and inc.end <= t0 + (FAULT_AT + 6) * 60


def test_flapping_signal_does_not_open_an_incident_each_step(tiny_detector):
    frames = normal_frames(3, STEPS, seed=13)
    f = frames[2]
    v = f.values.copy()
    v[FAULT_AT::2, 0] *= 40  # anomalous every other step for 60 steps
    frames[2] = make_frame(f.service, f.signals, v)
    det, opened, _ = _run(frames, tiny_detector, prime=120)
    assert 1 <= len(opened) <= 2
    assert len(det.incidents()) == len(opened)


def test_cold_start_uses_nsigma_and_says_so(tiny_detector):
    frames = normal_frames(2, 40, seed=14)
    det, _, _ = _run(frames, tiny_detector, DetectConfig(lookback_steps=0, min_history=200), steps=40)
    scores = det.latest_scores()
    assert set(scores) == {f.service for f in frames}
    assert all(s.detector == "nsigma" for s in scores.values())
    d = scores[frames[0].service].to_dict()
    assert d["detector"] == "nsigma" and "signals" in d and d["threshold_method"] == "gaussian"


def test_service_switches_to_autoencoder_after_history(tiny_detector):
    frames = normal_frames(2, 120, seed=15)
    det, _, _ = _run(frames, tiny_detector, DetectConfig(lookback_steps=0, min_history=60), steps=120)
    assert all(s.detector == "lstm_ae" for s in det.latest_scores().values())


def test_latent_hook_receives_vectors(tiny_detector):
    frames = normal_frames(2, 90, seed=16)
    got = []
    store = FrameStore(frames)
    det = StreamingDetector(store, DetectConfig(lookback_steps=0, min_history=30), tiny_detector,
                            on_latent=lambda s, t, v: got.append((s, t, v)))
    t0 = int(frames[0].times[0])
    det.seek(t0)
    store.close_until(t0 + 90 * 60)
    det.step()
    assert got and len(got[0][2]) == tiny_detector.model.config.latent
    assert {s for s, _, _ in got} == {f.service for f in frames}


def test_missing_signal_does_not_count(tiny_detector):
    frames = normal_frames(2, STEPS, seed=17)
    f = frames[0]
    v = f.values.copy()
    v[FAULT_AT:, 1] = np.nan  # a signal stops reporting: missing is not anomalous
    frames[0] = make_frame(f.service, f.signals, v)
    det, opened, _ = _run(frames, tiny_detector, prime=120)
    assert opened == []
    assert det.latest_scores()[f.service].score < 1


def test_save_and_load_state(tiny_detector, tmp_path):
    frames = normal_frames(3, STEPS, seed=18)
    _with_step_change(frames, 0, 0, 3.0)
    det, opened, _ = _run(frames, tiny_detector, prime=120)
    assert opened
    det.save(tmp_path)
    other = StreamingDetector(FrameStore(frames), DetectConfig(), tiny_detector)
    assert other.load(tmp_path)
    assert [i.to_dict() for i in other.incidents()] == [i.to_dict() for i in det.incidents()]
    svc = frames[1].service
    assert np.allclose(other.baseline(svc).median, det.baseline(svc).median)
    assert isinstance(other.get(opened[0].id), Incident)
    with pytest.raises(NotFoundError):
        other.get("inc-nope")


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError):
        DetectConfig.from_dict({"open_steps": 2, "bogus": 1})
    cfg = DetectConfig.from_dict({"calibration": {"risk": 0.01}})
    assert cfg.calibration.risk == 0.01


def test_a_jump_in_data_time_does_not_walk_the_gap(tiny_detector):
    """Old data replayed, then live traffic months later: only recent steps are scored."""
    frames = normal_frames(2, 90, seed=18)
    store = FrameStore(frames)
    det = StreamingDetector(store, DetectConfig(lookback_steps=5, min_history=30), tiny_detector)
    t0 = int(frames[0].times[0])
    store.close_until(t0 + 90 * 60)
    det.step()
    scored = []
    score_step = det._score_step
    det._score_step = lambda t: scored.append(t) or score_step(t)
    store.close_until(t0 + 10**7)  # data time jumps by about four months
    det.step()
    assert 0 < len(scored) <= 6


def test_fresh_failure_during_a_lasting_incident_opens_its_own_related_incident(tiny_detector):
    """A long anomaly of one service must not swallow a new, unrelated failure of another."""
    frames = normal_frames(4, STEPS, seed=19)
    _with_step_change(frames, 0, 0, 3.0, at=200)  # lasts to the end: its incident stays open
    f = frames[2]
    v = f.values.copy()
    v[BURST : BURST + 5, 1] *= 50  # a burst 20 steps later in a quiet service
    frames[2] = make_frame(f.service, f.signals, v)
    _, opened, t0 = _run(frames, tiny_detector, prime=120)
    first = next(i for i in opened if frames[0].service in i.services)
    second = next(i for i in opened if frames[2].service in i.services)
    assert first.id != second.id
    assert first.start < t0 + 205 * 60 and t0 + BURST * 60 <= second.start <= t0 + (BURST + 2) * 60
    assert second.related == [first.id]
    assert frames[2].service not in first.services
    assert second.end is not None and (first.end is None or second.end < first.end)


def test_service_failing_again_after_recovering_opens_a_new_incident(tiny_detector):
    """Recovered, then failing again while another service keeps the first incident open."""
    frames = normal_frames(3, STEPS, seed=20)
    _with_step_change(frames, 0, 0, 3.0, at=200)  # keeps the first incident open
    f = frames[1]
    v = f.values.copy()
    v[201:205, 0] *= 50  # joins the first incident (same onset)...
    v[BURST : BURST + 4, 0] *= 50  # ...recovers, fails again much later
    frames[1] = make_frame(f.service, f.signals, v)
    _, opened, t0 = _run(frames, tiny_detector, prime=120)
    with_svc = [i for i in opened if f.service in i.services]
    assert len(with_svc) == 2
    old, new = sorted(with_svc, key=lambda i: i.start)
    assert old.services[f.service].last_seen < t0 + 210 * 60
    assert new.start >= t0 + BURST * 60 and old.id in new.related


class _CountingStore(FrameStore):
    """Counts how many steps each read asks for."""

    def __init__(self, frames):
        super().__init__(frames)
        self.widths = []

    def frame(self, service, start, end):
        self.widths.append(round((end - start) / self.step))
        return super().frame(service, start, end)


def test_window_reuse_reads_one_step_and_scores_exactly_as_whole_reads(tiny_detector):
    frames = normal_frames(3, 200, seed=21)
    f = frames[1]
    v = f.values.copy()
    v[150:153, 0] = np.nan  # a gap: windows around it are read whole
    frames[1] = make_frame(f.service, f.signals, v)
    results = []
    for reuse in (True, False):
        store = _CountingStore(frames)
        det = StreamingDetector(store, DetectConfig(lookback_steps=0), tiny_detector)
        t0 = int(frames[0].times[0])
        store.close_until(t0 + 120 * 60)
        det.prime(t0, t0 + 120 * 60)
        det.seek(t0 + 120 * 60)
        store.widths.clear()
        scores = []
        for i in range(120, 200):
            if not reuse:
                for st in det._states.values():
                    st.window = None
            store.close_until(t0 + (i + 1) * 60)
            det.step()
            scores.append({s: sc.score for s, sc in det.latest_scores().items()})
        results.append((scores, list(store.widths)))
    (with_reuse, widths), (whole, _) = results
    assert with_reuse == whole
    assert widths.count(1) > len(widths) / 3  # (the synthetic data also misses 2% of values at random)
    assert widths.count(tiny_detector.window) >= 3  # the gap forced whole reads


def test_new_symptom_long_into_an_incident_opens_a_related_incident(tiny_detector):
    """Memory shifted at 200 and stays anomalous; a CPU surge in the same service at 222 is news."""
    frames, service = _memory_shift_with_cpu_bursts(range(BURST, BURST + 5))
    _, opened, t0 = _run(frames, tiny_detector, prime=120)
    mine = sorted((i for i in opened if service in i.services), key=lambda i: i.start)
    assert len(mine) == 2
    old, new = mine
    assert old.start < t0 + 205 * 60 <= t0 + BURST * 60 <= new.start <= t0 + (BURST + 2) * 60
    assert old.id in new.related
    assert new.services[service].signals[0].signal == "metric.cpu_usage"


def test_symptoms_arriving_together_stay_one_incident(tiny_detector):
    frames = normal_frames(3, STEPS, seed=23)
    f = frames[0]
    v = f.values.copy()
    v[FAULT_AT : FAULT_AT + 6, 4] *= 50  # cpu first...
    v[FAULT_AT + 2 : FAULT_AT + 6, 0] *= 50  # ...then traffic two steps later: the same problem
    frames[0] = make_frame(f.service, f.signals, v)
    _, opened, _ = _run(frames, tiny_detector, prime=120)
    assert len(opened) == 1


def test_one_clear_break_right_after_a_deploy_fires_at_once(tiny_detector):
    from rca_service.records import ChangeEvent

    frames = normal_frames(4, STEPS, seed=11)
    f = frames[2]
    v = f.values.copy()
    v[FAULT_AT, 1] = v[FAULT_AT, 1] * 4.0 + 30 * np.nanstd(v[:FAULT_AT, 1])  # one step, then back
    frames[2] = make_frame(f.service, f.signals, v)
    t0 = int(frames[0].times[0])
    deploy = ChangeEvent(f.service, t0 + FAULT_AT * 60 - 20, "deploy", "rollout of v2")
    opened = {}
    for name, changes in (("without", []), ("after_deploy", [deploy])):
        store = FrameStore(frames, changes=changes)
        det = StreamingDetector(store, DetectConfig(lookback_steps=0), tiny_detector)
        store.close_until(t0 + 120 * 60)
        det.prime(t0, t0 + 120 * 60)
        det.seek(t0 + 120 * 60)
        opened[name] = []
        for i in range(120, STEPS):
            store.close_until(t0 + (i + 1) * 60)
            opened[name] += det.step()
    # a lone spike is not an incident (two of three steps are needed) ...
    assert not any(f.service in inc.services for inc in opened["without"])
    # ... unless the service was just deployed: then it opens one at that step
    hits = [inc for inc in opened["after_deploy"] if f.service in inc.services]
    assert len(hits) == 1 and hits[0].start == t0 + FAULT_AT * 60
    with pytest.raises(ConfigError):
        DetectConfig(change_factor=0.5)


def test_a_recovered_signal_failing_again_in_a_running_episode_opens_a_related_incident(tiny_detector):
    """CPU is part of the onset at 200, recovers, and surges again at 222 while memory keeps the
    service's episode running: the relapse is news, not more of the same."""
    frames, service = _memory_shift_with_cpu_bursts([*range(200, 205), *range(BURST, BURST + 5)])
    _, opened, t0 = _run(frames, tiny_detector, prime=120)
    mine = sorted((i for i in opened if service in i.services), key=lambda i: i.start)
    assert len(mine) == 2
    old, new = mine
    assert old.start <= t0 + 201 * 60 and "metric.cpu_usage" in {s.signal for s in old.services[service].signals}
    assert t0 + BURST * 60 <= new.start <= t0 + (BURST + 2) * 60 and old.id in new.related
    assert new.services[service].signals[0].signal == "metric.cpu_usage"


def test_a_signal_flickering_with_a_lasting_anomaly_is_not_a_new_symptom(tiny_detector):
    """Two threshold crossings in three steps of a side signal during a lasting anomaly are chance."""
    # crossings never come after a quiet spell
    frames, service = _memory_shift_with_cpu_bursts([BURST, BURST + 2, BURST + 3, BURST + 5, BURST + 6, BURST + 8])
    _, opened, _ = _run(frames, tiny_detector, prime=120)
    assert len([i for i in opened if service in i.services]) == 1


def test_short_history_threshold_needs_a_lasting_anomaly(tiny_detector):
    """An hour of history gives each service its own (short-history) threshold instead of the wide
    global one; being less certain, it opens incidents only on anomalies lasting `open_window` steps."""
    frames = normal_frames(3, 110, seed=24)
    f = frames[1]
    v = f.values.copy()
    v[70:72, 0] *= 50  # two steps: enough with a long history, not with a short one
    frames[1] = make_frame(f.service, f.signals, v)
    service, _ = _with_step_change(frames, 2, 2, 3.0, at=90)
    det, opened, t0 = _run(frames, tiny_detector, DetectConfig(lookback_steps=0, min_history=10), steps=110, prime=60)
    assert det.threshold(service).method == "exp-tail"
    assert [sorted(i.services) for i in opened] == [[service]]
    assert opened[0].start == t0 + 90 * 60


def test_scoring_runs_torch_on_one_thread_and_restores_the_setting(tiny_detector):
    import torch

    frames = normal_frames(2, 90, seed=16)
    seen = []
    store = FrameStore(frames)
    det = StreamingDetector(store, DetectConfig(lookback_steps=0, min_history=30), tiny_detector,
                            on_latent=lambda s, t, v: seen.append(torch.get_num_threads()))
    t0 = int(frames[0].times[0])
    det.seek(t0)
    store.close_until(t0 + 90 * 60)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        det.step()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
    with pytest.raises(ConfigError):
        DetectConfig(torch_threads=-1)


def _step_by_step(frames, model, prime=120, steps=STEPS):
    """Like `_run`, also collecting which incidents each call reported as updated."""
    store = FrameStore(frames)
    det = StreamingDetector(store, DetectConfig(lookback_steps=0), model)
    t0 = int(frames[0].times[0])
    store.close_until(t0 + prime * 60)
    det.prime(t0, t0 + prime * 60)
    det.seek(t0 + prime * 60)
    opened, updated = [], []
    for i in range(prime, steps):
        store.close_until(t0 + (i + 1) * 60)
        now = det.step()
        opened += now
        updated += [(i, inc) for inc in det.updated()]
        assert not {inc.id for inc in now} & {inc.id for inc in det.updated()}  # opening is not an update
    return det, opened, updated, t0


def test_a_service_joining_an_open_incident_is_recorded_and_reported_as_an_update(tiny_detector):
    """A second service failing two steps into an incident joins it; that is news about the
    incident (its causes must be ranked again), not a silent merge."""
    frames = normal_frames(4, STEPS, seed=11)
    first, _ = _with_step_change(frames, 1, 2, 3.0)
    f = frames[3]
    v = f.values.copy()
    v[FAULT_AT + 2 : FAULT_AT + 8, 0] *= 50
    frames[3] = make_frame(f.service, f.signals, v)
    det, opened, updated, t0 = _step_by_step(frames, tiny_detector)
    assert len(opened) == 1
    inc = opened[0]
    assert set(inc.services) == {first, f.service}
    joins = [u for u in inc.updates if u.kind == "joined"]
    assert [u.service for u in joins] == [f.service]
    assert t0 + (FAULT_AT + 2) * 60 <= joins[0].time <= t0 + (FAULT_AT + 4) * 60
    assert f.signals[0] in joins[0].signals
    assert [i for i, u in updated if u is inc and any(x.time == t0 + i * 60 and x.kind == "joined" for x in u.updates)]
    assert Incident.from_dict(inc.to_dict()).updates == inc.updates


def test_a_member_showing_a_new_symptom_during_the_onset_is_an_update(tiny_detector):
    frames = normal_frames(3, STEPS, seed=23)
    f = frames[0]
    v = f.values.copy()
    v[FAULT_AT : FAULT_AT + 6, 4] *= 50  # cpu first...
    v[FAULT_AT + 2 : FAULT_AT + 6, 0] *= 50  # ...then traffic two steps later: the same incident, grown
    frames[0] = make_frame(f.service, f.signals, v)
    det, opened, updated, t0 = _step_by_step(frames, tiny_detector)
    assert len(opened) == 1
    symptoms = [u for u in opened[0].updates if u.kind == "new_symptom"]
    assert symptoms and symptoms[0].service == f.service and f.signals[0] in symptoms[0].signals
    assert f.signals[4] not in symptoms[0].signals  # the signal it opened with is not news
    assert any(inc is opened[0] for _, inc in updated)


def test_an_incident_without_anything_new_is_never_reported_updated(tiny_detector):
    frames = normal_frames(4, STEPS, seed=11)
    _with_step_change(frames, 1, 2, 3.0)
    _, opened, updated, _ = _step_by_step(frames, tiny_detector)
    assert len(opened) == 1
    assert opened[0].updates == [] and updated == []
