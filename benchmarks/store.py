"""Throughput of `TelemetryStore.consume_spans` against a floor measured in the same run.

Builds realistic span batches (512 spans each, ~20 services, client/server pairs across
services, internal spans, a few errors, shared resource dicts as ingest produces them), then
times:
  * floor: one loop that reads each span's key fields once (service, ids, kind, times, status),
    the least any per-span Python code must do;
  * store: `consume_spans` on a fresh store, batch by batch (windows, sketches, samples, pairing).
Both are timed in process CPU time (time.process_time), so other work on a shared machine does
not distort them. Prints spans/s of both and their ratio, plus the read side (frame for every service, topology)
and peak RSS. No pass/fail: the target is well over 150k spans/s for the store.

    .venv/bin/python benchmarks/store.py [--spans 400000] [--services 20]
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from rca_service.records import Span, SpanKind, StatusCode
from rca_service.store.config import StoreConfig
from rca_service.store.telemetry import TelemetryStore


def build_batches(n_spans: int, n_services: int, batch: int = 512, seed: int = 0) -> list[list[Span]]:
    """Traces of 4 spans: an entry server span, a client call, the callee's server span, an internal span."""
    rng = random.Random(seed)
    services = [f"svc-{i:02d}" for i in range(n_services)]
    resources = {s: {"service.name": s, "service.version": "1.4.2", "k8s.pod.name": f"{s}-7d9f-x"} for s in services}
    spans_per_second = 4000  # data time advances so steps close and retention works as live
    t0 = 1_700_000_000.0
    out: list[list[Span]] = []
    cur: list[Span] = []
    for k in range(n_spans // 4):
        t = t0 + k * 4 / spans_per_second
        a, b = rng.sample(services, 2)
        tid = f"{rng.getrandbits(128):032x}"
        root, cli, srv, inner = (f"{rng.getrandbits(64):016x}" for _ in range(4))
        err = rng.random() < 0.01
        d = rng.lognormvariate(-4.0, 0.6)
        attrs = {"http.method": "GET", "http.route": "/api/items/{id}", "net.peer.port": 8080}
        cur.append(Span(tid, inner, srv, b, "db.query", SpanKind.INTERNAL, t + 0.002, t + 0.002 + d / 3, attributes=attrs, resource=resources[b]))
        cur.append(Span(tid, srv, cli, b, "GET /api/items/{id}", SpanKind.SERVER, t + 0.001, t + 0.001 + d,
                        StatusCode.ERROR if err else StatusCode.UNSET, attributes=attrs, resource=resources[b]))
        cur.append(Span(tid, cli, root, a, "GET", SpanKind.CLIENT, t, t + d + 0.002,
                        StatusCode.ERROR if err else StatusCode.UNSET, peer_service=b, attributes=attrs, resource=resources[a]))
        cur.append(Span(tid, root, None, a, "GET /checkout", SpanKind.SERVER, t, t + d + 0.004, attributes=attrs, resource=resources[a]))
        if len(cur) >= batch:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def floor_rate(batches: list[list[Span]]) -> float:
    """Spans/s of one loop reading each span's key fields once."""
    n = 0
    t = time.process_time()
    for b in batches:
        for s in b:
            _ = (s.service, s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start, s.end, s.status)
        n += len(b)
    return n / (time.process_time() - t)


def store_rate(batches: list[list[Span]]) -> tuple[float, TelemetryStore]:
    store = TelemetryStore(StoreConfig(step=60, retention_seconds=3600))
    n = 0
    t = time.process_time()
    for b in batches:
        store.consume_spans(b)
        n += len(b)
    return n / (time.process_time() - t), store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spans", type=int, default=400_000)
    ap.add_argument("--services", type=int, default=20)
    args = ap.parse_args()
    batches = build_batches(args.spans, args.services)
    n = sum(len(b) for b in batches)
    floor = max(floor_rate(batches) for _ in range(3))
    rate, store = store_rate(batches)
    t = time.process_time()
    last = store.latest_closed_step() or 0.0
    for svc in store.services():
        store.frame(svc, last - 3600, last + store.step)
    g = store.topology()
    read_s = time.process_time() - t  # CPU seconds
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"spans: {n} in {len(batches)} batches of ~512, {args.services} services")
    print(f"floor (read key fields once): {floor:,.0f} spans/s")
    print(f"store.consume_spans:          {rate:,.0f} spans/s")
    print(f"ratio store/floor:            {rate / floor:.3f}")
    print(f"read side: {len(store.services())} frames + topology ({g.number_of_edges()} edges) in {read_s * 1000:.0f} ms")
    print(f"store stats: {store.stats()}")
    print(f"peak RSS: {rss_mb:.0f} MiB")


if __name__ == "__main__":
    main()
