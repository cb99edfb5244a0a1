"""A real collector in between: SDK → rotel-agent (PyPI `rotel`) → our OTLP receiver.

rotel receives OTLP/HTTP from the SDK, batches, and exports with its own OTLP exporter
(gzip) over HTTP or gRPC to us, all on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind as OtelKind

from rca_service.records import SpanKind

rotel = pytest.importorskip("rotel")
ROTEL_AGENT = Path(rotel.__file__).parent / "rotel-agent"


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rotel-agent exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("rotel-agent did not start listening")


@pytest.fixture
def rotel_to(tmp_path, free_port_fn):
    """rotel_to(server, protocol) → the rotel OTLP/HTTP endpoint that forwards to `server`."""
    if not os.access(ROTEL_AGENT, os.X_OK):
        pytest.skip("rotel-agent binary not executable here")
    procs: list[subprocess.Popen] = []

    def start(server, protocol: str) -> str:
        http_port, grpc_port = free_port_fn(), free_port_fn()
        target = server.http_url if protocol == "http" else f"http://{server.grpc_target}"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
        proc = subprocess.Popen(
            [str(ROTEL_AGENT), "start",
             "--pid-file", str(tmp_path / "rotel.pid"), "--log-file", str(tmp_path / "rotel.log"),
             "--otlp-http-endpoint", f"127.0.0.1:{http_port}", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
             "--exporter", "otlp", "--otlp-exporter-endpoint", target, "--otlp-exporter-protocol", protocol,
             "--otlp-exporter-compression", "gzip", "--batch-timeout", "50ms"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        procs.append(proc)
        wait_listening(http_port, proc)
        return f"http://127.0.0.1:{http_port}/v1/traces"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_spans_arrive_through_rotel(otlp_server, rotel_to, protocol):
    server = otlp_server()
    endpoint = rotel_to(server, protocol)
    provider = TracerProvider(resource=Resource.create({"service.name": "edge"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=10)))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("GET /", kind=OtelKind.SERVER) as root:
        for i in range(3):
            with tracer.start_as_current_span(f"call {i}", kind=OtelKind.CLIENT, attributes={"peer.service": "core"}):
                pass
    provider.shutdown()

    deadline = time.monotonic() + 20
    while len(server.sink.spans) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    spans = server.sink.spans
    assert len(spans) == 4, f"{len(spans)} spans arrived through rotel"
    root_id = format(root.get_span_context().span_id, "016x")
    children = [s for s in spans if s.parent_span_id == root_id]
    assert len(children) == 3 and all(s.peer_service == "core" and s.service == "edge" for s in children)
    assert server.pipeline.stats()["requests"].get(f"{protocol}.traces.{200 if protocol == 'http' else 'OK'}", 0) >= 1
    assert all(s.kind is SpanKind.CLIENT for s in children)
