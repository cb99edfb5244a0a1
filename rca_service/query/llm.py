"""Optional rephrasing of an answer by an OpenAI-compatible chat endpoint.

The language model only ever sees the offline answer and the ranked evidence we hand it, and
its output replaces the `answer` text only; every structured field (root causes, scores,
incident id) comes from our own components. Any failure — no endpoint, timeout, bad status,
malformed reply, an empty or overlong text — falls back silently to the offline answer.
"""

from __future__ import annotations

import json
import logging

import httpx

log = logging.getLogger(__name__)

_SYSTEM = (
    "You rewrite incident answers for on-call engineers. Use ONLY the facts in the offline answer "
    "and the evidence given. Do not add services, causes, numbers or actions that are not there. "
    "Keep the confidence figures exactly as given. If the offline answer says it does not know, "
    "say so. Reply with at most 4 plain sentences."
)


def completions_url(base: str) -> str:
    """The chat-completions URL of an OpenAI-compatible endpoint given as a base or full URL."""
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


class LLMRephraser:
    """Rephrases answers through an OpenAI-compatible `/v1/chat/completions` endpoint.

    Args:
        url: base URL of the endpoint (e.g. http://127.0.0.1:8000 or .../v1).
        model: model name sent in the request (some servers ignore it).
        timeout_s: the whole call's limit; the offline answer is used after it.
        api_key: sent as a bearer token when set.
        max_chars: replies longer than this are not used.
    """

    def __init__(self, url: str, model: str = "", timeout_s: float = 10.0, api_key: str = "", max_chars: int = 2000) -> None:
        self.url = completions_url(url)
        self.model = model or "default"
        self.timeout_s = timeout_s
        self.api_key = api_key
        self.max_chars = max_chars

    def rephrase(self, question: str, answer: str, evidence: list[dict]) -> str | None:
        """A rephrased answer, or None when the endpoint cannot give a usable one."""
        facts = {"question": question, "offline_answer": answer,
                 "evidence": [{"kind": e.get("kind"), "summary": e.get("summary"), "service": e.get("service")}
                              for e in evidence[:12]]}
        body = {"model": self.model, "temperature": 0,
                "messages": [{"role": "system", "content": _SYSTEM},
                             {"role": "user", "content": json.dumps(facts, ensure_ascii=False)}]}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            resp = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout_s)
            resp.raise_for_status()
            text = resp.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            log.warning("LLM rephrasing failed, using the offline answer: %s", exc)
            return None
        if not isinstance(text, str) or not text.strip() or len(text) > self.max_chars:
            return None
        return text.strip()
