"""OTLP/JSON → protobuf messages.

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that matters: trace and
span ids are hex strings, not base64. We rewrite them to base64 and then let
`google.protobuf.json_format` parse the rest (it already accepts integer enums, int64 as
strings or numbers, and lowerCamelCase keys), ignoring unknown fields as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from rca_service.errors import DecodeError

#: JSON keys that hold ids; both the lowerCamelCase and the proto field spelling are accepted.
ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def parse_json(body: bytes, message_type: type[Message]) -> Message:
    """Parse an OTLP/JSON body into `message_type`; DecodeError says what was wrong."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise DecodeError("body is not valid JSON: nested too deeply") from exc
    if not isinstance(document, dict):
        raise DecodeError(f"OTLP/JSON body must be a JSON object, not {type(document).__name__}")
    try:
        _hex_ids_to_base64(document)
        return json_format.ParseDict(document, message_type(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeError(f"body is not a valid {message_type.DESCRIPTOR.name}: {exc}") from exc
    except RecursionError as exc:
        raise DecodeError(f"body is not a valid {message_type.DESCRIPTOR.name}: nested too deeply") from exc


def message_to_json(message: Message) -> bytes:
    """A message as OTLP/JSON bytes (lowerCamelCase keys; int64 as strings, which OTLP allows)."""
    return json_format.MessageToJson(message, indent=None).encode()


def _hex_ids_to_base64(node: Any) -> None:
    """Rewrite hex id strings in place, walking the document iteratively (no recursion limit)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if key in ID_KEYS and isinstance(value, str):
                    current[key] = _hex_to_base64(key, value)
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(current, list):
            stack.extend(v for v in current if isinstance(v, (dict, list)))


def _hex_to_base64(key: str, value: str) -> str:
    if not value:
        return value
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{key} {value[:64]!r} is not a hex string (OTLP/JSON ids are hex, not base64)") from exc
    return base64.b64encode(raw).decode("ascii")
