"""Adapter for the RCAEval layout: `<service>_<fault>/<n>/inject_time.txt` + telemetry files.

Single-source cases (RE1) hold `data.csv`: a `time` column and `<component>_<metric>` columns.
Multi-source cases (RE2/RE3, and what our simulator writes) hold metrics as `metrics.csv`,
`metrics.json` ({column: [[t, v], ...]}), `metrics.parquet` or `simple_metrics.csv`, plus
`logs.csv` and `traces.csv` with the columns the `rcaeval` package reads:

    traces: traceID, spanID, parentSpanID, serviceName, operationName|methodName,
            startTime (µs), duration (µs), statusCode; optional spanKind, peerService,
            statusMessage (written by our simulator)
    logs:   time|timestamp, container_name|serviceName, message; optional level,
            trace_id, span_id, attributes (JSON)

The label is the folder's `<service>` part and the fault its `<fault>` part (split at the
first "_", as metric columns are). Any system laid out this way loads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from rca_service.datasets.case import Case, CaseRef, sort_batch
from rca_service.datasets.config import AdapterConfig
from rca_service.datasets.naming import severity_from_text, severity_number, split_component_column
from rca_service.datasets.spans import (
    clean_parent_ids,
    frame_to_spans,
    parse_status,
    sample_traces,
    to_unix_seconds,
)
from rca_service.errors import DatasetError
from rca_service.records import ChangeEvent, LogRecord, MetricPoint, RecordBatch, SpanKind

log = logging.getLogger(__name__)

METRIC_FILES = ("data.csv", "metrics.csv", "metrics.parquet", "metrics.json", "simple_metrics.csv", "simple_data.csv")
LOG_FILES = ("logs.csv", "logs.parquet")
TRACE_FILES = ("traces.csv", "traces.parquet")
_KIND_NAMES = {k.name: int(k) for k in SpanKind}


def default_config() -> AdapterConfig:
    """RCAEval cases are already cut around the fault: keep all of each by default."""
    return AdapterConfig(before_s=None, after_s=None)


def find_case_dirs(root: Path) -> list[Path]:
    """Every folder under `root` (or `root` itself) that holds an inject_time.txt, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    if (root / "inject_time.txt").exists():
        return [root]
    return sorted(p.parent for p in root.rglob("inject_time.txt"))


def _natural_key(path: Path) -> tuple:
    parts = []
    for part in path.parts:
        parts.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return tuple(parts)


def load_cases(path: Path, config: AdapterConfig | None = None) -> list[CaseRef]:
    """Case references for every `<service>_<fault>/<n>` folder under `path`.

    Raises:
        DatasetError: `path` is not a folder or holds no case at all.
    """
    root = Path(path)
    config = config or default_config()
    dirs = sorted(find_case_dirs(root), key=lambda p: _natural_key(p.relative_to(root) if p != root else Path(p.name)))
    if not dirs:
        raise DatasetError(f"no RCAEval case (a folder with inject_time.txt) under {root}")
    refs: list[CaseRef] = []
    for d in dirs:
        label_dir = d.parent if d.name.isdigit() else d
        service, _, fault = label_dir.name.partition("_")
        try:
            inject = float((d / "inject_time.txt").read_text().strip().split()[0])
        except (ValueError, IndexError) as exc:
            log.warning("skipping %s: unreadable inject_time.txt (%s)", d, exc)
            continue
        name = str(d.relative_to(root)) if d != root else d.name
        start, end = config.window(inject)
        refs.append(
            CaseRef(
                name=name,
                system=root.name,
                label_service=service,
                fault_type=fault or "unknown",
                inject_time=inject,
                default_start=start,
                default_end=end,
                _loader=lambda ref, s, e, d=d: load_case_dir(d, ref, s, e, config),
            )
        )
    return refs


def _first(case_dir: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        p = case_dir / n
        if p.exists():
            return p
    return None


def _in_window(t: np.ndarray, start: float | None, end: float | None) -> np.ndarray:
    mask = np.isfinite(t)
    if start is not None:
        mask &= t >= start
    if end is not None:
        mask &= t < end
    return mask


def read_metric_frame(path: Path) -> pd.DataFrame:
    """A wide frame: `time` (unix s) + one column per `<component>_<metric>`."""
    if path.suffix == ".json":
        raw = json.loads(path.read_text())
        series = {k: pd.Series(dict((float(t), v) for t, v in pts), dtype="float64") for k, pts in raw.items() if pts}
        df = pd.DataFrame(series).sort_index()
        df.index.name = "time"
        return df.reset_index()
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if "time" not in df.columns:
        if "timestamp" in df.columns:
            df = df.rename(columns={"timestamp": "time"})
        else:
            raise DatasetError(f"{path}: no time column")
    return df


def metrics_from_frame(df: pd.DataFrame, start: float | None, end: float | None) -> list[MetricPoint]:
    """Long-form metric points from a wide frame, inside [start, end)."""
    times = to_unix_seconds(df["time"])
    mask = _in_window(times, start, end)
    df = df.loc[mask]
    times = times[mask]
    cols = [c for c in df.columns if c != "time" and not str(c).startswith("Unnamed")]
    known = {c.partition("_")[0] for c in cols}
    points: list[MetricPoint] = []
    for col in cols:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(values)
        if not ok.any():
            continue
        service, metric = split_component_column(str(col), known)
        if not metric:
            continue
        resource = {"service.name": service}
        for t, v in zip(times[ok].tolist(), values[ok].tolist()):
            points.append(MetricPoint(service=service, name=metric, time=t, value=v, resource=resource))
    return points


def _col(df: pd.DataFrame, *names: str) -> str | None:
    for n in names:
        if n in df.columns:
            return n
    return None


def traces_from_frame(df: pd.DataFrame, start: float | None, end: float | None, sample: float = 1.0):
    """`Span` records from an RCAEval traces frame, inside [start, end)."""
    svc_col = _col(df, "serviceName", "service", "service_name")
    if svc_col is None or "spanID" not in df.columns:
        raise DatasetError("traces file lacks serviceName/spanID columns")
    start_col = _col(df, "startTime", "start_time", "startTimeUnixNano")
    if start_col is None:
        raise DatasetError("traces file lacks a startTime column")
    raw_start = pd.to_numeric(df[start_col], errors="coerce")
    starts = to_unix_seconds(raw_start)
    scale = float(np.nanmedian(raw_start.to_numpy(dtype=np.float64) / starts)) if len(starts) else 1.0
    if "endTime" in df.columns:
        ends = pd.to_numeric(df["endTime"], errors="coerce").to_numpy(dtype=np.float64) / scale
    else:
        dur_col = _col(df, "duration", "Duration")
        dur = pd.to_numeric(df[dur_col], errors="coerce").to_numpy(dtype=np.float64) / scale if dur_col else 0.0
        ends = starts + dur
    name_col = _col(df, "operationName", "methodName", "name")
    frame = pd.DataFrame(
        {
            "trace_id": df[_col(df, "traceID", "traceId", "trace_id")].astype(str).to_numpy(),
            "span_id": df["spanID"].astype(str).to_numpy(),
            "parent_id": clean_parent_ids(df[_col(df, "parentSpanID", "parentSpanId", "parent_span_id")]).to_numpy()
            if _col(df, "parentSpanID", "parentSpanId", "parent_span_id")
            else None,
            "service": df[svc_col].astype(str).to_numpy(),
            "name": (df[name_col].fillna("") if name_col else pd.Series([""] * len(df))).astype(str).to_numpy(),
            "start": starts,
            "end": ends,
        }
    )
    if "methodName" in df.columns and name_col == "operationName":
        # rcaeval fills methodName from operationName; prefer the more specific method when present
        method = df["methodName"]
        frame["name"] = np.where(method.notna() & (method.astype(str) != ""), method.astype(str), frame["name"])
    if "statusCode" in df.columns:
        frame["status"] = parse_status(df["statusCode"])
    if "statusMessage" in df.columns:
        frame["status_message"] = df["statusMessage"].fillna("").astype(str).to_numpy()
    if "spanKind" in df.columns:
        kinds = df["spanKind"].astype(str).str.upper().str.replace("SPAN_KIND_", "", regex=False)
        frame["kind"] = [_KIND_NAMES.get(k, int(k) if k.isdigit() else 0) for k in kinds]
    if "peerService" in df.columns:
        frame["peer"] = df["peerService"].where(df["peerService"].notna(), None).to_numpy()
    frame = frame[_in_window(frame["start"].to_numpy(), start, end)]
    frame = sample_traces(frame, sample)
    return frame_to_spans(frame)


def logs_from_frame(df: pd.DataFrame, start: float | None, end: float | None) -> tuple[list[LogRecord], list[ChangeEvent]]:
    """`LogRecord`s (and change events marked by a `change.kind` attribute) inside [start, end)."""
    svc_col = _col(df, "container_name", "serviceName", "service", "pod")
    msg_col = _col(df, "message", "log", "body", "Log")
    time_col = _col(df, "time", "timestamp", "Timestamp")
    if svc_col is None or msg_col is None or time_col is None:
        raise DatasetError("logs file lacks service/message/time columns")
    times = to_unix_seconds(df[time_col])
    if not np.isfinite(times).any() and time_col != "timestamp" and "timestamp" in df.columns:
        times = to_unix_seconds(df["timestamp"])
    mask = _in_window(times, start, end)
    df = df.loc[mask]
    times = times[mask]
    level_col = _col(df, "level", "severity", "severity_text")
    trace_col = _col(df, "trace_id", "traceID")
    span_col = _col(df, "span_id", "spanID")
    attr_col = _col(df, "attributes")
    records: list[LogRecord] = []
    changes: list[ChangeEvent] = []
    services = df[svc_col].astype(str).tolist()
    messages = df[msg_col].fillna("").astype(str).tolist()
    levels = df[level_col].tolist() if level_col else [None] * len(df)
    traces = df[trace_col].tolist() if trace_col else [None] * len(df)
    span_ids = df[span_col].tolist() if span_col else [None] * len(df)
    attrs_raw = df[attr_col].tolist() if attr_col else [None] * len(df)
    for t, svc, msg, lvl, tid, sid, araw in zip(times.tolist(), services, messages, levels, traces, span_ids, attrs_raw):
        if isinstance(lvl, str) and lvl:
            sev, sev_text = severity_number(lvl), lvl.upper()
        else:
            sev, sev_text = severity_from_text(msg)
        attrs = {}
        if isinstance(araw, str) and araw.strip():
            try:
                attrs = json.loads(araw)
            except json.JSONDecodeError:
                attrs = {}
        rec = LogRecord(
            service=svc,
            time=t,
            body=msg,
            severity=sev,
            severity_text=sev_text,
            trace_id=tid if isinstance(tid, str) and tid else None,
            span_id=sid if isinstance(sid, str) and sid else None,
            attributes=attrs,
            resource={"service.name": svc},
        )
        if "service.version" in attrs:
            rec.resource["service.version"] = attrs["service.version"]
        records.append(rec)
        if attrs.get("change.kind"):
            changes.append(
                ChangeEvent(service=svc, time=t, kind=str(attrs["change.kind"]), description=msg, attributes=dict(attrs))
            )
    return records, changes


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def read_case_records(
    case_dir: Path, start: float | None, end: float | None, trace_sample: float = 1.0
) -> tuple[RecordBatch, list[str]]:
    """Every record of one case folder inside [start, end), and the expected files that are absent."""
    batch = RecordBatch()
    missing: list[str] = []
    mpath = _first(case_dir, METRIC_FILES)
    if mpath is None:
        missing.append("metrics (data.csv / metrics.csv / metrics.json)")
    else:
        batch.metrics = metrics_from_frame(read_metric_frame(mpath), start, end)
    tpath = _first(case_dir, TRACE_FILES)
    if tpath is not None:
        tdf = _read_table(tpath)
        if not tdf.empty:
            batch.spans = traces_from_frame(tdf, start, end, trace_sample)
    lpath = _first(case_dir, LOG_FILES)
    if lpath is not None:
        ldf = _read_table(lpath)
        if not ldf.empty:
            batch.logs, batch.changes = logs_from_frame(ldf, start, end)
    return sort_batch(batch), missing


def _batch_bounds(batch: RecordBatch) -> tuple[float, float]:
    times = [m.time for m in batch.metrics] + [s.start for s in batch.spans] + [lg.time for lg in batch.logs]
    if not times:
        return 0.0, 0.0
    return float(min(times)), float(max(times)) + 1.0


def load_case_dir(case_dir: Path, ref: CaseRef, start: float | None, end: float | None, config: AdapterConfig) -> Case:
    """Load one case folder into a `Case` (window [start, end), None = unbounded)."""
    batch, missing = read_case_records(case_dir, start, end, config.trace_sample)
    lo, hi = _batch_bounds(batch)
    deps: list[tuple[str, str]] = []
    topo = case_dir / "topology.json"
    if topo.exists():  # written by our simulator; other RCAEval folders derive topology from traces
        try:
            deps = [(str(a), str(b)) for a, b in json.loads(topo.read_text()).get("edges", [])]
        except (json.JSONDecodeError, ValueError, TypeError) as exc:
            log.warning("%s: unreadable topology.json (%s)", case_dir, exc)
    return Case(
        name=ref.name,
        system=ref.system,
        label_service=ref.label_service,
        fault_type=ref.fault_type,
        inject_time=ref.inject_time,
        records=batch,
        start=float(start) if start is not None else lo,
        end=float(end) if end is not None else hi,
        missing=missing,
        dependencies=deps,
        metadata={"path": str(case_dir)},
    )


def load_normal(path: Path, config: AdapterConfig | None = None) -> Iterator[RecordBatch]:
    """Fault-free data: each case's records before its injection time, one batch per case."""
    config = config or default_config()
    for ref in load_cases(path, config):
        start = None if config.before_s is None else ref.inject_time - config.before_s
        case = ref.load(start=start, end=ref.inject_time)
        if len(case.records):
            yield case.records
