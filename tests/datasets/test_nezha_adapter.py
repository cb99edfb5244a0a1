"""Nezha adapter on the shared slice: day 2022-08-22 (metrics, traces of hours 03-04, logs)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from rca_service.datasets import AdapterConfig, load_cases, load_normal
from rca_service.datasets.naming import normalize_metric_name, service_from_pod
from rca_service.records import SpanKind

DAY = "2022-08-22"


@pytest.fixture(scope="module")
def faults(nezha_dir):
    raw = json.loads((nezha_dir / "rca_data" / DAY / f"{DAY}-fault_list.json").read_text())
    items = [f for group in raw.values() for f in group]
    return sorted(items, key=lambda f: f["inject_time"])


@pytest.fixture(scope="module")
def refs(nezha_dir):
    return load_cases("nezha", nezha_dir)


def _utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def test_one_case_per_fault_with_utc_time_and_service_label(refs, faults):
    assert len(refs) == len(faults) == 24
    for ref, f in zip(refs, faults):
        assert ref.inject_time == _utc(f["inject_time"])
        assert ref.fault_type == f["inject_type"]
        # the label is the pod without its hash suffixes
        assert f["inject_pod"].startswith(ref.label_service + "-")
        assert len(f["inject_pod"]) - len(ref.label_service) in (16, 17, 15, 14)


def _trace_rows(nezha_dir, start, end):
    """Distinct (trace, span) rows in the window: neighbouring minute files repeat some spans."""
    seen = set()
    midnight = _utc(f"{DAY} 00:00:00")
    for path in sorted((nezha_dir / "rca_data" / DAY / "trace").glob("*_trace.csv")):
        hh, mm = int(path.name[:2]), int(path.name[3:5])
        if not start - 180 <= midnight + hh * 3600 + mm * 60 <= end + 180:
            continue  # a minute file holds the minute before its name
        with path.open() as f:
            for row in csv.DictReader(f):
                if start <= int(row["StartTimeUnixNano"]) / 1e9 < end:
                    seen.add((row["TraceID"], row["SpanID"]))
    return len(seen)


def test_case_window_spans_metrics_and_missing_files(nezha_dir, refs):
    ref = refs[1]  # the second fault, 04:02 UTC: traces of 04_02..04_04 exist, logs are missing
    start, end = ref.inject_time - 300, ref.inject_time + 120
    case = ref.load(start=start, end=end)
    rec = case.records
    assert len(rec.spans) == _trace_rows(nezha_dir, start, end)
    assert rec.spans and all(start <= s.start < end for s in rec.spans)
    pods = sorted(p.name for p in (nezha_dir / "rca_data" / DAY / "metric").glob("*_metric.csv"))
    assert {m.service for m in rec.metrics} >= {service_from_pod(p[: -len("_metric.csv")]) for p in pods}
    assert all(start <= m.time < end for m in rec.metrics)
    assert any(m.name == normalize_metric_name("CpuUsageRate(%)") == "cpu_usage_rate_pct" for m in rec.metrics)
    # absent per-minute logs are reported, never fatal; nothing reported exists
    assert f"rca_data/{DAY}/log/04_02_log.csv" in case.missing
    assert all(not (nezha_dir / m).exists() for m in case.missing)
    assert case.label_service not in str([s.attributes for s in rec.spans[:50]])  # no label on records


def test_span_kinds_follow_the_call_graph(refs):
    case = refs[1].load(start=refs[1].inject_time - 120, end=refs[1].inject_time + 60)
    spans = case.records.spans
    by_id = {s.span_id: s for s in spans}
    clients = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert clients
    for s in clients:
        assert s.peer_service and s.peer_service != s.service
        assert s.attributes["peer.service"] == s.peer_service
    for s in spans:
        parent = by_id.get(s.parent_span_id) if s.parent_span_id else None
        if parent is None or parent.service != s.service:
            assert s.kind == SpanKind.SERVER
        elif s.kind == SpanKind.INTERNAL:
            assert s.peer_service is None
    # every client call has a server span in the callee
    calls = {(s.service, s.peer_service) for s in clients}
    served = {(by_id[s.parent_span_id].service, s.service) for s in spans
              if s.kind == SpanKind.SERVER and s.parent_span_id in by_id}
    assert calls <= served


def test_dependencies_are_service_edges(refs):
    case = refs[0].load(start=refs[0].inject_time - 60, end=refs[0].inject_time)
    assert case.dependencies
    services = {m.service for m in case.records.metrics}
    for a, b in case.dependencies:
        assert a != b
        assert not a[0].isdigit() and not b[0].isdigit()  # node IPs dropped
    assert {b for _, b in case.dependencies} <= services


def test_logs_have_parsed_severity_and_bodies(refs):
    # the slice holds the per-minute logs of 05:19 and 05:20
    ref = next(r for r in refs if r.inject_time <= _utc(f"{DAY} 05:19:00") < r.inject_time + 600)
    case = ref.load(start=_utc(f"{DAY} 05:18:00"), end=_utc(f"{DAY} 05:20:30"))
    logs = case.records.logs
    assert len(logs) > 100
    assert {lg.severity for lg in logs} >= {9}
    assert all(not lg.body.startswith("TraceID") for lg in logs)
    assert all(lg.trace_id for lg in logs)
    # traces of that hour are not in the slice: reported as missing
    assert f"rca_data/{DAY}/trace/05_19_trace.csv" in case.missing


def test_normal_periods_avoid_faults(nezha_dir, refs):
    cfg = AdapterConfig(normal_chunk_s=7200.0)
    injects = [r.inject_time for r in refs]
    n = 0
    for batch in load_normal("nezha", nezha_dir, cfg):
        n += 1
        assert batch.metrics
        lo, hi = batch.metrics[0].time, batch.metrics[-1].time
        assert hi - lo <= 7200.0
        for t in injects:
            assert not (t - cfg.normal_guard_s / 5 <= lo <= t + cfg.normal_guard_s)
        if n >= 3:
            break
    assert n == 3


def test_root_cause_hints_in_metadata(refs):
    cpu = next(r for r in refs if r.fault_type == "cpu_contention")
    case = cpu.load(start=cpu.inject_time - 60, end=cpu.inject_time)
    assert case.metadata["root_cause_hint_kind"] == "metric"
    assert case.metadata["root_cause_metric"] == "cpu_usage_rate_pct"
    assert case.metadata["inject_pod"].startswith(cpu.label_service)
    code = next(r for r in refs if r.fault_type == "exception")
    meta = code.load(start=code.inject_time - 60, end=code.inject_time).metadata
    assert meta["root_cause_hint_kind"] == "logs"


def test_clip_to_previous_fault(nezha_dir):
    cfg = AdapterConfig(clip_to_previous_fault=True, settle_s=120.0)
    refs = load_cases("nezha", nezha_dir, cfg)
    assert refs[1].default_start == refs[0].inject_time + 120.0
    assert refs[0].default_start == refs[0].inject_time - cfg.before_s


@pytest.mark.parametrize("pod,svc", [
    ("checkout-578fcf4766-9csqn", "checkout"),
    ("api-gw-7b598fc7d-lmggd", "api-gw"),
    ("cache-x2k9p", "cache"),
    ("front-end", "front-end"),
    ("user-db", "user-db"),
    ("svc-orders", "svc-orders"),
])
def test_service_from_pod(pod, svc):
    assert service_from_pod(pod) == svc


def test_damaged_minute_file_is_reported_not_fatal(tmp_path, nezha_dir):
    import shutil

    day = tmp_path / "rca_data" / DAY
    (day / "trace").mkdir(parents=True)
    shutil.copy(nezha_dir / "rca_data" / DAY / f"{DAY}-fault_list.json", day)
    shutil.copytree(nezha_dir / "rca_data" / DAY / "metric", day / "metric")
    (day / "trace" / "04_02_trace.csv").write_text("not,a\ntrace file\n")
    ref = load_cases("nezha", tmp_path)[1]
    case = ref.load(start=ref.inject_time - 60, end=ref.inject_time + 60)
    assert f"rca_data/{DAY}/trace/04_02_trace.csv (unreadable)" in case.missing
    assert case.records.metrics and not case.records.spans
