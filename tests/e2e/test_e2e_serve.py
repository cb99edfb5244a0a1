"""`rca-service serve` as a real subprocess: OTLP in over HTTP and gRPC from the OpenTelemetry
SDK's own exporters, the API out, bad requests refused without losing data, state kept across a
SIGTERM and a restart on the same folder, and `rca-service replay` of a Sock Shop case into it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from netutil import free_port, wait_http_ok
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from rca_service.datasets import load_cases
from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore

REPO = Path(__file__).resolve().parents[2]
STEP = 2  # a short step so windows close within the test
CLEAN_EXIT = (0,)  # SIGTERM drains, saves and exits 0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rca_service.cli", *args]


class Server:
    """One `rca-service serve` process on free ports and a given data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.http_port, self.grpc_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.log = data_dir.parent / f"serve-{self.http_port}.log"
        env = {**os.environ, "RCA_EMBEDDINGS": "false", "RCA_STEP_SECONDS": str(STEP)}
        self.proc = subprocess.Popen(
            _cli("serve", "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port), "--data-dir", str(data_dir)),
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def output(self) -> str:
        return self.log.read_text()[-3000:]

    def wait(self, path: str, timeout: float = 120.0) -> None:
        wait_http_ok(self.proc, self.base + path, timeout, detail=self.output)

    def get(self, path: str, **params) -> dict:
        r = httpx.get(self.base + path, params=params, timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _until(fetch, ok, timeout: float = 30.0, what: str = "condition"):
    """Call `fetch` until `ok(value)`; returns that value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = fetch()
        if ok(value):
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {value}")


def _send_telemetry(server: Server, protocol: str, caller: str, callee: str, calls: int, failures: int) -> None:
    """Spans (caller -> callee, some failing), a counter and log lines through the SDK's exporters."""
    def span_exporter():
        if protocol == "http":
            return HttpSpanExporter(endpoint=f"{server.base}/v1/traces", timeout=10)
        return GrpcSpanExporter(endpoint=server.grpc_target, insecure=True, timeout=10)

    if protocol == "http":
        metrics = HttpMetricExporter(endpoint=f"{server.base}/v1/metrics", timeout=10)
        logs = HttpLogExporter(endpoint=f"{server.base}/v1/logs", timeout=10)
    else:
        metrics = GrpcMetricExporter(endpoint=server.grpc_target, insecure=True, timeout=10)
        logs = GrpcLogExporter(endpoint=server.grpc_target, insecure=True, timeout=10)
    providers = {}
    for name in (caller, callee):  # one exporter each: a provider's shutdown shuts its exporter
        p = TracerProvider(resource=Resource.create({"service.name": name}))
        p.add_span_processor(SimpleSpanProcessor(span_exporter()))
        providers[name] = p
    up, down = providers[caller].get_tracer("e2e"), providers[callee].get_tracer("e2e")
    for i in range(calls):
        with up.start_as_current_span("GET /order", kind=SpanKind.SERVER):  # noqa: SIM117 (nesting = call tree)
            with up.start_as_current_span("call", kind=SpanKind.CLIENT, attributes={"peer.service": callee}) as client:
                ctx = trace.set_span_in_context(client)
                with down.start_as_current_span("POST /pay", context=ctx, kind=SpanKind.SERVER) as remote:
                    if i < failures:
                        remote.set_status(Status(StatusCode.ERROR, "card declined"))
    for p in providers.values():
        p.shutdown()

    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=Resource.create({"service.name": callee}), metric_readers=[reader])
    meter_provider.get_meter("e2e").create_counter("payments_total").add(calls)
    meter_provider.shutdown()

    log_provider = LoggerProvider(resource=Resource.create({"service.name": callee}))
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(level=logging.INFO, logger_provider=log_provider)
    logger = logging.getLogger(f"e2e-{protocol}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(3):
            logger.error("payment %d declined for order %d", i, 1000 + i)
    finally:
        logger.removeHandler(handler)
        log_provider.shutdown()


def _edge(topology: dict, source: str, target: str) -> dict | None:
    return next((e for e in topology["edges"] if e["source"] == source and e["target"] == target), None)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve") / "data"


def test_serve_ingests_otlp_over_http_and_grpc_and_keeps_state_across_restart(data_dir):
    server = Server(data_dir)
    try:
        server.wait("/healthz")
        server.wait("/readyz")
        sent_from = time.time()
        _send_telemetry(server, "http", "e2e-web", "e2e-pay", calls=6, failures=2)
        _send_telemetry(server, "grpc", "e2e-cart", "e2e-pay", calls=4, failures=1)
        sent_until = time.time()

        topo = _until(lambda: server.get("/api/v1/topology"),
                      lambda t: _edge(t, "e2e-cart", "e2e-pay") and _edge(t, "e2e-web", "e2e-pay"),
                      what="both edges in the topology")
        web, cart = _edge(topo, "e2e-web", "e2e-pay"), _edge(topo, "e2e-cart", "e2e-pay")
        assert (web["calls"], web["errors"]) == (6, 2)
        assert (cart["calls"], cart["errors"]) == (4, 1)
        assert {"e2e-web", "e2e-cart", "e2e-pay"} <= set(server.get("/api/v1/services")["services"])

        # window data: once the step closes, the service's status carries its signal values
        status = _until(lambda: server.get("/api/v1/services/e2e-pay/status"), lambda s: s["signals"],
                        timeout=STEP * 10 + 10, what="a closed window for e2e-pay")
        assert status["service"] == "e2e-pay"
        assert any(v is not None and v > 0 for v in status["signals"].values()), status["signals"]

        # bad input is refused and loses nothing
        bad = httpx.post(f"{server.base}/v1/traces", content=b"\x0a\xff\xff\xff", timeout=10,
                         headers={"Content-Type": "application/x-protobuf"})
        assert bad.status_code == 400, bad.text
        wrong = httpx.post(f"{server.base}/v1/traces", content=b"<xml/>", timeout=10, headers={"Content-Type": "text/xml"})
        assert wrong.status_code == 415
        assert _edge(server.get("/api/v1/topology"), "e2e-web", "e2e-pay")["calls"] == 6
        assert server.get("/healthz")["accepting"] is True
    finally:
        rc = server.stop()
    assert rc in CLEAN_EXIT, server.output()
    assert (data_dir / "store").is_dir()

    again = Server(data_dir)
    try:
        again.wait("/healthz")
        topo = again.get("/api/v1/topology")
        assert (_edge(topo, "e2e-web", "e2e-pay") or {}).get("calls") == 6, topo
        assert (_edge(topo, "e2e-cart", "e2e-pay") or {}).get("errors") == 1, topo
        assert {"e2e-web", "e2e-cart", "e2e-pay"} <= set(again.get("/api/v1/services")["services"])
    finally:
        assert again.stop() in CLEAN_EXIT, again.output()

    # The windows went through both shutdowns: read the folder the second server saved.
    store = TelemetryStore.load(data_dir / "store", StoreConfig(step=STEP), None)
    frame = store.frame("e2e-pay", sent_from - STEP, sent_until + STEP)
    requests = [v for v in frame.column("span.request_rate") if v == v]
    errors = [v for v in frame.column("log.count.error") if v == v]
    assert requests and sum(requests) > 0, (frame.times, requests)
    assert sum(errors) == 6, errors  # three ERROR log lines over HTTP, three over gRPC


def test_replay_of_a_sock_shop_case_into_a_running_server(tmp_path, sockshop_dir):
    """A server of its own: the case is from 2022 and the store keeps only records within
    retention (24 h) of its newest one, so it cannot share a server with live traffic (and live
    traffic after a replay makes the detector walk every step since 2022: reported to the lead)."""
    server = Server(tmp_path / "data")
    try:
        server.wait("/healthz")
        case_dir = tmp_path / "sockshop"
        first = sorted(p for p in sockshop_dir.iterdir() if p.is_dir())[0]
        shutil.copytree(first / "1", case_dir / first.name / "1")
        expected = {m.service for m in load_cases("rcaeval", case_dir)[0].load().records.metrics}
        assert expected
        replay = subprocess.run(_cli("replay", "--format", "rcaeval", "--path", str(case_dir), "--to", server.base),
                                capture_output=True, text=True, timeout=120, cwd=REPO)
        assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
        _until(lambda: set(server.get("/api/v1/services")["services"]), lambda s: expected <= s,
               what=f"the replayed services {sorted(expected)}")
        status = server.get(f"/api/v1/services/{sorted(expected)[0]}/status")
        assert status["service"] == sorted(expected)[0]
    finally:
        assert server.stop() in CLEAN_EXIT, server.output()


@pytest.mark.slow  # the evaluator scores each case step by step with the LSTM: about 40 s CPU per case
def test_eval_prints_one_json_report(tmp_path, sockshop_dir):
    cases = sorted(p for p in sockshop_dir.iterdir() if p.is_dir())[:2]
    for c in cases:
        shutil.copytree(c / "1", tmp_path / c.name / "1")
    # a generous limit: it only guards against a hang (a loaded CI machine runs this slowly)
    proc = subprocess.run(_cli("eval", "--format", "rcaeval", "--path", str(tmp_path), "--json"),
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert len(report["cases"]) == 2
    for case in report["cases"]:
        assert case["ranks"], case
        assert case["rank"] is None or case["ranks"][case["rank"] - 1] == case["label"]
    assert 0.0 <= report["AC@1"] <= 1.0
    labels = sorted(c["label"] for c in report["cases"])
    assert labels == sorted(c.name.split("_")[0] for c in cases)
