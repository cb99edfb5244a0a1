"""Turning the facade's objects into JSON-ready values, in one place.

The API, the query engine and the chat bot all show incidents, root causes and remediations;
they read them through these helpers so they agree on shapes and do not depend on which
component class produced an object (dataclass, pydantic model, or plain dict).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx


def jsonable(obj: Any) -> Any:
    """A JSON-ready copy of `obj`: dataclasses, pydantic models, enums, paths, sets, numpy scalars.

    Non-finite floats become None (JSON has no NaN) — a missing value, as the store means it.
    """
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, enum.Enum):
        return jsonable(obj.value)
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        raw = to_dict() if callable(to_dict) else {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return jsonable(raw)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        return jsonable(model_dump())
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item):
        return jsonable(item())
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return jsonable(tolist())
    return str(obj)


def field(obj: Any, *names: str, default: Any = None) -> Any:
    """The first present, non-None attribute or key among `names` (objects whose class we do not own)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value.value if isinstance(value, enum.Enum) else value
    return default


def topology_json(graph: nx.DiGraph) -> dict:
    """{"nodes": [{"service"}], "edges": [{"source", "target", "calls", "errors"}]} of a call graph."""
    nodes = [{"service": str(n), **{k: jsonable(v) for k, v in attrs.items() if k != "service"}}
             for n, attrs in sorted(graph.nodes(data=True), key=lambda x: str(x[0]))]
    edges = []
    for src, dst, attrs in sorted(graph.edges(data=True), key=lambda e: (str(e[0]), str(e[1]))):
        extra = {k: jsonable(v) for k, v in attrs.items() if k not in ("calls", "errors")}
        edges.append({"source": str(src), "target": str(dst), "calls": int(attrs.get("calls", 0) or 0),
                      "errors": int(attrs.get("errors", 0) or 0), **extra})
    return {"nodes": nodes, "edges": edges}


# Remediation states in which a person still has to approve or reject.
PENDING_STATES = frozenset({"proposed", "pending", "awaiting_approval", "pending_approval", "partially_approved"})


def remediation_summary(rem: Any) -> dict:
    """The fields every view shows of a remediation, whatever class carries it."""
    return {
        "id": str(field(rem, "id", "remediation_id", default="")),
        "incident_id": field(rem, "incident_id", default=None),
        "action": str(field(rem, "action", "kind", "playbook", default="action")),
        "target": jsonable(field(rem, "target", "service", default=None)),
        "target_label": target_label(field(rem, "target", default=None) or field(rem, "params", default=None)
                                     or field(rem, "service", default=None)),
        "status": str(field(rem, "status", "state", default="unknown")),
        "created_at": field(rem, "created_at", "proposed_at", default=None),
        "reason": field(rem, "reason", "explanation", "description", default=""),
        "dry_run": field(rem, "dry_run", default=None),
    }


def target_label(target: Any) -> str:
    """A short readable name of a remediation target (a string, or an object with a name)."""
    if target is None:
        return ""
    if isinstance(target, str):
        return target
    name = field(target, "workload", "name", "service", default=None)
    namespace = field(target, "namespace", default=None)
    if name is None:
        return str(jsonable(target))
    return f"{namespace}/{name}" if namespace else str(name)
