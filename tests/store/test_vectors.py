"""Vector store with the real MiniLM model in qdrant local mode."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from qdrant_client import QdrantClient

from rca_service.errors import ConfigError, InputError
from rca_service.records import LogRecord
from rca_service.store.config import StoreConfig
from rca_service.store.embedder import MINILM_DIM, Embedder, HashingEmbedder
from rca_service.store.telemetry import TelemetryStore
from rca_service.store.vectors import VectorConfig, VectorStore

from .conftest import T0, span


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    return Embedder("cpu")


class Counting:
    """Wraps an embedder and records every text it embeds."""

    def __init__(self, inner):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.inner.embed(texts)


class Gated(Counting):
    """Blocks every embed call until `gate` is set (a slow model)."""

    def __init__(self, inner):
        super().__init__(inner)
        self.gate = threading.Event()

    def embed(self, texts):
        self.gate.wait(30)
        return super().embed(texts)


TEMPLATES = {
    "db": "Connection refused when connecting to postgres at <IP>",
    "login": "User <NUM> logged in successfully",
    "disk": "No space left on device while writing <*>",
    "card": "Payment card declined by issuer",
}


def test_dedup_within_a_run_and_across_restarts(tmp_path, minilm):
    emb = Counting(minilm)
    vs = VectorStore(VectorConfig(path=str(tmp_path / "q")), embedder=emb)
    assert vs.enqueue_text("log_template", "svc|a", "user <NUM> logged in", {"service": "svc"})
    assert not vs.enqueue_text("log_template", "svc|a", "user <NUM> logged in", {"service": "svc"})
    assert vs.flush(60)
    assert emb.texts == ["user <NUM> logged in"]
    vs.close()

    emb2 = Counting(minilm)
    vs2 = VectorStore(VectorConfig(path=str(tmp_path / "q")), embedder=emb2)
    vs2.enqueue_text("log_template", "svc|a", "user <NUM> logged in", {"service": "svc"})
    vs2.enqueue_text("log_template", "svc|b", "cache miss for <*>", {"service": "svc"})
    assert vs2.flush(60)
    assert emb2.texts == ["cache miss for <*>"]  # the stored key was found, not embedded again
    assert vs2.stats()["points"]["log_templates"] == 2
    vs2.close()


def test_search_finds_the_semantically_closest_template(tmp_path, minilm):
    vs = VectorStore(VectorConfig(path=str(tmp_path / "q")), embedder=minilm)
    for i, (key, text) in enumerate(TEMPLATES.items()):
        vs.enqueue_text("log_template", key, text, {"service": "api" if i % 2 == 0 else "pay"})
    vs.enqueue_text("span_signature", "api|GET /cart|ok", "api GET /cart ok", {"service": "api"})
    assert vs.flush(60)
    hits = vs.search("database unreachable", kind="log_template", limit=2)
    assert hits[0].id == "db" and hits[0].kind == "log_template"
    assert hits[0].score > hits[1].score
    assert vs.search("credit card was rejected", limit=1)[0].id == "card"
    assert vs.search("disk is full")[0].id == "disk"
    # the service filter keeps only that service's points
    assert {h.payload["service"] for h in vs.search("database unreachable", service="pay", limit=4)} == {"pay"}
    assert vs.search("shopping basket", kind="span_signature")[0].payload["key"] == "api|GET /cart|ok"
    vs.close()


def test_enqueue_never_waits_for_the_model(tmp_path):
    emb = Gated(HashingEmbedder())
    vs = VectorStore(VectorConfig(path=str(tmp_path / "q"), queue_size=3, batch_size=1), embedder=emb)
    results = [vs.enqueue_text("log_template", f"k{i}", f"template number {i}", {}) for i in range(20)]
    # the worker holds at most one batch; the queue holds 3; the rest are dropped and counted
    assert sum(results) <= 4 and vs.stats()["dropped_full"] >= 16
    assert not vs.flush(0.05)
    emb.gate.set()
    assert vs.flush(30)
    assert vs.stats()["embedded"] == sum(results)
    # a dropped key may be offered again later
    assert vs.enqueue_text("log_template", "k19", "template number 19", {})
    vs.close()


def test_raw_vectors_for_metric_windows(tmp_path):
    vs = VectorStore(VectorConfig(path=str(tmp_path / "q")), embedder=HashingEmbedder())
    vs.upsert_vector("metric_window", "api@100", [1.0, 0.0, 0.0, 0.0], {"service": "api"})
    vs.upsert_vector("metric_window", "db@100", [0.0, 1.0, 0.0, 0.0], {"service": "db"})
    hits = vs.search(np.array([0.9, 0.1, 0.0, 0.0]), kind="metric_window")
    assert [h.id for h in hits] == ["api@100", "db@100"]
    with pytest.raises(InputError):
        vs.upsert_vector("metric_window", "x", [1.0, 2.0], {})
    with pytest.raises(InputError):
        vs.upsert_vector("nonsense", "x", [1.0], {})
    vs.close()


def test_points_are_capped_per_collection(tmp_path):
    vs = VectorStore(VectorConfig(path=str(tmp_path / "q"), max_points=3), embedder=HashingEmbedder())
    for i in range(5):
        vs.enqueue_text("incident", f"inc{i}", f"incident {i} payment latency", {})
    assert vs.flush(30)
    assert vs.stats()["points"]["incidents"] == 3 and vs.stats()["over_capacity"] == 2
    vs.close()


def test_server_mode_is_built_from_a_url_without_connecting(port):
    vs = VectorStore(VectorConfig(url=f"http://127.0.0.1:{port}", timeout=1), embedder=HashingEmbedder())
    assert vs.mode == "server"
    assert isinstance(vs.client, QdrantClient)
    assert vs.client.init_options["url"] == f"http://127.0.0.1:{port}"
    assert vs.enqueue_text("log_template", "k", "some template", {})  # queued; the worker meets no server
    assert vs.flush(30)
    assert vs.stats()["errors"] == 1 and vs.stats()["embedded"] == 0
    # the key was not stored, so it may be offered again (the server may be back by then)
    assert vs.enqueue_text("log_template", "k", "some template", {})
    assert vs.flush(30)
    vs.close()


def test_disabled_store_and_config_validation(tmp_path):
    vs = VectorStore(VectorConfig(path=str(tmp_path / "q"), enabled=False))
    assert not vs.enqueue_text("log_template", "k", "t", {})
    assert vs.search("anything") == []
    with pytest.raises(ConfigError):
        VectorConfig.from_dict({"url": "", "colour": "red"})
    with pytest.raises(ConfigError):
        VectorConfig(url="localhost:6333")


def test_hashing_fallback_is_normalised_and_deterministic():
    e = HashingEmbedder()
    v = e.embed(["disk full on node", "disk full on node", ""])
    assert v.shape == (3, MINILM_DIM)
    assert np.allclose(v[0], v[1]) and np.isclose(np.linalg.norm(v[0]), 1.0) and not v[2].any()


def test_store_queues_new_templates_and_span_signatures(tmp_path, minilm):
    vs = VectorStore(VectorConfig(path=str(tmp_path / "q")), embedder=Counting(minilm))
    store = TelemetryStore(StoreConfig(step=60), vectors=vs)
    store.consume_logs([LogRecord("cart", T0 + i, f"redis timeout after {i} ms", severity=17) for i in range(50)])
    store.consume_spans([span("cart", T0 + i, 0.1, name="GetCart") for i in range(50)])
    assert vs.flush(60)
    assert vs.embedder.texts.count("cart GetCart ok") == 1
    assert sum("redis timeout" in t for t in vs.embedder.texts) == 1
    hits = store.search_vectors("cache server not responding", kind="log_template", service="cart")
    assert hits and hits[0].payload["template_id"].startswith("cart:")
    vs.close()
