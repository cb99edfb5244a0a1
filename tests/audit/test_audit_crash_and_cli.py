"""A writer killed with SIGKILL leaves a verifiable chain; `audit verify` exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rca_service.audit.chain import AuditLog, default_chain_path
from rca_service.cli import main

REPO = Path(__file__).resolve().parents[2]

_WRITER = """
import sys
from pathlib import Path
from rca_service.audit.chain import AuditLog
log = AuditLog(Path(sys.argv[1]))
i = 0
while True:
    log.append("incident_opened", {"n": i, "pad": "x" * 2000}, incident_id="inc-kill")
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def test_sigkill_mid_append_leaves_a_verifiable_chain(tmp_path: Path):
    path = tmp_path / "audit" / "chain.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    log = AuditLog(path)
    result = log.verify()
    # Either intact, or the only fault is a torn last record (never one in the middle).
    assert result.ok or ("torn" in result.reason and result.first_bad == result.records)
    assert result.records >= 20
    log.append("remediation_proposed", {"after": "crash"})
    assert log.verify().ok


def _chain(data_dir: Path, n: int = 3) -> AuditLog:
    log = AuditLog(default_chain_path(data_dir))
    for i in range(n):
        log.append("rca_ranked", {"i": i}, incident_id="inc-1")
    return log


def test_cli_exit_zero_for_intact_chain(tmp_path: Path, capsys):
    _chain(tmp_path)
    assert main(["audit", "verify", "--data-dir", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["records"] == 3 and out["first_bad"] is None


def test_cli_names_the_first_bad_record(tmp_path: Path, capsys):
    log = _chain(tmp_path, 4)
    lines = log.path.read_bytes().splitlines(keepends=True)
    rec = json.loads(lines[2])
    rec["actor"] = "someone-else"
    lines[2] = json.dumps(rec).encode() + b"\n"
    log.path.write_bytes(b"".join(lines))
    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 1
    assert "record 2" in capsys.readouterr().err
    assert main(["audit", "verify", "--data-dir", str(tmp_path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad"] == 2


def test_cli_as_a_process(tmp_path: Path):
    log = _chain(tmp_path, 2)
    ok = subprocess.run([sys.executable, "-m", "rca_service.cli", "audit", "verify", "--data-dir", str(tmp_path)],
                        cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    log.path.write_bytes(log.path.read_bytes().splitlines(keepends=True)[0])
    bad = subprocess.run([sys.executable, "-m", "rca_service.cli", "audit", "verify", "--data-dir", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 1 and "record 1" in bad.stderr
