"""Notifications to an incoming webhook: new incidents, remediations awaiting approval.

    notifier = Notifier(settings.slack_webhook_url, settings.base_url)
    notifier.incident_opened(incident, rca)      # returns at once; a worker thread posts
    notifier.incident_updated(incident, rca, previous_top, withdrawn)  # its most likely cause changed
    notifier.remediation_proposed(remediation)   # with Approve/Reject buttons
    notifier.close()

Posts leave at most one per `min_interval_s` (Slack allows about one a second). A 429 is
retried after its Retry-After (seconds or an HTTP date); 5xx and connection failures are
retried with backoff; other 4xx (400 invalid_payload, 404 channel_not_found, 410
channel_is_archived) are logged and dropped — retrying cannot help. The caller (the detection
loop) never waits on the network.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import httpx

from rca_service.api.serialize import field
from rca_service.chatops import blocks
from rca_service.chatops.config import NotifierConfig
from rca_service.localize.result import RCAResult
from rca_service.util import retry_after_seconds

log = logging.getLogger(__name__)

_STOP = object()



def incident_payload(incident: Any, rca: Any | None, base_url: str) -> dict:
    """The message for a newly opened incident: what is anomalous, the ranking, a link."""
    inc_id = str(field(incident, "id"))
    services = field(incident, "services", default={}) or {}
    ranked = sorted(services.values(), key=lambda a: -float(field(a, "peak_score", default=0.0)))
    names = ", ".join(blocks.escape(field(a, "service")) for a in ranked[:6]) or "unknown"
    text = f":rotating_light: *Incident {blocks.escape(inc_id)}* opened — anomalous: {names}"
    out = [blocks.header(f"Incident {inc_id}"), blocks.section(text), *_ranking_blocks(rca, inc_id, base_url)]
    return blocks.message(f"Incident {inc_id} opened: {', '.join(str(field(a, 'service')) for a in ranked[:6])}", out)


def incident_updated_payload(incident: Any, rca: RCAResult | None, previous_top: str | None, base_url: str,
                             withdrawn: Any = ()) -> dict:
    """The message for an open incident whose most likely cause changed after it grew: what it
    gained since it opened, the remediations withdrawn (their buttons in earlier messages no
    longer work), the new ranking, a link."""
    inc_id = str(field(incident, "id"))
    gained = [f"{blocks.escape(field(u, 'service'))} ({'joined' if field(u, 'kind') == 'joined' else 'new symptom'})"
              for u in (field(incident, "updates", default=[]) or [])[-6:]]
    was = blocks.escape(previous_top) if previous_top else "none (inconclusive)"
    text = (f":arrows_counterclockwise: *Incident {blocks.escape(inc_id)}* grew — {', '.join(gained) or 'new anomalies'}. "
            f"The most likely cause changed; it was {was}.")
    out = [blocks.header(f"Incident {inc_id} updated"), blocks.section(text)]
    if withdrawn:
        summaries = [blocks.remediation_summary(r) for r in list(withdrawn)[:10]]
        names = ", ".join(f"{blocks.escape(s['id'])} ({blocks.escape(s['action'])} {blocks.escape(s['target_label'])})"
                          for s in summaries)
        out.append(blocks.context(f"Withdrawn, as they act on the old cause: {names}"))
    out += _ranking_blocks(rca, inc_id, base_url)
    now = blocks.escape((rca.acted_on_service() if rca is not None else None) or "inconclusive")
    before = blocks.escape(previous_top or "inconclusive")
    return blocks.message(f"Incident {inc_id} updated: most likely cause now {now} (was {before})", out)


def _ranking_blocks(rca: Any | None, inc_id: str, base_url: str) -> list[dict]:
    """The ranking (or that it is pending), the top cause's evidence, and the incident link."""
    out = []
    causes = list(field(rca, "root_causes", default=[]) or []) if rca is not None else []
    if causes:
        title = ("*Inconclusive* — candidates:" if field(rca, "inconclusive", default=False)
                 else "*Most likely root causes:*")
        fields = [f"*{blocks.escape(field(rc, 'service'))}*\n{blocks.escape(field(rc, 'kind', default=''))} · "
                  f"{100 * float(field(rc, 'confidence', default=0.0)):.0f}%" for rc in causes[: blocks.MAX_FIELDS]]
        out.append(blocks.section(title, fields))
        evidence = [f"• {blocks.escape(field(e, 'summary', default=''))}" for e in (field(causes[0], "evidence", default=[]) or [])[:5]]
        if evidence:
            out.append(blocks.context("\n".join(evidence)))
    else:
        out.append(blocks.context("Root causes are being ranked."))
    out.append(blocks.actions([blocks.button("Open incident page", "open_incident", value=inc_id,
                                             url=blocks.incident_url(base_url, inc_id))]))
    return out


def remediation_payload(rem: Any, base_url: str) -> dict:
    """The message for a remediation awaiting approval, with Approve/Reject buttons."""
    s_blocks = blocks.remediation_blocks(rem, base_url, with_buttons=True)
    rem_id = str(field(rem, "id", default=""))
    return blocks.message(f"Remediation {rem_id} awaits approval", [blocks.header("Remediation awaiting approval"), *s_blocks])


class Notifier:
    """Posts Block Kit notifications to an incoming webhook from a background thread.

    Args:
        webhook_url: the incoming-webhook URL; empty disables notifications (calls do nothing).
        base_url: public URL of the service, for links to `<base_url>/ui/incidents/<id>`.
        config: rate limit, retries, queue size.
    """

    def __init__(self, webhook_url: str, base_url: str, config: NotifierConfig | None = None) -> None:
        self.webhook_url = webhook_url
        self.base_url = base_url
        self.config = config or NotifierConfig()
        self.sent = 0
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=self.config.max_queue)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_post = 0.0
        self._closed = False
        self._client = httpx.Client(timeout=self.config.timeout_s)

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url)

    # -- what the service calls --------------------------------------------------------
    def incident_opened(self, incident: Any, rca: Any | None = None) -> bool:
        """Queue the notice of a new incident. False when disabled or the queue is full."""
        return self._enqueue(lambda: incident_payload(incident, rca, self.base_url))

    def incident_updated(self, incident: Any, rca: RCAResult | None, previous_top: str | None, withdrawn: Any = ()) -> bool:
        """Queue the notice that an open incident grew and its most likely cause changed."""
        return self._enqueue(lambda: incident_updated_payload(incident, rca, previous_top, self.base_url, withdrawn))

    def remediation_proposed(self, rem: Any) -> bool:
        """Queue the notice of a remediation awaiting approval."""
        return self._enqueue(lambda: remediation_payload(rem, self.base_url))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued message was handled; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to `timeout`), then stop the worker."""
        with self._lock:
            self._closed = True
            worker = self._worker
        if worker is not None:
            self.flush(timeout)
            self._queue.put(_STOP)
            worker.join(timeout)
        self._client.close()

    # -- sending -------------------------------------------------------------------------
    def send(self, payload: dict) -> bool:
        """Post one message now (rate limited, retried); True when the webhook took it."""
        for attempt in range(self.config.max_retries + 1):
            self._pace()
            try:
                resp = self._client.post(self.webhook_url, json=payload)
            except httpx.HTTPError as exc:
                wait = min(2.0 ** attempt, self.config.max_retry_after_s)
                log.warning("webhook post failed (%s); retry in %.1fs", exc, wait)
                time.sleep(wait)
                continue
            if resp.status_code < 300:
                self.sent += 1
                return True
            if resp.status_code == 429 or resp.status_code >= 500:
                wait = retry_after_seconds(resp.headers.get("retry-after"))
                wait = min(2.0 ** attempt, self.config.max_retry_after_s) if wait is None else wait
                if wait > self.config.max_retry_after_s:
                    log.warning("webhook asks to wait %.0fs; dropping the message", wait)
                    break
                log.info("webhook answered %d; retry in %.1fs", resp.status_code, wait)
                time.sleep(wait)
                continue
            log.warning("webhook refused the message (%d %s); not retrying", resp.status_code, resp.text[:100])
            break
        self.dropped += 1
        return False

    def _pace(self) -> None:
        wait = self._last_post + self.config.min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_post = time.monotonic()

    def _enqueue(self, build: Any) -> bool:
        if not self.enabled:
            return False
        with self._lock:
            if self._closed:
                return False
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="rca-notifier", daemon=True)
                self._worker.start()
        try:
            self._queue.put_nowait(build())
        except queue.Full:
            self.dropped += 1
            log.warning("notification queue full; dropping a message")
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self.send(item)
            except Exception:  # one bad message must not stop notifications
                log.exception("sending a notification failed")
            finally:
                self._queue.task_done()
