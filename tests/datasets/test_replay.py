"""Replay: benchmark records sent as real OTLP/HTTP to a receiver that decodes them."""

from __future__ import annotations

import argparse

import pytest

from rca_service.datasets import AdapterConfig, load_cases
from rca_service.datasets.capture import CaptureServer, span_topology
from rca_service.datasets.replay import ReplayAborted, ReplayConfig, Replayer, replay_command, retry_after_seconds
from rca_service.simulator.dataset import DatasetConfig, write_dataset


@pytest.fixture(scope="module")
def tiny_sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-sim")
    write_dataset(out, DatasetConfig(cases=2, seed=3, min_services=4, max_services=6, steps=6,
                                     inject_min_step=3, inject_max_step=4, traces_per_step=3, logs_per_step=2))
    return out


def _args(fmt, path, to, **kw):
    return argparse.Namespace(format=fmt, path=path, to=to, speed=kw.get("speed", 0.0),
                              limit=kw.get("limit"), token=kw.get("token"))


def test_replay_command_sends_every_record_and_the_topology(tiny_sim_dir):
    refs = load_cases("sim", tiny_sim_dir)
    cases = [r.load() for r in refs]
    with CaptureServer() as server:
        assert replay_command(_args("rcaeval", tiny_sim_dir, server.url)) == 0
    got = server.batch
    assert len(got.spans) == sum(len(c.records.spans) for c in cases)
    assert len(got.metrics) == sum(len(c.records.metrics) for c in cases)
    assert len(got.logs) == sum(len(c.records.logs) for c in cases)
    expected = set()
    for c in cases:
        expected |= set(span_topology(c.records.spans).edges)
    assert set(span_topology(got.spans).edges) == expected
    # the edges seen are real edges of the generated systems
    assert expected <= {e for c in cases for e in c.dependencies}
    # time order within each series
    first = got.metrics[0]
    series = [m.time for m in got.metrics if (m.service, m.name) == (first.service, first.name)]
    assert len(series) > 3 and series == sorted(series)


def test_nezha_slice_replay_yields_its_call_graph(nezha_dir):
    ref = load_cases("nezha", nezha_dir, AdapterConfig(trace_sample=0.05))[1]
    case = ref.load(start=ref.inject_time - 60, end=ref.inject_time + 60)
    assert case.records.spans
    with CaptureServer() as server:
        r = Replayer(server.url, ReplayConfig(chunk_s=30.0))
        assert r.replay_case(case)
        r.close()
    got = span_topology(server.batch.spans)
    assert set(got.edges) == set(span_topology(case.records.spans).edges)
    assert set(got.edges) <= set(case.dependencies)  # trace edges agree with dependency.csv
    assert len(server.batch.metrics) == len(case.records.metrics)


def test_throttling_is_retried_after_retry_after(tiny_sim_dir):
    with CaptureServer(throttle=3, throttle_status=503, retry_after="0") as server:
        assert replay_command(_args("sim", tiny_sim_dir, server.url, limit=1)) == 0
    statuses = [s for _, s in server.requests]
    assert statuses[:3] == [503, 503, 503] and statuses[3:] and set(statuses[3:]) == {200}
    assert len(server.batch.metrics) == len(load_cases("sim", tiny_sim_dir)[0].load().records.metrics)


def test_refusals_are_not_retried_and_fail_the_command(tiny_sim_dir):
    with CaptureServer(token="secret") as server:
        assert replay_command(_args("sim", tiny_sim_dir, server.url, limit=1, token="wrong")) == 1
        n_refused = len(server.requests)
        assert replay_command(_args("sim", tiny_sim_dir, server.url, limit=1, token="secret")) == 0
    assert all(s == 401 for _, s in server.requests[:n_refused])
    assert server.batch.metrics


def test_unreachable_server_gives_up(tiny_sim_dir):
    case = load_cases("sim", tiny_sim_dir)[0].load()
    r = Replayer("http://127.0.0.1:9", ReplayConfig(max_retries=2, backoff_s=0.0))
    with pytest.raises(ReplayAborted):
        r.replay_case(case)
    assert r.stats.retries == 2


def test_bad_folder_exit_code(tmp_path):
    assert replay_command(_args("rcaeval", tmp_path, "http://127.0.0.1:9")) == 2


def test_retry_after_parsing():
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_partial_success_is_counted_and_reported(tiny_sim_dir, caplog):
    """A 200 carrying partial success (records outside the server's retention) is not silent."""
    import httpx
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

    from rca_service.datasets.replay import partial_success

    def reply(request: httpx.Request) -> httpx.Response:
        resp = ExportMetricsServiceResponse()
        if request.url.path == "/v1/metrics":
            resp.partial_success.rejected_data_points = 2
            resp.partial_success.error_message = "rejected 2 data points: 2 older than the 24 h retention"
        return httpx.Response(200, content=resp.SerializeToString())

    case = load_cases("sim", tiny_sim_dir)[0].load()
    r = Replayer("http://127.0.0.1:1", ReplayConfig(), client=httpx.Client(transport=httpx.MockTransport(reply)))
    with caplog.at_level("WARNING"):
        assert r.replay_case(case)
    assert r.stats.rejected_requests == 0  # every request was answered 200 ...
    assert r.stats.rejected_records >= 2 and r.stats.rejected_records % 2 == 0  # ... but some records were refused
    # one warning per distinct reason, not one per request
    assert sum("older than the 24 h retention" in m for m in caplog.messages) == 1
    assert partial_success("traces", b"\xff\xff") == (0, "")
    assert partial_success("logs", b"") == (0, "")
