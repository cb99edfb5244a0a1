"""Live mode through the OpenTelemetry SDK's OTLP/HTTP exporters, and the control endpoint."""

from __future__ import annotations

import argparse

import pytest

from rca_service.datasets.capture import CaptureServer, span_topology
from rca_service.errors import NotFoundError
from rca_service.records import SpanKind
from rca_service.simulator import SimConfig, Simulation, SimulatorControl
from rca_service.simulator.cli import simulate_command
from rca_service.simulator.control import ControlServer, HttpSimulatorControl

T0 = 1_700_000_000.0


def test_live_run_sends_what_the_simulation_made():
    sim = Simulation(SimConfig(n_services=8, seed=21, start_time=T0, step_s=10.0, traces_per_step=4))
    target = next(s for s in sim.services if sim.topology.services[s].tier == "mid")
    sim.inject("deploy", target, at=10)
    made = []
    with CaptureServer() as server:
        runner = sim.run_live(server.url, speed=0, duration=30.0, on_tick=made.append, block=True)
    assert runner.ticks == 3 and not runner.failed
    got = server.batch
    sent_spans = [s for b in made for s in b.spans]
    # the SDK kept the simulation's ids, kinds, times and status
    assert {(s.trace_id, s.span_id) for s in got.spans} == {(s.trace_id, s.span_id) for s in sent_spans}
    by_id = {s.span_id: s for s in got.spans}
    for s in sent_spans[:200]:
        d = by_id[s.span_id]
        assert (d.service, d.kind, d.status, d.parent_span_id) == (s.service, s.kind, s.status, s.parent_span_id)
        assert d.start == pytest.approx(s.start, abs=1e-6)
        if s.kind == SpanKind.CLIENT:
            assert d.peer_service == s.peer_service
    assert set(span_topology(got.spans).edges) == set(span_topology(sent_spans).edges)
    # metrics carry simulated time, not the wall clock; one resource per service
    assert {m.time for m in got.metrics} == {T0, T0 + 10, T0 + 20}
    assert {m.service for m in got.metrics} == set(sim.services)
    assert all(m.resource["service.name"] == m.service for m in got.metrics)
    assert all(s.resource["k8s.namespace.name"] == "default" and s.resource["k8s.deployment.name"] == s.service
               for s in got.spans)
    assert len(got.logs) == sum(len(b.logs) for b in made)
    # the deploy reached the server as a change and as a new service.version
    assert any(c.service == target and c.kind == "deploy" for c in got.changes)
    assert any(s.resource.get("service.version") == "1.0.1" for s in got.spans if s.service == target)


def test_live_run_can_be_stopped():
    sim = Simulation(SimConfig(n_services=5, seed=2, start_time=T0, step_s=5.0, traces_per_step=1))
    with CaptureServer() as server:
        runner = sim.run_live(server.url, speed=50.0)  # one step every 0.1 s, no end
        import time

        time.sleep(0.5)
        sim.stop()
        assert not runner.is_alive()
    assert runner.ticks >= 1 and server.batch.metrics


def test_control_over_http():
    sim = Simulation(SimConfig(n_services=10, seed=3, start_time=T0))
    svc = next(s for s in sim.services if sim.topology.services[s].tier == "mid")
    server = ControlServer(sim).start()
    client = HttpSimulatorControl(f"http://127.0.0.1:{server.port}")
    try:
        assert isinstance(client, SimulatorControl)
        sim.inject("memory", svc, at=0)
        sim.tick()
        assert [f["service"] for f in client.active_faults()] == [svc]
        assert client.scale_out(svc, 3) is True and client.replicas(svc) == 3 == sim.replicas[svc]
        assert client.rollback(svc) is False  # not a deploy
        assert client.restart(svc) is True and client.active_faults() == []
        with pytest.raises(NotFoundError):
            client.restart("nope")
        assert client.clear_fault(svc) is False
    finally:
        client.close()
        server.stop()


def test_simulate_command_live_mode():
    with CaptureServer() as server:
        args = argparse.Namespace(write_dataset=None, to=server.url, services=6, seed=8, duration=120.0,
                                  speed=0.0, fault="errors", fault_service=None, fault_at=60.0, cases=1)
        assert simulate_command(args) == 0
    assert {m.time for m in server.batch.metrics}.__len__() == 2
    assert any(s.is_error for s in server.batch.spans)
