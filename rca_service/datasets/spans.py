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

_NULL_PARENTS = {"", "root", "none", "null", "nan", "0", "0000000000000000"}


def to_unix_seconds(values: pd.Series) -> np.ndarray:
    """Convert numeric timestamps of unknown unit (s, ms, µs, ns) to float unix seconds.

    The unit is guessed from the magnitude of the median, which is unambiguous for any date
    after 1973: seconds ~1e9, milliseconds ~1e12, microseconds ~1e15, nanoseconds ~1e18.
    """
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    if arr.size == 0:
        return arr
    med = float(np.nanmedian(np.abs(arr))) if np.isfinite(arr).any() else 0.0
    if med > 1e17:
        return arr / 1e9
    if med > 1e14:
        return arr / 1e6
    if med > 1e11:
        return arr / 1e3
    return arr


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
    for i, raw in enumerate(values.astype(str).str.strip().str.upper()):
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
    svc_of = dict(zip(df["span_id"], df["service"]))
    parent_svc = df["parent_id"].map(svc_of)
    own = df["service"]
    server = parent_svc.isna().to_numpy() | (parent_svc != own).to_numpy()
    # a child in another service makes its parent a client of that service
    cross = df[parent_svc.notna().to_numpy() & (parent_svc != own).to_numpy()]
    peer_of: dict[str, str] = {}
    for parent, child_svc in zip(cross["parent_id"], cross["service"]):
        peer_of.setdefault(parent, child_svc)
    peers = [peer_of.get(s) for s in df["span_id"]]
    kinds = np.full(len(df), int(SpanKind.INTERNAL), dtype=np.int64)
    has_peer = np.array([p is not None for p in peers], dtype=bool)
    kinds[has_peer] = int(SpanKind.CLIENT)
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
    status = df["status"].to_numpy() if "status" in df.columns else np.zeros(len(df), dtype=np.int64)
    messages = df["status_message"].tolist() if "status_message" in df.columns else [""] * len(df)
    pods = df["pod"].tolist() if "pod" in df.columns else [None] * len(df)
    extra = resource_extra or {}
    spans: list[Span] = []
    for row, st, msg, pod in zip(
        df[["trace_id", "span_id", "parent_id", "service", "name", "kind", "start", "end", "peer"]].itertuples(
            index=False, name=None
        ),
        status,
        messages,
        pods,
    ):
        trace_id, span_id, parent_id, service, name, kind, start, end, peer = row
        resource = {"service.name": service, **extra}
        if pod:
            resource["k8s.pod.name"] = pod
        peer = peer if isinstance(peer, str) and peer else None
        attrs = {"peer.service": peer} if peer else {}
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent_id if isinstance(parent_id, str) and parent_id else None,
                service=service,
                name=str(name),
                kind=SpanKind(int(kind)),
                start=float(start),
                end=float(end),
                status=StatusCode(int(st)),
                status_message=msg if isinstance(msg, str) else "",
                peer_service=peer,
                attributes=attrs,
                resource=resource,
            )
        )
    return spans


def clean_parent_ids(values: pd.Series) -> pd.Series:
    """Parent id column with root markers ("root", "", "0"...) turned into None."""
    s = values.astype("string").str.strip()
    mask = s.isna() | s.str.lower().isin(_NULL_PARENTS)
    return s.astype(object).where(~mask.to_numpy(), None)
