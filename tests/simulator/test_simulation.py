"""The simulator: reproducible, faults show in the right service and propagate to callers."""

from __future__ import annotations

import numpy as np
import pytest

from rca_service.errors import ConfigError, NotFoundError
from rca_service.records import SpanKind
from rca_service.simulator import FaultKind, SimConfig, Simulation, SimulatorControl, generate_topology

T0 = 1_700_000_000.0


def _sim(seed=11, n=12, **kw) -> Simulation:
    return Simulation(SimConfig(n_services=n, seed=seed, start_time=T0, **kw))


def _target(sim: Simulation, tier: str = "mid") -> str:
    """A service of `tier` that has callers and (for mid) callees."""
    for s in sim.services:
        spec = sim.topology.services[s]
        if spec.tier == tier and sim.topology.callers(s) and (tier == "data" or sim.topology.callees(s)):
            return s
    raise AssertionError("no such service")


def _run(sim: Simulation, steps: int):
    return [sim.tick() for _ in range(steps)]


def _metric(batches, service, name):
    return np.array([m.value for b in batches for m in b.metrics if m.service == service and m.name == name])


def _server_spans(batches, service):
    return [s for b in batches for s in b.spans if s.service == service and s.kind == SpanKind.SERVER]


def _client_spans(batches, caller, callee):
    return [s for b in batches for s in b.spans if s.service == caller and s.peer_service == callee]


@pytest.mark.parametrize("n", [10, 25, 40])
def test_topology_is_a_reachable_dag_with_tiers(n):
    topo = generate_topology(n, np.random.default_rng(n))
    g = topo.graph()
    assert len(topo.services) == n
    import networkx as nx

    assert nx.is_directed_acyclic_graph(g)
    entries = topo.entries()
    reach = set(entries).union(*(nx.descendants(g, e) for e in entries))
    assert reach == set(topo.services)
    assert all(not topo.callees(s) for s, spec in topo.services.items() if spec.tier == "data")
    assert all("_" not in s for s in topo.services)  # names split cleanly in "<service>_<metric>"
    assert max(len(topo.callees(e)) for e in entries) >= 2  # fan-out at the top


def test_same_seed_same_records_other_seed_other_records():
    a, b, c = _sim(seed=5), _sim(seed=5), _sim(seed=6)
    for sim in (a, b, c):
        sim.inject("latency", sim.services[3], at=120)
    ra, rb, rc = _run(a, 4), _run(b, 4), _run(c, 4)
    assert [(s.trace_id, s.span_id, s.start, s.status) for x in ra for s in x.spans] == \
           [(s.trace_id, s.span_id, s.start, s.status) for x in rb for s in x.spans]
    assert [(m.service, m.name, m.value) for x in ra for m in x.metrics] == \
           [(m.service, m.name, m.value) for x in rb for m in x.metrics]
    assert [lg.body for x in ra for lg in x.logs] == [lg.body for x in rb for lg in x.logs]
    assert a.services != c.services or [m.value for m in ra[0].metrics] != [m.value for m in rc[0].metrics]


def test_records_are_well_formed():
    sim = _sim()
    batch = sim.tick()
    assert batch.spans and batch.metrics and batch.logs
    by_id = {s.span_id: s for s in batch.spans}
    for s in batch.spans:
        assert T0 <= s.start <= s.end
        if s.kind == SpanKind.CLIENT:
            assert s.peer_service in sim.topology.callees(s.service)
            child = [c for c in batch.spans if c.parent_span_id == s.span_id]
            assert len(child) == 1 and child[0].service == s.peer_service and child[0].kind == SpanKind.SERVER
            assert child[0].start >= s.start and child[0].end <= s.end
        if s.parent_span_id:
            assert s.parent_span_id in by_id
    assert {m.service for m in batch.metrics} == set(sim.services)
    assert {m.name for m in batch.metrics} >= {"cpu_usage", "memory_usage", "network_receive", "network_transmit", "gc_pause"}
    assert all(T0 <= lg.time < T0 + sim.config.step_s for lg in batch.logs)


def test_cpu_fault_shows_in_the_service_metrics_and_slows_callers():
    base, sim = _sim(), _sim()
    svc = _target(sim)
    sim.inject(FaultKind.CPU, svc, at=0)
    b0, b1 = _run(base, 5), _run(sim, 5)
    assert _metric(b1, svc, "cpu_usage").mean() > _metric(b0, svc, "cpu_usage").mean() + 30
    caller = sim.topology.callers(svc)[0]
    lat = lambda bs: np.mean([s.duration for s in _client_spans(bs, caller, svc)])
    assert lat(b1) > lat(b0) * 1.1
    other = next(s for s in sim.services if s != svc and s not in sim.topology.upstream_of(svc))
    assert _metric(b1, other, "cpu_usage").mean() == pytest.approx(_metric(b0, other, "cpu_usage").mean(), rel=0.2)


def test_memory_leak_grows_and_restart_clears_it():
    sim = _sim()
    svc = _target(sim)
    sim.inject("memory", svc, at=0)
    bs = _run(sim, 16)
    mem, gc = _metric(bs, svc, "memory_usage"), _metric(bs, svc, "gc_pause")
    assert np.all(np.diff(mem[:8]) > 0) and mem[-1] > mem[0] * 1.5
    assert gc[-3:].mean() > gc[:3].mean() + 5
    assert any(lg.severity >= 13 and "GC" in lg.body for b in bs[-4:] for lg in b.logs if lg.service == svc)
    assert sim.restart(svc) is True
    assert sim.active_faults() == []
    after = _metric(_run(sim, 2), svc, "memory_usage")
    assert after[-1] < mem[-1] * 0.7
    assert sim.restart(svc) is False  # nothing left to fix


def test_latency_fault_propagates_up_the_call_graph():
    base, sim = _sim(), _sim()
    svc = _target(sim)
    sim.inject("latency", svc, at=0)
    b0, b1 = _run(base, 4), _run(sim, 4)
    own = lambda bs: np.mean([s.duration for s in _server_spans(bs, svc)])
    assert own(b1) > own(b0) + 0.15

    def caller_requests_that_called(bs, caller):
        """Durations of the caller's own requests that included a call to svc."""
        calling = {(s.trace_id, s.parent_span_id) for s in _client_spans(bs, caller, svc)}
        return [s.duration for s in _server_spans(bs, caller) if (s.trace_id, s.span_id) in calling]

    caller = sim.topology.callers(svc)[0]
    slow, fast = caller_requests_that_called(b1, caller), caller_requests_that_called(b0, caller)
    assert slow and fast and np.mean(slow) > np.mean(fast) + 0.15


def test_errors_fault_fails_its_spans_logs_and_callers():
    sim = _sim()
    svc = _target(sim)
    sim.inject("errors", svc, at=0)
    bs = _run(sim, 4)
    own = _server_spans(bs, svc)
    assert np.mean([s.is_error for s in own]) > 0.2
    assert all(s.status_message for s in own if s.is_error)
    caller = sim.topology.callers(svc)[0]
    calls = _client_spans(bs, caller, svc)
    assert any(s.is_error for s in calls)
    err_logs = [lg for b in bs for lg in b.logs if lg.service == svc and lg.severity >= 17]
    assert len(err_logs) > 5
    others = [lg for b in bs for lg in b.logs if lg.severity >= 17 and lg.service not in
              sim.topology.upstream_of(svc) | {svc}]
    assert len(others) < len(err_logs) / 2
    assert sim.clear_fault(svc) and not sim.active_faults()


def test_network_fault_delays_calls_into_the_service():
    base, sim = _sim(), _sim()
    svc = _target(sim, "data")
    sim.inject("network", svc, at=0)
    b0, b1 = _run(base, 4), _run(sim, 4)
    caller = sim.topology.callers(svc)[0]
    gap = lambda bs: np.mean([c.duration - s.duration for c in _client_spans(bs, caller, svc)
                              for s in bs[0].spans + bs[1].spans + bs[2].spans + bs[3].spans
                              if s.parent_span_id == c.span_id])
    assert gap(b1) > gap(b0) + 0.1  # time on the wire, not in the callee
    assert _metric(b1, svc, "tcp_retransmits").mean() > 3 * _metric(b0, svc, "tcp_retransmits").mean()


def test_deploy_is_a_change_event_then_errors_and_rollback_undoes_it():
    sim = _sim()
    svc = _target(sim)
    sim.inject("deploy", svc, at=90)
    bs = _run(sim, 10)  # enough requests that a 25% error rate cannot hide
    changes = [c for b in bs for c in b.changes]
    assert len(changes) == 1 and changes[0].service == svc and changes[0].kind == "deploy"
    assert changes[0].time == T0 + 90
    marked = [lg for b in bs for lg in b.logs if lg.attributes.get("change.kind") == "deploy"]
    assert len(marked) == 1 and marked[0].attributes["service.version"] == "1.0.1"
    before = [s for s in _server_spans(bs, svc) if s.start < T0 + 90]
    after = [s for s in _server_spans(bs, svc) if s.start >= T0 + 120]
    assert all(s.resource["service.version"] == "1.0.1" for s in after)
    assert np.mean([s.is_error for s in after]) > np.mean([s.is_error for s in before]) + 0.1
    assert sim.restart(svc) is False  # a restart does not remove bad code
    assert sim.rollback(svc) is True
    b = sim.tick()
    assert sim.versions[svc] == "1.0.0" and any(c.kind == "rollback" for c in b.changes)
    assert sim.active_faults() == []


def test_scale_out_dampens_cpu_contention():
    sim = _sim()
    svc = _target(sim)
    sim.inject("cpu", svc, at=0)
    hot = _metric(_run(sim, 3), svc, "cpu_usage").mean()
    assert sim.scale_out(svc, 4) is True
    cooler = _metric(_run(sim, 3), svc, "cpu_usage").mean()
    assert cooler < hot * 0.7
    assert sim.active_faults()  # scaling relieves, it does not remove the fault


def test_control_protocol_and_errors():
    sim = _sim()
    assert isinstance(sim, SimulatorControl)
    with pytest.raises(NotFoundError):
        sim.restart("no-such-service")
    with pytest.raises(ConfigError):
        sim.inject("meteor", sim.services[0])
    with pytest.raises(ConfigError):
        SimConfig(n_services=1)
    with pytest.raises(ConfigError):
        SimConfig.from_dict({"services": 10})
    f = sim.inject("errors", None, at=600, duration=60)
    assert f.service in sim.services and sim.topology.services[f.service].tier != "entry"
    listed = sim.active_faults()[0]
    assert listed["service"] == f.service and listed["state"] == "scheduled"
    _run(sim, 10)  # now = start + 600 s
    assert sim.active_faults()[0]["state"] == "active"
    sim.tick()
    assert sim.active_faults() == []  # its duration ran out


def test_a_request_that_fails_makes_no_further_calls():
    sim = _sim(traces_per_step=60, error_propagation=1.0)
    svc = _target(sim)
    sim.inject("errors", svc, at=0)
    spans = [s for b in _run(sim, 3) for s in b.spans]
    children: dict[str, list] = {}
    for s in spans:
        if s.kind == SpanKind.CLIENT:
            children.setdefault(s.parent_span_id, []).append(s)
    failed_early = ended_at_failure = 0
    for calls in children.values():
        calls.sort(key=lambda s: s.start)
        bad = [k for k, c in enumerate(calls) if c.peer_service == svc and c.is_error]
        if bad:
            failed_early += 1
            ended_at_failure += bad[0] == len(calls) - 1  # nothing was called after the failed call
    assert failed_early > 10 and ended_at_failure == failed_early
    # the failing service's own failed requests stop part-way too: fewer calls than its good ones
    served = _calls_per_server_span(_run(sim, 10), svc)
    failed = [len(calls) for span, calls in served if span.is_error]
    good = [len(calls) for span, calls in served if not span.is_error]
    assert len(failed) > 20 and np.mean(failed) < 0.75 * np.mean(good), (np.mean(failed), np.mean(good))


def _calls_per_server_span(batches, service):
    """(server span, the calls it made) for each request `service` served."""
    spans = [s for b in batches for s in b.spans]
    out = {s.span_id: (s, []) for s in spans if s.service == service and s.kind == SpanKind.SERVER}
    for s in spans:
        if s.kind == SpanKind.CLIENT and s.parent_span_id in out:
            out[s.parent_span_id][1].append(s)
    return list(out.values())
