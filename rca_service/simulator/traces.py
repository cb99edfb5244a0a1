"""Sampled traces for one step: requests walk the call graph from the entry tier.

Each request is a server span in the entry service; every call to a callee is a CLIENT span
in the caller (peer.service = callee, db.system for data stores) wrapping the callee's SERVER
span. Children run one after another inside the parent's time. A callee's failure marks the
client span failed and fails the caller's request with probability `error_propagation`; a
request that fails stops there, as an exception would: a callee's failure that fails it ends it
right after that call, and a service's own failure at a random point among its calls.
"""

from __future__ import annotations

import math
import random

import numpy as np

from rca_service.records import Span, SpanKind, StatusCode
from rca_service.simulator.config import SimConfig
from rca_service.simulator.model import StepModel
from rca_service.simulator.templates import error_message
from rca_service.simulator.topology import Topology

MAX_SPANS_PER_TRACE = 120


def _calls(rng: random.Random, fanout: float, cap: int) -> int:
    """How many times one request calls a callee: mean `fanout`, at most `cap`."""
    whole = int(fanout)
    n = whole + (1 if rng.random() < fanout - whole else 0)
    return min(cap, n)


def step_traces(topo: Topology, cfg: SimConfig, model: StepModel, rng: np.random.Generator,
                versions: dict[str, str]) -> list[Span]:
    """Sampled spans of the step starting at `model.t` (sorted by start)."""
    # the per-span hot path uses Python's generator, seeded from the step's stream
    r = random.Random(int(rng.integers(2**63)))
    spans: list[Span] = []
    entries = topo.entries()
    if not entries or cfg.traces_per_step == 0:
        return spans

    def serve(service: str, op: str, trace_id: str, parent: str | None, start: float, budget: list[int]) -> tuple[float, bool]:
        """Emit the server span of `service` (and its subtree); return (end, failed)."""
        st = model.services[service]
        spec = topo.services[service]
        span_id = f"{r.getrandbits(64):016x}"
        self_s = r.lognormvariate(math.log(max(st.self_ms, 0.05)), 0.35) / 1000.0
        cursor = start + self_s / 2
        failed = r.random() < st.own_error
        message = error_message(r, service, st.effect.error_style, op=op) if failed else ""
        planned = [callee for callee in topo.callees(service)
                   for _ in range(_calls(r, topo.fanout[(service, callee)], cfg.max_calls_per_edge))]
        if failed:  # its own exception: the calls after the point where it threw are never made
            del planned[r.randrange(len(planned) + 1):]
        for callee in planned:
            if budget[0] <= 0:
                break
            budget[0] -= 2
            client_id = f"{r.getrandbits(64):016x}"
            net_s = r.lognormvariate(math.log(model.edge_net_ms[(service, callee)]), 0.2) / 1000.0
            cspec = topo.services[callee]
            callee_op = r.choice(cspec.operations)
            child_end, child_failed = serve(callee, callee_op, trace_id, client_id, cursor + net_s / 2, budget)
            client_end = child_end + net_s / 2
            attrs = {"peer.service": callee, "server.address": callee}
            if cspec.db_system:
                attrs["db.system"] = cspec.db_system
            spans.append(Span(
                trace_id=trace_id, span_id=client_id, parent_span_id=span_id, service=service,
                name=callee_op, kind=SpanKind.CLIENT, start=cursor, end=client_end,
                status=StatusCode.ERROR if child_failed else StatusCode.UNSET,
                status_message=f"call to {callee} failed" if child_failed else "",
                peer_service=callee, attributes=attrs,
                resource={"service.name": service, "service.version": versions[service]},
            ))
            cursor = client_end
            if child_failed and not failed and r.random() < cfg.error_propagation:
                failed = True
                message = f"dependency {callee} failed"
                break  # the dependency's error is raised here: the request makes no more calls
        end = cursor + self_s / 2
        spans.append(Span(
            trace_id=trace_id, span_id=span_id, parent_span_id=parent, service=service, name=op,
            kind=SpanKind.SERVER, start=start, end=end,
            status=StatusCode.ERROR if failed else StatusCode.UNSET, status_message=message,
            attributes={"http.route": op} if spec.tier == "entry" else {},
            resource={"service.name": service, "service.version": versions[service]},
        ))
        return end, failed

    for _ in range(cfg.traces_per_step):
        entry = r.choice(entries)
        op = r.choice(topo.services[entry].operations)
        start = model.t + r.uniform(0, cfg.step_s * 0.98)
        serve(entry, op, f"{r.getrandbits(128):032x}", None, start, [MAX_SPANS_PER_TRACE])
    spans.sort(key=lambda s: s.start)
    return spans
