"""Incident graph: features from the store, windows, missing signals, no names in features."""

from __future__ import annotations

import numpy as np
import pytest

from rca_service.detect.incident import Incident
from rca_service.errors import ConfigError
from rca_service.localize.deviation import held_peak, robust_scale
from rca_service.localize.framestore import EdgeSeries, FrameStore
from rca_service.localize.graph import EDGE_FEATURES, NODE_FEATURES, GraphConfig, IncidentGraphBuilder
from rca_service.records import ChangeEvent
from rca_service.store.api import LogTemplate

STEP = 60
T = 40
ONSET = 30


def chain_store(root: str = "b", with_logs: bool = True) -> FrameStore:
    """a → b → c; the root's cpu jumps at ONSET and its latency reaches its caller."""
    rng = np.random.default_rng(0)
    times = 1_700_000_040 + STEP * np.arange(T)
    frames = {}
    lat = {}
    for svc in ("c", "b", "a"):
        own = 0.01 + 0.001 * rng.standard_normal(T)
        if svc == root:
            own[ONSET:] += 0.2
        down = lat.get({"a": "b", "b": "c"}.get(svc, ""), np.zeros(T))
        lat[svc] = own + down
        cpu = 10 + rng.standard_normal(T)
        if svc == root:
            cpu[ONSET:] += 60
        cols = [lat[svc], cpu]
        names = ["span.latency_p90", "metric.cpu_usage"]
        if with_logs and svc != "c":
            cols.append(rng.poisson(1.0, T).astype(float))
            names.append("log.count.error")
        frames[svc] = (names, np.column_stack(cols))
    calls = np.full(T, 100.0)
    edges = {("a", "b"): EdgeSeries(calls, np.zeros(T), calls * lat["b"]), ("b", "c"): EdgeSeries(calls, np.zeros(T), calls * lat["c"])}
    templates = [LogTemplate("t1", root, "timeout talking to <*>", float(times[ONSET]), float(times[-1]), 12, 12)]
    changes = [ChangeEvent(root, float(times[ONSET]) - 30, "deploy", "v2")]
    return FrameStore(STEP, times, frames, edges, templates, [], changes)


def incident_at(store: FrameStore) -> Incident:
    return Incident(id="inc-1", start=float(store.times[ONSET]), end=None)


def test_graph_has_every_node_edges_both_ways_and_named_features() -> None:
    store = chain_store()
    g = IncidentGraphBuilder().build(incident_at(store), store)
    assert g.services == ["a", "b", "c"]
    assert g.x.shape == (3, len(NODE_FEATURES))
    assert g.edge_attr.shape == (4, len(EDGE_FEATURES))
    pairs = {(g.services[s], g.services[d], bool(r)) for s, d, r in zip(*g.edge_index, g.edge_attr[:, -1])}
    assert pairs == {("a", "b", False), ("b", "a", True), ("b", "c", False), ("c", "b", True)}
    assert np.isfinite(g.x).all()


def test_root_stands_out_in_resource_and_latency_excess() -> None:
    store = chain_store("b")
    g = IncidentGraphBuilder().build(incident_at(store), store)
    col = {name: i for i, name in enumerate(NODE_FEATURES)}
    b, a, c = g.services.index("b"), g.services.index("a"), g.services.index("c")
    assert g.x[b, col["resource.rel"]] == pytest.approx(1.0)
    assert g.x[b, col["resource.peak"]] > 2 * g.x[a, col["resource.peak"]]
    # a's latency rose as much as b's, but it added nothing of its own on top of its callee
    assert g.x[b, col["latency.excess"]] > g.x[a, col["latency.excess"]]
    assert g.x[b, col["logs.new_error_templates"]] > 0 and g.x[a, col["logs.new_error_templates"]] == 0
    assert g.x[b, col["change.events"]] > 0
    assert g.x[c, col["onset.has"]] == 0


def test_missing_family_is_marked_absent() -> None:
    store = chain_store(with_logs=True)
    g = IncidentGraphBuilder().build(incident_at(store), store)
    col = NODE_FEATURES.index("logs.present")
    present = dict(zip(g.services, g.x[:, col]))
    assert present == {"a": 1.0, "b": 1.0, "c": 0.0}


def test_windows_align_to_steps_and_respect_minimums() -> None:
    b = IncidentGraphBuilder(GraphConfig(history_seconds=600, analysis_seconds=120, min_analysis_steps=3))
    (b0, b1), (a0, a1) = b.windows(1_000_090.0, 60)
    assert a0 == b1 == 1_000_080
    assert a1 - a0 == 180 and b1 - b0 == 600


def test_fingerprint_changes_with_the_data() -> None:
    s1, s2 = chain_store("b"), chain_store("c")
    builder = IncidentGraphBuilder()
    f1 = builder.build(incident_at(s1), s1).fingerprint()
    assert f1 == builder.build(incident_at(s1), s1).fingerprint()
    assert f1 != builder.build(incident_at(s2), s2).fingerprint()


def test_flat_baseline_gives_a_finite_scale() -> None:
    med, scale = robust_scale(np.zeros(20))
    assert med == 0 and scale > 0
    assert robust_scale(np.array([np.nan, np.nan]))[1] == 1.0


def test_graph_config_validation() -> None:
    with pytest.raises(ConfigError):
        GraphConfig(history_seconds=0)
    with pytest.raises(ConfigError):
        GraphConfig.from_dict({"history_minutes": 5})


def test_peer_labelled_client_latency_points_at_the_callee() -> None:
    from rca_service.localize.deviation import signal_peer

    assert signal_peer("metric.edge_client_latency_p50{peer.service=cart}") == "cart"
    assert signal_peer("metric.rpc_latency{method=get,service.peer.name=db-1}") == "db-1"
    assert signal_peer("metric.edge_server_latency_p50{client=web}") is None
    assert signal_peer("span.latency_p90") is None

    rng = np.random.default_rng(1)
    store = chain_store("none")  # no fault of its own: only a's view of the call to c moves
    names, values = store.frames["a"]
    series = 0.01 + 0.0005 * rng.standard_normal(T)
    series[ONSET:] += 0.3
    store.frames["a"] = (names + ["metric.edge_client_latency_p50{peer.service=c}"], np.column_stack([values, series]))
    g = IncidentGraphBuilder().build(incident_at(store), store)
    col = {name: i for i, name in enumerate(NODE_FEATURES)}
    a, c = g.services.index("a"), g.services.index("c")
    assert g.x[c, col["peer.present"]] == 1.0 and g.x[a, col["peer.present"]] == 0.0
    assert g.x[c, col["peer.excess"]] > 2.0
    # the peer series describes the call, not a's own latency
    assert g.x[a, col["latency.peak"]] < g.x[c, col["peer.latency"]]


def test_a_system_wide_trace_gap_after_the_onset_reads_as_unknown_not_as_every_call_stopping() -> None:
    store = chain_store()
    cut = store.times[ONSET]
    for key, e in list(store.edges.items()):
        calls = np.where(store.times >= cut, 0.0, e.calls)
        store.edges[key] = EdgeSeries(calls, np.where(store.times >= cut, 0.0, e.errors), np.where(store.times >= cut, 0.0, e.latency_sum))
    g = IncidentGraphBuilder().build(incident_at(store), store)
    ratio = EDGE_FEATURES.index("calls.ratio")
    assert np.allclose(g.edge_attr[:, ratio], 0.0)

    # one edge going quiet while others still carry calls is a real drop, not a gap
    store = chain_store()
    e = store.edges[("b", "c")]
    store.edges[("b", "c")] = EdgeSeries(np.where(store.times >= cut, 0.0, e.calls), e.errors, e.latency_sum)
    g = IncidentGraphBuilder().build(incident_at(store), store)
    bc = [k for k, (s_, d_) in enumerate(zip(*g.edge_index)) if (g.services[s_], g.services[d_]) == ("b", "c")]
    assert g.edge_attr[bc[0], ratio] < -5.0


def test_calls_that_wait_longer_on_the_wire_mark_the_callee_not_its_caller() -> None:
    store = chain_store(root="none")
    cut = store.times[ONSET]
    rng = np.random.default_rng(3)
    for key in store.edges:
        e = store.edges[key]
        wire = 0.003 * (1 + 0.1 * rng.standard_normal(T))
        if key == ("b", "c"):  # c answers late: its network interface delays what it sends
            wire = wire + np.where(store.times >= cut, 0.2, 0.0)
        store.edges[key] = EdgeSeries(e.calls, e.errors, e.latency_sum, e.calls * wire)
    g = IncidentGraphBuilder().build(incident_at(store), store)
    col = {name: i for i, name in enumerate(NODE_FEATURES)}
    a, b, c = (g.services.index(s) for s in "abc")
    ratio = EDGE_FEATURES.index("gap.ratio")
    forward = {(g.services[s_], g.services[d_]): k for k, (s_, d_) in enumerate(zip(*g.edge_index)) if g.edge_attr[k, -1] == 0}
    assert g.edge_attr[forward[("b", "c")], ratio] > 3.0
    assert abs(g.edge_attr[forward[("a", "b")], ratio]) < 0.5
    assert g.x[c, col["gap.in"]] > 3.0 and g.x[b, col["gap.out"]] > 3.0
    assert g.x[b, col["gap.in"]] < 0.5 and g.x[a, col["gap.in"]] == 0.0
    # without client spans the gap is unknown: zero, not a drop
    g = IncidentGraphBuilder().build(incident_at(chain_store()), chain_store())
    assert np.allclose(g.edge_attr[:, ratio], 0.0) and np.allclose(g.x[:, col["gap.in"]], 0.0)


def test_one_stray_event_after_a_silent_baseline_is_not_a_huge_deviation() -> None:
    counts = np.zeros(60)
    med, scale = robust_scale(counts)
    assert (1.0 - med) / scale <= 1.0  # one error log after an hour of none: about one sigma
    # a burst still stands out, and continuous signals keep their fine scale
    assert (30.0 - med) / scale >= 30.0
    ratios = np.zeros(60)
    ratios[::7] = 0.5  # a fraction, not a count
    assert robust_scale(ratios)[1] < 1.0


def _serving(store: FrameStore, requests: float) -> FrameStore:
    """The chain with traced request counts: each service serves `requests` per step."""
    for svc, (names, values) in list(store.frames.items()):
        store.frames[svc] = ([*names, "span.request_rate"], np.column_stack([values, np.full(T, requests / STEP)]))
    return store


def test_a_caller_that_skips_calls_per_request_shows_a_fall_only_on_that_caller() -> None:
    store = _serving(chain_store(root="none"), 100.0)
    cut = store.times[ONSET]
    e = store.edges[("b", "c")]
    # b serves as many requests as before but calls c on 30% of them: its requests end early
    calls = np.where(store.times >= cut, 30.0, 100.0)
    # and for the first third of the baseline no traces arrived at all: no requests, no calls
    silent = np.arange(T) < 10
    calls[silent] = 0.0
    b_names, b_values = store.frames["b"]
    b_values[silent, b_names.index("span.request_rate")] = np.nan
    store.edges[("b", "c")] = EdgeSeries(calls, e.errors, e.latency_sum)
    g = IncidentGraphBuilder().build(incident_at(store), store)
    col = {name: i for i, name in enumerate(NODE_FEATURES)}
    ratio = EDGE_FEATURES.index("fanout.ratio")
    forward = {(g.services[s_], g.services[d_]): k for k, (s_, d_) in enumerate(zip(*g.edge_index)) if g.edge_attr[k, -1] == 0}
    a, b = g.services.index("a"), g.services.index("b")
    assert g.edge_attr[forward[("b", "c")], ratio] == pytest.approx(np.log(0.31 / 1.01), abs=1e-3)
    assert g.edge_attr[forward[("a", "b")], ratio] == pytest.approx(0.0, abs=1e-6)
    assert g.x[b, col["fanout.fall"]] > 1.0 and g.x[b, col["fanout.rise"]] == 0.0
    assert g.x[a, col["fanout.fall"]] == 0.0
    # without traced request counts, calls per request are unknown: zero, not a change
    g = IncidentGraphBuilder().build(incident_at(chain_store()), chain_store())
    assert np.allclose(g.edge_attr[:, ratio], 0.0) and np.allclose(g.x[:, col["fanout.fall"]], 0.0)


def test_held_peak_is_the_level_two_adjacent_steps_reach() -> None:
    assert held_peak(np.array([0.5, 200.0, 0.3, 1.0])) == pytest.approx(0.5)  # a one-step spike
    assert held_peak(np.array([0.5, 30.0, 34.0, 0.2])) == pytest.approx(30.0)
    assert held_peak(np.array([np.nan, 12.0, np.nan])) == pytest.approx(12.0)  # no adjacent pair: its peak
    assert held_peak(np.array([np.nan, np.nan])) == 0.0


def test_a_one_step_spike_holds_less_than_a_lasting_shift() -> None:
    store = chain_store("b")
    names, values = store.frames["c"]
    spiky = values[:, 1].copy()
    spiky[ONSET + 1] += 500.0  # one burst on the bystander, far above b's lasting jump of 60
    store.frames["c"] = (names, np.column_stack([values[:, 0], spiky]))
    g = IncidentGraphBuilder().build(incident_at(store), store)
    col = {name: i for i, name in enumerate(NODE_FEATURES)}
    b, c = g.services.index("b"), g.services.index("c")
    assert g.x[c, col["overall.peak"]] > g.x[b, col["overall.peak"]]
    assert g.x[b, col["held.rel"]] == pytest.approx(1.0)
    assert g.x[c, col["held.peak"]] < 0.5 * g.x[b, col["held.peak"]]


def test_requests_that_stop_after_a_call_raise_that_callee_s_ends_in() -> None:
    store = chain_store(root="none")
    # a also calls d after b; its requests used to end with d, after the onset 80% end with b
    store.frames["d"] = store.frames["c"]
    calls = np.full(T, 100.0)
    after = store.times >= store.times[ONSET]
    ends_b = np.where(after, 80.0, 0.0)
    store.edges[("a", "b")] = EdgeSeries(calls, np.zeros(T), calls * 0.01, ends=ends_b)
    store.edges[("a", "d")] = EdgeSeries(np.where(after, 20.0, 100.0), np.zeros(T), calls * 0.01, ends=100.0 - ends_b)
    store.edges[("b", "c")] = EdgeSeries(calls, np.zeros(T), calls * 0.01, ends=np.full(T, 100.0))
    g = IncidentGraphBuilder().build(incident_at(store), store)
    col = {name: i for i, name in enumerate(NODE_FEATURES)}
    rise = EDGE_FEATURES.index("ends.rise")
    forward = {(g.services[s_], g.services[d_]): k for k, (s_, d_) in enumerate(zip(*g.edge_index)) if g.edge_attr[k, -1] == 0}
    assert g.edge_attr[forward[("a", "b")], rise] == pytest.approx(0.8)
    assert g.edge_attr[forward[("a", "d")], rise] == pytest.approx(-0.8)
    assert g.edge_attr[forward[("b", "c")], rise] == pytest.approx(0.0)  # b's requests end as they did
    at = {s: g.x[g.services.index(s)] for s in "abcd"}
    assert at["b"][col["ends.in"]] == pytest.approx(0.8) and at["d"][col["ends.in"]] == 0.0
    assert at["a"][col["ends.out"]] == pytest.approx(0.8) and at["b"][col["ends.out"]] == 0.0
    # where the store does not know how requests ended, nothing changed
    g = IncidentGraphBuilder().build(incident_at(chain_store()), chain_store())
    assert np.allclose(g.edge_attr[:, rise], 0.0) and np.allclose(g.x[:, [col["ends.in"], col["ends.out"]]], 0.0)
