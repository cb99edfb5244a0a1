"""Canonical JSON: one byte string per value, so a hash over it means one thing.

Rules (close to RFC 8785, JSON Canonicalization Scheme):

- objects: keys must be strings, sorted by code point; compact separators (``,`` and ``:``);
- strings: JSON escapes as Python's ``json`` writes them, non-ASCII kept as UTF-8;
- integers: decimal, no sign for zero;
- floats: finite only (NaN and ±inf are refused); a float with an integral value inside
  ±2**53 is written as that integer (``1.0`` → ``1``, ``-0.0`` → ``0``), any other float as
  Python's shortest round-trip ``repr``. Reading the bytes back and canonicalizing again
  therefore gives the same bytes, which is what the chain's verification relies on;
- booleans and null as JSON; tuples as arrays; numpy scalars as their Python value.

Anything else (sets, bytes, objects) is refused with `AuditError`: an audit body must say
exactly what it means.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rca_service.errors import AuditError

_MAX_EXACT_INT_FLOAT = 2**53


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of `value`.

    Args:
        value: dicts with string keys, lists/tuples, str, int, float, bool, None (nested).

    Raises:
        AuditError: for NaN/inf, non-string keys or types JSON cannot say exactly.
    """
    parts: list[str] = []
    _write(value, parts, "$")
    return "".join(parts)


def canonical_bytes(value: Any) -> bytes:
    """UTF-8 bytes of `canonical_json(value)`."""
    return canonical_json(value).encode("utf-8")


def normalize(value: Any) -> Any:
    """The plain JSON value that `value` canonicalizes to (floats folded as described above)."""
    return json.loads(canonical_json(value))


def _format_float(x: float, where: str) -> str:
    if not math.isfinite(x):
        raise AuditError(f"audit body at {where}: {x!r} is not a finite number")
    if x.is_integer() and abs(x) < _MAX_EXACT_INT_FLOAT:
        return str(int(x))
    return repr(x)


def _write(value: Any, out: list[str], where: str) -> None:
    # bool before int: bool is a subclass of int.
    if value is None or value is True or value is False:
        out.append(json.dumps(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_format_float(float(value), where))
    elif isinstance(value, dict):
        out.append("{")
        keys = list(value.keys())
        for k in keys:
            if not isinstance(k, str):
                raise AuditError(f"audit body at {where}: key {k!r} is not a string")
        for i, k in enumerate(sorted(keys)):
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _write(value[k], out, f"{where}.{k}")
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, f"{where}[{i}]")
        out.append("]")
    elif type(value).__module__ == "numpy" and hasattr(value, "item"):
        _write(value.item(), out, where)
    else:
        raise AuditError(f"audit body at {where}: {type(value).__name__} cannot be written as canonical JSON")
