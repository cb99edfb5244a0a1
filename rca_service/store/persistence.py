"""Saving and loading the store: gzip-compressed JSON, written atomically, never pickle.

Layout under the state folder::

    store.json.gz            everything but the steps, plus the list of step chunks
    steps/<start>.json.gz    the steps of one hour (CHUNK_SECONDS), keyed by the hour's start

A chunk is rewritten only when one of its steps changed since the last save to the same
folder, so the periodic save of a store holding a day costs about one hour's worth of steps,
and the store's lock is held only while one chunk is turned into plain data.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from rca_service.errors import ConfigError
from rca_service.records import ChangeEvent
from rca_service.store.sketch import pack, unpack
from rca_service.store.windows import ServiceStep, StepData, StepTable

STATE_FILE = "store.json.gz"
STEPS_DIR = "steps"
FORMAT_VERSION = 2
CHUNK_SECONDS = 3600


class StateError(ConfigError):
    """A saved store state that cannot be read (the service refuses to start on it)."""


def write_json_gz(path: Path, obj: Any) -> None:
    """Write `obj` as gzip JSON; a crash mid-write leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = gzip.compress(json.dumps(obj, separators=(",", ":")).encode(), compresslevel=3)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json.gz")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_gz(path: Path) -> Any:
    """Read a file written by `write_json_gz`.

    Raises:
        StateError: unreadable or not JSON.
    """
    try:
        return json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError) as exc:
        raise StateError(f"cannot read store state {path}: {exc}") from exc


def _sketch_to_json(bins: dict[int, int] | bytes) -> str:
    return base64.b64encode(bins if isinstance(bins, bytes) else pack(bins)).decode()


def bucket_to_json(b: ServiceStep) -> dict:
    """Plain data of one accumulator (a packed one stays packed: saving must not grow memory)."""
    err_samples, slow_samples = b.samples()
    return {
        "counts": [b.n_spans, b.n_server, b.err_server, b.n_entry, b.err_entry, b.n_client, b.err_client,
                   b.n_points, b.n_logs, b.n_log_error, b.n_log_warn, b.n_log_new, b.n_changes],
        "lat_server": _sketch_to_json(b.lat_server),
        "lat_entry": _sketch_to_json(b.lat_entry),
        "err_samples": [list(s) for s in err_samples],
        "slow_samples": [list(s) for s in slow_samples],
        "metrics": [[name, [list(a) for a in attrs], acc[0], acc[1]] for (name, attrs), acc in b.metrics.items()],
        "templates": [[k, c, e] for k, (c, e) in b.templates.items()],
    }


def bucket_from_json(d: dict, packed: bool) -> ServiceStep:
    """The accumulator saved by `bucket_to_json`; `packed` for a closed step."""
    b = ServiceStep()
    (b.n_spans, b.n_server, b.err_server, b.n_entry, b.err_entry, b.n_client, b.err_client,
     b.n_points, b.n_logs, b.n_log_error, b.n_log_warn, b.n_log_new, b.n_changes) = d["counts"]
    b.lat_server = unpack(base64.b64decode(d["lat_server"]))
    b.lat_entry = unpack(base64.b64decode(d["lat_entry"]))
    b.err_samples = [tuple(s) for s in d["err_samples"]]
    b.slow_samples = [tuple(s) for s in d["slow_samples"]]
    heapq.heapify(b.slow_samples)
    if b.slow_samples:
        b.slow_min = b.slow_samples[0][0]
    b.metrics = {(name, tuple(tuple(a) for a in attrs)): [s, c] for name, attrs, s, c in d["metrics"]}
    b.templates = {int(k): [c, e] for k, c, e in d["templates"]}
    if packed:
        b.pack()
    return b


# defaults of the edge statistics after (calls, errors, callee seconds): gap seconds, calls with
# a gap, calls that ended their request
_EDGE_LATER_DEFAULTS = (0.0, 0, 0)


def step_to_json(sd: StepData) -> dict:
    return {
        "start": sd.start, "closed": sd.closed,
        "services": {svc: bucket_to_json(b) for svc, b in sd.services.items()},
        "edges": [[a, b, *acc] for (a, b), acc in sd.edges.items()],
        "changes": [[c.service, c.time, c.kind, c.description, c.attributes] for c in sd.changes],
    }


def step_from_json(d: dict) -> StepData:
    sd = StepData(int(d["start"]), closed=bool(d["closed"]))
    sd.services = {svc: bucket_from_json(bj, sd.closed) for svc, bj in d["services"].items()}
    # older snapshots have fewer statistics per edge: three before call gaps, five before request ends
    sd.edges = {(a, b): [calls, errs, lat, *later, *_EDGE_LATER_DEFAULTS[len(later):]]
                for a, b, calls, errs, lat, *later in d["edges"]}
    sd.changes = [ChangeEvent(s, tm, k, desc, a) for s, tm, k, desc, a in d["changes"]]
    return sd


def _step_key(sd: StepData) -> tuple:
    """Changes whenever anything in the step changed (late records included)."""
    return (sd.closed, tuple((svc, b.version()) for svc, b in sd.services.items()),
            len(sd.edges), sum(acc[0] for acc in sd.edges.values()), len(sd.changes))


class StateWriter:
    """Writes a store's state incrementally: unchanged hour chunks are not rewritten."""

    def __init__(self) -> None:
        self._written: dict[str, dict[int, tuple]] = {}  # folder -> chunk start -> key last written

    def write(self, directory: str | Path, table: StepTable, lock: threading.RLock, meta: dict[str, Any]) -> Path:
        """Write the steps of `table` (taking `lock` per chunk) and then `meta` under `directory`."""
        d = Path(directory)
        written = self._written.setdefault(str(d.resolve()), {})
        with lock:
            chunks = sorted({st - st % CHUNK_SECONDS for st in table.steps})
        for chunk in chunks:
            with lock:
                steps = [sd for st, sd in sorted(table.steps.items()) if chunk <= st < chunk + CHUNK_SECONDS]
                key = tuple((sd.start, _step_key(sd)) for sd in steps)
                if written.get(chunk) == key and (d / STEPS_DIR / f"{chunk}.json.gz").exists():
                    continue
                data = [step_to_json(sd) for sd in steps]
            write_json_gz(d / STEPS_DIR / f"{chunk}.json.gz", data)  # outside the lock: the slow part
            written[chunk] = key
        path = d / STATE_FILE
        write_json_gz(path, {"format": FORMAT_VERSION, **meta, "chunks": chunks})
        keep = {f"{c}.json.gz" for c in chunks}
        for f in (d / STEPS_DIR).glob("*.json.gz"):
            if f.name not in keep:  # hours that left retention, from this run or an earlier one
                f.unlink(missing_ok=True)
        for stale in set(written) - set(chunks):
            del written[stale]
        return path


def read_state(directory: str | Path) -> tuple[dict[str, Any], list[StepData]] | None:
    """(meta, steps) saved under `directory`, or None when nothing was saved.

    Raises:
        StateError: files that exist but are not a state this version can read.
    """
    d = Path(directory)
    path = d / STATE_FILE
    if not path.exists():
        return None
    meta = read_json_gz(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else "?"
        raise StateError(f"store state {path} has format {found}, expected {FORMAT_VERSION}")
    steps: list[StepData] = []
    for chunk in meta.get("chunks", []):
        chunk_path = d / STEPS_DIR / f"{int(chunk)}.json.gz"
        if not chunk_path.exists():
            raise StateError(f"store state {path} lists {chunk_path.name}, which is missing")
        try:
            steps.extend(step_from_json(sd) for sd in read_json_gz(chunk_path))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"store state chunk {chunk_path} is malformed: {exc}") from exc
    return meta, steps
