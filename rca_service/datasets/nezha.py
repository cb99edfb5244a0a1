"""Adapter for the Nezha layout.

    <root>/rca_data/<day>/<day>-fault_list.json   {"<hour>": [{"inject_time", "inject_pod", "inject_type"}]}
    <root>/rca_data/<day>/metric/<pod>_metric.csv, front_service.csv, dependency.csv,
                                  source_50.csv, destination_50.csv
    <root>/rca_data/<day>/trace/HH_MM_trace.csv, log/HH_MM_log.csv, traceid/HH_MM_traceid.csv
    <root>/construct_data/<day>/...                fault-free data, same layout
    <root>/MISSING_FROM_SNAPSHOT.txt               files known to be absent (optional)

`inject_time` is read as UTC (the `inject_timestamp` field is off by hours and ignored). The
label is the injected pod's service (pod name without replica-set / pod hash suffixes). Any
folder holding `*-fault_list.json` files loads, whatever the system.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from rca_service.datasets import nezha_files as nf
from rca_service.datasets.case import Case, CaseRef, sort_batch
from rca_service.datasets.config import AdapterConfig
from rca_service.datasets.naming import normalize_metric_name, service_from_pod
from rca_service.errors import DatasetError
from rca_service.records import RecordBatch

log = logging.getLogger(__name__)

FAULT_LIST_SUFFIX = "-fault_list.json"


def parse_inject_time(text: str) -> float:
    """"2022-08-22 03:51:30" (UTC) → unix seconds."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise DatasetError(f"unreadable inject_time {text!r}")


def read_fault_list(path: Path) -> list[dict]:
    """Faults of one day, sorted by time: dicts with inject_time (unix s), pod, service, fault."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    entries = []
    groups = raw.values() if isinstance(raw, dict) else [raw]
    for group in groups:
        for item in group if isinstance(group, list) else [group]:
            if not isinstance(item, dict) or "inject_time" not in item:
                continue
            pod = str(item.get("inject_pod", item.get("inject_service", "")))
            entries.append({
                "inject_time": parse_inject_time(str(item["inject_time"])),
                "pod": pod,
                "service": service_from_pod(pod),
                "fault": str(item.get("inject_type", "unknown")),
            })
    return sorted(entries, key=lambda e: e["inject_time"])


def _find_root(path: Path) -> Path:
    """The folder holding MISSING_FROM_SNAPSHOT.txt / rca_data, walking up from `path` a little."""
    for p in (path, *path.parents[:3]):
        if (p / "MISSING_FROM_SNAPSHOT.txt").exists() or (p / "rca_data").is_dir():
            return p
    return path


def _known_missing(root: Path) -> set[str]:
    f = root / "MISSING_FROM_SNAPSHOT.txt"
    if not f.exists():
        return set()
    return {line.strip() for line in f.read_text().splitlines() if line.strip()}


def read_root_cause_hints(root: Path) -> dict[str, dict[str, str]]:
    """construct_data/root_cause_*.json: {service: {fault: signal or "log A_log B" pattern}}."""
    hints: dict[str, dict[str, str]] = {}
    for f in sorted((root / "construct_data").glob("root_cause_*.json")) if (root / "construct_data").is_dir() else []:
        try:
            data = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("%s: unreadable (%s)", f, exc)
            continue
        for svc, faults in data.items() if isinstance(data, dict) else []:
            if isinstance(faults, dict):
                hints.setdefault(str(svc), {}).update({str(k): str(v) for k, v in faults.items()})
    return hints


def _hint_metadata(hints: dict[str, dict[str, str]], service: str, fault: str) -> dict:
    """The dataset's own note of which signal marks this root cause (metric name or log pair)."""
    raw = hints.get(service, {}).get(fault)
    if raw is None:
        return {}
    if "_" in raw and " " in raw:  # "<log before>_<log after>": a log pattern
        return {"root_cause_hint": raw, "root_cause_hint_kind": "logs"}
    return {"root_cause_hint": raw, "root_cause_hint_kind": "metric", "root_cause_metric": normalize_metric_name(raw)}


def fault_list_files(path: Path) -> list[Path]:
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder")
    return sorted(path.rglob(f"*{FAULT_LIST_SUFFIX}"))


def load_cases(path: Path, config: AdapterConfig | None = None) -> list[CaseRef]:
    """One `CaseRef` per fault of every day folder under `path`.

    Raises:
        DatasetError: `path` is not a folder or holds no fault list.
    """
    path = Path(path)
    config = config or AdapterConfig()
    lists = fault_list_files(path)
    if not lists:
        raise DatasetError(f"no *{FAULT_LIST_SUFFIX} under {path}")
    root = _find_root(path)
    known_missing = _known_missing(root)
    hints = read_root_cause_hints(root)
    refs: list[CaseRef] = []
    for fl in lists:
        day_dir = fl.parent
        faults = read_fault_list(fl)
        prev: float | None = None
        for i, f in enumerate(faults):
            start, end = config.window(f["inject_time"])
            if config.clip_to_previous_fault and prev is not None and start is not None:
                start = max(start, prev + config.settle_s)
            prev = f["inject_time"]
            name = f"{day_dir.name}/{i:02d}-{f['service']}-{f['fault']}"
            meta = {"inject_pod": f["pod"], **_hint_metadata(hints, f["service"], f["fault"])}
            refs.append(CaseRef(
                name=name,
                system=root.name,
                label_service=f["service"],
                fault_type=f["fault"],
                inject_time=f["inject_time"],
                default_start=start,
                default_end=end,
                _loader=lambda ref, s, e, d=day_dir, meta=meta: load_window(
                    d, ref, s, e, config, root, known_missing, meta),
            ))
    return refs


def _read_or_report(reader, path: Path, name: str, missing: list[str], *args):
    """Read one per-minute file; a damaged file is reported like a missing one, never fatal."""
    try:
        return reader(path, *args)
    except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        log.warning("%s: unreadable (%s)", path, exc)
        missing.append(f"{name} (unreadable)")
        return None


def read_day_window(
    day_dir: Path, start: float, end: float, config: AdapterConfig, root: Path, known_missing: set[str]
) -> tuple[RecordBatch, list[str], list[tuple[str, str]]]:
    """All records of a day folder in [start, end), the absent files expected there, and the
    dependency edges."""
    metric_dir = day_dir / "metric"
    batch = RecordBatch()
    missing: list[str] = []
    rel_day = day_dir.relative_to(root) if day_dir.is_relative_to(root) else Path(day_dir.name)
    if not nf.pod_metric_files(metric_dir):
        missing.append(str(rel_day / "metric"))
    batch.metrics = nf.read_pod_metrics(metric_dir, start, end)
    services = {m.service for m in batch.metrics}
    batch.metrics += nf.read_front_metrics(metric_dir, start, end, services)
    batch.metrics += nf.read_edge_metrics(metric_dir, start, end, services)

    midnight = nf.day_start(day_dir, start)
    wanted = nf.minutes_in(start, end, midnight)
    traces = nf.minute_files(day_dir / "trace", "trace")
    logs = nf.minute_files(day_dir / "log", "log")
    ids = nf.minute_files(day_dir / "traceid", "traceid")
    frames = []
    for minute in wanted:
        # a minute is expected to have traces and logs when any of its files exist or are
        # listed as missing from the snapshot
        names = {k: str(rel_day / k / nf.minute_name(minute, k)) for k in ("trace", "log")}
        expected = minute in traces or minute in logs or minute in ids or any(
            n in known_missing for n in names.values())
        if minute in traces:
            frame = _read_or_report(nf.read_trace_file, traces[minute], names["trace"], missing, start, end,
                                    config.trace_sample)
            if frame is not None:
                frames.append(frame)
        elif expected:
            missing.append(names["trace"])
        if minute in logs:
            batch.logs += _read_or_report(nf.read_log_file, logs[minute], names["log"], missing, start, end) or []
        elif expected:
            missing.append(names["log"])
    batch.spans = nf.spans_from_frames(frames)
    return sort_batch(batch), missing, nf.read_dependencies(metric_dir)


def load_window(
    day_dir: Path, ref: CaseRef, start: float | None, end: float | None, config: AdapterConfig,
    root: Path, known_missing: set[str], meta: dict,
) -> Case:
    """Load one fault's window of a day folder into a `Case` (None bounds = the day's data range)."""
    if start is None or end is None:
        rng = nf.data_range(day_dir / "metric") or (ref.inject_time - 1800.0, ref.inject_time + 600.0)
        start = rng[0] if start is None else start
        end = rng[1] if end is None else end
    batch, missing, deps = read_day_window(day_dir, start, end, config, root, known_missing)
    return Case(
        name=ref.name, system=ref.system, label_service=ref.label_service, fault_type=ref.fault_type,
        inject_time=ref.inject_time, records=batch, start=float(start), end=float(end),
        missing=missing, dependencies=deps, metadata={"path": str(day_dir), **meta},
    )


def _fault_times_for(day_dir: Path, root: Path) -> list[float]:
    """Injection times of a day: from its own fault list, or the same day under rca_data."""
    candidates = [day_dir / f"{day_dir.name}{FAULT_LIST_SUFFIX}",
                  root / "rca_data" / day_dir.name / f"{day_dir.name}{FAULT_LIST_SUFFIX}"]
    for c in candidates:
        if c.exists():
            return [f["inject_time"] for f in read_fault_list(c)]
    return []


def normal_day_dirs(path: Path) -> list[Path]:
    """Day folders holding fault-free data: construct_data/* when present, else every day folder."""
    root = _find_root(Path(path))
    for base in (Path(path) / "construct_data", root / "construct_data"):
        if base.is_dir():
            return sorted(p for p in base.iterdir() if (p / "metric").is_dir())
    if (Path(path) / "metric").is_dir():
        return [Path(path)]
    return sorted({p.parent for p in Path(path).rglob("metric") if p.is_dir()})


def normal_intervals(lo: float, hi: float, faults: list[float], guard: float) -> list[tuple[float, float]]:
    """[lo, hi) minus [t - guard/5, t + guard) around each fault time t."""
    out: list[tuple[float, float]] = []
    cur = lo
    for t in sorted(faults):
        a, b = t - guard / 5.0, t + guard
        if a > cur:
            out.append((cur, min(a, hi)))
        cur = max(cur, b)
        if cur >= hi:
            break
    if cur < hi:
        out.append((cur, hi))
    return [(a, b) for a, b in out if b - a >= 60.0]


def load_normal(path: Path, config: AdapterConfig | None = None) -> Iterator[RecordBatch]:
    """Fault-free data in chunks of at most `config.normal_chunk_s` seconds.

    Uses construct_data/<day> when present (else the fault days themselves), excluding a guard
    interval around every fault of that day.
    """
    config = config or AdapterConfig()
    root = _find_root(Path(path))
    known_missing = _known_missing(root)
    days = normal_day_dirs(path)
    if not days:
        raise DatasetError(f"no day folder with metric/ under {path}")
    for day in days:
        rng = nf.data_range(day / "metric")
        if rng is None:
            continue
        for a, b in normal_intervals(rng[0], rng[1], _fault_times_for(day, root), config.normal_guard_s):
            t = a
            while t < b:
                u = min(b, t + config.normal_chunk_s)
                batch, _, _ = read_day_window(day, t, u, config, root, known_missing)
                if len(batch):
                    yield batch
                t = u
