"""Turn tabular span rows (no kind, no peer) into `Span` records.

Benchmark trace files carry span id, parent id and the service (or pod) of each span but no
span kind. We derive it the way the call graph implies: a span entered from another service
(or a root span) is SERVER; a span with a child in another service is CLIENT and names that
service as its peer; anything else is INTERNAL.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from rca_service.records import Span, SpanKind, StatusCode

_KINDS = {int(k): k for k in SpanKind}
_STATUSES = {int(c): c for c in StatusCode}
_NULL_PARENTS = {"", "root", "none", "null", "nan", "0", "0000000000000000"}


def to_unix_seconds(values: pd.Series) -> np.ndarray:
    """Convert timestamps of unknown unit (s, ms, µs, ns, or date-time text) to float unix seconds.

    The unit is guessed from the magnitude of the median, which is unambiguous for any date
    after 1973: seconds ~1e9, milliseconds ~1e12, microseconds ~1e15, nanoseconds ~1e18.
    """
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    if arr.size == 0:
        return arr
    if not np.isfinite(arr).any():
        # date-time text ("2024-01-02 03:04:05.678", ISO 8601 with or without zone; UTC assumed)
        return datetimes_to_unix(pd.to_datetime(values, utc=True, errors="coerce", format="mixed"))
    med = float(np.nanmedian(np.abs(arr))) if np.isfinite(arr).any() else 0.0
    if med > 1e17:
        return arr / 1e9
    if med > 1e14:
        return arr / 1e6
    if med > 1e11:
        return arr / 1e3
    return arr


def datetimes_to_unix(parsed: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Float unix seconds from tz-aware datetimes, whatever their unit (pandas may hold s, ms, µs
    or ns); NaT becomes NaN."""
    delta = (pd.Series(parsed) - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return delta.to_numpy(dtype=np.float64, na_value=np.nan)


def keep_trace(trace_id: str, fraction: float) -> bool:
    """Deterministic whole-trace sampling: the same trace is kept or dropped on every run."""
    if fraction >= 1.0:
        return True
    h = int.from_bytes(hashlib.blake2b(trace_id.encode(), digest_size=8).digest(), "big")
    return h / 2**64 < fraction


def sample_traces(df: pd.DataFrame, fraction: float, column: str = "trace_id") -> pd.DataFrame:
    """Keep whole traces with probability `fraction` (deterministic per trace id)."""
    if fraction >= 1.0 or df.empty:
        return df
    ids = df[column].unique()
    kept = {t for t in ids if keep_trace(str(t), fraction)}
    return df[df[column].isin(kept)]


def parse_status(values: pd.Series) -> np.ndarray:
    """Map a status column to `StatusCode` integers.

    Accepts OTLP names ("STATUS_CODE_ERROR", "ERROR", "OK"), OTLP numbers (0/1/2) and HTTP or
    gRPC-over-HTTP codes (>= 400 and 5xx are errors; 1xx-3xx are OK).
    """
    out = np.zeros(len(values), dtype=np.int64)
    for i, raw in enumerate(str(v).strip().upper() for v in values.fillna("").tolist()):
        if raw in ("", "NAN", "NONE", "UNSET", "STATUS_CODE_UNSET", "0"):
            continue
        if "ERROR" in raw or raw == "2" or raw == "FALSE":
            out[i] = StatusCode.ERROR
        elif raw in ("OK", "STATUS_CODE_OK", "1", "TRUE"):
            out[i] = StatusCode.OK
        else:
            try:
                code = int(float(raw))
            except ValueError:
                continue
            out[i] = StatusCode.ERROR if code >= 400 else StatusCode.OK
    return out


def derive_kinds(df: pd.DataFrame) -> tuple[np.ndarray, list[str | None]]:
    """Span kinds and peer services from the parent/child structure.

    Args:
        df: columns `span_id`, `parent_id` (None for roots) and `service`.

    Returns:
        (kinds as SpanKind integers, peer service per row or None).
    """
    span_ids = df["span_id"].to_numpy(dtype=object).tolist()
    parents = df["parent_id"].to_numpy(dtype=object).tolist()
    services = df["service"].to_numpy(dtype=object).tolist()
    svc_of = dict(zip(span_ids, services))
    peer_of: dict[str, str] = {}
    server = np.zeros(len(span_ids), dtype=bool)
    for i, (parent, svc) in enumerate(zip(parents, services)):
        parent_svc = svc_of.get(parent) if parent is not None else None
        if parent_svc is None or parent_svc != svc:
            server[i] = True
            if parent_svc is not None:
                # a child in another service makes its parent a client of that service
                peer_of.setdefault(parent, svc)
    peers = [peer_of.get(sid) for sid in span_ids]
    kinds = np.full(len(span_ids), int(SpanKind.INTERNAL), dtype=np.int64)
    kinds[np.array([p is not None for p in peers], dtype=bool)] = int(SpanKind.CLIENT)
    kinds[server] = int(SpanKind.SERVER)
    # a SERVER span that itself calls out keeps SERVER; its peer is still recorded
    return kinds, peers


def frame_to_spans(df: pd.DataFrame, resource_extra: dict[str, str] | None = None) -> list[Span]:
    """Build `Span` records from a normalised frame.

    Args:
        df: columns trace_id, span_id, parent_id (None for roots), service, name, start, end
            (unix seconds); optional kind (int), status (int), peer (str), pod (str),
            status_message (str).
        resource_extra: resource attributes added to every span.
    """
    if df.empty:
        return []
    if "kind" not in df.columns or "peer" not in df.columns:
        kinds, peers = derive_kinds(df)
        if "kind" not in df.columns:
            df = df.assign(kind=kinds)
        if "peer" not in df.columns:
            df = df.assign(peer=peers)
    n = len(df)

    def column(name: str, default) -> list:
        # plain lists: iterating pandas (arrow-backed) columns element by element is slow
        return df[name].to_numpy(dtype=object).tolist() if name in df.columns else [default] * n

    statuses = [_STATUSES.get(int(v), StatusCode.UNSET) for v in column("status", 0)]
    kinds = [_KINDS.get(int(v), SpanKind.INTERNAL) for v in column("kind", int(SpanKind.INTERNAL))]
    starts = df["start"].to_numpy(dtype=np.float64).tolist()
    ends = df["end"].to_numpy(dtype=np.float64).tolist()
    extra = resource_extra or {}
    resources: dict[tuple[str, str | None], dict] = {}  # shared per (service, pod): read-only
    spans: list[Span] = []
    for trace_id, span_id, parent_id, service, name, kind, start, end, peer, st, msg, pod in zip(
        column("trace_id", ""), column("span_id", ""), column("parent_id", None), column("service", ""),
        column("name", ""), kinds, starts, ends, column("peer", None), statuses, column("status_message", ""),
        column("pod", None),
    ):
        pod = pod if isinstance(pod, str) and pod else None
        resource = resources.get((service, pod))
        if resource is None:
            resource = {"service.name": service, **extra}
            if pod:
                resource["k8s.pod.name"] = pod
            resources[(service, pod)] = resource
        peer = peer if isinstance(peer, str) and peer else None
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent_id if isinstance(parent_id, str) and parent_id else None,
                service=service,
                name=str(name),
                kind=kind,
                start=start,
                end=end,
                status=st,
                status_message=msg if isinstance(msg, str) else "",
                peer_service=peer,
                attributes={"peer.service": peer} if peer else {},
                resource=resource,
            )
        )
    return spans


def clean_parent_ids(values: pd.Series) -> pd.Series:
    """Parent id column with root markers ("root", "", "0"...) turned into None."""
    s = values.astype("string").str.strip()
    mask = s.isna() | s.str.lower().isin(_NULL_PARENTS)
    return s.astype(object).where(~mask.to_numpy(), None)
