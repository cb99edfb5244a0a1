"""The span hot path: per-step span statistics, evidence samples and call edges.

Ingest must sustain well over 100k spans/s on two cores, so `SpanAccumulator.consume` is one
flat loop with locals, plain dict/list updates and no per-span function calls beyond the
unavoidable; quantiles, rates and virtual edges are derived later.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from rca_service.records import Span
from rca_service.store.config import StoreConfig
from rca_service.store.pairing import ENTRY_KINDS, IndexedSpan, PendingChild, PendingClient, SpanPairing, add_edge, call_gap
from rca_service.store.sketch import MIN_DURATION, ZERO_BIN
from rca_service.store.windows import StepTable

# (service, operation, is_error): a span signature, embedded once for search.
Signature = tuple[str, str, bool]


class SpanAccumulator:
    """Adds spans into a `StepTable` and keeps the pairing state for topology.

    Args:
        config: the store's config.
        table: where per-step accumulators live.
        on_resource: called (service, resource, time) when a span's resource object differs
            from the previous span's (change detection looks at versions there).
    """

    def __init__(self, config: StoreConfig, table: StepTable,
                 on_resource: Callable[[str, dict, float], None] | None = None) -> None:
        self.config = config
        self.table = table
        self.pairing = SpanPairing(config.span_index_size, config.pending_size)
        self.inv_log_gamma = 1.0 / config.sketch_log_gamma
        self.server_services: set[str] = set()  # services that emit SERVER/CONSUMER spans
        self.signatures: set[Signature] = set()
        self.new_signatures: list[tuple[Signature, float]] = []
        self.on_resource = on_resource

    def consume(self, spans: list[Span], lo: float, hi: float) -> tuple[int, float]:
        """Add spans with lo <= start <= hi; return (spans dropped, newest end time seen)."""
        table = self.table
        stepw = table.step
        inv = self.inv_log_gamma
        log = math.log
        floor = math.floor
        K = self.config.samples_per_step
        pairing = self.pairing
        index = pairing.index
        pch = pairing.pending_children
        pcl = pairing.pending_clients
        last_calls = pairing.last_calls
        callee_of = pairing.callee_of
        sigs = self.signatures
        max_sigs = self.config.max_signatures
        new_sigs = self.new_signatures
        server_services = self.server_services
        on_resource = self.on_resource
        heappush, heapreplace = heapq.heappush, heapq.heapreplace

        dropped = 0
        newest = -math.inf
        last_svc = None
        last_st = None
        last_res = None
        b = None
        edges: dict = {}
        cache: dict[str, tuple] = {}
        seen_res: set[int] = set()
        for s in spans:
            t = s.start
            if t < lo or t > hi:
                dropped += 1
                continue
            svc = s.service
            st = int(t // stepw) * stepw
            if st != last_st or svc != last_svc:
                # batches interleave services: a per-batch cache avoids the table lookups
                hit = cache.get(svc)
                if hit is None or hit[0] != st:
                    hit = cache[svc] = (st, table.bucket(svc, st), table.steps[st].edges)
                b, edges = hit[1], hit[2]
                last_svc, last_st = svc, st
            e = s.end
            newest = max(newest, e)
            d = e - t
            d = max(d, 0.0)
            kind = s.kind
            err = s.status == 2
            binx = floor(log(d) * inv) if d > MIN_DURATION else ZERO_BIN
            b.n_spans += 1
            sid = s.span_id
            pid = s.parent_span_id
            if kind == 2 or kind == 5:
                b.n_server += 1
                if err:
                    b.err_server += 1
                lat = b.lat_server
                lat[binx] = lat.get(binx, 0) + 1
                if svc not in server_services:
                    server_services.add(svc)
            elif kind == 3 or kind == 4:
                b.n_client += 1
                if err:
                    b.err_client += 1
            elif not pid:
                # a root span of a service without SERVER spans is one of its entry spans
                b.n_entry += 1
                if err:
                    b.err_entry += 1
                lat = b.lat_entry
                lat[binx] = lat.get(binx, 0) + 1

            # evidence: first K error spans and the K slowest spans
            if err and len(b.err_samples) < K:
                b.err_samples.append((d, s.trace_id, sid, s.name, t, True))
            if d > b.slow_min and K:
                heap = b.slow_samples
                if len(heap) < K:
                    heappush(heap, (d, s.trace_id, sid, s.name, t, err))
                    if len(heap) == K:
                        b.slow_min = heap[0][0]
                else:
                    heapreplace(heap, (d, s.trace_id, sid, s.name, t, err))
                    b.slow_min = heap[0][0]

            res = s.resource
            if res is not last_res:
                last_res = res
                # ingest shares one resource dict among the spans of a resource: look once a batch
                rid = id(res)
                if rid not in seen_res:
                    seen_res.add(rid)
                    if res and on_resource is not None:
                        on_resource(svc, res, t)

            if len(sigs) < max_sigs:
                sig = (svc, s.name, err)
                if sig not in sigs:
                    sigs.add(sig)
                    new_sigs.append((sig, t))

            # pairing: this span as a child
            index[sid] = (svc, err, d, kind == 3)
            paired = False
            if pid:
                p = index.get(pid)
                if p is None:
                    lst = pch.get(pid)
                    if lst is None:
                        pch[pid] = [(svc, err, d, st, kind)]
                    else:
                        lst.append((svc, err, d, st, kind))
                elif p[0] != svc:
                    add_edge(edges, p[0], svc, err or p[1], d, call_gap(p, d, kind))
                    if p[3]:
                        callee_of[pid] = (svc, st)
                    if pcl:
                        pcl.pop(pid, None)
                    if kind == 0 or kind == 1:
                        b.n_entry += 1
                        if err:
                            b.err_entry += 1
                        lat = b.lat_entry
                        lat[binx] = lat.get(binx, 0) + 1
            # ... and as the parent of children that arrived first
            if pch:
                waiting = pch.pop(sid, None)
                if waiting is not None:
                    paired = self._resolve(sid, index[sid], waiting)
            if kind == 3 or kind == 4:
                if not paired and s.peer_service:
                    pcl[sid] = (svc, s.peer_service, err, d, st)
                if pid:
                    last = last_calls.get(pid)
                    if last is None or t >= last[0]:
                        last_calls[pid] = (t, sid, svc, s.peer_service, st)

        if len(index) > pairing.index_size or len(pch) > pairing.pending_size or len(pcl) > pairing.pending_size:
            self.give_up(*pairing.trim())
        return dropped, newest

    def _resolve(self, parent_id: str, parent: IndexedSpan, children: list[PendingChild]) -> bool:
        """Children that waited for this span (`parent`) arrived first; True if any is remote."""
        svc, err = parent[0], parent[1]
        remote = False
        for c_svc, c_err, d, st, kind in children:
            if c_svc == svc:
                continue
            remote = True
            if parent[3]:
                self.pairing.callee_of[parent_id] = (c_svc, st)
            add_edge(self.table.get(st).edges, svc, c_svc, err or c_err, d, call_gap(parent, d, kind))
            if kind in ENTRY_KINDS:
                self._count_entry(c_svc, st, c_err, d)
        return remote

    def _count_entry(self, svc: str, st: int, err: bool, d: float) -> None:
        b = self.table.bucket(svc, st)
        b.n_entry += 1
        if err:
            b.err_entry += 1
        binx = math.floor(math.log(d) * self.inv_log_gamma) if d > MIN_DURATION else ZERO_BIN
        b.lat_entry[binx] = b.lat_entry.get(binx, 0) + 1

    def give_up(self, children: list[PendingChild], clients: list[PendingClient]) -> None:
        """Settle spans that waited in vain: orphans become entry spans, clients call a virtual peer."""
        for c_svc, c_err, d, st, kind in children:
            if kind in ENTRY_KINDS:
                self._count_entry(c_svc, st, c_err, d)
        for svc, peer, err, d, st in clients:
            add_edge(self.table.get(st).edges, svc, peer, err, d)

    def expire(self, until: int) -> None:
        """Steps before `until` closed: settle everything still waiting in them, then count the
        call each of their requests ended with (on its edge, now that every edge is known)."""
        self.give_up(*self.pairing.expire(until))
        steps = self.table.steps
        for caller, callee, st in self.pairing.take_request_ends(until):
            acc = steps[st].edges.get((caller, callee)) if st in steps else None  # a dropped step stays dropped
            if acc is not None:
                acc[5] += 1

    def take_new_signatures(self) -> list[tuple[Signature, float]]:
        """Signatures first seen since the last call (for the vector store)."""
        out, self.new_signatures = self.new_signatures, []
        return out
