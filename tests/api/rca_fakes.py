"""A canned `RcaService` for interface tests: the facade's methods over simulated incidents.

Service names are generated (none of the benchmark systems' names), incidents and rankings use
the real dataclasses (Incident, RCAResult, RootCause, Evidence, VectorHit), and remediation
approve/apply follow a small policy so refusals can be tested through the routes. Replaced by the
real service in the end-to-end tests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace

import networkx as nx

from rca_service.detect.incident import Incident, ServiceAnomaly, SignalScore
from rca_service.errors import AuthError, InputError, NotFoundError, OverloadedError, PolicyRefusal
from rca_service.localize.result import Evidence, RCAResult, RootCause
from rca_service.store.api import VectorHit

VIEWER_TOKEN = "viewer-token-0123456789"
OPERATOR_TOKEN = "operator-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789ab"
TOKENS = f"{VIEWER_TOKEN}:viewer:vera,{OPERATOR_TOKEN}:operator:otto,{ADMIN_TOKEN}:admin"


def fake_settings(**overrides) -> SimpleNamespace:
    """The Settings fields the interfaces read, with test values."""
    base = dict(api_tokens="", slack_signing_secret="", slack_roles="", slack_webhook_url="", llm_url="", llm_model="",
                ingest_token="", host="127.0.0.1", base_url="http://127.0.0.1:4318")
    base.update(overrides)
    return SimpleNamespace(**base)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Anchor of the simulated day: 2026-03-10 00:00 UTC. "now" in the question set is 16:00 that day.
DAY = datetime(2026, 3, 10, tzinfo=timezone.utc).timestamp()
NOW = DAY + 16 * 3600

_SYLLABLES = ["lum", "vor", "tek", "zan", "quil", "bram", "dro", "fen", "gal", "hox", "jin", "kel", "mor", "nix"]


def generated_names(seed: int = 3, n: int = 6) -> list[str]:
    """Made-up service names in the shapes real systems use (suffix "service", "-svc", "-db", bare)."""
    rng = random.Random(seed)
    shapes = ["{}service", "{}-svc", "{}-db", "{}", "{}-api", "{}service"]
    names: list[str] = []
    while len(names) < n:
        stem = rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES)
        name = shapes[len(names) % len(shapes)].format(stem)
        if stem not in "".join(names):
            names.append(name)
    return names


# Named services used by the question set (plain words, so questions read naturally).
SERVICES = ["basketservice", "checkout-svc", "ledger-db", "storefront", "billing-api", "shippingservice",
            "catalogservice", "notification-worker"]


def _incident(idx: int, start_h: float, dur_min: float | None, services: dict[str, tuple[float, list[str]]]) -> Incident:
    start = DAY + start_h * 3600
    end = None if dur_min is None else start + dur_min * 60
    anomalies = {
        s: ServiceAnomaly(service=s, first_seen=start, last_seen=end or start + 300, peak_score=score, detector="lstm_ae",
                          signals=[SignalScore(signal=sig, score=score, value=1.0, expected=0.2) for sig in sigs])
        for s, (score, sigs) in services.items()
    }
    ts = datetime.fromtimestamp(start, timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Incident(id=f"inc-{ts}-{idx:04x}", start=start, end=end, services=anomalies,
                    status="open" if end is None else "resolved", fingerprint=f"fp{idx}")


def _cause(service: str, kind: str, conf: float, signal: str, evidence: list[Evidence]) -> RootCause:
    return RootCause(service=service, kind=kind, score=conf * 10, confidence=conf, signal=signal, evidence=evidence)


@dataclass
class FakeRemediation:
    id: str
    incident_id: str
    action: str
    target: str
    status: str = "proposed"
    approvals: list[str] = field(default_factory=list)


class FakeService:
    """Implements the facade methods the interfaces call, over four simulated incidents."""

    def __init__(self, settings=None) -> None:
        self.settings = settings or fake_settings()
        self.ready = True
        self.accepting = True
        self.started = 0
        self.stopped = 0
        self.ingest = None
        self.lock = threading.Lock()
        self.calls: list[tuple] = []
        self.overloaded = False
        # yesterday 22:10, resolved: basket memory leak (similar to today's)
        # today 09:00 resolved: deploy of billing-api
        # today 14:03 resolved: basketservice cpu → checkout latency
        # today 15:40 open: ledger-db network, inconclusive
        self.incidents = [
            _incident(4, 15 + 40 / 60, None, {"ledger-db": (1.6, ["span.latency_p99"]), "checkout-svc": (1.3, ["span.error_rate"])}),
            _incident(3, 14 + 3 / 60, 17, {"checkout-svc": (3.1, ["span.latency_p99"]), "basketservice": (2.2, ["metric.cpu_usage"]),
                                          "storefront": (1.4, ["span.latency_p90"])}),
            _incident(2, 9, 25, {"billing-api": (2.5, ["span.error_rate"])}),
            _incident(1, -2 + 10 / 60, 40, {"basketservice": (2.0, ["metric.memory_usage"])}),
        ]
        i4, i3, i2, i1 = (i.id for i in self.incidents)
        self.results = {
            i3: RCAResult(i3, [
                _cause("basketservice", "resource", 0.86, "metric.cpu_usage", [
                    Evidence("metric", "cpu_usage of basketservice at 4.1x its normal level from 14:02", {"signal": "metric.cpu_usage"}),
                    Evidence("trace", "slow spans of basketservice in trace 7f3a…", {"trace_id": "7f3a00112233"}),
                    Evidence("log_template", "new log template 'worker pool saturated <*>' (41 times)", {"template_id": "t9"}),
                ]),
                _cause("checkout-svc", "latency", 0.09, "span.latency_p99", []),
                _cause("storefront", "latency", 0.03, "span.latency_p90", []),
            ], inconclusive=False, created_at=DAY + 14.1 * 3600, model={"name": "gnn", "version": "1"}),
            i2: RCAResult(i2, [
                _cause("billing-api", "deploy", 0.91, "change.count", [
                    Evidence("change", "deploy of billing-api version 2.4.1 at 08:58", {"signal": "change.count"}),
                    Evidence("metric", "error rate of billing-api 23% (normal 0.1%)", {"signal": "span.error_rate"}),
                ]),
            ], inconclusive=False, created_at=DAY + 9.1 * 3600),
            i1: RCAResult(i1, [
                _cause("basketservice", "resource", 0.8, "metric.memory_usage", [
                    Evidence("metric", "memory_usage of basketservice rising to 97%", {"signal": "metric.memory_usage"})]),
            ], inconclusive=False, created_at=DAY - 1.8 * 3600),
            i4: RCAResult(i4, [
                _cause("ledger-db", "network", 0.34, "metric.network_receive", [
                    Evidence("metric", "network_receive of ledger-db down 60%", {"signal": "metric.network_receive"})]),
                _cause("checkout-svc", "code_error", 0.3, "span.error_rate", []),
            ], inconclusive=True, created_at=DAY + 15.7 * 3600),
        }
        self.similar = {i3: [{"incident_id": i1, "score": 0.87, "root_cause": "basketservice",
                              "resolution": "restart of basketservice"}]}
        self.remediations = [FakeRemediation("rem-1", i3, "restart", "basketservice", status="applied"),
                             FakeRemediation("rem-2", i4, "rollback", "ledger-db"),
                             FakeRemediation("rem-3", i4, "scale_out", "checkout-svc")]
        self.audit: list[dict] = []

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.started += 1

    def stop(self) -> None:
        self.stopped += 1

    # -- read side -------------------------------------------------------------------
    def services(self) -> list[str]:
        return sorted(SERVICES)

    def list_incidents(self, start=None, end=None, service=None, status=None) -> list[Incident]:
        self.calls.append(("list_incidents", start, end, service, status))
        out = []
        for inc in self.incidents:
            inc_end = inc.end if inc.end is not None else float("inf")
            if start is not None and inc_end < start:
                continue
            if end is not None and inc.start >= end:
                continue
            if service is not None and service not in inc.services:
                continue
            if status is not None and inc.status != status:
                continue
            out.append(inc)
        return out

    def get_incident(self, incident_id: str) -> Incident:
        for inc in self.incidents:
            if inc.id == incident_id:
                return inc
        raise NotFoundError(f"no incident {incident_id}")

    def rca(self, incident_id: str, refresh: bool = False) -> RCAResult:
        self.calls.append(("rca", incident_id, refresh))
        self.get_incident(incident_id)
        return self.results[incident_id]

    def topology(self, start=None, end=None) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_edge("storefront", "checkout-svc", calls=120, errors=3, latency_sum=4.5)
        g.add_edge("checkout-svc", "basketservice", calls=80, errors=0, latency_sum=2.0)
        g.add_edge("checkout-svc", "ledger-db", calls=40, errors=1, latency_sum=0.4)
        return g

    def timeseries(self, service: str, start: float, end: float, signals=None) -> dict:
        if service not in SERVICES:
            raise NotFoundError(f"unknown service {service}")
        times = list(range(int(start) // 60 * 60, int(end), 60))
        names = signals or ["span.latency_p99", "span.error_rate"]
        series = {s: [(0.0 if s == "change.count" else 0.1) for _ in times] for s in names}
        if service == "billing-api" and "change.count" in series:
            for k, t in enumerate(times):
                if DAY + 8.9 * 3600 <= t < DAY + 9 * 3600:
                    series["change.count"][k] = 1.0
        if series and times:
            series[names[0]][0] = None
        return {"service": service, "step": 60, "times": times, "series": series}

    def service_status(self, service: str) -> dict:
        if service not in SERVICES:
            raise NotFoundError(f"unknown service {service}")
        bad = service in ("ledger-db", "checkout-svc")
        return {"service": service, "anomalous": bad, "score": 1.6 if bad else 0.3, "detector": "lstm_ae",
                "signals": {"span.latency_p99": 0.8 if bad else 0.05, "span.error_rate": 0.02, "metric.cpu_usage": 0.4},
                "open_incidents": [self.incidents[0].id] if bad else []}

    def search(self, text: str, kind=None, service=None, limit: int = 5) -> list[VectorHit]:
        self.calls.append(("search", text, kind, service, limit))
        hits = [VectorHit(id="t9", score=0.82, kind="log_template",
                          payload={"service": service or "basketservice", "text": "worker pool saturated <*>"}),
                VectorHit(id="s4", score=0.71, kind="span_signature",
                          payload={"service": service or "basketservice", "text": "GET /basket/items ERROR"})]
        return hits[:limit]

    def similar_incidents(self, incident_id: str, limit: int = 3) -> list[dict]:
        self.get_incident(incident_id)
        return self.similar.get(incident_id, [])[:limit]

    # -- remediation -------------------------------------------------------------------
    def list_remediations(self, incident_id=None) -> list[FakeRemediation]:
        return [r for r in self.remediations if incident_id is None or r.incident_id == incident_id]

    def _rem(self, rid: str) -> FakeRemediation:
        for r in self.remediations:
            if r.id == rid:
                return r
        raise NotFoundError(f"no remediation {rid}")

    def approve_remediation(self, remediation_id: str, user: str, role: str):
        if self.overloaded:
            raise OverloadedError("busy", retry_after=2.5)
        rem = self._rem(remediation_id)
        if role not in ("operator", "admin"):
            raise AuthError(f"role {role} may not approve", status_code=403)
        if rem.status != "proposed":
            raise PolicyRefusal("state", f"remediation {rem.id} is {rem.status}, not proposed")
        if rem.target == "ledger-db":
            raise PolicyRefusal("min_confidence", "root cause confidence 0.34 is below 0.6")
        rem.status = "approved"
        rem.approvals.append(user)
        self.audit.append({"kind": "remediation_approved", "remediation_id": rem.id, "incident_id": rem.incident_id, "user": user})
        return rem

    def reject_remediation(self, remediation_id: str, user: str, role: str, reason: str = ""):
        rem = self._rem(remediation_id)
        if rem.status != "proposed":
            raise PolicyRefusal("state", f"remediation {rem.id} is {rem.status}, not proposed")
        rem.status = "rejected"
        self.audit.append({"kind": "remediation_rejected", "remediation_id": rem.id, "incident_id": rem.incident_id,
                           "user": user, "reason": reason})
        return rem

    def apply_remediation(self, remediation_id: str, user: str, role: str):
        rem = self._rem(remediation_id)
        if rem.status != "approved":
            raise PolicyRefusal("approval_required", f"remediation {rem.id} is {rem.status}")
        rem.status = "applied"
        self.audit.append({"kind": "remediation_applied", "remediation_id": rem.id, "incident_id": rem.incident_id, "user": user})
        return rem

    def audit_records(self, incident_id=None) -> list[dict]:
        return [r for r in self.audit if incident_id is None or r.get("incident_id") == incident_id]

    def audit_verify(self) -> dict:
        return {"ok": True, "records": len(self.audit), "first_bad": None, "reason": ""}

    def query(self, question: str, now=None) -> dict:
        if not question.strip():
            raise InputError("the question is empty")
        from rca_service.query.engine import QueryConfig, QueryEngine

        return QueryEngine(self, QueryConfig(semantic_services=False)).answer(question, now=NOW if now is None else now)

    def stats(self) -> dict:
        """The shape RcaService.stats() assembles from the real components."""
        return {
            "ready": True, "accepting": True, "detector_seconds": 0.05, "ranker_seconds": 0.3, "incidents": 4, "rca_runs": 4,
            "ingest": {"accepted_spans": 1200, "accepted_points": 300, "accepted_logs": 50, "accepted_changes": 0,
                       "rejected_spans": 2, "rejected_points": 0, "rejected_logs": 0, "refused_batches": 1,
                       "dropped_batches": 0, "sink_errors": 0, "requests": {"http.traces.200": 7, "grpc.logs.UNAVAILABLE": 1},
                       "queue_depth": 3, "queue_capacity": 256, "running": True},
            "store": {"spans": 1200, "metric_points": 300, "logs": 50, "dropped": 5, "steps": 420, "services": len(SERVICES),
                      "templates": 17, "metric_series": 40},
            "remediations": {"total": 3, "by_status": {"applied": 1, "proposed": 2}, "by_action": {"restart": 1, "rollback": 1,
                                                                                                  "scale_out": 1}},
        }


# -- real local servers for the tests ------------------------------------------------------
import json  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on 127.0.0.1 (http.server in a thread) that records what it is sent.

    Plays a Slack response_url, an incoming webhook or an LLM endpoint. `script` lists the
    (status, headers, body) answers to give in order; when it runs out, `default` is given.
    """

    def __init__(self, default=(200, {}, b"ok")) -> None:
        self.requests: list[Received] = []
        self.script: list[tuple[int, dict, bytes]] = []
        self.default = default
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(Received("POST", self.path, dict(self.headers), body))
                status, headers, out = receiver.script.pop(0) if receiver.script else receiver.default
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                receiver.arrived.set()

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextmanager
def uvicorn_server(app):
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
