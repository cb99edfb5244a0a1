"""RCAEval adapter on the Sock Shop slice (RE1 layout: data.csv + inject_time.txt)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from rca_service.datasets import AdapterConfig, load_cases, load_normal
from rca_service.errors import ConfigError, DatasetError


def _count_cells(path: Path, start: float | None = None, end: float | None = None) -> int:
    """Non-empty numeric cells outside the time column, counted with the csv module."""
    n = 0
    with path.open() as f:
        for row in csv.DictReader(f):
            t = float(row["time"])
            if (start is not None and t < start) or (end is not None and t >= end):
                continue
            for k, v in row.items():
                if k != "time" and v not in ("", None) and math.isfinite(float(v)):
                    n += 1
    return n


def test_every_case_is_found_with_its_label(sockshop_dir):
    refs = load_cases("rcaeval", sockshop_dir)
    assert len(refs) == 50
    assert {r.fault_type for r in refs} == {"cpu", "mem"}
    for r in refs:
        folder = r.name.split("/")[0]
        assert r.label_service == folder.split("_")[0]
        assert r.inject_time == float((sockshop_dir / r.name / "inject_time.txt").read_text())
    # natural order of repetitions
    assert [r.name for r in refs[:2]] == [refs[0].name.split("/")[0] + "/1", refs[0].name.split("/")[0] + "/2"]


def test_case_loads_every_metric_cell_and_no_label(sockshop_dir):
    ref = load_cases("rcaeval", sockshop_dir)[0]
    case = ref.load()
    expected = _count_cells(sockshop_dir / ref.name / "data.csv")
    assert len(case.records.metrics) == expected
    assert case.records.spans == [] and case.records.logs == []
    assert case.missing == []
    assert case.start <= case.inject_time < case.end
    # services come from the part before the first "_"; "time" is not a service
    assert "time" not in case.services
    assert all("_" not in s for s in case.services)
    assert ref.label_service in case.services
    assert any(m.name == "lat_50" for m in case.records.metrics)  # "<svc>_lat_50" keeps the rest
    times = [m.time for m in case.records.metrics]
    assert times == sorted(times)


def test_window_limits_the_records(sockshop_dir):
    ref = load_cases("rcaeval", sockshop_dir)[3]
    start, end = ref.inject_time - 60, ref.inject_time + 30
    case = ref.load(start=start, end=end)
    assert case.records.metrics
    assert all(start <= m.time < end for m in case.records.metrics)
    assert len(case.records.metrics) == _count_cells(sockshop_dir / ref.name / "data.csv", start, end)


def test_normal_data_is_before_injection(sockshop_dir):
    refs = load_cases("rcaeval", sockshop_dir)
    batches = load_normal("rcaeval", sockshop_dir)  # an iterator: read only what we look at
    for ref, b in zip(refs[:4], batches):
        assert b.metrics
        assert max(m.time for m in b.metrics) < ref.inject_time
        assert min(m.time for m in b.metrics) == min(m.time for m in ref.load().records.metrics)


def test_sim_format_is_an_alias(sockshop_dir):
    assert [r.name for r in load_cases("sim", sockshop_dir)] == [r.name for r in load_cases("rcaeval", sockshop_dir)]


def test_bad_inputs_raise_dataset_errors(tmp_path):
    with pytest.raises(DatasetError):
        load_cases("rcaeval", tmp_path)  # no case
    with pytest.raises(DatasetError):
        load_cases("nope", tmp_path)
    with pytest.raises(DatasetError):
        load_cases("rcaeval", tmp_path / "absent")


def test_case_without_metrics_reports_it(tmp_path):
    case_dir = tmp_path / "svc-a_cpu" / "1"
    case_dir.mkdir(parents=True)
    (case_dir / "inject_time.txt").write_text("1700000000\n")
    case = load_cases("rcaeval", tmp_path)[0].load()
    assert case.label_service == "svc-a" and case.fault_type == "cpu"
    assert case.missing and "metrics" in case.missing[0]
    assert len(case.records) == 0


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError):
        AdapterConfig.from_dict({"before": 10})
    with pytest.raises(ConfigError):
        AdapterConfig(trace_sample=0.0)
    assert AdapterConfig.from_dict({"before_s": 60}).window(1000.0) == (940.0, 1600.0)
