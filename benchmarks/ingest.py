"""OTLP/HTTP ingest throughput, latency and memory, against a parse-only floor measured in the same run.

    .venv/bin/python benchmarks/ingest.py [--spans 1000000] [--connections 4] [--sink auto|counting|store]

What it does:
1. Builds `--payloads` distinct ExportTraceServiceRequest bodies (512 spans each, ~20 services,
   realistic HTTP attributes) with `rca_service.ingest.synthetic`.
2. Floor: one thread parses those bodies with `ExportTraceServiceRequest.FromString` and reads
   each span's key fields once (service, ids, name, kind, times, status) - the least any
   Python ingest must do. Also our decoder alone (parse + convert to records), same thread.
3. Starts the real server in a subprocess (uvicorn, httptools + uvloop when installed, the
   OTLP router, IngestPipeline, and as sink the real TelemetryStore when importable or a
   counting sink) and posts the bodies over `--connections` keep-alive connections until
   `--spans` spans are accepted (429 answers are retried after a short pause and counted).
4. Prints spans/s (accepted by HTTP, and reached the sink), p50/p99 request latency, the
   server's peak RSS and its RSS at 200k and 1M spans, and the ratio to the floor.

Targets (issue 2): >= 100,000 spans/s, p99 < 100 ms, RSS within 10% between 200k and 1M spans.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from rca_service.ingest.decode import OtlpDecoder
from rca_service.ingest.pipeline import IngestConfig
from rca_service.ingest.signals import TRACES
from rca_service.ingest.synthetic import trace_requests

SPANS_PER_REQUEST = 512


# -- server side (runs in the subprocess) -------------------------------------------------------
class CountingSink:
    """Counts records and keeps nothing: measures ingest without a store."""

    def __init__(self) -> None:
        self.spans = self.points = self.logs = self.changes = 0

    def consume_spans(self, spans) -> None:
        self.spans += len(spans)

    def consume_metrics(self, points) -> None:
        self.points += len(points)

    def consume_logs(self, logs) -> None:
        self.logs += len(logs)

    def consume_changes(self, changes) -> None:
        self.changes += len(changes)


def make_sink(kind: str):
    if kind in ("auto", "store"):
        try:
            from rca_service.store.telemetry import TelemetryStore
        except ImportError:
            if kind == "store":
                raise
        else:
            return TelemetryStore(), "TelemetryStore (real store)"
    return CountingSink(), "CountingSink"


def serve(port: int, sink_kind: str, queue_size: int, gc_gen0: int) -> None:
    import gc

    import uvicorn
    from fastapi import FastAPI

    from rca_service.api.otlp_http import build_otlp_router
    from rca_service.ingest.pipeline import IngestConfig, IngestPipeline

    sink, sink_name = make_sink(sink_kind)
    config = IngestConfig(queue_size=queue_size, gc_gen0_threshold=gc_gen0 or None)
    pipeline = IngestPipeline(sink, config)
    pipeline.start()
    app = FastAPI()
    app.include_router(build_otlp_router(pipeline, config))

    @app.get("/bench/stats")
    def stats() -> dict:
        return {**pipeline.stats(), "sink": sink_name}

    try:
        import uvloop  # noqa: F401
        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401
        http_impl = "httptools"
    except ImportError:
        http_impl = "h11"
    print(f"server: loop={loop} http={http_impl} sink={sink_name} gc thresholds={gc.get_threshold()}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, loop=loop, http=http_impl, log_level="warning", access_log=False)


# -- client side --------------------------------------------------------------------------------
def floor_rate(bodies: list[bytes], total_spans: int) -> tuple[float, float]:
    """Spans/s of FromString + reading each span's key fields once, one thread: (wall, CPU)."""
    seen = 0
    started = time.perf_counter()
    cpu_started = time.thread_time()
    while seen < total_spans:
        for body in bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for rs in request.resource_spans:
                service = None
                for kv in rs.resource.attributes:
                    if kv.key == "service.name":
                        service = kv.value.string_value
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        _fields = (service, span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind,
                                   span.start_time_unix_nano, span.end_time_unix_nano, span.status.code)
                        seen += 1
    return seen / (time.perf_counter() - started), seen / (time.thread_time() - cpu_started)


def decode_rate(bodies: list[bytes], total_spans: int) -> tuple[float, float]:
    """Spans/s of our decoder alone (parse + convert to Span records), one thread: (wall, CPU)."""
    decoder = OtlpDecoder()
    seen = 0
    started = time.perf_counter()
    cpu_started = time.thread_time()
    while seen < total_spans:
        for body in bodies:
            seen += len(decoder.decode_body(TRACES, body, "protobuf").batch.spans)
    return seen / (time.perf_counter() - started), seen / (time.thread_time() - cpu_started)


class Load:
    """Posts bodies over several keep-alive connections until `target` spans are accepted."""

    def __init__(self, port: int, bodies: list[bytes], target: int, connections: int, on_progress) -> None:
        self.port = port
        self.bodies = bodies
        self.target = target
        self.connections = connections
        self.on_progress = on_progress
        self.lock = threading.Lock()
        self.accepted = 0
        self.requests = 0
        self.throttled = 0
        self.errors = 0
        self.latencies: list[float] = []

    def run(self) -> float:
        threads = [threading.Thread(target=self._worker, args=(i,)) for i in range(self.connections)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    def _worker(self, index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/x-protobuf"}
        i = index
        while True:
            with self.lock:
                if self.accepted >= self.target:
                    break
            body = self.bodies[i % len(self.bodies)]
            i += self.connections
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/traces", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                with self.lock:
                    self.errors += 1
                continue
            elapsed = time.perf_counter() - t0
            with self.lock:
                self.requests += 1
                self.latencies.append(elapsed)
                if response.status == 200:
                    self.accepted += SPANS_PER_REQUEST
                    accepted = self.accepted
                elif response.status in (429, 503):
                    self.throttled += 1
                    accepted = None
                else:
                    self.errors += 1
                    accepted = None
            if accepted is not None:
                self.on_progress(accepted)
            elif response.status in (429, 503):
                time.sleep(0.02)
        conn.close()


def get_stats(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/bench/stats")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            return get_stats(port)
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to send (after warm-up)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--payloads", type=int, default=64, help="distinct request bodies")
    parser.add_argument("--sink", choices=["auto", "counting", "store"], default="auto")
    parser.add_argument("--queue-size", type=int, default=256)
    parser.add_argument("--floor-spans", type=int, default=300_000)
    parser.add_argument("--gc-gen0", type=int, default=IngestConfig().gc_gen0_threshold or 0,
                        help="IngestConfig.gc_gen0_threshold for the server (0: leave Python's default)")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.sink, args.queue_size, args.gc_gen0)
        return 0

    now_ns = time.time_ns() - 3600 * 10**9  # an hour ago: inside any store's retention
    bodies = [r.SerializeToString() for r in trace_requests(args.payloads, SPANS_PER_REQUEST, 20, seed=11, start_ns=now_ns)]
    print(f"payloads: {len(bodies)} x {SPANS_PER_REQUEST} spans, {statistics.mean(map(len, bodies)) / 1024:.0f} KiB each")

    floor, floor_cpu = floor_rate(bodies, args.floor_spans)
    decoder_only, decoder_cpu = decode_rate(bodies, args.floor_spans // 2)
    print(f"floor (FromString + key fields, 1 thread): {floor:,.0f} spans/s wall, {floor_cpu:,.0f} per CPU second")
    print(f"decoder alone (parse + records, 1 thread): {decoder_only:,.0f} spans/s wall, {decoder_cpu:,.0f} per CPU second "
          f"(ratio {decoder_cpu / floor_cpu:.3f})")
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall rates shrink under load; "
          f"per-CPU-second rates much less)")

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--sink", args.sink, "--queue-size", str(args.queue_size),
         "--gc-gen0", str(args.gc_gen0)],
        cwd=str(REPO),
    )
    try:
        info = wait_ready(port, proc)
        server = psutil.Process(proc.pid)
        print(f"sink: {info['sink']}")

        # warm-up: imports, first allocations, connection set-up
        Load(port, bodies, 40 * SPANS_PER_REQUEST, args.connections, lambda n: None).run()
        base = get_stats(port)["consumed_spans"]

        marks: dict[int, float] = {}
        peak = [server.memory_info().rss]
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(0.05):
                try:
                    peak[0] = max(peak[0], server.memory_info().rss)
                except psutil.Error:
                    return

        def progress(accepted: int) -> None:
            for mark in (200_000, 1_000_000):
                if accepted >= mark and mark not in marks:
                    marks[mark] = server.memory_info().rss

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load = Load(port, bodies, args.spans, args.connections, progress)
        cpu_before = server.cpu_times()
        started = time.perf_counter()
        http_seconds = load.run()
        while get_stats(port)["consumed_spans"] - base < load.accepted:
            time.sleep(0.01)
        drained_seconds = time.perf_counter() - started
        cpu_after = server.cpu_times()
        server_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        stop_sampling.set()
        sampler.join()
        final = get_stats(port)
    finally:
        proc.terminate()
        proc.wait(20)

    http_rate = load.accepted / http_seconds
    sink_rate = load.accepted / drained_seconds
    mib = 1024 * 1024
    print(f"connections: {args.connections}, requests: {load.requests}, throttled (429/503): {load.throttled}, errors: {load.errors}")
    print(f"accepted over HTTP: {load.accepted:,} spans in {http_seconds:.2f} s = {http_rate:,.0f} spans/s")
    print(f"reached the sink:   {load.accepted:,} spans in {drained_seconds:.2f} s = {sink_rate:,.0f} spans/s "
          f"(ratio to floor {sink_rate / floor:.3f}; target >= 100,000 spans/s)")
    server_cpu_rate = load.accepted / server_cpu
    print(f"server CPU: {server_cpu:.2f} s = {server_cpu_rate:,.0f} spans per CPU second "
          f"(ratio to floor per CPU second {server_cpu_rate / floor_cpu:.3f})")
    print(f"request latency: p50 {percentile(load.latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(load.latencies, 0.99) * 1000:.1f} ms (target p99 < 100 ms)")
    print(f"server RSS: peak {peak[0] / mib:.0f} MiB", end="")
    if 200_000 in marks and 1_000_000 in marks:
        growth = marks[1_000_000] / marks[200_000] - 1
        print(f", at 200k spans {marks[200_000] / mib:.0f} MiB, at 1M spans {marks[1_000_000] / mib:.0f} MiB "
              f"({growth:+.1%}; target within 10%)")
    else:
        print()
    print(f"server stats: accepted_spans={final['accepted_spans']:,} consumed_spans={final['consumed_spans']:,} "
          f"refused_batches={final['refused_batches']} sink_errors={final['sink_errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
