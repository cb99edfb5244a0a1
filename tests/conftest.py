"""Shared fixtures: free ports, slices of the shared datasets unpacked once per session."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest
from netutil import free_port

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture
def port() -> int:
    return free_port()


def _unpack(archive: str, dest: Path, members: list[str] | None = None) -> Path:
    src = SHARED_DATASETS / archive
    if not src.exists():
        pytest.skip(f"{src} not present")
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["tar", "-xJf", str(src), "-C", str(dest)]
    if members:
        cmd += ["--wildcards", *members]
    subprocess.run(cmd, check=True)
    return dest


@pytest.fixture(scope="session")
def sockshop_dir(tmp_path_factory) -> Path:
    """The Sock Shop RCAEval folder (RE1-SS-rcd), unpacked whole (1 MB packed)."""
    return _unpack("sockshop-rcaeval.tar.xz", tmp_path_factory.mktemp("sockshop")) / "RE1-SS-rcd"


@pytest.fixture(scope="session")
def nezha_dir(tmp_path_factory) -> Path:
    """A slice of the Nezha data: day 2022-08-22's fault list, metrics, some traces/logs,
    and the fault-free construct_data of that day. Unpacked once per session."""
    members = [
        "rca_data/2022-08-22/2022-08-22-fault_list.json",
        "rca_data/2022-08-22/metric/*",
        "rca_data/2022-08-22/trace/0[3-4]_*",
        "rca_data/2022-08-22/log/*",
        "rca_data/2022-08-22/traceid/0[3-4]_*",
        "construct_data/2022-08-22/*",
        "construct_data/root_cause_hipster.json",
        "MISSING_FROM_SNAPSHOT.txt",
    ]
    return _unpack("nezha-online-boutique.tar.xz", tmp_path_factory.mktemp("nezha"), members)


@pytest.fixture(scope="session")
def loghub_dir(tmp_path_factory) -> Path:
    return _unpack("loghub-2k.tar.xz", tmp_path_factory.mktemp("loghub"))
