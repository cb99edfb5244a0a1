"""OTLP common values → plain Python: AnyValue, attribute lists, ids, times.

Everything here is on the hot path of span decoding, so the helpers avoid generic protobuf
reflection (`ListFields`, `MessageToDict`) and read fields directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

#: AnyValue oneof members that map to a Python scalar as they are.
_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})

#: Deepest nesting of arrays / key-value lists we convert; deeper parts become a string.
MAX_VALUE_DEPTH = 8

NS_PER_S = 1e9  # divide (not multiply by 1e-9): whole seconds stay exact


def any_value(value: AnyValue, depth: int = 0) -> Any:
    """Convert an OTLP AnyValue to str / bool / int / float / list / dict / None.

    Bytes become lowercase hex (JSON-safe and stable); nesting deeper than
    `MAX_VALUE_DEPTH` is cut off and rendered as its text form.
    """
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which in _SCALARS:
        return getattr(value, which)
    if depth >= MAX_VALUE_DEPTH:
        return str(value)
    if which == "array_value":
        return [any_value(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return None  # a oneof member added by a newer proto version: unknown, so dropped


def attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    """All attributes of a list of KeyValue as a dict (later duplicates win)."""
    return {kv.key: any_value(kv.value) for kv in kvs}


def selected_attributes(kvs: Iterable[KeyValue], keep: frozenset[str] | None) -> dict[str, Any]:
    """Only the attributes whose key is in `keep` (all of them when `keep` is None)."""
    if keep is None:
        return attributes(kvs)
    out: dict[str, Any] = {}
    for kv in kvs:
        key = kv.key
        if key in keep:
            # Scalars inline: this runs for most kept attributes, a call per value shows.
            value = kv.value
            which = value.WhichOneof("value")
            out[key] = getattr(value, which) if which in _SCALARS else any_value(value)
    return out


def body_text(value: AnyValue) -> str:
    """A log body as text: strings as they are, structured bodies as compact JSON."""
    which = value.WhichOneof("value")
    if which is None:
        return ""
    if which == "string_value":
        return value.string_value
    converted = any_value(value)
    if isinstance(converted, str):
        return converted
    return json.dumps(converted, separators=(",", ":"), sort_keys=True, default=str)


def first_text(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first non-empty value among `keys`, as a string; None when none is set."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return str(value)
    return None
