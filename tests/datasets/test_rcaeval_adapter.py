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


def test_multi_source_case_with_other_column_shapes(tmp_path):
    """A case laid out like RCAEval RE2: metrics.json, traces without kinds, logs with text times."""
    import json

    case_dir = tmp_path / "api-gw_delay" / "3"
    case_dir.mkdir(parents=True)
    (case_dir / "inject_time.txt").write_text("1700000060")
    (case_dir / "metrics.json").write_text(json.dumps({
        "api-gw_cpu": [[1700000000, 1.0], [1700000060, 5.0]], "db_mem": [[1700000000, 10.0]], "empty_x": []}))
    (case_dir / "traces.csv").write_text(
        "traceID,spanID,parentSpanID,serviceName,operationName,methodName,startTime,duration,statusCode\n"
        "t1,a1,,api-gw,GET /,,1700000001000000,5000,200\n"
        "t1,a2,a1,api-gw,db.query,,1700000001001000,3000,\n"
        "t1,b1,a2,db,query,SELECT,1700000001001500,2000,500\n")
    (case_dir / "logs.csv").write_text(
        "time,container_name,message\n"
        "2023-11-14 22:13:21,db,ERROR connection refused\n"
        "2023-11-14 22:13:22,api-gw,request ok\n")
    case = load_cases("rcaeval", tmp_path)[0].load()
    assert (case.label_service, case.fault_type, case.name) == ("api-gw", "delay", "api-gw_delay/3")
    assert sorted((m.service, m.name, m.value) for m in case.records.metrics) == [
        ("api-gw", "cpu", 1.0), ("api-gw", "cpu", 5.0), ("db", "mem", 10.0)]
    kinds = {s.span_id: (s.kind.name, s.peer_service, s.status.name, s.name) for s in case.records.spans}
    assert kinds == {"a1": ("SERVER", None, "OK", "GET /"), "a2": ("CLIENT", "db", "UNSET", "db.query"),
                     "b1": ("SERVER", None, "ERROR", "SELECT")}
    span = next(s for s in case.records.spans if s.span_id == "a1")
    assert span.start == pytest.approx(1700000001.0) and span.duration == pytest.approx(0.005, abs=1e-6)
    logs = {lg.service: lg for lg in case.records.logs}
    assert logs["db"].severity == 17 and logs["db"].time == 1700000001.0
    assert logs["api-gw"].severity == 0
