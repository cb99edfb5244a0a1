"""Localizer.rank: ranked, calibrated, evidenced results from a store."""

from __future__ import annotations

from rca_service.localize.graph import IncidentGraphBuilder
from rca_service.localize.result import FAULT_KINDS, RCAResult
from rca_service.store.api import SpanSample
from tests.localize.test_localize_graph import ONSET, chain_store, incident_at


def test_rank_returns_a_full_result_with_evidence(tiny_localizer) -> None:
    store = chain_store("b")
    t = float(store.times[ONSET])
    store.samples = [SpanSample("trace-err-1", "s1", "b", "GET /x", t + 5, 0.4, True),
                     SpanSample("trace-slow-2", "s2", "b", "GET /y", t + 7, 0.9, False)]
    result = tiny_localizer.rank(incident_at(store), store)
    assert isinstance(result, RCAResult)
    assert {rc.service for rc in result.root_causes} == {"a", "b", "c"}
    scores = [rc.score for rc in result.root_causes]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= rc.confidence <= 1.0 for rc in result.root_causes)
    assert abs(sum(rc.confidence for rc in result.root_causes) - 1.0) < 1e-6
    assert all(rc.kind in FAULT_KINDS for rc in result.root_causes)
    b = next(rc for rc in result.root_causes if rc.service == "b")
    kinds = {e.kind for e in b.evidence}
    assert {"metric", "log_template", "trace", "change", "topology"} <= kinds
    trace = next(e for e in b.evidence if e.kind == "trace")
    assert trace.data["trace_ids"][0] == "trace-err-1"  # errors first
    tmpl = next(e for e in b.evidence if e.kind == "log_template")
    assert tmpl.data["new"] and "timeout" in tmpl.data["template"]
    assert b.kind == "deploy"  # a change right before the symptoms
    assert set(result.model["sha256"]) == set(tiny_localizer.artifact_hashes())
    assert len(result.inputs_fingerprint) == 64
    assert result.explanation
    assert RCAResult.from_dict(result.to_dict()).root_causes[0].service == result.root_causes[0].service


def test_flat_store_is_inconclusive(tiny_localizer) -> None:
    store = chain_store("b")
    # erase the fault: every signal back to its baseline values
    for svc, (names, values) in store.frames.items():
        values[ONSET:] = values[ONSET - 10: ONSET - 10 + (len(values) - ONSET)]
    store.templates, store.change_events = [], []
    result = tiny_localizer.rank(incident_at(store), store)
    assert result.inconclusive
    assert "nconclusive" in result.explanation


def test_a_rising_call_gap_is_evidence_on_the_service_it_touches(tiny_localizer) -> None:
    import numpy as np

    from rca_service.localize.framestore import EdgeSeries

    store = chain_store("none")
    cut = store.times[ONSET]
    for key, e in list(store.edges.items()):
        wire = np.full(len(store.times), 0.002)
        if key == ("b", "c"):
            wire = wire + np.where(store.times >= cut, 0.3, 0.0)
        store.edges[key] = EdgeSeries(e.calls, e.errors, e.latency_sum, e.calls * wire)
    result = tiny_localizer.rank(incident_at(store), store)
    by_service = {rc.service: rc for rc in result.root_causes}
    gaps = [e for e in by_service["c"].evidence if "call_gaps" in e.data]
    assert len(gaps) == 1 and gaps[0].data["call_gaps"][0]["caller"] == "b"
    assert gaps[0].data["call_gaps"][0]["ratio"] > 100 and "b -> c" in gaps[0].summary
    assert not any("call_gaps" in e.data for e in by_service["a"].evidence)


def test_a_network_root_cause_is_explained_by_its_call_gap() -> None:
    from rca_service.localize.ranker import Localizer
    from rca_service.localize.result import Evidence, RootCause

    metric = Evidence("metric", "span.latency_p90 up 3.0 sigma", {})
    gap = Evidence("trace", "calls b -> c spend 150x longer outside the callee's span", {"call_gaps": [{"caller": "b"}]})
    graph = IncidentGraphBuilder().build(incident_at(chain_store("b")), chain_store("b"))
    network = [RootCause("c", "network", 2.0, 0.9, evidence=[metric, gap])]
    assert "150x longer" in Localizer._explain(network, False, graph)
    resource = [RootCause("c", "resource", 2.0, 0.9, evidence=[metric, gap])]
    assert "latency_p90" in Localizer._explain(resource, False, graph)


def test_a_fall_in_calls_per_request_is_evidence_on_the_caller(tiny_localizer) -> None:
    import numpy as np

    from rca_service.localize.framestore import EdgeSeries

    store = chain_store("none")
    for svc, (names, values) in list(store.frames.items()):
        store.frames[svc] = ([*names, "span.request_rate"], np.column_stack([values, np.full(len(store.times), 100 / store.step)]))
    e = store.edges[("b", "c")]
    store.edges[("b", "c")] = EdgeSeries(np.where(store.times >= store.times[ONSET], 20.0, 100.0), e.errors, e.latency_sum)
    result = tiny_localizer.rank(incident_at(store), store)
    by_service = {rc.service: rc for rc in result.root_causes}
    found = [e for e in by_service["b"].evidence if "calls_per_request" in e.data]
    assert len(found) == 1 and found[0].data["calls_per_request"] == [{"caller": "b", "callee": "c", "change": -0.79}]
    assert "b makes 79% fewer calls to c per request" in found[0].summary
    assert not any("calls_per_request" in e.data for e in by_service["a"].evidence + by_service["c"].evidence)


def test_requests_that_now_end_at_a_callee_are_evidence_on_that_callee(tiny_localizer) -> None:
    import numpy as np

    from rca_service.localize.framestore import EdgeSeries

    store = chain_store("none")
    e = store.edges[("a", "b")]
    # a's requests used to end elsewhere; after the onset 70% of them end with the call to b
    store.edges[("a", "b")] = EdgeSeries(e.calls, e.errors, e.latency_sum,
                                         ends=np.where(store.times >= store.times[ONSET], 70.0, 0.0))
    store.edges[("a", "z")] = EdgeSeries(e.calls, e.errors, e.latency_sum,
                                         ends=np.where(store.times >= store.times[ONSET], 30.0, 100.0))
    result = tiny_localizer.rank(incident_at(store), store)
    by_service = {rc.service: rc for rc in result.root_causes}
    found = [e for e in by_service["b"].evidence if "request_ends" in e.data]
    assert len(found) == 1 and found[0].data["request_ends"] == [{"caller": "a", "callee": "b", "rise": 0.7}]
    assert "the share of a's requests that end with the call to b rose by 70 points" in found[0].summary
    assert not any("request_ends" in e.data for rc in result.root_causes if rc.service != "b" for e in rc.evidence)


def test_metric_evidence_says_when_a_peak_lasted_one_step() -> None:
    import numpy as np

    from rca_service.localize.deviation import SignalDeviation
    from rca_service.localize.ranker import _metric_evidence

    spike = SignalDeviation("metric.net_rx", "network", np.array([0.4, 199.0, 1.0]), 199.0, 1000.0, 37000.0, 1, held=1.0)
    lasting = SignalDeviation("metric.cpu", "resource", np.array([33.0, 35.0, 34.0]), 35.0, 5.6, 92.0, 0, held=34.0)
    assert "one step only, 1.0 σ held over two" in _metric_evidence(spike, 60, 0.0).summary
    assert _metric_evidence(spike, 60, 0.0).data["held_deviation"] == 1.0
    assert "one step" not in _metric_evidence(lasting, 60, 0.0).summary
