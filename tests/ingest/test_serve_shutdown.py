"""`rca-service serve` as a subprocess: SIGTERM or SIGINT drains ingest, saves state, exits 0.

Service managers (systemd, Kubernetes) count a stop as clean only with exit status 0; uvicorn
on its own re-raises SIGTERM after shutting down, which ended the process with status 143.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from netutil import free_port, wait_http_ok
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from rca_service.ingest.synthetic import trace_requests
from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore

REPO = Path(__file__).resolve().parents[2]
STEP = 2


@pytest.mark.parametrize("stop_signal", [
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGINT, id="SIGINT", marks=pytest.mark.slow),  # Ctrl+C; ~20 s more for a second start
])
def test_stop_signal_saves_state_and_exits_zero(tmp_path, stop_signal):
    data_dir = tmp_path / "data"
    http_port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    log = tmp_path / "serve.log"
    env = {**os.environ, "RCA_EMBEDDINGS": "false", "RCA_STEP_SECONDS": str(STEP)}
    cmd = [sys.executable, "-m", "rca_service.cli", "serve", "--http-port", str(http_port),
           "--grpc-port", str(grpc_port), "--data-dir", str(data_dir)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        wait_http_ok(proc, f"{base}/healthz", detail=lambda: log.read_text()[-3000:])
        request = next(trace_requests(1, spans_per_request=6, n_services=1, start_ns=int((time.time() - 5) * 1e9)))
        r = httpx.post(f"{base}/v1/traces", content=request.SerializeToString(),
                       headers={"Content-Type": "application/x-protobuf"}, timeout=10)
        assert r.status_code == 200 and not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
        proc.send_signal(stop_signal)  # at once: the queued spans must be drained, then saved
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()[-3000:]
    assert rc == 0, output
    assert "Traceback" not in output, output
    store = TelemetryStore.load(data_dir / "store", StoreConfig(step=STEP))
    assert store.services() == ["svc-00"]
    assert store.counters["spans"] == 6
