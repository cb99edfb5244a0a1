"""`rca-service demo --yes` end to end, then `rca-service serve` on the same folder shows its state."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from netutil import free_port, wait_http_ok
from rca_service.demo import DemoConfig, demo_settings
from rca_service.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rca_service.cli", *args]


def test_demo_config_refuses_unknown_keys_and_unfixable_faults() -> None:
    assert DemoConfig.from_dict({"fault": "deploy"}).fault == "deploy"
    with pytest.raises(ConfigError):
        DemoConfig.from_dict({"speed": 3})
    with pytest.raises(ConfigError):
        DemoConfig(fault="latency")  # no simulator action removes added latency


def test_demo_settings_act_on_the_simulator_with_a_short_step(tmp_path: Path) -> None:
    args = argparse.Namespace(host=None, http_port=1234, grpc_port=None, data_dir=tmp_path)
    s = demo_settings(args, DemoConfig(step_seconds=5))
    assert (s.step_seconds, s.executor, s.dry_run, s.http_port, s.data_dir) == (5, "simulator", False, 1234, tmp_path)
    assert s.host == "127.0.0.1"


def test_demo_rejects_an_unknown_service(tmp_path: Path) -> None:
    proc = subprocess.run(_cli("demo", "--yes", "--service", "no-such-service", "--data-dir", str(tmp_path),
                               "--http-port", str(free_port()), "--grpc-port", str(free_port())),
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2
    assert "no-such-service" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_demo_yes_runs_the_loop_and_serve_shows_its_state(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    proc = subprocess.run(_cli("demo", "--yes", "--data-dir", str(data), "--http-port", str(free_port()),
                               "--grpc-port", str(free_port())),
                          capture_output=True, text=True, timeout=290, cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for expected in ("incident", "ranked first", "approved", "applied to the simulator", "recovered", "audit verify", "/ui/incidents/"):
        assert expected in out, (expected, out[-3000:])

    # `audit verify` on the folder, as an operator would run it.
    verify = subprocess.run(_cli("audit", "verify", "--data-dir", str(data), "--json"),
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # A later server on the same folder shows the demo's incident, RCA, remediation and audit chain.
    port = free_port()
    assert "RCA_STEP_SECONDS=5 rca-service serve" in out
    server = subprocess.Popen(_cli("serve", "--data-dir", str(data), "--http-port", str(port), "--grpc-port", str(free_port())),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
                              env={**os.environ, "RCA_STEP_SECONDS": "5"})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(server, f"{base}/readyz", timeout=90)
        incidents = httpx.get(f"{base}/api/v1/incidents").json()
        incidents = incidents.get("incidents", incidents) if isinstance(incidents, dict) else incidents
        assert incidents, "the demo's incident is gone after restart"
        inc_id = incidents[0]["id"]
        assert inc_id in out
        rca = httpx.get(f"{base}/api/v1/incidents/{inc_id}/rca").json()
        assert rca["root_causes"]
        rems = httpx.get(f"{base}/api/v1/remediations", params={"incident": inc_id}).json()["remediations"]
        assert [r["status"] for r in rems] == ["verified"]
        kinds = [r["kind"] for r in httpx.get(f"{base}/api/v1/audit", params={"incident": inc_id}).json()["records"]]
        assert "remediation_verified" in kinds and "incident_opened" in kinds
        assert httpx.get(f"{base}/api/v1/audit/verify").json()["ok"] is True
        assert httpx.get(f"{base}/ui/incidents/{inc_id}").status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
