"""Vector store on Qdrant (qdrant-client): log templates, span signatures, incidents, metric windows.

Local mode (`QdrantClient(path=...)`, embedded, persisted under the data dir) by default; a
Qdrant server when `VectorConfig.url` is set. Texts are embedded off the request path:
`enqueue_text` only puts an item on a bounded queue (dropping and counting when full) and a
background thread embeds new keys in batches. Every key is embedded at most once: keys already
queued or stored are skipped, and the point id is derived from the key, so a restart finds the
points it wrote before (local mode is brute force, so points are also capped per collection).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from rca_service.errors import ConfigError, InputError
from rca_service.store.api import VectorHit
from rca_service.store.config import config_from_dict
from rca_service.store.embedder import TextEmbedder, make_embedder

log = logging.getLogger(__name__)

# kind -> collection
COLLECTIONS = {
    "log_template": "log_templates",
    "span_signature": "span_signatures",
    "incident": "incidents",
    "metric_window": "metric_windows",
}
TEXT_KINDS = ("log_template", "span_signature", "incident")
_KIND_OF = {**{k: k for k in COLLECTIONS}, **{c: k for k, c in COLLECTIONS.items()}}
_STOP = object()
ERROR_LOG_INTERVAL = 60.0  # seconds between log lines about failing batches (a server may be down for long)


@dataclass
class VectorConfig:
    """Settings of `VectorStore`.

    Attributes:
        url: Qdrant server URL; empty for embedded local mode at `path`.
        api_key: Qdrant API key (server mode).
        path: folder of the local-mode database (the service passes <data_dir>/qdrant).
        enabled: False turns the store into a no-op (enqueue ignored, search empty).
        queue_size: texts waiting to be embedded; beyond it new texts are dropped and counted.
        batch_size: texts embedded per model call.
        max_points: points kept per collection at most (new keys beyond are refused, counted).
        max_seen_keys: keys remembered in memory for de-duplication (the store itself is checked
            too, so forgetting only costs a lookup).
        timeout: seconds for server-mode requests.
    """

    url: str = ""
    api_key: str = ""
    path: str = "./data/qdrant"
    enabled: bool = True
    queue_size: int = 10_000
    batch_size: int = 32
    max_points: int = 50_000
    max_seen_keys: int = 200_000
    timeout: int = 10

    def __post_init__(self) -> None:
        self.path = str(self.path)  # a Path is welcome too
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for values that cannot work."""
        for name in ("queue_size", "batch_size", "max_points", "max_seen_keys", "timeout"):
            if getattr(self, name) < 1:
                raise ConfigError(f"VectorConfig.{name} must be >= 1")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"VectorConfig.url must be an http(s) URL, got {self.url!r}")
        if not self.url and not self.path:
            raise ConfigError("VectorConfig needs a url (server mode) or a path (local mode)")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VectorConfig:
        """Build from a dict, refusing unknown keys."""
        return config_from_dict(cls, data)

    @classmethod
    def from_settings(cls, settings: Any) -> VectorConfig:
        """From the service's Settings: qdrant_url, qdrant_api_key, data_dir/qdrant, embeddings."""
        return cls(url=settings.qdrant_url, api_key=settings.qdrant_api_key,
                   path=str(Path(settings.data_dir) / "qdrant"), enabled=bool(settings.embeddings))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["api_key"] = "***" if self.api_key else ""
        return d


def point_id(kind: str, key: str) -> str:
    """Stable point id of a key: the same key maps to the same point across restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rca-service/{kind}/{key}"))


def _kind(kind: str) -> str:
    k = _KIND_OF.get(kind)
    if k is None:
        raise InputError(f"unknown vector kind {kind!r}; known: {sorted(COLLECTIONS)}")
    return k


class VectorStore:
    """Qdrant collections plus a background embedding worker.

    Args:
        config: connection, bounds and queue settings.
        embedder: text embedder; default MiniLM (hashing fallback only when its package is missing).
    """

    def __init__(self, config: VectorConfig | None = None, embedder: TextEmbedder | None = None) -> None:
        self.config = config or VectorConfig()
        self.mode = "server" if self.config.url else "local"
        self._embedder = embedder
        self._client_obj: QdrantClient | None = None
        self._client_lock = threading.RLock()
        self._embed_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=self.config.queue_size)
        self._seen: set[str] = set()
        self._seen_lock = threading.Lock()
        self._dims: dict[str, int] = {}  # collection -> vector size, once known
        self._counts: dict[str, int] = {}  # collection -> points, once known
        self._worker: threading.Thread | None = None
        self._closed = False
        self._last_error_log = -math.inf
        self.counters = {"enqueued": 0, "dropped_full": 0, "duplicates": 0, "embedded": 0,
                         "over_capacity": 0, "errors": 0}

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = make_embedder("cpu")
        return self._embedder

    @property
    def client(self) -> QdrantClient:
        """The qdrant client, created on first use (server mode does not connect before)."""
        with self._client_lock:
            if self._client_obj is None:
                if self.config.url:
                    self._client_obj = QdrantClient(url=self.config.url, api_key=self.config.api_key or None,
                                                    timeout=self.config.timeout, check_compatibility=False)
                else:
                    Path(self.config.path).mkdir(parents=True, exist_ok=True)
                    self._client_obj = QdrantClient(path=self.config.path)
            return self._client_obj

    def _ensure_collection(self, collection: str, dim: int) -> None:
        with self._client_lock:
            known = self._dims.get(collection)
            if known is None:
                c = self.client
                if c.collection_exists(collection):
                    info = c.get_collection(collection)
                    known = int(info.config.params.vectors.size)
                    self._counts[collection] = int(c.count(collection, exact=True).count)
                else:
                    c.create_collection(collection, vectors_config=qm.VectorParams(size=dim, distance=qm.Distance.COSINE))
                    if self.mode == "server":  # local mode has no payload indexes
                        c.create_payload_index(collection, "service", qm.PayloadSchemaType.KEYWORD)
                    known = dim
                    self._counts[collection] = 0
                self._dims[collection] = known
            if known != dim:
                raise InputError(f"collection {collection} holds vectors of size {known}, got {dim}")

    def _remember(self, pid: str) -> bool:
        """True when the id is new to this process (and remember it)."""
        with self._seen_lock:
            if pid in self._seen:
                return False
            if len(self._seen) >= self.config.max_seen_keys:
                self._seen.clear()  # the store lookup still de-duplicates
            self._seen.add(pid)
            return True

    # -- write side -------------------------------------------------------------------------
    def enqueue_text(self, kind: str, key: str, text: str, payload: dict | None = None) -> bool:
        """Queue a text for embedding under `key`; never blocks.

        Returns:
            True when queued; False for a disabled store, a key already seen, or a full queue
            (then `counters["dropped_full"]` grows).
        """
        if not self.config.enabled or self._closed:
            return False
        kind = _kind(kind)
        if kind not in TEXT_KINDS:
            raise InputError(f"kind {kind!r} takes raw vectors: use upsert_vector")
        pid = point_id(kind, key)
        if not self._remember(pid):
            self.counters["duplicates"] += 1
            return False
        try:
            self._queue.put_nowait((kind, key, pid, text, dict(payload or {})))
        except queue.Full:
            self.counters["dropped_full"] += 1
            with self._seen_lock:
                self._seen.discard(pid)  # let a later enqueue try again
            return False
        self.counters["enqueued"] += 1
        self._start_worker()
        return True

    def upsert_vector(self, kind: str, key: str, vector: Sequence[float] | np.ndarray, payload: dict | None = None) -> None:
        """Store a raw vector under `key` now (e.g. a metric-window latent vector); same key overwrites."""
        if not self.config.enabled:
            return
        kind = _kind(kind)
        vec = np.asarray(vector, dtype=np.float32).ravel()
        if vec.size == 0 or not np.isfinite(vec).all():
            raise InputError("a vector must be non-empty and finite")
        self._upsert(kind, [(key, point_id(kind, key), vec, dict(payload or {}))])

    def _upsert(self, kind: str, items: list[tuple[str, str, np.ndarray, dict]]) -> None:
        collection = COLLECTIONS[kind]
        with self._client_lock:
            self._ensure_collection(collection, int(items[0][2].shape[0]))
            room = self.config.max_points - self._counts.get(collection, 0)
            if room < len(items):
                self.counters["over_capacity"] += len(items) - max(room, 0)
                items = items[:max(room, 0)]
            if not items:
                return
            points = [qm.PointStruct(id=pid, vector=vec.tolist(), payload={**payload, "key": key, "kind": kind})
                      for key, pid, vec, payload in items]
            self.client.upsert(collection, points=points, wait=True)
            self._counts[collection] = self._counts.get(collection, 0) + len(points)

    def _existing(self, kind: str, pids: list[str]) -> set[str]:
        """Ids among `pids` already stored (written by an earlier run)."""
        collection = COLLECTIONS[kind]
        with self._client_lock:
            if not self.client.collection_exists(collection):
                return set()
            return {str(r.id) for r in self.client.retrieve(collection, ids=pids, with_payload=False, with_vectors=False)}

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.embed(texts)

    # -- worker -----------------------------------------------------------------------------
    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            with self._client_lock:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._run, name="vector-embedder", daemon=True)
                    self._worker.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._queue.task_done()
                return
            batch = [item]
            while len(batch) < self.config.batch_size:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.task_done()
                    self._process(batch)
                    return
                batch.append(nxt)
            self._process(batch)

    def _process(self, batch: list[tuple]) -> None:
        try:
            by_kind: dict[str, list[tuple]] = {}
            for it in batch:
                by_kind.setdefault(it[0], []).append(it)
            for kind, items in by_kind.items():
                existing = self._existing(kind, [it[2] for it in items])
                new = [it for it in items if it[2] not in existing]
                self.counters["duplicates"] += len(items) - len(new)
                if not new:
                    continue
                vecs = self._embed([it[3] for it in new])
                self._upsert(kind, [(it[1], it[2], vecs[i], {**it[4], "text": it[3]}) for i, it in enumerate(new)])
                self.counters["embedded"] += len(new)
        except Exception as exc:  # the worker must survive a bad batch or an unreachable server
            self.counters["errors"] += 1
            with self._seen_lock:  # not stored: a later enqueue of these keys may try again
                self._seen.difference_update(it[2] for it in batch)
            now = time.monotonic()
            if now - self._last_error_log >= ERROR_LOG_INTERVAL:
                self._last_error_log = now
                log.error("embedding batch of %d items failed (%d failures so far): %s",
                          len(batch), self.counters["errors"], exc, exc_info=self.counters["errors"] == 1)
        finally:
            for _ in batch:
                self._queue.task_done()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued is embedded and stored; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Finish queued work (up to `timeout`), stop the worker, close the client."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None and self._worker.is_alive():
            self.flush(timeout)
            try:
                self._queue.put(_STOP, timeout=1.0)
            except queue.Full:
                pass
            self._worker.join(timeout=5.0)
        with self._client_lock:
            if self._client_obj is not None:
                self._client_obj.close()
                self._client_obj = None

    # -- read side --------------------------------------------------------------------------
    def search(self, query: str | Sequence[float] | np.ndarray, kind: str | None = None,
               service: str | None = None, limit: int = 5) -> list[VectorHit]:
        """Nearest points to a text (embedded now) or a raw vector, best first.

        Args:
            query: text, or a vector for raw-vector collections.
            kind: one kind (or collection name); None searches every collection that fits.
            service: keep only points whose payload `service` equals this.
            limit: most hits returned.
        """
        if not self.config.enabled or limit < 1:
            return []
        if isinstance(query, str):
            kinds = [_kind(kind)] if kind else list(TEXT_KINDS)
            vec = self._embed([query])[0]
        else:
            vec = np.asarray(query, dtype=np.float32).ravel()
            kinds = [_kind(kind)] if kind else list(COLLECTIONS)
        flt = None
        if service is not None:
            flt = qm.Filter(must=[qm.FieldCondition(key="service", match=qm.MatchValue(value=service))])
        hits: list[VectorHit] = []
        with self._client_lock:
            for k in kinds:
                collection = COLLECTIONS[k]
                if not self.client.collection_exists(collection):
                    continue
                if collection not in self._dims:
                    self._ensure_collection(collection, int(self.client.get_collection(collection).config.params.vectors.size))
                if self._dims[collection] != vec.shape[0]:
                    continue
                res = self.client.query_points(collection, query=vec.tolist(), query_filter=flt, limit=limit, with_payload=True)
                for p in res.points:
                    payload = dict(p.payload or {})
                    hits.append(VectorHit(id=str(payload.get("key", p.id)), score=float(p.score), kind=k, payload=payload))
        hits.sort(key=lambda h: -h.score)
        return hits[:limit]

    def stats(self) -> dict[str, Any]:
        """Counters, queue depth and points per collection (as far as known)."""
        return {**self.counters, "queue": self._queue.qsize(), "mode": self.mode, "points": dict(self._counts)}
