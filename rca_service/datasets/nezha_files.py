"""Readers for the files of one Nezha day folder (`metric/`, `trace/`, `log/`, `traceid/`).

Each reader takes a window [start, end) in unix seconds and returns plain records. Files are
named by the minute of the day they cover (`HH_MM_trace.csv`), so a window maps to a set of
file names; the ones that should exist but do not are reported, never fatal.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from rca_service.datasets.naming import (
    normalize_metric_name,
    service_from_pod,
    severity_from_text,
    severity_number,
    split_component_column,
)
from rca_service.datasets.spans import (
    clean_parent_ids,
    datetimes_to_unix,
    frame_to_spans,
    sample_traces,
    to_unix_seconds,
)
from rca_service.records import LogRecord, MetricPoint, Span

log = logging.getLogger(__name__)

METRIC_SUFFIX = "_metric.csv"
_MINUTE_FILE = re.compile(r"^(\d{2})_(\d{2})_(trace|log|traceid)\.csv$")
_TRACE_PREFIX = re.compile(r"^\s*TraceID:\s*[0-9a-fA-F]+\s+SpanID:\s*[0-9a-fA-F]+\s*")
_ADDRESS = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:]+)(:\d+)?$")
_NON_METRIC_COLUMNS = {"time", "timestamp", "podname", "servicename", "pod", "service"}


def parse_go_time(values: pd.Series) -> np.ndarray:
    """Unix seconds from Go `time.Time.String()` text ("2022-08-22 03:51:19.79 +0000 UTC m=+0.3").

    The monotonic-clock suffix is dropped and the offset honoured (UTC when absent).
    """
    text = values.astype(str).str.extract(r"^(\S+ \S+)(?: ([+-]\d{4}))?")
    stamp = text[0] + " " + text[1].fillna("+0000")
    parsed = pd.to_datetime(stamp, format="%Y-%m-%d %H:%M:%S.%f %z", errors="coerce", utc=True)
    missing = parsed.isna()
    if missing.any():
        parsed[missing] = pd.to_datetime(stamp[missing], errors="coerce", utc=True, format="mixed")
    return datetimes_to_unix(parsed)


def day_start(day_dir: Path, fallback_time: float | None = None) -> float:
    """Unix seconds of 00:00 UTC of the day a folder holds (from its YYYY-MM-DD name)."""
    try:
        d = datetime.strptime(day_dir.name, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return d.timestamp()
    except ValueError:
        if fallback_time is None:
            raise
        return float(int(fallback_time // 86400) * 86400)


def minute_files(folder: Path, kind: str) -> dict[float, Path]:
    """{seconds since midnight of the file's minute: path} for `HH_MM_<kind>.csv` files."""
    out: dict[float, Path] = {}
    if not folder.is_dir():
        return out
    for p in folder.iterdir():
        m = _MINUTE_FILE.match(p.name)
        if m and m.group(3) == kind:
            out[int(m.group(1)) * 3600.0 + int(m.group(2)) * 60.0] = p
    return out


def minutes_in(start: float, end: float, midnight: float, margin: float = 120.0) -> list[float]:
    """Seconds-since-midnight of each minute file that may hold data in [start, end)."""
    lo = max(0.0, np.floor((start - midnight - margin) / 60.0) * 60.0)
    hi = min(86340.0, np.ceil((end - midnight + margin) / 60.0) * 60.0)
    return [float(m) for m in np.arange(lo, hi + 1, 60.0)]


def minute_name(sec_of_day: float, kind: str) -> str:
    return f"{int(sec_of_day // 3600):02d}_{int(sec_of_day % 3600 // 60):02d}_{kind}.csv"


# ---------------------------------------------------------------------------- metrics
@lru_cache(maxsize=64)
def _read_pod_metrics(path: str, mtime: float) -> pd.DataFrame:
    """A long frame (time, pod, metric, value) of one `<pod>_metric.csv`; cached per file version."""
    df = pd.read_csv(path)
    if "Time" in df.columns:
        times = parse_go_time(df["Time"])
        if "TimeStamp" in df.columns:
            # rows whose Time text does not parse fall back to the integer stamp
            stamp = pd.to_numeric(df["TimeStamp"], errors="coerce").to_numpy(dtype=np.float64)
            times = np.where(np.isfinite(times), times, stamp)
    elif "TimeStamp" in df.columns:
        times = to_unix_seconds(df["TimeStamp"])
    else:
        return pd.DataFrame(columns=["time", "metric", "value"])
    cols = [c for c in df.columns if c.lower() not in _NON_METRIC_COLUMNS]
    values = df[cols].apply(pd.to_numeric, errors="coerce")
    values.columns = [normalize_metric_name(c) for c in cols]
    values.insert(0, "time", times)
    long = values.melt(id_vars="time", var_name="metric", value_name="value").dropna()
    return long[np.isfinite(long["time"].to_numpy())].reset_index(drop=True)


def _cached_frame(path: Path) -> pd.DataFrame:
    return _read_pod_metrics(str(path), path.stat().st_mtime)


def pod_metric_files(metric_dir: Path) -> dict[str, Path]:
    """{pod name: path} of every `<pod>_metric.csv` in a folder."""
    if not metric_dir.is_dir():
        return {}
    return {p.name[: -len(METRIC_SUFFIX)]: p for p in sorted(metric_dir.glob(f"*{METRIC_SUFFIX}"))}


def read_pod_metrics(metric_dir: Path, start: float, end: float) -> list[MetricPoint]:
    """Metric points of every pod file in [start, end); service = pod without its hash suffixes."""
    points: list[MetricPoint] = []
    for pod, path in pod_metric_files(metric_dir).items():
        df = _cached_frame(path)
        df = df[(df["time"] >= start) & (df["time"] < end)]
        service = service_from_pod(pod)
        resource = {"service.name": service, "k8s.pod.name": pod}
        for t, name, v in df.itertuples(index=False, name=None):
            points.append(MetricPoint(service=service, name=name, time=t, value=float(v), resource=resource))
    return points


def data_range(metric_dir: Path) -> tuple[float, float] | None:
    """First and last metric timestamp of a day folder (None when it has no pod metrics)."""
    lo, hi = np.inf, -np.inf
    for path in pod_metric_files(metric_dir).values():
        t = _cached_frame(path)["time"]
        if len(t):
            lo, hi = min(lo, float(t.min())), max(hi, float(t.max()))
    return (lo, hi + 60.0) if np.isfinite(lo) else None


def _match_service(raw: str, services: set[str]) -> str:
    low = raw.strip().lower()
    for s in services:
        if s.lower() == low:
            return s
    return low


def read_front_metrics(metric_dir: Path, start: float, end: float, services: set[str]) -> list[MetricPoint]:
    """`front_service.csv`: the entry service's success rate and latency quantiles."""
    path = metric_dir / "front_service.csv"
    if not path.exists():
        return []
    df = _cached_frame(path)
    raw = pd.read_csv(path, usecols=lambda c: c.lower() == "servicename", nrows=1)
    name = _match_service(str(raw.iloc[0, 0]), services) if len(raw) and raw.shape[1] else "front"
    df = df[(df["time"] >= start) & (df["time"] < end)]
    resource = {"service.name": name}
    return [
        MetricPoint(service=name, name=f"front_{m}", time=t, value=float(v), resource=resource)
        for t, m, v in df.itertuples(index=False, name=None)
    ]


def read_edge_metrics(metric_dir: Path, start: float, end: float, services: set[str]) -> list[MetricPoint]:
    """`source_50.csv` / `destination_50.csv`: per call-edge latency seen by the caller / callee.

    Columns are `<caller>_<callee>`; the caller side becomes `edge_client_latency` on the
    caller with attribute `peer.service`, the callee side `edge_server_latency` on the callee
    with attribute `client`.
    """
    points: list[MetricPoint] = []
    for fname, metric, side in (("source_50.csv", "edge_client_latency_p50", "client"),
                                ("destination_50.csv", "edge_server_latency_p50", "server")):
        path = metric_dir / fname
        if not path.exists():
            continue
        df = pd.read_csv(path)
        tcol = "time" if "time" in df.columns else "Time"
        times = parse_go_time(df[tcol]) if tcol in df.columns else to_unix_seconds(df["timestamp"])
        mask = (times >= start) & (times < end)
        for col in df.columns:
            if col.lower() in ("time", "timestamp"):
                continue
            caller, callee = split_component_column(col, services)
            values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
            ok = mask & np.isfinite(values)
            owner, attrs = (caller, {"peer.service": callee}) if side == "client" else (callee, {"client": caller})
            resource = {"service.name": owner}
            for t, v in zip(times[ok].tolist(), values[ok].tolist()):
                points.append(MetricPoint(service=owner, name=metric, time=t, value=v, unit="s",
                                          attributes=dict(attrs), resource=resource))
    return points


def read_dependencies(metric_dir: Path) -> list[tuple[str, str]]:
    """(caller, callee) edges of `dependency.csv` (columns Source, Target[, Weight])."""
    path = metric_dir / "dependency.csv"
    if not path.exists():
        return []
    df = pd.read_csv(path)
    cols = {c.lower(): c for c in df.columns}
    src, dst = cols.get("source"), cols.get("target")
    if src is None or dst is None:
        return []
    edges = {(service_from_pod(str(a)), service_from_pod(str(b))) for a, b in zip(df[src], df[dst])}
    # edges to bare addresses (node IPs) are not service calls
    return sorted(e for e in edges if e[0] != e[1] and not (_ADDRESS.match(e[0]) or _ADDRESS.match(e[1])))


# ----------------------------------------------------------------------------- traces
def read_trace_file(path: Path, start: float, end: float, sample: float) -> pd.DataFrame:
    """Normalised span rows of one `HH_MM_trace.csv` inside [start, end)."""
    df = pd.read_csv(path, dtype={"TraceID": str, "SpanID": str, "ParentID": str, "PodName": str})
    starts = pd.to_numeric(df["StartTimeUnixNano"], errors="coerce").to_numpy(dtype=np.float64) / 1e9
    ends = pd.to_numeric(df["EndTimeUnixNano"], errors="coerce").to_numpy(dtype=np.float64) / 1e9
    frame = pd.DataFrame({
        "trace_id": df["TraceID"].to_numpy(),
        "span_id": df["SpanID"].to_numpy(),
        "parent_id": clean_parent_ids(df["ParentID"]).to_numpy(),
        "pod": df["PodName"].to_numpy(),
        "name": df["OperationName"].astype(str).to_numpy(),
        "start": starts,
        "end": ends,
    })
    frame = frame[(frame["start"] >= start) & (frame["start"] < end)]
    return sample_traces(frame, sample)


def spans_from_frames(frames: list[pd.DataFrame]) -> list[Span]:
    """Spans with kinds derived across all files at once (a trace may span two minute files)."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return []
    # neighbouring minute files repeat the spans near their boundary
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["trace_id", "span_id"])
    pods = df["pod"].unique()
    svc_of = {p: service_from_pod(str(p)) for p in pods}
    df["service"] = df["pod"].map(svc_of)
    return frame_to_spans(df)


# ------------------------------------------------------------------------------- logs
def _parse_log_cell(cell: str) -> tuple[str, int, str]:
    """(message, severity number, severity text) from a container log cell.

    The cell is the container runtime's JSON ({"log": "...", "stream": ...}); its `log` text is
    either the application's JSON (message + severity/level) or a plain line.
    """
    text = cell
    try:
        outer = json.loads(cell)
        if isinstance(outer, dict) and "log" in outer:
            text = str(outer["log"])
    except (json.JSONDecodeError, TypeError):
        pass
    text = text.strip()
    msg, sev, sev_text = text, 0, ""
    if text.startswith("{"):
        try:
            inner = json.loads(text)
        except json.JSONDecodeError:
            inner = None
        if isinstance(inner, dict):
            msg = str(inner.get("message", inner.get("msg", text)))
            lvl = inner.get("severity", inner.get("level", inner.get("levelname")))
            sev = severity_number(lvl)
            sev_text = str(lvl).upper() if lvl is not None else ""
    if not sev:
        sev, sev_text = severity_from_text(text)
        if sev:
            # plain lines like "13:28:43.812 INFO  - message": drop the prefix up to the level
            idx = text.upper().find(sev_text)
            rest = text[idx + len(sev_text):].lstrip(" -:|]")
            msg = rest or msg
    return _TRACE_PREFIX.sub("", msg).strip(), sev, sev_text


def read_log_file(path: Path, start: float, end: float) -> list[LogRecord]:
    """Log records of one `HH_MM_log.csv` inside [start, end)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "TimeUnixNano" in df.columns:
        times = pd.to_numeric(df["TimeUnixNano"], errors="coerce").to_numpy(dtype=np.float64) / 1e9
    else:
        times = datetimes_to_unix(pd.to_datetime(df["Timestamp"], utc=True, errors="coerce", format="mixed"))
    mask = (times >= start) & (times < end)
    df, times = df[mask], times[mask]
    cell_col = "Log" if "Log" in df.columns else "log"
    records: list[LogRecord] = []
    svc_cache: dict[str, str] = {}
    for t, pod, tid, sid, cell in zip(times.tolist(), df["PodName"], df.get("TraceID", [""] * len(df)),
                                      df.get("SpanID", [""] * len(df)), df[cell_col]):
        service = svc_cache.setdefault(pod, service_from_pod(pod))
        msg, sev, sev_text = _parse_log_cell(cell)
        records.append(LogRecord(
            service=service, time=t, body=msg, severity=sev, severity_text=sev_text,
            trace_id=tid or None, span_id=sid or None,
            resource={"service.name": service, "k8s.pod.name": pod},
        ))
    return records
