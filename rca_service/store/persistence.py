"""Writing and reading the store's state: gzip-compressed JSON, written atomically (never pickle)."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rca_service.errors import ConfigError

STATE_FILE = "store.json.gz"
FORMAT_VERSION = 1


class StateError(ConfigError):
    """A saved store state that cannot be read (the service refuses to start on it)."""


def write_state(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write `state` under `directory`; a crash mid-write leaves the previous file intact."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / STATE_FILE
    payload = json.dumps({"format": FORMAT_VERSION, **state}, separators=(",", ":"), allow_nan=True).encode()
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".store-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(gzip.compress(payload, compresslevel=3))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_state(directory: str | Path) -> dict[str, Any] | None:
    """The state saved under `directory`, or None when there is none.

    Raises:
        StateError: the file exists but is not a state this version can read.
    """
    path = Path(directory) / STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError) as exc:
        raise StateError(f"cannot read store state {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise StateError(f"store state {path} has format {state.get('format') if isinstance(state, dict) else '?'}, "
                         f"expected {FORMAT_VERSION}")
    return state
