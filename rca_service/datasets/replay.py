"""`rca-service replay`: send a benchmark folder to a running server as real OTLP/HTTP.

Cases are loaded one at a time, cut into slices of `chunk_s` seconds of data time, and each
slice is posted as protobuf Export requests to /v1/traces, /v1/metrics and /v1/logs, in time
order. With `speed` > 0 a slice is sent when its data time comes due at that speed (60 = one
recorded minute per wall second); with 0 as fast as the server takes it. Throttling answers
(429, 502, 503, 504) are retried after their Retry-After (seconds or an HTTP date) or an
exponential back-off; other errors are not retried, as the OTLP specification says.
Overlapping case windows (Nezha's faults are minutes apart) are sent once.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from google.protobuf.message import DecodeError

from rca_service.datasets.case import Case
from rca_service.datasets.config import config_from_dict
from rca_service.datasets.loader import load_cases
from rca_service.datasets.otlp_encode import encode_logs, encode_metrics, encode_spans
from rca_service.errors import ConfigError, DatasetError
from rca_service.ingest.signals import SIGNALS
from rca_service.records import RecordBatch
from rca_service.util import retry_after_seconds

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 502, 503, 504})
# Per signal name: its OTLP/HTTP path, response message and partial-success field.
SIGNALS_BY_NAME = {sig.name: sig for sig in SIGNALS}


def partial_success(signal: str, body: bytes) -> tuple[int, str]:
    """(rejected items, error message) from a 200 response body; (0, "") when it has none."""
    sig = SIGNALS_BY_NAME[signal]
    msg = sig.response_type()
    try:
        msg.ParseFromString(body)
    except DecodeError:  # a body we cannot read reports nothing; the request succeeded
        return 0, ""
    ps = msg.partial_success
    return int(getattr(ps, sig.rejected_field)), ps.error_message


class ReplayAborted(DatasetError):
    """The server could not be reached or kept refusing after every retry."""


@dataclass
class ReplayConfig:
    """How replay sends.

    Attributes:
        chunk_s: seconds of data time per slice (one request per signal per slice) when paced.
        fast_chunk_s: the same when sending as fast as possible (speed 0): bigger slices, fewer
            requests.
        max_items: most records in one request (bigger slices are split).
        gzip: compress request bodies (Content-Encoding: gzip).
        max_retries: retries of one request on retryable answers or connection errors.
        backoff_s: first back-off when the server gives no Retry-After; doubles each retry.
        max_backoff_s: cap on one wait.
        timeout_s: HTTP timeout per request.
    """

    chunk_s: float = 10.0
    fast_chunk_s: float = 300.0
    max_items: int = 5000
    gzip: bool = True
    max_retries: int = 8
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.chunk_s <= 0 or self.fast_chunk_s <= 0 or self.max_items < 1 or self.max_retries < 0:
            raise ConfigError("ReplayConfig: chunk_s > 0, max_items >= 1, max_retries >= 0")
        if self.backoff_s < 0 or self.max_backoff_s < 0 or self.timeout_s <= 0:
            raise ConfigError("ReplayConfig: back-offs >= 0 and timeout_s > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ReplayConfig:
        return config_from_dict(cls, data)



@dataclass
class ReplayStats:
    requests: int = 0
    retries: int = 0
    rejected_requests: int = 0
    records: int = 0
    rejected_records: int = 0  # accepted requests' items the server refused (partial success)


def _slices(batch: RecordBatch, start: float, end: float, chunk_s: float):
    """(slice start, spans, metrics, logs, changes) per `chunk_s` of data time, in order."""
    keys = {
        "spans": [s.start for s in batch.spans], "metrics": [m.time for m in batch.metrics],
        "logs": [lg.time for lg in batch.logs], "changes": [c.time for c in batch.changes],
    }
    t = start
    while t < end:
        u = min(end, t + chunk_s)
        parts = []
        for name in ("spans", "metrics", "logs", "changes"):
            ts = keys[name]
            lo, hi = bisect.bisect_left(ts, t), bisect.bisect_left(ts, u)
            parts.append(getattr(batch, name)[lo:hi])
        yield (t, *parts)
        t = u


class Replayer:
    """Posts records to an OTLP/HTTP endpoint with the retry rules of the specification.

    Args:
        endpoint: base URL of the server, e.g. "http://127.0.0.1:4318".
        config: sending behaviour.
        token: bearer token for `Authorization` (the server's ingest token), if any.
        client: an httpx.Client to use (tests); one is created otherwise.
    """

    def __init__(self, endpoint: str, config: ReplayConfig | None = None, token: str | None = None,
                 client: httpx.Client | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.config = config or ReplayConfig()
        headers = {"Content-Type": "application/x-protobuf"}
        if self.config.gzip:
            headers["Content-Encoding"] = "gzip"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._client = client or httpx.Client(timeout=self.config.timeout_s)
        self.stats = ReplayStats()
        self._sleep = time.sleep
        self._told: set[str] = set()

    def close(self) -> None:
        self._client.close()

    def _note_partial(self, signal: str, body: bytes) -> None:
        rejected, message = partial_success(signal, body)
        if rejected or message:
            self.stats.rejected_records += rejected
            if message not in self._told:  # each distinct reason once, not once per request
                self._told.add(message)
                log.warning("%s: server refused %d of the records: %s", signal, rejected, message)

    def post(self, signal: str, request: Any) -> bool:
        """Send one Export request; True on 200. Raises ReplayAborted when retries run out."""
        body = request.SerializeToString()
        if self.config.gzip:
            body = gzip.compress(body, compresslevel=5)
        url = self.endpoint + SIGNALS_BY_NAME[signal].http_path
        wait = self.config.backoff_s
        for attempt in range(self.config.max_retries + 1):
            try:
                resp = self._client.post(url, content=body, headers=self._headers)
            except httpx.TransportError as exc:
                reason, delay = f"{type(exc).__name__}: {exc}", wait
            else:
                self.stats.requests += 1
                if resp.status_code == 200:
                    self._note_partial(signal, resp.content)
                    return True
                if resp.status_code not in RETRYABLE:
                    self.stats.rejected_requests += 1
                    log.warning("%s rejected with HTTP %d: %s", url, resp.status_code, resp.text[:200])
                    return False
                reason = f"HTTP {resp.status_code}"
                told = retry_after_seconds(resp.headers.get("Retry-After"))
                delay = wait if told is None else told
            if attempt == self.config.max_retries:
                raise ReplayAborted(f"{url}: gave up after {attempt + 1} attempts ({reason})")
            self.stats.retries += 1
            self._sleep(min(delay, self.config.max_backoff_s))
            wait = min(wait * 2, self.config.max_backoff_s)
        return False  # not reached

    def send_batch(self, spans, metrics, logs, changes=()) -> bool:
        """Send one slice: traces, then metrics, then logs (each split at `max_items`)."""
        ok = True
        n = self.config.max_items
        for i in range(0, len(spans), n):
            ok &= self.post("traces", encode_spans(spans[i:i + n]))
        for i in range(0, len(metrics), n):
            ok &= self.post("metrics", encode_metrics(metrics[i:i + n]))
        if logs or changes:
            for i in range(0, max(len(logs), 1), n):
                ok &= self.post("logs", encode_logs(logs[i:i + n], changes if i == 0 else ()))
        self.stats.records += len(spans) + len(metrics) + len(logs) + len(changes)
        return ok

    def replay_case(self, case: Case, speed: float = 0.0, progress=None) -> bool:
        """Send a loaded case in time order; `speed` as in the module docstring."""
        ok = True
        wall0 = time.monotonic()
        chunk = self.config.chunk_s if speed > 0 else self.config.fast_chunk_s
        for t, spans, metrics, logs, changes in _slices(case.records, case.start, case.end, chunk):
            if speed > 0:
                due = wall0 + (t + chunk - case.start) / speed
                self._sleep(max(0.0, due - time.monotonic()))
            if spans or metrics or logs or changes:
                ok &= self.send_batch(spans, metrics, logs, changes)
                if progress is not None:
                    progress.update(len(spans) + len(metrics) + len(logs) + len(changes))
        return ok


def replay_command(args: argparse.Namespace) -> int:
    """Entry point of `rca-service replay` (args: format, path, to, speed, limit, token).

    Returns 0 when everything was accepted, 1 when some requests were refused or the server
    gave up answering, 2 when the folder cannot be read.
    """
    from tqdm import tqdm

    try:
        refs = load_cases(args.format, args.path)
    except DatasetError as exc:
        log.error("replay: %s", exc)
        return 2
    if args.limit:
        refs = refs[: args.limit]
    replayer = Replayer(args.to, token=getattr(args, "token", None))
    sent_until: dict[str, float] = {}
    ok = True
    try:
        for ref in tqdm(refs, desc="cases", unit="case", position=0):
            # windows of one folder overlap when faults are close together: send each second once
            key = ref.name.split("/")[0] if args.format == "nezha" else ref.name
            case = ref.load()
            start = max(case.start, sent_until.get(key, float("-inf")))
            if start > case.start:
                case = ref.load(start=start, end=case.end)
            with tqdm(total=len(case.records), desc=ref.name, unit="rec", position=1, leave=False) as bar:
                ok &= replayer.replay_case(case, speed=float(args.speed or 0.0), progress=bar)
            sent_until[key] = max(sent_until.get(key, float("-inf")), case.end)
    except ReplayAborted as exc:
        log.error("replay: %s", exc)
        return 1
    finally:
        replayer.close()
    s = replayer.stats
    print(f"sent {s.records} records in {s.requests} requests ({s.retries} retries, {s.rejected_requests} refused"
          + (f", {s.rejected_records} records refused by the server" if s.rejected_records else "") + ")")
    return 0 if ok else 1
