"""Posts to a Slack `response_url` (the follow-up of a command or a button click)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)


def valid_response_url(url: str) -> bool:
    """An absolute http(s) URL (it came in a signed request, but must still be a URL)."""
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def post_response(url: str, payload: dict, timeout_s: float) -> bool:
    """POST the payload as JSON; True when the receiver answered 2xx. Failures are logged, not raised."""
    if not valid_response_url(url):
        log.warning("not posting to invalid response_url %r", url)
        return False
    try:
        resp = httpx.post(url, json=payload, timeout=timeout_s)
    except httpx.HTTPError as exc:
        log.warning("posting to response_url failed: %s", exc)
        return False
    if resp.status_code >= 300:
        log.warning("response_url answered %d: %s", resp.status_code, resp.text[:200])
        return False
    return True
