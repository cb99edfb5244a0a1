"""Dataset mode writes labelled RCAEval-layout cases that the adapter reads back."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from rca_service.datasets import load_cases, load_normal
from rca_service.errors import ConfigError
from rca_service.records import SpanKind
from rca_service.simulator.cli import simulate_command
from rca_service.simulator.dataset import DatasetConfig, write_dataset

SMALL = dict(min_services=6, max_services=10, steps=12, inject_min_step=7, inject_max_step=8,
             traces_per_step=4, logs_per_step=2)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("simds")
    manifest = write_dataset(out, DatasetConfig(cases=6, seed=2, **SMALL))
    return out, manifest


def test_layout_and_manifest(sim_dir):
    out, manifest = sim_dir
    assert len(manifest) == 6
    assert {m["fault_type"] for m in manifest} == {"cpu", "memory", "latency", "errors", "network", "deploy"}
    assert json.loads((out / "cases.json").read_text()) == manifest
    for m in manifest:
        folder = out / m["name"]
        assert {p.name for p in folder.iterdir()} == {"inject_time.txt", "metrics.csv", "traces.csv", "logs.csv", "topology.json"}
        assert int((folder / "inject_time.txt").read_text()) == m["inject_time"]
        header = (folder / "metrics.csv").read_text().splitlines()[0].split(",")
        assert header[0] == "time" and all("_" in c for c in header[1:])


def test_adapter_reads_labels_records_and_topology(sim_dir):
    out, manifest = sim_dir
    refs = load_cases("sim", out)
    assert sorted(r.name for r in refs) == sorted(m["name"] for m in manifest)
    by_name = {m["name"]: m for m in manifest}
    for ref in refs:
        m = by_name[ref.name]
        assert (ref.label_service, ref.fault_type, ref.inject_time) == (m["label_service"], m["fault_type"], m["inject_time"])
        case = ref.load()
        rec = case.records
        assert len({x.service for x in rec.metrics}) == m["n_services"]
        assert rec.spans and rec.logs
        assert {s.kind for s in rec.spans} == {SpanKind.SERVER, SpanKind.CLIENT}
        assert case.dependencies and ref.label_service in {x for e in case.dependencies for x in e}
        assert all(s.peer_service in {b for a, b in case.dependencies if a == s.service}
                   for s in rec.spans if s.kind == SpanKind.CLIENT)


def test_the_fault_is_visible_in_the_labelled_service(sim_dir):
    out, _ = sim_dir
    for ref in load_cases("sim", out):
        rec = ref.load().records
        svc, t = ref.label_service, ref.inject_time
        if ref.fault_type == "cpu":
            series = [(m.time, m.value) for m in rec.metrics if m.service == svc and m.name == "cpu_usage"]
            before = np.mean([v for ts, v in series if ts < t - 60])
            after = np.mean([v for ts, v in series if ts > t + 60])
            assert after > before + 30
        if ref.fault_type in ("errors", "deploy"):
            errs = [lg for lg in rec.logs if lg.service == svc and lg.severity >= 17]
            assert errs and min(lg.time for lg in errs) >= t - 60
        if ref.fault_type == "deploy":
            assert [c.service for c in rec.changes] == [svc]


def test_normal_data_ends_before_injection(sim_dir):
    out, _ = sim_dir
    refs = load_cases("sim", out)
    batches = list(load_normal("sim", out))
    assert len(batches) == len(refs)
    for ref, b in zip(refs, batches):
        assert max(m.time for m in b.metrics) < ref.inject_time


def test_same_seed_same_dataset(tmp_path):
    a = write_dataset(tmp_path / "a", DatasetConfig(cases=2, seed=9, **SMALL))
    b = write_dataset(tmp_path / "b", DatasetConfig(cases=2, seed=9, **SMALL))
    assert a == b
    name = a[0]["name"]
    assert (tmp_path / "a" / name / "traces.csv").read_bytes() == (tmp_path / "b" / name / "traces.csv").read_bytes()


def test_cli_dataset_mode(tmp_path):
    args = argparse.Namespace(write_dataset=tmp_path / "ds", cases=1, seed=4)
    assert simulate_command(args) == 0
    assert len(load_cases("sim", tmp_path / "ds")) == 1


def test_config_validation():
    with pytest.raises(ConfigError):
        DatasetConfig(inject_min_step=30, inject_max_step=20)
    with pytest.raises(ConfigError):
        DatasetConfig(kinds=("cpu", "flood"))
    with pytest.raises(ConfigError):
        DatasetConfig.from_dict({"n_cases": 3})
